//! [`NotificationStore`] on SQLite.

use std::str::FromStr;

use async_trait::async_trait;
use cutover_model::{EmailAddress, SmtpRelay, SmtpTls};
use secrecy::SecretString;
use sqlx::Row;

use super::{SqliteStore, corrupt, parse};
use crate::notifications::{NotificationRecord, NotificationStore};
use crate::{Result, StoreError};

/// The associated data the relay's password is sealed with.
const RELAY_OWNER: &str = "smtp-relay";

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn set_smtp_relay(
        &self,
        relay: &SmtpRelay,
        password: Option<&SecretString>,
    ) -> Result<()> {
        let sealed = password
            .map(|p| self.sealer.seal(p, RELAY_OWNER))
            .transpose()?;
        sqlx::query(
            "INSERT INTO smtp_relay (id, host, port, tls, from_address, username, password_sealed, ca_file, updated_at)
             VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET host = excluded.host, port = excluded.port, tls = excluded.tls,
               from_address = excluded.from_address, username = excluded.username,
               password_sealed = excluded.password_sealed, ca_file = excluded.ca_file,
               updated_at = excluded.updated_at",
        )
        .bind(&relay.host)
        .bind(i64::from(relay.port))
        .bind(relay.tls.as_str())
        .bind(relay.from.as_str())
        .bind(&relay.user)
        .bind(sealed)
        .bind(&relay.ca_file)
        .bind(relay.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn smtp_relay(&self) -> Result<Option<SmtpRelay>> {
        // Never `SELECT *`: the sealed password is not read here.
        let row = sqlx::query(
            "SELECT host, port, tls, from_address, username, ca_file, updated_at
             FROM smtp_relay WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let port: i64 = row.try_get("port")?;
            let from: String = row.try_get("from_address")?;
            Ok(SmtpRelay {
                host: row.try_get("host")?,
                port: u16::try_from(port).map_err(corrupt)?,
                tls: parse::<SmtpTls>(&row, "tls")?,
                from: EmailAddress::from_str(&from).map_err(corrupt)?,
                user: row.try_get("username")?,
                ca_file: row.try_get("ca_file")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    async fn smtp_relay_password(&self) -> Result<Option<SecretString>> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT password_sealed FROM smtp_relay WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        sealed
            .flatten()
            .map(|s| self.sealer.open(&s, RELAY_OWNER))
            .transpose()
    }

    async fn notification_record(&self, batch: &str) -> Result<NotificationRecord> {
        let row = sqlx::query("SELECT * FROM batch_notifications WHERE batch = ?")
            .bind(batch)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(NotificationRecord::default());
        };
        let announced: String = row.try_get("failures_announced")?;
        Ok(NotificationRecord {
            initial_sync_notified_at: row.try_get("initial_sync_notified_at")?,
            last_report_at: row.try_get("last_report_at")?,
            failures_announced: serde_json::from_str(&announced).map_err(corrupt)?,
        })
    }

    async fn save_notification_record(
        &self,
        batch: &str,
        record: &NotificationRecord,
    ) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO batch_notifications (batch, initial_sync_notified_at, last_report_at, failures_announced)
             SELECT name, ?, ?, ? FROM batches WHERE name = ?
             ON CONFLICT(batch) DO UPDATE SET initial_sync_notified_at = excluded.initial_sync_notified_at,
               last_report_at = excluded.last_report_at, failures_announced = excluded.failures_announced",
        )
        .bind(record.initial_sync_notified_at)
        .bind(record.last_report_at)
        .bind(serde_json::to_string(&record.failures_announced).map_err(corrupt)?)
        .bind(batch)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "batch",
                name: batch.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use secrecy::ExposeSecret;

    use super::super::tests::{batch, endpoint, new_user, store};
    use super::*;
    use crate::{StateInspection, Store};

    fn relay() -> SmtpRelay {
        SmtpRelay {
            host: "smtp.contoso.test".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            from: "cutover@contoso.test".parse().unwrap(),
            user: Some("cutover".into()),
            ca_file: Some("/etc/ssl/private-ca.pem".into()),
            updated_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_relay_round_trips_with_its_password_sealed() {
        let (_dir, store) = store().await;
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
        let raw: String = sqlx::query_scalar("SELECT password_sealed FROM smtp_relay")
            .fetch_one(&store.pool)
            .await
            .unwrap();
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

    #[tokio::test]
    async fn the_record_of_what_was_mailed_follows_its_batch() {
        let (_dir, store) = store().await;
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
            initial_sync_notified_at: Some(Utc::now()),
            last_report_at: Some(Utc::now()),
            failures_announced: vec!["a@b.test".parse().unwrap()],
        };
        store.save_notification_record("b", &record).await.unwrap();
        assert_eq!(store.notification_record("B").await.unwrap(), record);
        assert!(store.save_notification_record("X", &record).await.is_err());
        store.remove_batch("B").await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM batch_notifications")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
