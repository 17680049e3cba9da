//! [`LicenseStore`]: SKUs with their units, assignments, the grace period and the logins
//! the enforcement disabled.

use std::sync::Arc;

use cutover_model::{EmailAddress, GracePeriod, ProvisionedUser};
use cutover_store::{Store, StoreError};

use crate::support::*;

fn addr(s: &str) -> EmailAddress {
    s.parse().unwrap()
}

/// Two SKUs, two assignments, a grace period and a disabled login (for the comparison
/// of both backends' dumps).
pub async fn fill_licenses(store: &dyn Store) {
    let at = now();
    store.add_license_sku("E3", Some(2), at).await.unwrap();
    store.add_license_sku("Kiosk", None, at).await.unwrap();
    store
        .assign_license(&addr("b@x.test"), "e3", at)
        .await
        .unwrap();
    store
        .assign_license(&addr("a@x.test"), "KIOSK", at)
        .await
        .unwrap();
    store
        .set_grace_period(GracePeriod::from_seconds(90).unwrap())
        .await
        .unwrap();
    store
        .set_login_disabled(&addr("c@x.test"), Some(at))
        .await
        .unwrap();
    store
        .remember_license_users(&[ProvisionedUser {
            email: addr("c@x.test"),
            provisioned_at: at,
        }])
        .await
        .unwrap();
}

