//! [`ProvisioningStore`] on PostgreSQL (the SQL of SQLite's, with numbered parameters).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::UserStatus;
use secrecy::SecretString;
use sqlx::Row;

use super::PostgresStore;
use crate::provisioning::{ProvisioningRecord, ProvisioningStore};
use crate::rows::{initial_password_owner, provisioning_from_row, user_owner};
use crate::{NewUser, Result, StoreError};

#[async_trait]
impl ProvisioningStore for PostgresStore {
    async fn add_batch_users(&self, batch: &str, users: &[NewUser]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let stored: String = sqlx::query_scalar("SELECT name FROM batches WHERE name = $1")
            .bind(batch)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "batch",
                name: batch.to_string(),
            })?;
        let mut joined = 0;
        for u in users {
            let sealed = u
                .password
                .as_ref()
                .map(|p| self.sealer.seal(p, &user_owner(u.email.as_str())))
                .transpose()?;
            let done = sqlx::query(
                "INSERT INTO users (email, batch, source_login, password_sealed, status, position,
                   recipient_type)
                 SELECT $1, $2, $3, $4, $5,
                   (SELECT COALESCE(MAX(position), -1) + 1 FROM users WHERE batch = $2), $6
                 ON CONFLICT (email) DO NOTHING",
            )
            .bind(u.email.as_str())
            .bind(&stored)
            .bind(&u.source_login)
            .bind(sealed)
            .bind(UserStatus::Queued.as_str())
            .bind(u.kind.recipient_type(true))
            .execute(&mut *tx)
            .await?;
            joined += done.rows_affected();
        }
        tx.commit().await?;
        Ok(joined)
    }

    async fn set_provisioning_desired(
        &self,
        email: &str,
        desired: &str,
        digest: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO provisioning (email, desired, desired_digest) VALUES ($1, $2, $3)
             ON CONFLICT (email) DO UPDATE SET desired = excluded.desired,
               desired_digest = excluded.desired_digest",
        )
        .bind(email)
        .bind(desired)
        .bind(digest)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn provisioning(&self, email: &str) -> Result<Option<ProvisioningRecord>> {
        sqlx::query("SELECT * FROM provisioning WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(provisioning_from_row)
            .transpose()
    }

    async fn provisioning_records(&self, batch: &str) -> Result<Vec<ProvisioningRecord>> {
        sqlx::query(
            "SELECT p.* FROM provisioning p JOIN users u ON u.email = p.email
             WHERE u.batch = $1 ORDER BY p.email",
        )
        .bind(batch)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(provisioning_from_row)
        .collect()
    }

    async fn provisioned_at(&self, email: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT provisioned_at FROM provisioning WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
        Ok(at.flatten())
    }

    async fn hold_initial_password(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<SecretString> {
        let sealed = self.sealer.seal(password, &initial_password_owner(email))?;
        sqlx::query(
            "INSERT INTO provisioning (email, password_sealed) VALUES ($1, $2)
             ON CONFLICT (email) DO UPDATE SET password_sealed = $2
             WHERE provisioning.password_sealed IS NULL
               AND provisioning.password_handed_out_at IS NULL",
        )
        .bind(email)
        .bind(&sealed)
        .execute(&self.pool)
        .await?;
        self.initial_password(email)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "initial password (it was handed out already) of",
                name: email.to_string(),
            })
    }

    async fn initial_password(&self, email: &str) -> Result<Option<SecretString>> {
        let row = sqlx::query("SELECT password_sealed FROM provisioning WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        let sealed: Option<String> = match row {
            Some(r) => r.try_get("password_sealed")?,
            None => None,
        };
        sealed
            .map(|s| self.sealer.open(&s, &initial_password_owner(email)))
            .transpose()
    }

    async fn record_provisioned(
        &self,
        email: &str,
        target_dn: &str,
        digest: &str,
        password_set: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO provisioning (email, target_dn, applied_digest, provisioned_at, updated_at,
               password_set_at)
             VALUES ($1, $2, $3, $4, $4, CASE WHEN $5 THEN $4 END)
             ON CONFLICT (email) DO UPDATE SET target_dn = $2, applied_digest = $3,
               provisioned_at = COALESCE(provisioning.provisioned_at, $4), updated_at = $4,
               error = NULL,
               password_set_at = CASE WHEN $5 THEN COALESCE(provisioning.password_set_at, $4)
                                 ELSE provisioning.password_set_at END",
        )
        .bind(email)
        .bind(target_dn)
        .bind(digest)
        .bind(now)
        .bind(password_set)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_provisioning_error(&self, email: &str, error: Option<&str>) -> Result<()> {
        sqlx::query(
            "INSERT INTO provisioning (email, error) VALUES ($1, $2)
             ON CONFLICT (email) DO UPDATE SET error = $2",
        )
        .bind(email)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn passwords_to_hand_out(&self, batch: &str) -> Result<Vec<(String, SecretString)>> {
        let rows = sqlx::query(
            "SELECT p.email, p.password_sealed FROM provisioning p JOIN users u ON u.email = p.email
             WHERE u.batch = $1 AND p.password_sealed IS NOT NULL AND p.password_set_at IS NOT NULL
             ORDER BY p.email",
        )
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let email: String = r.try_get("email")?;
            let sealed: String = r.try_get("password_sealed")?;
            let password = self.sealer.open(&sealed, &initial_password_owner(&email))?;
            out.push((email, password));
        }
        Ok(out)
    }

    async fn forget_initial_passwords(&self, emails: &[String], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for email in emails {
            sqlx::query(
                "UPDATE provisioning SET password_sealed = NULL, password_handed_out_at = $1
                 WHERE email = $2 AND password_sealed IS NOT NULL",
            )
            .bind(now)
            .bind(email)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
