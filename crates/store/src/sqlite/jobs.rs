//! [`JobStore`] on SQLite: one process claims at a time (`BEGIN IMMEDIATE` takes the
//! write lock before the read), so a claim's read-decide-write is whole.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use cutover_model::Aimd;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::Result;
use crate::jobs::{Job, JobEnd, JobLease, JobStore, NewJob, Round, ThrottleState, choose_claims};

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn job_from_row(row: &SqliteRow) -> Result<Job> {
    let kind: String = row.try_get("kind")?;
    let owner: Option<String> = row.try_get("lease_owner")?;
    let lease = match owner {
        Some(owner) => Some(JobLease {
            owner,
            leased_at: row
                .try_get::<Option<DateTime<Utc>>, _>("leased_at")?
                .unwrap_or_default(),
            heartbeat_at: row
                .try_get::<Option<DateTime<Utc>>, _>("heartbeat_at")?
                .unwrap_or_default(),
            expires_at: from_millis(
                row.try_get::<Option<i64>, _>("lease_expires_at")?
                    .unwrap_or(0),
            ),
        }),
        None => None,
    };
    Ok(Job {
        id: row.try_get("id")?,
        kind: kind.parse().map_err(crate::StoreError::Corrupt)?,
        batch: row.try_get("batch")?,
        subject: row.try_get("subject")?,
        position: row.try_get("position")?,
        run_at: from_millis(row.try_get("run_at")?),
        attempts: row
            .try_get::<i64, _>("attempts")?
            .try_into()
            .unwrap_or(u32::MAX),
        refusals: row
            .try_get::<i64, _>("refusals")?
            .try_into()
            .unwrap_or(u32::MAX),
        last_error: row.try_get("last_error")?,
        lease,
    })
}

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
            .map(|r| {
                Ok(Round {
                    batch: r.try_get("batch")?,
                    incremental: r.try_get("incremental")?,
                    started_at: r.try_get("started_at")?,
                })
            })
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