pub async fn skus_and_assignments_round_trip_and_a_full_sku_refuses(b: Backend) {
    let store = b.store();
    let at = now();
    store.add_license_sku("E3", Some(2), at).await.unwrap();
    assert!(matches!(
        store.add_license_sku("e3", None, at).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let (a, bb, c) = (addr("a@x.test"), addr("b@x.test"), addr("c@x.test"));
    assert!(store.assign_license(&a, "E3", at).await.unwrap());
    // Any case of the name; the stored name is kept.
    assert!(store.assign_license(&bb, "e3", at).await.unwrap());
    assert!(
        !store.assign_license(&a, "E3", at).await.unwrap(),
        "held already"
    );
    let full = store.assign_license(&c, "E3", at).await.unwrap_err();
    assert!(matches!(full, StoreError::LicenseSkuFull { units: 2, .. }));
    let text = full.to_string();
    assert!(
        text.contains("'E3'") && text.contains("2 of 2") && text.contains("license unassign"),
        "{text}"
    );
    let unknown = store.assign_license(&c, "E5", at).await.unwrap_err();
    assert!(
        matches!(unknown, StoreError::NotFound { .. }) && unknown.to_string().contains("sku add"),
        "{unknown}"
    );
    let skus = store.license_skus().await.unwrap();
    assert_eq!(skus.len(), 1);
    assert_eq!(
        (skus[0].name.as_str(), skus[0].units, skus[0].assigned),
        ("E3", Some(2), 2)
    );
    assert_eq!(skus[0].created_at, at);
    let assigned = store.license_assignments().await.unwrap();
    assert_eq!(
        assigned
            .iter()
            .map(|x| (x.email.as_str(), x.sku.as_str()))
            .collect::<Vec<_>>(),
        [("a@x.test", "E3"), ("b@x.test", "E3")]
    );
    assert_eq!(assigned[0].assigned_at, at);
    // Fewer units than assigned is refused; more, or unlimited, is fine.
    let fewer = store
        .set_license_sku_units("E3", Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(fewer, StoreError::LicenseSkuUnits { assigned: 2, .. }),
        "{fewer}"
    );
    assert!(store.unassign_license(&bb, "E3").await.unwrap());
    assert!(!store.unassign_license(&bb, "E3").await.unwrap());
    assert!(store.assign_license(&c, "E3", at).await.unwrap());
    store.set_license_sku_units("e3", None).await.unwrap();
    assert!(store.assign_license(&bb, "E3", at).await.unwrap());
    assert_eq!(store.license_skus().await.unwrap()[0].units, None);
    store.set_license_sku_units("E3", Some(3)).await.unwrap();
    assert!(matches!(
        store.set_license_sku_units("E5", Some(3)).await,
        Err(StoreError::NotFound { .. })
    ));
    let dump = store.dump_state().await.unwrap();
    assert!(
        dump.contains("license skus (1)\n  E3 units=3 assigned=3 created_at=<time>")
            && dump.contains("license assignments (3)\n  a@x.test sku=E3 assigned_at=<time>"),
        "{dump}"
    );
    assert_invariants(store).await;
}

/// Workers on other machines assign at once: the last units go to as many users as
/// there are units, never more.
pub async fn assignments_at_once_never_pass_the_units(b: Backend) {
    b.store()
        .add_license_sku("E3", Some(3), now())
        .await
        .unwrap();
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(b.open_again().await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let store = Arc::clone(&stores[i % 4]);
        tasks.spawn(async move {
            store
                .assign_license(&addr(&format!("u{i}@x.test")), "E3", now())
                .await
        });
    }
    let (mut won, mut full) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(true) => won += 1,
            Err(StoreError::LicenseSkuFull { .. }) => full += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((won, full), (3, 9));
    assert_eq!(b.count("license_assignments").await, 3);
}

pub async fn the_grace_period_is_30_days_until_set(b: Backend) {
    let store = b.store();
    assert_eq!(store.grace_period().await.unwrap(), GracePeriod::default());
    assert_eq!(
        store.grace_period().await.unwrap().seconds(),
        30 * 24 * 3600
    );
    let g: GracePeriod = "45s".parse().unwrap();
    store.set_grace_period(g).await.unwrap();
    store.set_grace_period(g).await.unwrap();
    assert_eq!(store.grace_period().await.unwrap(), g);
    assert_eq!(b.count("license_settings").await, 1);
}

pub async fn a_disabled_login_keeps_its_first_time_until_given_back(b: Backend) {
    let store = b.store();
    let first = now();
    let later = first + chrono::TimeDelta::seconds(30);
    store
        .set_login_disabled(&addr("b@x.test"), Some(first))
        .await
        .unwrap();
    store
        .set_login_disabled(&addr("a@x.test"), Some(later))
        .await
        .unwrap();
    store
        .set_login_disabled(&addr("b@x.test"), Some(later))
        .await
        .unwrap();
    let disabled = store.disabled_logins().await.unwrap();
    assert_eq!(
        disabled
            .iter()
            .map(|d| (d.email.as_str(), d.disabled_at))
            .collect::<Vec<_>>(),
        [("a@x.test", later), ("b@x.test", first)]
    );
    store
        .set_login_disabled(&addr("b@x.test"), None)
        .await
        .unwrap();
    store
        .set_login_disabled(&addr("nobody@x.test"), None)
        .await
        .unwrap();
    assert_eq!(store.disabled_logins().await.unwrap().len(), 1);
    let dump = store.dump_state().await.unwrap();
    assert!(
        dump.contains("disabled logins (1)\n  a@x.test disabled_at=<time>\n"),
        "{dump}"
    );
}

/// The users the licenses govern outlive the batch (and its provisioning records): each
/// keeps the first time it was remembered with.
pub async fn the_users_licenses_govern_keep_their_first_provisioning_time(b: Backend) {
    let store = b.store();
    let first = now();
    let later = first + chrono::TimeDelta::seconds(60);
    let user = |s: &str, at| ProvisionedUser {
        email: addr(s),
        provisioned_at: at,
    };
    store
        .remember_license_users(&[user("b@x.test", first), user("a@x.test", later)])
        .await
        .unwrap();
    store
        .remember_license_users(&[user("b@x.test", later)])
        .await
        .unwrap();
    assert_eq!(
        store.license_users().await.unwrap(),
        [user("a@x.test", later), user("b@x.test", first)]
    );
    let dump = store.dump_state().await.unwrap();
    assert!(
        dump.contains("license users (2)\n  a@x.test provisioned_at=<time>\n"),
        "{dump}"
    );
}
