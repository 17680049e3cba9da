//! [`JobStore`] on SQLite: one process claims at a time (`BEGIN IMMEDIATE` takes the
//! write lock before the read), so a claim's read-decide-write is whole.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::SqliteStore;
use crate::Result;
use crate::jobs::{Job, JobEnd, JobStore, NewJob, Round, ThrottleState, choose_claims};
use crate::rows::{job_from_row, millis, round_from_row, throttle_from_row};

#[async_trait]
impl JobStore for SqliteStore {
    async fn open_round(
        &self,
        batch: &str,
        incremental: bool,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        // The batch's name as stored (rounds and jobs compare without case).
        let Some(name) = sqlx::query_scalar::<_, String>("SELECT name FROM batches WHERE name = ?")
            .bind(batch)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(crate::StoreError::NotFound {
                what: "batch",
                name: batch.to_string(),
            });
        };
        let opened = sqlx::query(
            "INSERT INTO rounds (batch, incremental, started_at) VALUES (?, ?, ?)
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
        sqlx::query("UPDATE batches SET started_at = COALESCE(started_at, ?) WHERE name = ?")
            .bind(now)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        for job in jobs {
            sqlx::query(
                "INSERT INTO jobs (kind, batch, subject, position, run_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(job.kind.as_str())
            .bind(&name)
            .bind(&job.subject)
            .bind(job.position)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
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
        let done = sqlx::query(
            "DELETE FROM rounds WHERE batch = ?
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.batch = rounds.batch)",
        )
        .bind(batch)
        .execute(self.pool())
        .await?;
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
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut candidates = Vec::new();
        let mut held = BTreeMap::new();
        for (batch, limit) in limits {
            let holding: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs
                 WHERE batch = ? AND lease_owner IS NOT NULL AND lease_expires_at > ?",
            )
            .bind(batch)
            .bind(millis(now))
            .fetch_one(&mut *tx)
            .await?;
            held.insert(batch.clone(), holding as u32);
            let room = i64::from(*limit) - holding;
            if room <= 0 {
                continue;
            }
            let rows = sqlx::query(
                "SELECT * FROM jobs WHERE batch = ? AND run_at <= ?
                   AND (lease_owner IS NULL OR lease_expires_at <= ?)
                 ORDER BY position, id LIMIT ?",
            )
            .bind(batch)
            .bind(millis(now))
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
                "UPDATE jobs SET lease_owner = ?, leased_at = ?, heartbeat_at = ?,
                   lease_expires_at = ? WHERE id = ? RETURNING *",
            )
            .bind(owner)
            .bind(now)
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
            "UPDATE jobs SET heartbeat_at = ?, lease_expires_at = ?
             WHERE id = ? AND lease_owner = ? AND lease_expires_at > ?",
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
        let done = match end {
            JobEnd::Done => {
                sqlx::query("DELETE FROM jobs WHERE id = ? AND lease_owner = ?")
                    .bind(id)
                    .bind(owner)
                    .execute(self.pool())
                    .await?
            }
            JobEnd::Later {
                run_at,
                attempts,
                refusals,
                error,
            } => {
                sqlx::query(
                    "UPDATE jobs SET run_at = ?, attempts = ?, refusals = ?, last_error = ?,
                       lease_owner = NULL, leased_at = NULL, heartbeat_at = NULL,
                       lease_expires_at = NULL
                     WHERE id = ? AND lease_owner = ?",
                )
                .bind(millis(*run_at))
                .bind(i64::from(*attempts))
                .bind(i64::from(*refusals))
                .bind(error)
                .bind(id)
                .bind(owner)
                .execute(self.pool())
                .await?
            }
            JobEnd::Release => {
                sqlx::query(
                    "UPDATE jobs SET lease_owner = NULL, leased_at = NULL, heartbeat_at = NULL,
                       lease_expires_at = NULL
                     WHERE id = ? AND lease_owner = ?",
                )
                .bind(id)
                .bind(owner)
                .execute(self.pool())
                .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }

    async fn release_jobs_of(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, leased_at = NULL, heartbeat_at = NULL,
               lease_expires_at = NULL
             WHERE lease_owner = ?",
        )
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    async fn jobs(&self, batch: Option<&str>) -> Result<Vec<Job>> {
        sqlx::query(
            "SELECT * FROM jobs WHERE (?1 IS NULL OR batch = ?1) ORDER BY batch, position, id",
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
        sqlx::query("SELECT * FROM throttles WHERE batch = ?")
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
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let current = sqlx::query("SELECT * FROM throttles WHERE batch = ?")
            .bind(batch)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| throttle_from_row(&r))
            .transpose()?;
        let next = ThrottleState::after(current, max, refused_until);
        sqlx::query(
            "INSERT INTO throttles (batch, lim, credits, max, closed_until)
             SELECT name, ?, ?, ?, ? FROM batches WHERE name = ?
             ON CONFLICT (batch) DO UPDATE SET lim = excluded.lim, credits = excluded.credits,
               max = excluded.max, closed_until = excluded.closed_until",
        )
        .bind(i64::from(next.aimd.limit()))
        .bind(i64::from(next.aimd.credits()))
        .bind(i64::from(next.aimd.max()))
        .bind(next.closed_until.map(millis))
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(next)
    }
}
