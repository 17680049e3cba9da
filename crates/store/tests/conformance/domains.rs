//! [`DomainStore`]: accepted domains, their verification, and the first MX switch.

use chrono::{DateTime, Duration};
use cutover_store::{AcceptedDomain, MxCheck, StoreError};

use crate::support::*;

pub async fn domains_and_the_first_mx_switch_are_kept(b: Backend) {
    let store = b.store();
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let d = AcceptedDomain {
        name: "contoso.test".into(),
        token: "cutover-verification=ab".into(),
        created_at: t0,
        verified_at: None,
    };
    store.add_accepted_domain(&d).await.unwrap();
    assert!(matches!(
        store.add_accepted_domain(&d).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    store
        .set_domain_verified("contoso.test", t0 + Duration::hours(1))
        .await
        .unwrap();
    // a second verification keeps the first time
    store
        .set_domain_verified("contoso.test", t0 + Duration::hours(2))
        .await
        .unwrap();
    let got = store
        .accepted_domain("contoso.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.verified_at, Some(t0 + Duration::hours(1)));
    assert_eq!(store.accepted_domains().await.unwrap().len(), 1);

    let mut check = MxCheck {
        domain: "contoso.test".into(),
        expected_mx: vec!["mx.new.test".into()],
        first_switch_at: None,
        last_checked_at: Some(t0),
        last_state: Some("Source".into()),
    };
    store.save_mx_check(&check).await.unwrap();
    check.first_switch_at = Some(t0 + Duration::hours(3));
    store.save_mx_check(&check).await.unwrap();
    check.first_switch_at = Some(t0 + Duration::hours(9));
    store.save_mx_check(&check).await.unwrap();
    check.first_switch_at = None;
    store.save_mx_check(&check).await.unwrap();
    let got = store.mx_check("contoso.test").await.unwrap().unwrap();
    assert_eq!(got.first_switch_at, Some(t0 + Duration::hours(3)));
    assert_eq!(got.expected_mx, vec!["mx.new.test".to_string()]);

    store.remove_accepted_domain("contoso.test").await.unwrap();
    assert!(matches!(
        store.remove_accepted_domain("contoso.test").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_invariants(store).await;
}
