//! [`LicenseStore`] on PostgreSQL. Workers on many machines may assign at once: an
//! assignment locks its SKU's row (`FOR UPDATE`) before counting the units taken, so
//! the last unit goes to one of them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_model::{EmailAddress, GracePeriod, ProvisionedUser};

use super::{PostgresStore, corrupt};
use crate::licenses::{DisabledLogin, LicenseAssignment, LicenseSku, LicenseStore, row};
use crate::{Result, StoreError};

fn unknown_sku(name: &str) -> StoreError {
    StoreError::NotFound {
        what: "license SKU",
        name: format!("{name} (add it with `cutover license sku add {name} --units N`)"),
    }
}

#[async_trait]
impl LicenseStore for PostgresStore {
    async fn add_license_sku(
        &self,
        name: &str,
        units: Option<u64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO license_skus (name, units, created_at) VALUES ($1, $2, $3)
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
        let mut tx = self.pool.begin().await?;
        let stored: String =
            sqlx::query_scalar("SELECT name FROM license_skus WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| unknown_sku(name))?;
        let assigned: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM license_assignments WHERE sku = $1")
                .bind(&stored)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(u) = units
            && (u as i128) < i128::from(assigned)
        {
            return Err(StoreError::LicenseSkuUnits {
                sku: stored,
                units: u,
                assigned: assigned.max(0) as u64,
            });
        }
        sqlx::query("UPDATE license_skus SET units = $1 WHERE name = $2")
            .bind(row::units(units)?)
            .bind(&stored)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn license_skus(&self) -> Result<Vec<LicenseSku>> {
        sqlx::query(
            "SELECT s.name, s.units, s.created_at,
               (SELECT COUNT(*) FROM license_assignments a WHERE a.sku = s.name) AS assigned
             FROM license_skus s ORDER BY s.name COLLATE \"C\"",
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
        let mut tx = self.pool.begin().await?;
        let (stored, units): (String, Option<i64>) =
            sqlx::query_as("SELECT name, units FROM license_skus WHERE name = $1 FOR UPDATE")
                .bind(sku)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| unknown_sku(sku))?;
        let holds: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM license_assignments WHERE email = $1 AND sku = $2")
                .bind(email.as_str())
                .bind(&stored)
                .fetch_optional(&mut *tx)
                .await?;
        if holds.is_some() {
            return Ok(false);
        }
        if let Some(units) = units {
            let assigned: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM license_assignments WHERE sku = $1")
                    .bind(&stored)
                    .fetch_one(&mut *tx)
                    .await?;
            if assigned >= units {
                return Err(StoreError::LicenseSkuFull {
                    sku: stored,
                    units: units.max(0) as u64,
                });
            }
        }
        sqlx::query(
            "INSERT INTO license_assignments (email, sku, assigned_at) VALUES ($1, $2, $3)",
        )
        .bind(email.as_str())
        .bind(&stored)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unassign_license(&self, email: &EmailAddress, sku: &str) -> Result<bool> {
        let stored: String = sqlx::query_scalar("SELECT name FROM license_skus WHERE name = $1")
            .bind(sku)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| unknown_sku(sku))?;
        let done = sqlx::query("DELETE FROM license_assignments WHERE email = $1 AND sku = $2")
            .bind(email.as_str())
            .bind(&stored)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn license_assignments(&self) -> Result<Vec<LicenseAssignment>> {
        sqlx::query(
            "SELECT email, sku, assigned_at FROM license_assignments
             ORDER BY email, sku COLLATE \"C\"",
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
            "INSERT INTO license_settings (id, grace_seconds, updated_at) VALUES (1, $1, $2)
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
                "INSERT INTO license_users (email, provisioned_at) VALUES ($1, $2)
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
                "INSERT INTO disabled_logins (email, disabled_at) VALUES ($1, $2)
                 ON CONFLICT (email) DO NOTHING",
            )
            .bind(email.as_str())
            .bind(at),
            None => {
                sqlx::query("DELETE FROM disabled_logins WHERE email = $1").bind(email.as_str())
            }
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
