//! [`LeaseStore`]: exclusive leases, expiry, renewal, release, and workers racing.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use cutover_store::mailbox_job;

use crate::support::*;

fn ttl() -> Duration {
    Duration::seconds(30)
}

/// Now, to the millisecond the store keeps.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

pub async fn a_lease_is_exclusive_until_released(b: Backend) {
    let s = b.store();
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
    assert_invariants(s).await;
}

pub async fn the_lease_of_a_dead_worker_expires_and_another_takes_the_job(b: Backend) {
    let job = mailbox_job("alice@example.test");
    let t0 = now();
    {
        // The first worker takes the job, renews once, then its process is gone
        // (the store is dropped without releasing anything).
        let dead = b.store();
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
    let s = b.open_again().await;
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
    assert_invariants(s.as_ref()).await;
}

pub async fn an_expired_lease_cannot_be_renewed_and_shutdown_releases_all(b: Backend) {
    let s = b.store();
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
    assert_invariants(s).await;
}

pub async fn concurrent_workers_get_each_job_once(b: Backend) {
    // Two processes' worth of stores on one file, racing for the same jobs.
    let (a, other): (Arc<dyn cutover_store::Store>, _) = (b.shared(), b.open_again().await);
    let now = now();
    let mut tasks = tokio::task::JoinSet::new();
    for (owner, s) in [("a", a.clone()), ("b", other.clone())] {
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

/// Random acquire/renew/release by three workers at growing times: the store agrees with
/// the model where the lease is kept as (owner, expiry). Each case on a job of its own.
pub async fn acquire_and_release_sequences_keep_one_owner(b: Backend) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let s = b.shared();
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config::with_cases(48));
    let case = std::sync::atomic::AtomicU32::new(0);
    let steps = proptest::collection::vec((0u8..3, 0usize..3, 0i64..90), 1..40);
    let result = tokio::task::block_in_place(|| {
        runner.run(&steps, |steps| {
            let job = format!(
                "j{}",
                case.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let job = job.as_str();
            handle.block_on(async {
                let owners = ["w0", "w1", "w2"];
                let mut now = now();
                let mut model: Option<(usize, DateTime<Utc>)> = None;
                for (op, who, advance) in steps {
                    now += Duration::seconds(advance);
                    let owner = owners[who];
                    match op {
                        0 => {
                            let got = s.acquire_lease(job, owner, ttl(), now).await.unwrap();
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
                            let renewed = s.renew_lease(job, owner, ttl(), now).await.unwrap();
                            let ours = matches!(model, Some((o, exp)) if o == who && exp > now);
                            prop_assert_eq!(renewed, ours);
                            if ours {
                                model = Some((who, now + ttl()));
                            }
                        }
                        _ => {
                            s.release_lease(job, owner).await.unwrap();
                            if matches!(model, Some((o, _)) if o == who) {
                                model = None;
                            }
                        }
                    }
                    let stored: Vec<_> = s
                        .leases()
                        .await
                        .unwrap()
                        .into_iter()
                        .filter(|l| l.job == job)
                        .collect();
                    prop_assert_eq!(
                        stored.first().map(|l| (l.owner.clone(), l.expires_at)),
                        model.map(|(o, exp)| (owners[o].to_string(), exp))
                    );
                }
                assert_invariants(s.as_ref()).await;
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
