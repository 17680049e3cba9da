//! [`DomainStore`] on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqliteStore;
use crate::domains::{AcceptedDomain, DomainStore, EndpointDiscovery, MxCheck};
use crate::rows::domain_row;
use crate::{Result, StoreError};

#[async_trait]
impl DomainStore for SqliteStore {
    async fn add_accepted_domain(&self, d: &AcceptedDomain) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO accepted_domains (name, token, created_at, verified_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&d.name)
        .bind(&d.token)
        .bind(d.created_at)
        .bind(d.verified_at)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists {
                what: "accepted domain",
                name: d.name.clone(),
            });
        }
        Ok(())
    }

    async fn accepted_domain(&self, name: &str) -> Result<Option<AcceptedDomain>> {
        sqlx::query("SELECT * FROM accepted_domains WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(domain_row)
            .transpose()
    }

    async fn accepted_domains(&self) -> Result<Vec<AcceptedDomain>> {
        sqlx::query("SELECT * FROM accepted_domains ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(domain_row)
            .collect()
    }

    async fn set_domain_verified(&self, name: &str, at: DateTime<Utc>) -> Result<()> {
        let done = sqlx::query(
            "UPDATE accepted_domains SET verified_at = COALESCE(verified_at, ?) WHERE name = ?",
        )
        .bind(at)
        .bind(name)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "accepted domain",
                name: name.to_string(),
            });
        }
        Ok(())
    }

    async fn remove_accepted_domain(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM accepted_domains WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "accepted domain",
                name: name.to_string(),
            });
        }
        Ok(())
    }

    async fn mx_check(&self, domain: &str) -> Result<Option<MxCheck>> {
        let Some(row) = sqlx::query("SELECT * FROM mx_checks WHERE domain = ?")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let expected: String = row.try_get("expected_mx")?;
        Ok(Some(MxCheck {
            domain: row.try_get("domain")?,
            expected_mx: serde_json::from_str(&expected)
                .map_err(|e| StoreError::Corrupt(format!("mx_checks.expected_mx: {e}")))?,
            first_switch_at: row.try_get("first_switch_at")?,
            last_checked_at: row.try_get("last_checked_at")?,
            last_state: row.try_get("last_state")?,
        }))
    }

    async fn save_mx_check(&self, c: &MxCheck) -> Result<()> {
        let expected = serde_json::to_string(&c.expected_mx)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO mx_checks (domain, expected_mx, first_switch_at, last_checked_at, last_state)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (domain) DO UPDATE SET
               expected_mx = excluded.expected_mx,
               first_switch_at = COALESCE(mx_checks.first_switch_at, excluded.first_switch_at),
               last_checked_at = excluded.last_checked_at,
               last_state = excluded.last_state",
        )
        .bind(&c.domain)
        .bind(expected)
        .bind(c.first_switch_at)
        .bind(c.last_checked_at)
        .bind(&c.last_state)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_endpoint_discovery(&self, d: &EndpointDiscovery) -> Result<()> {
        sqlx::query(
            "INSERT INTO endpoint_discovery (endpoint, email, method, discovered_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (endpoint) DO UPDATE SET email = excluded.email, method = excluded.method,
               discovered_at = excluded.discovered_at",
        )
        .bind(&d.endpoint)
        .bind(&d.email)
        .bind(&d.method)
        .bind(d.discovered_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn endpoint_discovery(&self, endpoint: &str) -> Result<Option<EndpointDiscovery>> {
        let Some(row) = sqlx::query("SELECT * FROM endpoint_discovery WHERE endpoint = ?")
            .bind(endpoint)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(EndpointDiscovery {
            endpoint: row.try_get("endpoint")?,
            email: row.try_get("email")?,
            method: row.try_get("method")?,
            discovered_at: row.try_get("discovered_at")?,
        }))
    }

    async fn clear_endpoint_discovery(&self, endpoint: &str) -> Result<()> {
        sqlx::query("DELETE FROM endpoint_discovery WHERE endpoint = ?")
            .bind(endpoint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
