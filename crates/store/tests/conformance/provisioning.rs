//! [`ProvisioningStore`]: users joining a batch of the organization, each user's entry
//! on the target (desired, applied, where, when) and its initial password, sealed until
//! a passwords CSV holds it.

use cutover_model::RecipientKind;
use cutover_store::NewUser;
use secrecy::ExposeSecret;

use crate::support::*;

pub async fn users_join_a_batch_after_the_others_once(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@contoso.test", "b@contoso.test"]).await;
    let contact = NewUser {
        kind: RecipientKind::MailContact,
        ..new_user("k@fabrikam.test", None)
    };
    let joined = store
        .add_batch_users("B", &[new_user("a@contoso.test", None), contact.clone()])
        .await
        .unwrap();
    assert_eq!(joined, 1, "a user already in the batch stays as it is");
    assert_eq!(store.add_batch_users("B", &[contact]).await.unwrap(), 0);
    let users = store.users(Some("B"), None).await.unwrap();
    let got: Vec<(&str, RecipientKind)> =
        users.iter().map(|u| (u.email.as_str(), u.kind)).collect();
    assert_eq!(
        got,
        [
            ("a@contoso.test", RecipientKind::Mailbox),
            ("b@contoso.test", RecipientKind::Mailbox),
            ("k@fabrikam.test", RecipientKind::MailContact),
        ]
    );
    assert!(store.add_batch_users("Nope", &[]).await.is_err());
}

pub async fn an_entry_is_desired_then_applied_and_provisioned_once(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@contoso.test", "b@contoso.test"]).await;
    assert_eq!(store.provisioning("a@contoso.test").await.unwrap(), None);
    assert_eq!(store.provisioned_at("a@contoso.test").await.unwrap(), None);
    store
        .set_provisioning_desired("a@contoso.test", "{\"v\":1}", "d1")
        .await
        .unwrap();
    let r = store.provisioning("a@contoso.test").await.unwrap().unwrap();
    assert_eq!(r.desired.as_deref(), Some("{\"v\":1}"));
    assert!(!r.is_current());
    store
        .record_provisioning_error("a@contoso.test", Some("the directory refused"))
        .await
        .unwrap();
    let first = now();
    store
        .record_provisioned("a@contoso.test", "uid=a,ou=people", "d1", false, first)
        .await
        .unwrap();
    let r = store.provisioning("a@contoso.test").await.unwrap().unwrap();
    assert!(r.is_current());
    assert_eq!(r.error, None);
    assert_eq!(r.target_dn.as_deref(), Some("uid=a,ou=people"));
    assert_eq!(r.provisioned_at, Some(first));
    // A change: desired again, applied later; provisioned_at stays the first time.
    store
        .set_provisioning_desired("a@contoso.test", "{\"v\":2}", "d2")
        .await
        .unwrap();
    assert!(
        !store
            .provisioning("a@contoso.test")
            .await
            .unwrap()
            .unwrap()
            .is_current()
    );
    let later = first + chrono::Duration::hours(1);
    store
        .record_provisioned("a@contoso.test", "uid=a,ou=people", "d2", false, later)
        .await
        .unwrap();
    let r = store.provisioning("a@contoso.test").await.unwrap().unwrap();
    assert_eq!(
        (r.provisioned_at, r.updated_at, r.is_current()),
        (Some(first), Some(later), true)
    );
    assert_eq!(
        store.provisioned_at("a@contoso.test").await.unwrap(),
        Some(first)
    );
    let all = store.provisioning_records("B").await.unwrap();
    assert_eq!(all.len(), 1);
    // The record goes with its user.
    store.remove_batch("B").await.unwrap();
    assert_eq!(store.provisioning("a@contoso.test").await.unwrap(), None);
}

pub async fn an_initial_password_is_kept_sealed_until_handed_out_then_forgotten(b: Backend) {
    let store = b.store();
    store_with_batch(store, &["a@contoso.test", "b@contoso.test"]).await;
    let kept = store
        .hold_initial_password("a@contoso.test", &secret("First.Pass.1"))
        .await
        .unwrap();
    assert_eq!(kept.expose_secret(), "First.Pass.1");
    // A retry after a crash gets the same password, not a new one.
    let again = store
        .hold_initial_password("a@contoso.test", &secret("Other.Pass.2"))
        .await
        .unwrap();
    assert_eq!(again.expose_secret(), "First.Pass.1");
    assert_eq!(
        b.texts("SELECT password_sealed FROM provisioning")
            .await
            .iter()
            .filter(|t| t.contains("First.Pass.1"))
            .count(),
        0,
        "sealed, not plain"
    );
    // Not set on the target yet: nothing to hand out.
    assert!(store.passwords_to_hand_out("B").await.unwrap().is_empty());
    store
        .record_provisioned("a@contoso.test", "uid=a", "d", true, now())
        .await
        .unwrap();
    let out = store.passwords_to_hand_out("B").await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "a@contoso.test");
    assert_eq!(out[0].1.expose_secret(), "First.Pass.1");
    store
        .forget_initial_passwords(&["a@contoso.test".to_string()], now())
        .await
        .unwrap();
    assert!(store.passwords_to_hand_out("B").await.unwrap().is_empty());
    assert!(
        store
            .initial_password("a@contoso.test")
            .await
            .unwrap()
            .is_none()
    );
    let r = store.provisioning("a@contoso.test").await.unwrap().unwrap();
    assert!(r.password_set_at.is_some() && r.password_handed_out_at.is_some());
    // Handed out once: never a second password for it.
    assert!(
        store
            .hold_initial_password("a@contoso.test", &secret("Third.Pass.3"))
            .await
            .is_err()
    );
}
