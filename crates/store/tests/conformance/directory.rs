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
        provision: false,
    }
}

/// A target directory (for the comparison of both backends' dumps).
pub async fn set_a_target_directory(store: &dyn cutover_store::Store) {
    let mut target = directory();
    target.base_dn = "dc=target,dc=test".into();
    store
        .set_target_directory(Some((&target, &SecretString::from("targetpass"))))
        .await
        .unwrap();
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

pub async fn the_target_directory_is_stored_sealed_and_forgotten_with_none(b: Backend) {
    let store = b.store();
    assert_eq!(store.target_directory().await.unwrap(), None);
    assert!(store.target_directory_password().await.is_err());
    let mut target = directory();
    target.base_dn = "dc=target,dc=test".into();
    store
        .set_target_directory(Some((&target, &SecretString::from("targetpass"))))
        .await
        .unwrap();
    assert_eq!(
        store.target_directory().await.unwrap(),
        Some(target.clone())
    );
    assert_eq!(
        store
            .target_directory_password()
            .await
            .unwrap()
            .expose_secret(),
        "targetpass"
    );
    let raw = b
        .texts("SELECT settings || password_sealed FROM target_directory")
        .await;
    assert!(!raw[0].contains("targetpass"));
    // Sealed for the target: an endpoint's directory password does not open as it.
    let e = endpoint("target");
    store
        .insert_endpoint(&e, &SecretString::from("imappass"))
        .await
        .unwrap();
    store
        .set_endpoint_directory("target", &directory(), Some(&SecretString::from("other")))
        .await
        .unwrap();
    assert_eq!(
        store
            .endpoint_directory_password("target")
            .await
            .unwrap()
            .expose_secret(),
        "other"
    );
    store
        .set_target(
            &cutover_model::Target {
                connection: endpoint("T").connection,
                updated_at: chrono::Utc::now(),
                folds_case: None,
            },
            &SecretString::from("imapadmin"),
        )
        .await
        .unwrap();
    let dump = store.dump_state().await.unwrap();
    assert!(
        dump.contains("target_directory={\"url\"")
            && dump.contains("target_directory_password=<redacted>")
            && !dump.contains("targetpass"),
        "{dump}"
    );
    store.set_target_directory(None).await.unwrap();
    assert_eq!(store.target_directory().await.unwrap(), None);
}
