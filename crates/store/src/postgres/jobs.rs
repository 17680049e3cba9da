//! [`JobStore`] on PostgreSQL, for many workers on many machines: a claim locks each
//! batch it looks at (an advisory transaction lock per batch, taken in name order so two
//! claims never wait on each other in a circle), counts what the batch's workers hold,
//! takes the due jobs it may with `FOR UPDATE SKIP LOCKED`, and lets [`choose_claims`]
//! decide, so a batch's limit holds across every worker. Whatever makes work due or
//! frees room (a round opened, a job ended or given back, a throttle moved) is announced
//! with `NOTIFY`; [`JobStore::wait_for_work`] listens (`LISTEN`, one connection per store)
//! and falls back to waiting out its timeout when it cannot.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use super::PostgresStore;
use crate::jobs::{Job, JobEnd, JobStore, NewJob, Round, ThrottleState, choose_claims};
use crate::rows::{job_from_row, millis, round_from_row, throttle_from_row};
use crate::{Result, StoreError};

/// The channel work is announced on.
pub(super) const CHANNEL: &str = "cutover_jobs";

/// The advisory lock of one batch's claims (names compare without case).
const BATCH_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('cutover-claims:' || lower($1), 0))";

/// Announces work, inside the caller's transaction (delivered when it commits).
async fn announce(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, batch: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(batch)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The listening side: a task holding a `LISTEN` connection wakes every waiter of the
/// store at each notification.
pub(super) struct Wakeups {
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Wakeups {
    /// Connects and listens before returning, so that nothing announced after this is
    /// missed.
    async fn start(store: &PostgresStore) -> Result<Wakeups> {
        let mut listener = PgListener::connect_with(store.pool()).await?;
        listener.listen(CHANNEL).await?;
        let notify = Arc::new(Notify::new());
        let wake = notify.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake.notify_waiters(),
                    // The connection was lost: recv() connects again on the next call;
                    // meanwhile waiters wait out their timeouts (polling).
                    Err(e) => {
                        tracing::debug!("waiting for work: the LISTEN connection failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Wakeups { notify, task })
    }

    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn open_round(
        &self,
        batch: &str,
        incremental: bool,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        // The batch's row locked: its removal waits for the round, and the name as stored.
        let Some(name) =
            sqlx::query_scalar::<_, String>("SELECT name FROM batches WHERE name = $1 FOR SHARE")
                .bind(batch)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Err(StoreError::NotFound {
                what: "batch",
                name: batch.to_string(),
            });
        };
        let opened = sqlx::query(
            "INSERT INTO rounds (batch, incremental, started_at) VALUES ($1, $2, $3)
             ON CONFLICT (batch) DO NOTHING",
        )
        .bind(&name)
        .bind(incremental)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !opened {
            return Ok(false);
        }
        sqlx::query("UPDATE batches SET started_at = COALESCE(started_at, $1) WHERE name = $2")
            .bind(now)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        for job in jobs {
            sqlx::query(
                "INSERT INTO jobs (kind, batch, subject, position, run_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(job.kind.as_str())
            .bind(&name)
            .bind(&job.subject)
            .bind(job.position)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
        announce(&mut tx, &name).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn rounds(&self) -> Result<Vec<Round>> {
        sqlx::query("SELECT * FROM rounds ORDER BY batch")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(round_from_row)
            .collect()
    }

    async fn close_round(&self, batch: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        // Not while a claim of the batch is deciding.
        sqlx::query(BATCH_LOCK)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(
            "DELETE FROM rounds WHERE batch = $1
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.batch = rounds.batch)",
        )
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_due(
        &self,
        owner: &str,
        n: usize,
        limits: &BTreeMap<String, u32>,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>> {
        if n == 0 || limits.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool().begin().await?;
        // Every batch looked at is locked for the whole claim, in one order (lowercase
        // names, as the locks are keyed), so the count of held jobs cannot go stale
        // before this claim's leases are written.
        let mut order: Vec<(String, &String)> =
            limits.keys().map(|b| (b.to_lowercase(), b)).collect();
        order.sort();
        order.dedup_by(|a, b| a.0 == b.0);
        for (_, batch) in &order {
            sqlx::query(BATCH_LOCK)
                .bind(*batch)
                .execute(&mut *tx)
                .await?;
        }
        let mut candidates = Vec::new();
        let mut held = BTreeMap::new();
        for (batch, limit) in limits {
            let holding: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs
                 WHERE batch = $1 AND lease_owner IS NOT NULL AND lease_expires_at > $2",
            )
            .bind(batch)
            .bind(millis(now))
            .fetch_one(&mut *tx)
            .await?;
            held.insert(batch.clone(), holding.clamp(0, i64::from(u32::MAX)) as u32);
            let room = i64::from(*limit) - holding;
            if room <= 0 {
                continue;
            }
            let rows = sqlx::query(
                "SELECT * FROM jobs WHERE batch = $1 AND run_at <= $2
                   AND (lease_owner IS NULL OR lease_expires_at <= $2)
                 ORDER BY position, id LIMIT $3
                 FOR UPDATE SKIP LOCKED",
            )
            .bind(batch)
            .bind(millis(now))
            .bind(room.min(n as i64))
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let mut job = job_from_row(row)?;
                // Stored batch names may differ in case from the caller's.
                job.batch = batch.clone();
                candidates.push(job);
            }
        }
        candidates.sort_by_key(|j| (j.position, j.id));
        let chosen = choose_claims(&candidates, &held, limits, n);
        let mut claimed = Vec::new();
        for id in chosen {
            let row = sqlx::query(
                "UPDATE jobs SET lease_owner = $1, leased_at = $2, heartbeat_at = $2,
                   lease_expires_at = $3 WHERE id = $4
                 RETURNING *",
            )
            .bind(owner)
            .bind(now)
            .bind(millis(now + ttl))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            claimed.push(job_from_row(&row)?);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn renew_job(
        &self,
        id: i64,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // Only while it is still ours and not expired: an expired lease may have been
        // seen as free by another worker already.
        let done = sqlx::query(
            "UPDATE jobs SET heartbeat_at = $1, lease_expires_at = $2
             WHERE id = $3 AND lease_owner = $4 AND lease_expires_at > $5",
        )
        .bind(now)
        .bind(millis(now + ttl))
        .bind(id)
        .bind(owner)
        .bind(millis(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_job(&self, id: i64, owner: &str, end: &JobEnd) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let batch: Option<String> =
            match end {
                JobEnd::Done => {
                    sqlx::query_scalar(
                        "DELETE FROM jobs WHERE id = $1 AND lease_owner = $2 RETURNING batch",
                    )
                    .bind(id)
                    .bind(owner)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                JobEnd::Later {
                    run_at,
                    attempts,
                    refusals,
                    error,
                } => sqlx::query_scalar(
                    "UPDATE jobs SET run_at = $1, attempts = $2, refusals = $3, last_error = $4,
                       lease_owner = NULL, leased_at = NULL, heartbeat_at = NULL,
                       lease_expires_at = NULL
                     WHERE id = $5 AND lease_owner = $6
                     RETURNING batch",
                )
                .bind(millis(*run_at))
                .bind(i64::from(*attempts))
                .bind(i64::from(*refusals))
                .bind(error)
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?,
                JobEnd::Release => {
                    sqlx::query_scalar(
                        "UPDATE jobs SET lease_owner = NULL, leased_at = NULL, heartbeat_at = NULL,
                       lease_expires_at = NULL
                     WHERE id = $1 AND lease_owner = $2
                     RETURNING batch",
                    )
                    .bind(id)
                    .bind(owner)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
        // Room under the batch's limit, or a job due again: other workers may claim.
        if let Some(batch) = &batch {
            announce(&mut tx, batch).await?;
        }
        tx.commit().await?;
        Ok(batch.is_some())
    }

    async fn release_jobs_of(&self, owner: &str) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let batches: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET lease_owner = NULL, leased_at = NULL, heartbeat_at = NULL,
               lease_expires_at = NULL
             WHERE lease_owner = $1
             RETURNING batch",
        )
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
        if let Some(batch) = batches.first() {
            announce(&mut tx, batch).await?;
        }
        tx.commit().await?;
        Ok(batches.len() as u64)
    }

    async fn jobs(&self, batch: Option<&str>) -> Result<Vec<Job>> {
        sqlx::query(
            "SELECT * FROM jobs WHERE ($1::TEXT IS NULL OR batch = $1)
             ORDER BY batch, position, id",
        )
        .bind(batch)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(job_from_row)
        .collect()
    }

    async fn leased_jobs(&self) -> Result<Vec<Job>> {
        sqlx::query("SELECT * FROM jobs WHERE lease_owner IS NOT NULL ORDER BY id")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    async fn throttle(&self, batch: &str) -> Result<Option<ThrottleState>> {
        sqlx::query("SELECT * FROM throttles WHERE batch = $1")
            .bind(batch)
            .fetch_optional(self.pool())
            .await?
            .map(|r| throttle_from_row(&r))
            .transpose()
    }

    async fn note_throttle(
        &self,
        batch: &str,
        max: u32,
        refused_until: Option<DateTime<Utc>>,
    ) -> Result<ThrottleState> {
        let mut tx = self.pool().begin().await?;
        // The batch's row locked first: two workers noting at once take turns (the
        // throttle row may not exist yet, so it cannot be the one locked).
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM batches WHERE name = $1 FOR UPDATE")
                .bind(batch)
                .fetch_optional(&mut *tx)
                .await?;
        let current = sqlx::query("SELECT * FROM throttles WHERE batch = $1")
            .bind(batch)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| throttle_from_row(&r))
            .transpose()?;
        let next = ThrottleState::after(current, max, refused_until);
        if let Some(name) = name {
            sqlx::query(
                "INSERT INTO throttles (batch, lim, credits, max, closed_until)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (batch) DO UPDATE SET lim = excluded.lim, credits = excluded.credits,
                   max = excluded.max, closed_until = excluded.closed_until",
            )
            .bind(&name)
            .bind(i64::from(next.aimd.limit()))
            .bind(i64::from(next.aimd.credits()))
            .bind(i64::from(next.aimd.max()))
            .bind(next.closed_until.map(millis))
            .execute(&mut *tx)
            .await?;
            // A limit that grew, or a wait that ends: claims may take more.
            announce(&mut tx, &name).await?;
        }
        tx.commit().await?;
        Ok(next)
    }

    async fn wait_for_work(&self, timeout: std::time::Duration) {
        let notify = match self.wakeups.get_or_try_init(|| Wakeups::start(self)).await {
            Ok(w) => w.notify.clone(),
            Err(e) => {
                // No LISTEN connection now: poll (the next call tries again).
                tracing::debug!("waiting for work without notifications: {e}");
                tokio::time::sleep(timeout).await;
                return;
            }
        };
        let _ = tokio::time::timeout(timeout, notify.notified()).await;
    }
}
