//! [`NotificationStore`] on SQLite.

use std::str::FromStr;

use async_trait::async_trait;
use cutover_model::{EmailAddress, SmtpRelay, SmtpTls};
use secrecy::SecretString;
use sqlx::Row;

use super::{SqliteStore, corrupt, parse};
use crate::notifications::{NotificationRecord, NotificationStore};
use crate::rows::RELAY_OWNER;
use crate::{Result, StoreError};

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
