//! [`NotificationStore`]: the SMTP relay (its password sealed) and what was mailed.

use cutover_model::{SmtpRelay, SmtpTls};
use cutover_store::NotificationRecord;
use secrecy::{ExposeSecret, SecretString};

use crate::support::*;

fn relay() -> SmtpRelay {
    SmtpRelay {
        host: "smtp.contoso.test".into(),
        port: 587,
        tls: SmtpTls::StartTls,
        from: "cutover@contoso.test".parse().unwrap(),
        user: Some("cutover".into()),
        ca_file: Some("/etc/ssl/private-ca.pem".into()),
        updated_at: now(),
    }
}

pub async fn the_relay_round_trips_with_its_password_sealed(b: Backend) {
    let store = b.store();
    assert_eq!(store.smtp_relay().await.unwrap(), None);
    assert!(store.smtp_relay_password().await.unwrap().is_none());
    let r = relay();
    let pw = SecretString::from("relay-secret".to_string());
    store.set_smtp_relay(&r, Some(&pw)).await.unwrap();
    let back = store.smtp_relay().await.unwrap().unwrap();
    assert_eq!(back.host, r.host);
    assert_eq!(back.tls, SmtpTls::StartTls);
    assert_eq!(back.user.as_deref(), Some("cutover"));
    assert_eq!(
        store
            .smtp_relay_password()
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "relay-secret"
    );
    let raw = b
        .texts("SELECT password_sealed FROM smtp_relay")
        .await
        .remove(0);
    assert!(!raw.contains("relay-secret"));
    assert!(
        !store.dump_state().await.unwrap().contains("relay-secret"),
        "the dump never shows the password"
    );
    // Set again without a login: the password is gone.
    store
        .set_smtp_relay(
            &SmtpRelay {
                user: None,
                ..r.clone()
            },
            None,
        )
        .await
        .unwrap();
    assert!(store.smtp_relay_password().await.unwrap().is_none());
}

pub async fn the_record_of_what_was_mailed_follows_its_batch(b: Backend) {
    let store = b.store();
    store
        .insert_endpoint(&endpoint("E"), &SecretString::from("p".to_string()))
        .await
        .unwrap();
    store
        .create_batch(&batch("B", "E"), &[new_user("a@b.test", None)])
        .await
        .unwrap();
    assert_eq!(
        store.notification_record("B").await.unwrap(),
        NotificationRecord::default()
    );
    let record = NotificationRecord {
        initial_sync_notified_at: Some(now()),
        last_report_at: Some(now()),
        failures_announced: vec!["a@b.test".parse().unwrap()],
    };
    store.save_notification_record("b", &record).await.unwrap();
    assert_eq!(store.notification_record("B").await.unwrap(), record);
    assert!(store.save_notification_record("X", &record).await.is_err());
    store.remove_batch("B").await.unwrap();
    assert_eq!(b.count("batch_notifications").await, 0);
}
