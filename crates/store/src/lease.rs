//! Leases on work, so that several workers never run the same job at once.
//!
//! A worker takes a lease on a job (one mailbox pass) for a while, renews it by
//! heartbeat while it works, and releases it when done. A worker that dies stops
//! renewing; once its lease has expired another worker may take the job. The rule of
//! who may take a lease is [`may_take`], a plain function; the backends only make the
//! read-decide-write one transaction (`BEGIN IMMEDIATE` on SQLite, a conditional
//! `UPDATE` with `FOR UPDATE SKIP LOCKED` on PostgreSQL).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::Result;
use crate::rows::Columns;
use crate::sqlite::SqliteStore;

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job: String,
    pub owner: String,
    pub acquired_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// The job key of one mailbox's passes.
pub fn mailbox_job(email: &str) -> String {
    format!("mailbox:{}", email.to_ascii_lowercase())
}

/// Whether `owner` may take (or keep) the job given the lease stored now: when there
/// is none, when it is its own, or when the holder's lease has expired.
pub fn may_take(current: Option<&Lease>, owner: &str, now: DateTime<Utc>) -> bool {
    match current {
        None => true,
        Some(lease) => lease.owner == owner || lease.is_expired(now),
    }
}

/// Leases on jobs; every [`crate::Store`] has them.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease on `job` for `owner` until `now + ttl`, unless another owner
    /// holds an unexpired one (then `None`). Taking one's own lease again renews it.
    async fn acquire_lease(
        &self,
        job: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>>;
    /// The heartbeat: extends `owner`'s lease to `now + ttl`. False when the lease is
    /// no longer the owner's (it expired and another worker took it, or it was removed):
    /// the worker must stop working on the job.
    async fn renew_lease(
        &self,
        job: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Gives the lease up (nothing happens if it is not the owner's any more).
    async fn release_lease(&self, job: &str, owner: &str) -> Result<()>;
    /// Gives up every lease of `owner` (a worker shutting down); returns how many.
    async fn release_leases_of(&self, owner: &str) -> Result<u64>;
    /// Every stored lease, expired ones included.
    async fn leases(&self) -> Result<Vec<Lease>>;
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn lease_from_row(row: &impl Columns) -> Result<Lease> {
    Ok(Lease {
        job: row.value("job")?,
        owner: row.value("owner")?,
        acquired_at: row.value("acquired_at")?,
        heartbeat_at: row.value("heartbeat_at")?,
        expires_at: from_millis(row.value("expires_at")?),
    })
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn acquire_lease(
        &self,
        job: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        // IMMEDIATE takes the write lock first, so that two processes on the same file
        // cannot both read "free" and both write.
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let current = sqlx::query("SELECT * FROM leases WHERE job = ?")
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
             VALUES (?, ?, ?, ?, ?)
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
        Ok(Some(lease))
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
            "UPDATE leases SET heartbeat_at = ?, expires_at = ?
             WHERE job = ? AND owner = ? AND expires_at > ?",
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
        sqlx::query("DELETE FROM leases WHERE job = ? AND owner = ?")
            .bind(job)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn release_leases_of(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM leases WHERE owner = ?")
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

#[cfg(test)]
mod tests {
    //! The rule alone; the backends' leases are in `tests/conformance/leases.rs`.
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
    }

    fn lease(owner: &str, expires_in: i64, now: DateTime<Utc>) -> Lease {
        Lease {
            job: "j".into(),
            owner: owner.into(),
            acquired_at: now,
            heartbeat_at: now,
            expires_at: now + Duration::milliseconds(expires_in),
        }
    }

    proptest! {
        #[test]
        fn a_live_lease_of_another_owner_is_never_taken(
            holder in "[ab]", taker in "[ab]", expires_in in -100_000i64..100_000
        ) {
            let now = now();
            let current = lease(&holder, expires_in, now);
            let taken = may_take(Some(&current), &taker, now);
            if holder != taker && expires_in > 0 {
                prop_assert!(!taken);
            } else {
                prop_assert!(taken);
            }
            prop_assert!(may_take(None, &taker, now));
        }
    }
}
