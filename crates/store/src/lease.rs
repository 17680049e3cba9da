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

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn lease_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Lease> {
    use sqlx::Row;
    Ok(Lease {
        job: row.try_get("job")?,
        owner: row.try_get("owner")?,
        acquired_at: row.try_get("acquired_at")?,
        heartbeat_at: row.try_get("heartbeat_at")?,
        expires_at: from_millis(row.try_get("expires_at")?),
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
    use super::*;
    use crate::inspect::assert_invariants;
    use proptest::prelude::*;

    async fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        SqliteStore::open(&url, None).await.unwrap()
    }

    fn ttl() -> Duration {
        Duration::seconds(30)
    }

    /// Now, to the millisecond the store keeps.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
    }

    #[tokio::test]
    async fn a_lease_is_exclusive_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let now = now();
        let job = mailbox_job("Alice@Example.test");
        let a = s.acquire_lease(&job, "a", ttl(), now).await.unwrap();
        assert_eq!(a.as_ref().map(|l| l.owner.as_str()), Some("a"));
        assert_eq!(s.acquire_lease(&job, "b", ttl(), now).await.unwrap(), None);
        // Its owner takes it again (a renewal), keeping when it was first taken.
        let later = now + Duration::seconds(5);
        let again = s
            .acquire_lease(&job, "a", ttl(), later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.acquired_at, a.unwrap().acquired_at);
        assert_eq!(again.expires_at, later + ttl());
        // Releasing someone else's lease does nothing; the owner's release frees it.
        s.release_lease(&job, "b").await.unwrap();
        assert_eq!(s.leases().await.unwrap().len(), 1);
        s.release_lease(&job, "a").await.unwrap();
        assert!(
            s.acquire_lease(&job, "b", ttl(), later)
                .await
                .unwrap()
                .is_some()
        );
        assert_invariants(&s).await;
    }

    #[tokio::test]
    async fn the_lease_of_a_dead_worker_expires_and_another_takes_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let job = mailbox_job("alice@example.test");
        let t0 = now();
        {
            // The first worker takes the job, renews once, then its process is gone
            // (the store is dropped without releasing anything).
            let dead = store(&dir).await;
            assert!(
                dead.acquire_lease(&job, "dead", ttl(), t0)
                    .await
                    .unwrap()
                    .is_some()
            );
            let t1 = t0 + Duration::seconds(10);
            assert!(dead.renew_lease(&job, "dead", ttl(), t1).await.unwrap());
        }
        // A second process on the same database.
        let s = store(&dir).await;
        let before_expiry = t0 + Duration::seconds(39);
        assert_eq!(
            s.acquire_lease(&job, "alive", ttl(), before_expiry)
                .await
                .unwrap(),
            None,
            "a renewed lease holds until its new expiry"
        );
        let after_expiry = t0 + Duration::seconds(41);
        let taken = s
            .acquire_lease(&job, "alive", ttl(), after_expiry)
            .await
            .unwrap()
            .expect("an expired lease is free");
        assert_eq!(taken.owner, "alive");
        assert_eq!(taken.acquired_at, after_expiry);
        // The dead worker's heartbeat, should it come back, tells it the job is lost.
        assert!(
            !s.renew_lease(&job, "dead", ttl(), after_expiry)
                .await
                .unwrap()
        );
        assert!(
            s.renew_lease(&job, "alive", ttl(), after_expiry)
                .await
                .unwrap()
        );
        // And its late release does not free the new owner's lease.
        s.release_lease(&job, "dead").await.unwrap();
        assert_eq!(s.leases().await.unwrap()[0].owner, "alive");
        assert_invariants(&s).await;
    }

    #[tokio::test]
    async fn an_expired_lease_cannot_be_renewed_and_shutdown_releases_all() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let t0 = now();
        for email in ["a@x.test", "b@x.test"] {
            s.acquire_lease(&mailbox_job(email), "w", ttl(), t0)
                .await
                .unwrap()
                .unwrap();
        }
        s.acquire_lease(&mailbox_job("c@x.test"), "other", ttl(), t0)
            .await
            .unwrap()
            .unwrap();
        let late = t0 + ttl() + Duration::seconds(1);
        assert!(
            !s.renew_lease(&mailbox_job("a@x.test"), "w", ttl(), late)
                .await
                .unwrap()
        );
        assert_eq!(s.release_leases_of("w").await.unwrap(), 2);
        let left: Vec<String> = s
            .leases()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.owner)
            .collect();
        assert_eq!(left, ["other"]);
        assert_invariants(&s).await;
    }

    #[tokio::test]
    async fn concurrent_workers_get_each_job_once() {
        // Two processes' worth of stores on one file, racing for the same jobs.
        let dir = tempfile::tempdir().unwrap();
        let a = std::sync::Arc::new(store(&dir).await);
        let b = std::sync::Arc::new(store(&dir).await);
        let now = now();
        let mut tasks = tokio::task::JoinSet::new();
        for (owner, s) in [("a", a.clone()), ("b", b.clone())] {
            tasks.spawn(async move {
                let mut won = Vec::new();
                for i in 0..20 {
                    let job = mailbox_job(&format!("u{i}@x.test"));
                    if s.acquire_lease(&job, owner, ttl(), now)
                        .await
                        .unwrap()
                        .is_some()
                    {
                        won.push(job);
                    }
                }
                won
            });
        }
        let mut all = Vec::new();
        while let Some(won) = tasks.join_next().await {
            all.extend(won.unwrap());
        }
        all.sort();
        let total = all.len();
        all.dedup();
        assert_eq!(
            (total, all.len()),
            (20, 20),
            "every job leased exactly once"
        );
        assert_invariants(a.as_ref()).await;
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

    proptest! {
        // Each case opens a database: fewer cases.
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn acquire_and_release_sequences_keep_one_owner(
            steps in proptest::collection::vec((0u8..3, 0usize..3, 0i64..90), 1..40)
        ) {
            // Random acquire/renew/release by three workers at growing times: the store
            // agrees with the model where the lease is kept as (owner, expiry).
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let s = store(&dir).await;
                let owners = ["w0", "w1", "w2"];
                let mut now = now();
                let mut model: Option<(usize, DateTime<Utc>)> = None;
                for (op, who, advance) in steps {
                    now += Duration::seconds(advance);
                    let owner = owners[who];
                    match op {
                        0 => {
                            let got = s.acquire_lease("j", owner, ttl(), now).await.unwrap();
                            let free = match model {
                                None => true,
                                Some((o, exp)) => o == who || exp <= now,
                            };
                            prop_assert_eq!(got.is_some(), free);
                            if free {
                                model = Some((who, now + ttl()));
                            }
                        }
                        1 => {
                            let renewed = s.renew_lease("j", owner, ttl(), now).await.unwrap();
                            let ours = matches!(model, Some((o, exp)) if o == who && exp > now);
                            prop_assert_eq!(renewed, ours);
                            if ours {
                                model = Some((who, now + ttl()));
                            }
                        }
                        _ => {
                            s.release_lease("j", owner).await.unwrap();
                            if matches!(model, Some((o, _)) if o == who) {
                                model = None;
                            }
                        }
                    }
                    let stored = s.leases().await.unwrap();
                    prop_assert_eq!(
                        stored.first().map(|l| (l.owner.clone(), l.expires_at)),
                        model.map(|(o, exp)| (owners[o].to_string(), exp))
                    );
                }
                assert_invariants(&s).await;
                Ok::<(), TestCaseError>(())
            })?;
        }
    }
}
