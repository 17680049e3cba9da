//! [`JobStore`]: rounds, claims within each batch's limit across workers, leases that
//! expire, jobs ended later or given back, the shared throttle, and waiting for work.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use cutover_store::{Job, JobEnd, JobKind, NewJob, Store};

use crate::support::*;

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

pub async fn a_round_opens_once_and_closes_when_its_last_job_is_done(b: Backend) {
    let s = b.store();
    store_with_batch(s, &USERS).await;
    let now = now();
    assert!(s.open_round("b", false, &jobs(&USERS), now).await.unwrap());
    assert!(!s.open_round("B", true, &jobs(&USERS), now).await.unwrap());
    assert_eq!(s.rounds().await.unwrap().len(), 1);
    assert_eq!(s.jobs(Some("B")).await.unwrap().len(), 3);
    assert!(!s.close_round("B").await.unwrap(), "jobs are left");
    let claimed = s.claim_due("w", 10, &limit(10), ttl(), now).await.unwrap();
    assert_eq!(subjects(&claimed), USERS);
    assert_invariants(s).await;
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

pub async fn a_claim_holds_the_batch_s_limit_and_takes_no_job_twice(b: Backend) {
    let s = b.store();
    store_with_batch(s, &USERS).await;
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

pub async fn an_expired_lease_is_taken_over_and_its_old_owner_can_neither_renew_nor_end_it(
    b: Backend,
) {
    let s = b.store();
    store_with_batch(s, &USERS[..1]).await;
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
    assert_invariants(s).await;
}

pub async fn a_job_ended_later_waits_for_its_time_and_a_released_one_is_due_at_once(b: Backend) {
    let s = b.store();
    store_with_batch(s, &USERS[..2]).await;
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

pub async fn throttling_is_kept_per_batch_and_shared(b: Backend) {
    let s = b.store();
    store_with_batch(s, &USERS[..1]).await;
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

pub async fn two_stores_on_one_state_never_claim_the_same_job(b: Backend) {
    let a = b.shared();
    store_with_batch(a.as_ref(), &USERS).await;
    let other = b.open_again().await;
    let now = now();
    a.open_round("B", false, &jobs(&USERS), now).await.unwrap();
    let three = limit(3);
    let (x, y) = tokio::join!(
        a.claim_due("a", 2, &three, ttl(), now),
        other.claim_due("b", 2, &three, ttl(), now)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 3);
    for j in &x {
        assert!(!y.iter().any(|k| k.id == j.id));
    }
}

/// Four workers (four processes' stores) claim at once, again and again, each as much as
/// it may: together they never hold more of the batch than its limit, and no job twice.
pub async fn workers_claiming_at_once_never_pass_the_batch_s_limit(b: Backend) {
    let users: Vec<String> = (0..12).map(|i| format!("u{i}@b.test")).collect();
    let emails: Vec<&str> = users.iter().map(String::as_str).collect();
    store_with_batch(b.store(), &emails).await;
    let now = now();
    b.store()
        .open_round("B", false, &jobs(&emails), now)
        .await
        .unwrap();
    let mut workers: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        let w = b.open_again().await;
        // Connected before the race.
        assert_eq!(w.jobs(Some("B")).await.unwrap().len(), 12);
        workers.push(w);
    }
    for round in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, w) in workers.iter().enumerate() {
            let w = w.clone();
            tasks.spawn(async move {
                w.claim_due(&format!("w{i}"), 3, &limit(3), ttl(), now)
                    .await
                    .unwrap()
            });
        }
        let mut claimed: Vec<i64> = Vec::new();
        while let Some(got) = tasks.join_next().await {
            claimed.extend(got.unwrap().iter().map(|j| j.id));
        }
        let held = b.store().leased_jobs().await.unwrap();
        assert_eq!(held.len(), 3, "round {round}: {held:?}");
        claimed.sort();
        let before = claimed.len();
        claimed.dedup();
        assert_eq!(before, claimed.len(), "a job claimed twice");
        assert_invariants(b.store()).await;
        // They finish, and the next claims take the next jobs.
        for j in held {
            let owner = j.lease.unwrap().owner;
            assert!(
                b.store()
                    .end_job(j.id, &owner, &JobEnd::Done)
                    .await
                    .unwrap()
            );
        }
    }
    assert_eq!(b.store().jobs(Some("B")).await.unwrap().len(), 3);
}

/// Waiting for work ends at its timeout when nothing happens; on a backend that
/// announces work, a round opened by another process ends it at once.
pub async fn waiting_for_work_ends_by_its_timeout_or_when_work_comes(b: Backend) {
    store_with_batch(b.store(), &USERS).await;
    let started = std::time::Instant::now();
    b.store()
        .wait_for_work(std::time::Duration::from_millis(300))
        .await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    let waiting = b.shared();
    let other = b.open_again().await;
    // (SQLite would sleep all of it: a short one there.)
    let timeout = std::time::Duration::from_secs(match b.kind {
        Kind::Sqlite => 1,
        Kind::Postgres => 20,
    });
    // The first wait connects its listener before waiting: what is announced after
    // the wait began is not missed.
    let waiter = tokio::spawn(async move {
        let started = std::time::Instant::now();
        waiting.wait_for_work(timeout).await;
        started.elapsed()
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    other
        .open_round("B", false, &jobs(&USERS), now())
        .await
        .unwrap();
    let waited = waiter.await.unwrap();
    match b.kind {
        // SQLite has no notifications: the worker polls.
        Kind::Sqlite => assert!(waited >= timeout, "{waited:?}"),
        Kind::Postgres => assert!(waited < std::time::Duration::from_secs(5), "{waited:?}"),
    }
}

/// Four workers note a refusal at the same moment: each counts (the limit halves four
/// times), none overwrites another.
pub async fn refusals_noted_at_once_by_four_workers_all_count(b: Backend) {
    store_with_batch(b.store(), &USERS[..1]).await;
    let mut workers: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        let w = b.open_again().await;
        // Connected before the race.
        assert_eq!(w.throttle("B").await.unwrap(), None);
        workers.push(w);
    }
    let until = now() + Duration::seconds(5);
    for round in 1..=3u32 {
        let mut tasks = tokio::task::JoinSet::new();
        for w in &workers {
            let w = w.clone();
            tasks.spawn(async move { w.note_throttle("B", 1 << 16, Some(until)).await });
        }
        while let Some(noted) = tasks.join_next().await {
            noted.unwrap().unwrap();
        }
        let stored = b.store().throttle("B").await.unwrap().unwrap();
        assert_eq!(
            stored.aimd.limit(),
            (1 << 16) >> (4 * round),
            "round {round}"
        );
    }
}

pub async fn the_scheduler_s_batch_writes_touch_their_columns_and_lose_to_a_change_of_status(
    b: Backend,
) {
    use cutover_model::BatchStatus;
    let s = b.store();
    store_with_batch(s, &USERS[..1]).await;
    let now = now();
    // Opening the round marks the batch started, once.
    s.open_round("B", false, &jobs(&USERS[..1]), now)
        .await
        .unwrap();
    let started = s.batch("B").await.unwrap().unwrap().started_at;
    assert_eq!(started, Some(now));
    // The admin changes a setting meanwhile: the scheduler's write keeps it.
    let mut batch = s.batch("B").await.unwrap().unwrap();
    batch.status = BatchStatus::Syncing;
    batch.bad_item_limit = 7;
    s.update_batch(&batch).await.unwrap();
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
    let batch = s.batch("B").await.unwrap().unwrap();
    assert_eq!(batch.status, BatchStatus::Synced);
    assert_eq!(batch.bad_item_limit, 7);
    assert_eq!(
        (
            batch.initial_sync_at,
            batch.last_synced_at,
            batch.next_sync_at
        ),
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
    let batch = s.batch("B").await.unwrap().unwrap();
    assert_eq!(
        (
            batch.initial_sync_at,
            batch.last_synced_at,
            batch.started_at
        ),
        (Some(now), Some(later), started)
    );
}
