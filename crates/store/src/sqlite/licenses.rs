//! [`LicenseStore`] on SQLite. One writer at a time: an assignment's check of the
//! SKU's free units and its insert are one statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{EmailAddress, GracePeriod, ProvisionedUser};

use super::{SqliteStore, corrupt};
use crate::licenses::{DisabledLogin, LicenseAssignment, LicenseSku, LicenseStore, row};
use crate::{Result, StoreError};

impl SqliteStore {
    /// The SKU's name as stored, and its units.
    async fn license_sku(&self, name: &str) -> Result<(String, Option<i64>)> {
        let found: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT name, units FROM license_skus WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        found.ok_or_else(|| StoreError::NotFound {
            what: "license SKU",
            name: format!("{name} (add it with `cutover license sku add {name} --units N`)"),
        })
    }
}

#[async_trait]
impl LicenseStore for SqliteStore {
    async fn add_license_sku(
        &self,
        name: &str,
        units: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO license_skus (name, units, created_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(row::units(units)?)
        .bind(at)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists {
                what: "license SKU",
                name: name.to_string(),
            });
        }
        Ok(())
    }

    async fn set_license_sku_units(&self, name: &str, units: Option<u64>) -> Result<()> {
        let (stored, _) = self.license_sku(name).await?;
        let done = sqlx::query(
            "UPDATE license_skus SET units = ?1 WHERE name = ?2 AND (?1 IS NULL
               OR ?1 >= (SELECT COUNT(*) FROM license_assignments WHERE sku = ?2))",
        )
        .bind(row::units(units)?)
        .bind(&stored)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            let assigned: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM license_assignments WHERE sku = ?")
                    .bind(&stored)
                    .fetch_one(&self.pool)
                    .await?;
            return Err(StoreError::LicenseSkuUnits {
                sku: stored,
                units: units.unwrap_or(0),
                assigned: assigned.max(0) as u64,
            });
        }
        Ok(())
    }

    async fn license_skus(&self) -> Result<Vec<LicenseSku>> {
        sqlx::query(
            "SELECT s.name, s.units, s.created_at,
               (SELECT COUNT(*) FROM license_assignments a WHERE a.sku = s.name) AS assigned
             FROM license_skus s ORDER BY s.name COLLATE BINARY",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row::sku)
        .collect()
    }

    async fn assign_license(
        &self,
        email: &EmailAddress,
        sku: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let (stored, units) = self.license_sku(sku).await?;
        // The free units are counted in the insert itself: SQLite runs one writer at a
        // time, so two assignments cannot both take the last unit.
        let done = sqlx::query(
            "INSERT INTO license_assignments (email, sku, assigned_at)
             SELECT ?1, s.name, ?3 FROM license_skus s
             WHERE s.name = ?2 AND (s.units IS NULL
               OR s.units > (SELECT COUNT(*) FROM license_assignments a WHERE a.sku = s.name))
             ON CONFLICT (email, sku) DO NOTHING",
        )
        .bind(email.as_str())
        .bind(&stored)
        .bind(at)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let holds: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM license_assignments WHERE email = ? AND sku = ?")
                .bind(email.as_str())
                .bind(&stored)
                .fetch_optional(&self.pool)
                .await?;
        if holds.is_some() {
            return Ok(false);
        }
        Err(StoreError::LicenseSkuFull {
            sku: stored,
            units: units.unwrap_or(0).max(0) as u64,
        })
    }

    async fn unassign_license(&self, email: &EmailAddress, sku: &str) -> Result<bool> {
        let (stored, _) = self.license_sku(sku).await?;
        let done = sqlx::query("DELETE FROM license_assignments WHERE email = ? AND sku = ?")
            .bind(email.as_str())
            .bind(&stored)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn license_assignments(&self) -> Result<Vec<LicenseAssignment>> {
        sqlx::query(
            "SELECT email, sku, assigned_at FROM license_assignments ORDER BY email, sku COLLATE BINARY",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row::assignment)
        .collect()
    }

    async fn grace_period(&self) -> Result<GracePeriod> {
        let seconds: Option<i64> =
            sqlx::query_scalar("SELECT grace_seconds FROM license_settings WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        seconds
            .map(|s| GracePeriod::from_seconds(s).map_err(corrupt))
            .unwrap_or_else(|| Ok(GracePeriod::default()))
    }

    async fn set_grace_period(&self, grace: GracePeriod) -> Result<()> {
        sqlx::query(
            "INSERT INTO license_settings (id, grace_seconds, updated_at) VALUES (1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET grace_seconds = excluded.grace_seconds,
               updated_at = excluded.updated_at",
        )
        .bind(grace.seconds())
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remember_license_users(&self, users: &[ProvisionedUser]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for u in users {
            sqlx::query(
                "INSERT INTO license_users (email, provisioned_at) VALUES (?, ?)
                 ON CONFLICT (email) DO NOTHING",
            )
            .bind(u.email.as_str())
            .bind(u.provisioned_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn license_users(&self) -> Result<Vec<ProvisionedUser>> {
        sqlx::query("SELECT email, provisioned_at FROM license_users ORDER BY email")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row::license_user)
            .collect()
    }

    async fn disabled_logins(&self) -> Result<Vec<DisabledLogin>> {
        sqlx::query("SELECT email, disabled_at FROM disabled_logins ORDER BY email")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row::disabled)
            .collect()
    }

    async fn set_login_disabled(
        &self,
        email: &EmailAddress,
        at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        match at {
            // A login disabled again keeps its first time.
            Some(at) => sqlx::query(
                "INSERT INTO disabled_logins (email, disabled_at) VALUES (?, ?)
                 ON CONFLICT (email) DO NOTHING",
            )
            .bind(email.as_str())
            .bind(at),
            None => sqlx::query("DELETE FROM disabled_logins WHERE email = ?").bind(email.as_str()),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
