//! [`DirectoryStore`]: an endpoint's source directory, its bind password sealed.

use std::collections::BTreeMap;

use cutover_model::{DirectoryProfile, SourceDirectory};
use secrecy::{ExposeSecret, SecretString};

use crate::support::*;

fn directory() -> SourceDirectory {
    SourceDirectory {
        url: "ldap://127.0.0.1:3890".into(),
        base_dn: "dc=contoso,dc=test".into(),
        bind_dn: "cn=admin,dc=contoso,dc=test".into(),
        starttls: true,
        ca_file: None,
        profile: DirectoryProfile::OpenLdap,
        attributes: BTreeMap::from([("aliases".into(), "otherMailbox".into())]),
    }
}

pub async fn a_directory_is_stored_with_its_password_sealed(b: Backend) {
    let store = b.store();
    let e = endpoint("CutoverEndpoint");
    store
        .insert_endpoint(&e, &SecretString::from("imappass"))
        .await
        .unwrap();
    assert!(
        store
            .set_endpoint_directory("CutoverEndpoint", &directory(), None)
            .await
            .is_err(),
        "a new directory needs a password"
    );
    store
        .set_endpoint_directory(
            "CutoverEndpoint",
            &directory(),
            Some(&SecretString::from("bindpass")),
        )
        .await
        .unwrap();
    let mut changed = directory();
    changed.base_dn = "ou=people,dc=contoso,dc=test".into();
    store
        .set_endpoint_directory("CutoverEndpoint", &changed, None)
        .await
        .unwrap();
    assert_eq!(
        store.endpoint_directory("CutoverEndpoint").await.unwrap(),
        Some(changed)
    );
    assert_eq!(
        store
            .endpoint_directory_password("CutoverEndpoint")
            .await
            .unwrap()
            .expose_secret(),
        "bindpass"
    );
    let raw = b
        .texts("SELECT settings || password_sealed FROM endpoint_directories")
        .await;
    assert!(!raw[0].contains("bindpass"));
    let dump = store.dump_state().await.unwrap();
    assert!(
        dump.contains("directory={\"url\":\"ldap://127.0.0.1:3890\"")
            && dump.contains("directory_password=<redacted>"),
        "{dump}"
    );
    assert!(!dump.contains("bindpass"));
    store.remove_endpoint("CutoverEndpoint").await.unwrap();
    assert_eq!(
        b.count("endpoint_directories").await,
        0,
        "the directory goes with its endpoint"
    );
}