fn throttle_from_row(r: &SqliteRow) -> Result<ThrottleState> {
    let n = |c: &str| -> Result<u32> {
        Ok(r.try_get::<i64, _>(c)?.clamp(0, i64::from(u32::MAX)) as u32)
    };
    Ok(ThrottleState {
        aimd: Aimd::restore(n("lim")?, n("credits")?, n("max")?),
        closed_until: r
            .try_get::<Option<i64>, _>("closed_until")?
            .map(from_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::store_with_batch;
    use super::*;
    use crate::Store;
    use crate::inspect::assert_invariants;
    use crate::jobs::JobKind;

    const USERS: [&str; 3] = ["a@b.test", "c@b.test", "d@b.test"];

    fn ttl() -> Duration {
        Duration::seconds(30)
    }

    /// Now, to the millisecond the store keeps.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
    }

    fn jobs(users: &[&str]) -> Vec<NewJob> {
        users
            .iter()
            .enumerate()
            .map(|(i, u)| NewJob {
                kind: JobKind::MailboxPass,
                subject: (*u).into(),
                position: i as i64,
            })
            .collect()
    }

    fn limit(n: u32) -> BTreeMap<String, u32> {
        BTreeMap::from([("B".to_string(), n)])
    }

    fn subjects(jobs: &[Job]) -> Vec<&str> {
        jobs.iter().map(|j| j.subject.as_str()).collect()
    }

    #[tokio::test]
    async fn a_round_opens_once_and_closes_when_its_last_job_is_done() {
        let (_dir, s) = store_with_batch(&USERS).await;
        let now = now();
        assert!(s.open_round("b", false, &jobs(&USERS), now).await.unwrap());
        assert!(!s.open_round("B", true, &jobs(&USERS), now).await.unwrap());
        assert_eq!(s.rounds().await.unwrap().len(), 1);
        assert_eq!(s.jobs(Some("B")).await.unwrap().len(), 3);
        assert!(!s.close_round("B").await.unwrap(), "jobs are left");
        let claimed = s.claim_due("w", 10, &limit(10), ttl(), now).await.unwrap();
        assert_eq!(subjects(&claimed), USERS);
        assert_invariants(&s).await;
        for j in &claimed {
            assert!(s.end_job(j.id, "w", &JobEnd::Done).await.unwrap());
        }
        assert!(s.close_round("B").await.unwrap());
        assert!(s.rounds().await.unwrap().is_empty());
        // Removing the batch takes its round and jobs along.
        assert!(s.open_round("B", true, &jobs(&USERS), now).await.unwrap());
        s.remove_batch("B").await.unwrap();
        assert!(s.rounds().await.unwrap().is_empty());
        assert!(s.jobs(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_claim_holds_the_batch_s_limit_and_takes_no_job_twice() {
        let (_dir, s) = store_with_batch(&USERS).await;
        let now = now();
        s.open_round("B", false, &jobs(&USERS), now).await.unwrap();
        let first = s.claim_due("w1", 10, &limit(2), ttl(), now).await.unwrap();
        assert_eq!(subjects(&first), &USERS[..2]);
        // The limit counts what the other worker holds.
        assert!(
            s.claim_due("w2", 10, &limit(2), ttl(), now)
                .await
                .unwrap()
                .is_empty()
        );
        let second = s.claim_due("w2", 10, &limit(3), ttl(), now).await.unwrap();
        assert_eq!(subjects(&second), &USERS[2..]);
        // A batch without a limit is left alone.
        assert!(
            s.claim_due("w3", 10, &BTreeMap::new(), ttl(), now)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.leased_jobs().await.unwrap().len(), 3);
        assert_eq!(s.release_jobs_of("w1").await.unwrap(), 2);
        let again = s.claim_due("w3", 1, &limit(3), ttl(), now).await.unwrap();
        assert_eq!(subjects(&again), &USERS[..1]);
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_its_old_owner_can_neither_renew_nor_end_it() {
        let (_dir, s) = store_with_batch(&USERS[..1]).await;
        let now = now();
        s.open_round("B", false, &jobs(&USERS[..1]), now)
            .await
            .unwrap();
        let job = s
            .claim_due("dead", 1, &limit(5), ttl(), now)
            .await
            .unwrap()
            .remove(0);
        assert!(
            s.renew_job(job.id, "dead", ttl(), now + Duration::seconds(10))
                .await
                .unwrap()
        );
        // Held until 40 s: nobody else before.
        let at_39 = now + Duration::seconds(39);
        assert!(
            s.claim_due("live", 1, &limit(5), ttl(), at_39)
                .await
                .unwrap()
                .is_empty()
        );
        let at_40 = now + Duration::seconds(40);
        let taken = s
            .claim_due("live", 1, &limit(5), ttl(), at_40)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].lease.as_ref().unwrap().owner, "live");
        assert!(!s.renew_job(job.id, "dead", ttl(), at_40).await.unwrap());
        assert!(!s.end_job(job.id, "dead", &JobEnd::Done).await.unwrap());
        assert_eq!(s.jobs(None).await.unwrap().len(), 1);
        assert_invariants(&s).await;
    }

    #[tokio::test]
    async fn a_job_ended_later_waits_for_its_time_and_a_released_one_is_due_at_once() {
        let (_dir, s) = store_with_batch(&USERS[..2]).await;
        let now = now();
        s.open_round("B", false, &jobs(&USERS[..2]), now)
            .await
            .unwrap();
        let claimed = s.claim_due("w", 2, &limit(5), ttl(), now).await.unwrap();
        let later = JobEnd::Later {
            run_at: now + Duration::seconds(5),
            attempts: 1,
            refusals: 2,
            error: Some("throttled".into()),
        };
        assert!(s.end_job(claimed[0].id, "w", &later).await.unwrap());
        assert!(
            s.end_job(claimed[1].id, "w", &JobEnd::Release)
                .await
                .unwrap()
        );
        let due = s.claim_due("w", 5, &limit(5), ttl(), now).await.unwrap();
        assert_eq!(subjects(&due), &USERS[1..2]);
        let at_5 = now + Duration::seconds(5);
        let retry = s.claim_due("w", 5, &limit(5), ttl(), at_5).await.unwrap();
        assert_eq!(subjects(&retry), &USERS[..1]);
        assert_eq!((retry[0].attempts, retry[0].refusals), (1, 2));
        assert_eq!(retry[0].last_error.as_deref(), Some("throttled"));
    }

    #[tokio::test]
    async fn the_scheduler_s_batch_writes_touch_their_columns_and_lose_to_a_change_of_status() {
        use cutover_model::BatchStatus;
        let (_dir, s) = store_with_batch(&USERS[..1]).await;
        let now = now();
        // Opening the round marks the batch started, once.
        s.open_round("B", false, &jobs(&USERS[..1]), now)
            .await
            .unwrap();
        let started = s.batch("B").await.unwrap().unwrap().started_at;
        assert_eq!(started, Some(now));
        // The admin changes a setting meanwhile: the scheduler's write keeps it.
        let mut b = s.batch("B").await.unwrap().unwrap();
        b.status = BatchStatus::Syncing;
        b.bad_item_limit = 7;
        s.update_batch(&b).await.unwrap();
        let next = now + Duration::hours(24);
        assert!(
            !s.set_batch_status("B", BatchStatus::Stopping, BatchStatus::Stopped, None)
                .await
                .unwrap()
        );
        assert!(
            s.set_batch_status(
                "B",
                BatchStatus::Syncing,
                BatchStatus::Synced,
                Some((now, next))
            )
            .await
            .unwrap()
        );
        let b = s.batch("B").await.unwrap().unwrap();
        assert_eq!(b.status, BatchStatus::Synced);
        assert_eq!(b.bad_item_limit, 7);
        assert_eq!(
            (b.initial_sync_at, b.last_synced_at, b.next_sync_at),
            (Some(now), Some(now), Some(next))
        );
        // A later pass keeps the initial sync's time.
        let later = now + Duration::hours(1);
        s.set_batch_status(
            "B",
            BatchStatus::Synced,
            BatchStatus::Synced,
            Some((later, next)),
        )
        .await
        .unwrap();
        let b = s.batch("B").await.unwrap().unwrap();
        assert_eq!(
            (b.initial_sync_at, b.last_synced_at, b.started_at),
            (Some(now), Some(later), started)
        );
    }

    #[tokio::test]
    async fn throttling_is_kept_per_batch_and_shared() {
        let (_dir, s) = store_with_batch(&USERS[..1]).await;
        let now = now();
        assert_eq!(s.throttle("B").await.unwrap(), None);
        let refused = s
            .note_throttle("B", 8, Some(now + Duration::seconds(3)))
            .await
            .unwrap();
        assert_eq!(refused.aimd.limit(), 4);
        assert_eq!(s.throttle("b").await.unwrap(), Some(refused));
        assert_eq!(refused.limit_at(now), 0);
        let passed = s.note_throttle("B", 8, None).await.unwrap();
        assert_eq!(passed.aimd.credits(), 1);
        assert_eq!(s.throttle("B").await.unwrap(), Some(passed));
    }

    #[tokio::test]
    async fn two_stores_on_one_file_never_claim_the_same_job() {
        let (dir, a) = store_with_batch(&USERS).await;
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let b = SqliteStore::open(&url, None).await.unwrap();
        let now = now();
        a.open_round("B", false, &jobs(&USERS), now).await.unwrap();
        let three = limit(3);
        let (x, y) = tokio::join!(
            a.claim_due("a", 2, &three, ttl(), now),
            b.claim_due("b", 2, &three, ttl(), now)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.len() + y.len(), 3);
        for j in &x {
            assert!(!y.iter().any(|k| k.id == j.id));
        }
    }
}
