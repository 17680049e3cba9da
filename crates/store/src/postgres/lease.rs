//! [`LeaseStore`] on PostgreSQL: the read-decide-write of [`may_take`] under an advisory
//! transaction lock on the job (a lease not stored yet has no row to lock), so that two
//! workers on two machines cannot both read "free" and both write.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::PostgresStore;
use crate::Result;
use crate::lease::{Lease, LeaseStore, lease_from_row, may_take, millis};

#[async_trait]
impl LeaseStore for PostgresStore {
    async fn acquire_lease(
        &self,
        job: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(job)
            .execute(&mut *tx)
            .await?;
        let current = sqlx::query("SELECT * FROM leases WHERE job = $1 FOR UPDATE")
            .bind(job)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| lease_from_row(&row))
            .transpose()?;
        if !may_take(current.as_ref(), owner, now) {
            return Ok(None);
        }
        let acquired_at = match &current {
            Some(c) if c.owner == owner && !c.is_expired(now) => c.acquired_at,
            _ => now,
        };
        let lease = Lease {
            job: job.to_string(),
            owner: owner.to_string(),
            acquired_at,
            heartbeat_at: now,
            expires_at: now + ttl,
        };
        sqlx::query(
            "INSERT INTO leases (job, owner, acquired_at, heartbeat_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (job) DO UPDATE SET owner = excluded.owner,
                 acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
                 expires_at = excluded.expires_at",
        )
        .bind(&lease.job)
        .bind(&lease.owner)
        .bind(lease.acquired_at)
        .bind(lease.heartbeat_at)
        .bind(millis(lease.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // What was stored (PostgreSQL keeps microseconds).
        Ok(Some(Lease {
            acquired_at: micros(lease.acquired_at),
            heartbeat_at: micros(lease.heartbeat_at),
            ..lease
        }))
    }

    async fn renew_lease(
        &self,
        job: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // Only while it is still ours and not expired: an expired lease may have been
        // seen as free by another worker already.
        let done = sqlx::query(
            "UPDATE leases SET heartbeat_at = $1, expires_at = $2
             WHERE job = $3 AND owner = $4 AND expires_at > $5",
        )
        .bind(now)
        .bind(millis(now + ttl))
        .bind(job)
        .bind(owner)
        .bind(millis(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, job: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE job = $1 AND owner = $2")
            .bind(job)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn release_leases_of(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM leases WHERE owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn leases(&self) -> Result<Vec<Lease>> {
        sqlx::query("SELECT * FROM leases ORDER BY job")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(lease_from_row)
            .collect()
    }
}

/// A time as PostgreSQL stores it: to the microsecond.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}
