//! Runs the passes that are due: every user of every due batch, in parallel up to the
//! endpoint's limits, and moves batch and user statuses as Exchange does. Each mailbox
//! pass runs under a lease in the store ([`Worker`]), so that `cutover run` and
//! `cutover serve` (or several workers) never work on one mailbox at once; [`work`] is
//! the loop both run.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cutover_model::{Batch, BatchStatus, MigrationUser, UserStatus, check_item_limits};
use cutover_store::{Store, StoreError, count_from_ledger, mailbox_job};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::audit::MailboxAudit;
use crate::budget::MemoryBudget;
use crate::credentials;
use crate::events::{EventSink, SyncEvent};
use crate::executor::sync_mailbox;
use crate::pass::{MailboxJob, PassOutcome, SyncError};
use crate::plan::MailboxPlan;
use crate::proof::BrakeRule;
use crate::sizing;
use crate::stop::{StopReason, StopSignal};
use crate::throttle::{self, Gate};
use crate::worker::Worker;

/// Attempts of one mailbox pass when the failure is transient.
const ATTEMPTS: u32 = 3;

/// Refusals for load in a row after which a pass fails after all (some five hours of
/// waits without a hint): a server that never lets a mailbox in is a failure to report.
const MAX_REFUSALS: u32 = 64;

/// The attempt after a transient failure, or `None` to give up: an attempt that moved
/// mail on (`progressed`) starts the count again, so a long pass whose connections drop
/// now and then (a link that resets, a server that ends sessions when their OAuth token
/// expires) goes on to the end; attempts that move nothing stop after [`ATTEMPTS`].
fn next_attempt(attempt: u32, progressed: bool) -> Option<u32> {
    if progressed {
        Some(1)
    } else if attempt < ATTEMPTS {
        Some(attempt + 1)
    } else {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no target is set; run `cutover target set --server ... --admin ...` first")]
    NoTarget,
    #[error("batch '{batch}' uses endpoint '{endpoint}', which does not exist any more")]
    MissingEndpoint { batch: String, endpoint: String },
}

/// What a run did, per batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRun {
    pub batch: String,
    pub status: BatchStatus,
    pub users: u64,
    pub failed: u64,
    pub copied: u64,
    pub bytes: u64,
}

/// Runs one pass of every batch that is due now.
/// `shutdown` stops every pass (SIGTERM, Ctrl-C); users resume on the next run.
pub async fn run_due(
    store: Arc<dyn Store>,
    events: EventSink,
    shutdown: StopSignal,
    worker: &Worker,
) -> Result<Vec<BatchRun>, RunError> {
    worker.reap_dead_local_leases(store.as_ref()).await?;
    let now = Utc::now();
    let mut runs = Vec::new();
    for batch in store.batches().await? {
        if shutdown.reason().is_some() {
            break;
        }
        if batch.is_due(now) {
            runs.push(
                run_batch(
                    store.clone(),
                    batch,
                    events.clone(),
                    shutdown.clone(),
                    worker,
                )
                .await?,
            );
        }
    }
    Ok(runs)
}

/// What [`work`] does when a round fails (no target set, the endpoint removed, the
/// store unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Return the error (`cutover run`).
    Stop,
    /// Log it and try again on the next round (`cutover serve`: the admin may fix it).
    Retry,
}

/// How [`work`] goes round.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    /// How often it looks for due work.
    pub poll: Duration,
    /// One round, then return (`cutover run --once`).
    pub once: bool,
    pub on_error: OnError,
}

/// The job loop of `cutover run` and `cutover serve`: runs what is due, then looks
/// again every `poll`, until `shutdown` (or after one round when `once`). Every lease
/// of the worker is released before it returns. `on_run` sees each batch's pass;
/// `after_round` runs after every round that did not end the loop with an error (the
/// service sends the notification mails due there).
pub async fn work<AfterRound: Future<Output = ()>>(
    store: Arc<dyn Store>,
    events: EventSink,
    shutdown: StopSignal,
    worker: &Worker,
    Rounds {
        poll,
        once,
        on_error,
    }: Rounds,
    mut on_run: impl FnMut(BatchRun),
    mut after_round: impl FnMut() -> AfterRound,
) -> Result<(), RunError> {
    // A failure that lasts (no target set yet) is logged once, not every round.
    let mut last_error: Option<String> = None;
    let result = loop {
        match run_due(store.clone(), events.clone(), shutdown.clone(), worker).await {
            Ok(runs) => {
                if last_error.take().is_some() {
                    info!("rounds work again");
                }
                runs.into_iter().for_each(&mut on_run)
            }
            Err(e) if on_error == OnError::Retry && !once => {
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    warn!(error = text, "the round failed; trying again every round");
                    last_error = Some(text);
                }
            }
            Err(e) => break Err(e),
        }
        after_round().await;
        if once || shutdown.reason().is_some() {
            break Ok(());
        }
        // Look for due work every `poll`, and stop quickly when asked to.
        let step = Duration::from_millis(250).min(poll);
        let mut waited = Duration::ZERO;
        while waited < poll && shutdown.reason().is_none() {
            tokio::time::sleep(step).await;
            waited += step;
        }
        if shutdown.reason().is_some() {
            break Ok(());
        }
    };
    // Passes release their leases as they end; this catches any left by an error.
    match store.release_leases_of(&worker.id).await {
        Ok(n) if n > 0 => info!(leases = n, "released the leases left"),
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot release the worker's leases; they expire"),
    }
    result
}

/// How often a running pass looks whether its batch was stopped or removed.
const STOP_POLL: Duration = Duration::from_millis(500);
/// How long a stopped pass may take to record its chunk in flight and end by itself
/// before it is dropped, waiting command and all (a stalled server): with STOP_POLL, a
/// stop takes effect within 5 s.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Stops the batch's passes when the admin stops or removes the batch, or when the
/// process shuts down. Ends when `done` is set.
async fn watch_for_stop(
    store: Arc<dyn Store>,
    batch: String,
    stop: StopSignal,
    shutdown: StopSignal,
) {
    loop {
        tokio::time::sleep(STOP_POLL).await;
        if let Some(reason) = shutdown.reason() {
            stop.stop(reason);
            return;
        }
        match store.batch(&batch).await {
            Ok(Some(b))
                if !matches!(
                    b.status,
                    BatchStatus::Stopping | BatchStatus::Stopped | BatchStatus::Removing
                ) => {}
            // Stopped, removed, or the state cannot be read: stop rather than run blind.
            _ => {
                info!(
                    batch,
                    "the batch was stopped or removed; stopping its passes"
                );
                stop.stop(StopReason::BatchStopped);
                return;
            }
        }
    }
}

/// What became of one user in a batch's pass.
enum UserRun {
    /// The pass ran (or was stopped), ending in this status.
    Ran(UserStatus, PassOutcome),
    /// Another worker holds the mailbox's lease.
    Busy,
    /// It did this round's pass already (before a restart, or under another worker).
    Done,
}

/// Whether a user already finished the pass of the round that started at `round`:
/// after a restart, or when several workers share a batch, it is not run again.
fn done_this_round(user: &MigrationUser, round: Option<chrono::DateTime<Utc>>) -> bool {
    user.status == UserStatus::Synced
        && matches!((user.last_synced_at, round), (Some(last), Some(round)) if last >= round)
}

/// What every mailbox job of a batch shares: both servers and their admin passwords.
struct Sides {
    target: cutover_model::Target,
    target_password: secrecy::SecretString,
    endpoint: cutover_model::Endpoint,
    source_password: secrecy::SecretString,
}

impl Sides {
    async fn of(store: &dyn Store, batch: &Batch) -> Result<Sides, RunError> {
        let target = store.target().await?.ok_or(RunError::NoTarget)?;
        let target_password = store.target_password().await?;
        let endpoint = store
            .endpoint(batch.source_endpoint.as_str())
            .await?
            .ok_or_else(|| RunError::MissingEndpoint {
                batch: batch.name.to_string(),
                endpoint: batch.source_endpoint.to_string(),
            })?;
        let source_password = store.endpoint_password(endpoint.name.as_str()).await?;
        Ok(Sides {
            target,
            target_password,
            endpoint,
            source_password,
        })
    }

    /// One user's job, or why its credentials cannot be put together.
    async fn job(
        &self,
        store: &dyn Store,
        batch: &Batch,
        user: &MigrationUser,
        stop: StopSignal,
        memory: MemoryBudget,
    ) -> Result<Result<MailboxJob, String>, RunError> {
        let user_password = store.user_password(user.email.as_str()).await?;
        Ok(credentials::side(
            &self.endpoint.connection,
            &self.source_password,
            user.source_login(),
            user_password.as_ref(),
        )
        .and_then(|source| {
            Ok(MailboxJob {
                email: user.email.to_string(),
                stop,
                memory,
                source,
                target: credentials::side(
                    &self.target.connection,
                    &self.target_password,
                    user.email.as_str(),
                    None,
                )?,
                excluded_folders: batch.excluded_folders.clone(),
                folder_map: batch.folder_map.clone(),
                removal_brake: BrakeRule::with_percent(batch.removal_threshold_percent),
                target_folds_case: self.target.folds_case,
                removals_approved: user.removals_held > 0 && user.removals_approved_at.is_some(),
                may_glance: user.status == UserStatus::Synced,
            })
        }))
    }
}

/// The jobs of `batch`'s users (or `only` one's) for work that only reads, or why a
/// user's credentials cannot be put together.
async fn read_only_jobs(
    store: &dyn Store,
    batch: &Batch,
    only: Option<&str>,
) -> Result<Vec<(String, Result<MailboxJob, String>)>, RunError> {
    let sides = Sides::of(store, batch).await?;
    let mut out = Vec::new();
    for user in store.users(Some(batch.name.as_str()), None).await? {
        // Mail users, contacts and groups have no mailbox to read.
        if only.is_some_and(|e| !user.email.as_str().eq_ignore_ascii_case(e))
            || !user.kind.has_mailbox()
        {
            continue;
        }
        let job = sides
            .job(
                store,
                batch,
                &user,
                StopSignal::default(),
                MemoryBudget::from_env(),
            )
            .await?;
        out.push((user.email.to_string(), job));
    }
    Ok(out)
}

/// The steps the next pass of `batch` would take for each of its users (or `only` one),
/// without taking them: both servers and the store are only read. A user whose servers
/// cannot be reached gets the error instead.
pub async fn plan_batch(
    store: &dyn Store,
    batch: &Batch,
    only: Option<&str>,
) -> Result<Vec<(String, Result<MailboxPlan, String>)>, RunError> {
    let mut out = Vec::new();
    for (email, job) in read_only_jobs(store, batch, only).await? {
        let plan = match job {
            Ok(job) => crate::executor::plan_pass(&job, store)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        out.push((email, plan));
    }
    Ok(out)
}

/// The completeness audit of each user of `batch` (or `only` one): both servers and the
/// store are only read. A user whose servers cannot be reached gets the error instead.
pub async fn audit_batch(
    store: &dyn Store,
    batch: &Batch,
    only: Option<&str>,
) -> Result<Vec<(String, Result<MailboxAudit, String>)>, RunError> {
    let mut out = Vec::new();
    for (email, job) in read_only_jobs(store, batch, only).await? {
        let audit = match job {
            Ok(job) => crate::audit::audit_mailbox(&job, store)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        out.push((email, audit));
    }
    Ok(out)
}

/// One pass over every user of a batch.
pub async fn run_batch(
    store: Arc<dyn Store>,
    mut batch: Batch,
    events: EventSink,
    shutdown: StopSignal,
    worker: &Worker,
) -> Result<BatchRun, RunError> {
    let sides = Sides::of(store.as_ref(), &batch).await?;
    let endpoint = &sides.endpoint;
    let incremental = batch.status != BatchStatus::Syncing;
    let limit = if incremental {
        endpoint.max_concurrent_incremental_syncs
    } else {
        endpoint.max_concurrent_migrations
    };
    if batch.started_at.is_none() {
        batch.started_at = Some(Utc::now());
        store.update_batch(&batch).await?;
    }
    // When this round began: the initial sync at the start, an incremental pass when it
    // fell due.
    let round = if incremental {
        batch.next_sync_at
    } else {
        batch.started_at
    };
    let mut users: Vec<MigrationUser> = store
        .users(Some(batch.name.as_str()), None)
        .await?
        .into_iter()
        .filter(|u| u.status != UserStatus::Stopped)
        .collect();
    info!(batch = %batch.name, users = users.len(), incremental, limit, "pass starting");
    events.send(SyncEvent::BatchStarted {
        batch: batch.name.to_string(),
        users: users.len() as u64,
        incremental,
    });

    let slots = Arc::new(Semaphore::new(limit.max(1) as usize));
    // Fewer at once when a server refuses for load (throttle.rs).
    let gate = Arc::new(Gate::new(limit));
    let memory = MemoryBudget::from_env();
    let stop = StopSignal::default();
    let watcher = tokio::spawn(watch_for_stop(
        store.clone(),
        batch.name.to_string(),
        stop.clone(),
        shutdown,
    ));
    // The biggest mailboxes first, sized first where no pass has counted them yet.
    let unsized_users = sizing::to_size(&users, limit.max(1) as usize, incremental);
    if !unsized_users.is_empty() {
        size_sources(
            store.clone(),
            &sides,
            &batch,
            &mut users,
            &unsized_users,
            limit,
            &stop,
        )
        .await?;
    }
    sizing::pass_order(&mut users);
    let shared = Arc::new(batch.clone());
    let mut tasks = JoinSet::new();
    for user in users {
        let job = sides
            .job(store.as_ref(), &batch, &user, stop.clone(), memory.clone())
            .await?;
        let store = store.clone();
        let events = events.clone();
        let slots = slots.clone();
        let batch = shared.clone();
        let worker = worker.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let lease = mailbox_job(user.email.as_str());
            if !worker.lease(store.as_ref(), &lease).await? {
                return Ok(UserRun::Busy);
            }
            // Read again under the lease: another worker may have run it meanwhile.
            let run = match store.user(user.email.as_str()).await? {
                None => Ok(UserRun::Done),
                Some(user) if done_this_round(&user, round) => Ok(UserRun::Done),
                Some(user) => {
                    // Its own stop, for a lost lease; it still stops with the batch.
                    let (job, mine) = match job {
                        Ok(mut job) => {
                            job.stop = job.stop.child();
                            job.removals_approved =
                                user.removals_held > 0 && user.removals_approved_at.is_some();
                            job.may_glance = user.status == UserStatus::Synced;
                            let mine = job.stop.clone();
                            (Ok(job), mine)
                        }
                        Err(e) => (Err(e), StopSignal::default()),
                    };
                    let beat = tokio::spawn(worker.clone().keep_lease(
                        store.clone(),
                        lease.clone(),
                        mine,
                    ));
                    let run = run_user(store.clone(), &batch, user, job, events, &gate).await;
                    beat.abort();
                    run.map(|(status, outcome)| UserRun::Ran(status, outcome))
                }
            };
            store.release_lease(&lease, &worker.id).await?;
            run
        });
    }

    let mut run = BatchRun {
        batch: batch.name.to_string(),
        status: batch.status,
        users: 0,
        failed: 0,
        copied: 0,
        bytes: 0,
    };
    let mut first_error = None;
    let mut busy = 0u64;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(UserRun::Ran(status, outcome))) => {
                run.users += 1;
                run.failed += u64::from(status == UserStatus::Failed);
                run.copied += outcome.copied;
                run.bytes += outcome.bytes;
            }
            Ok(Ok(UserRun::Done)) => {}
            Ok(Ok(UserRun::Busy)) => busy += 1,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => warn!(error = %join, "a mailbox task ended abnormally"),
        }
    }
    watcher.abort();
    if let Some(e) = first_error {
        return Err(e.into());
    }
    // Shut down mid-pass: the pass is not over, the batch stays as it was (and due).
    if stop.reason() == Some(StopReason::Shutdown) {
        return Ok(run);
    }
    // Other workers still run some users: the last to finish closes the round (a round
    // left open by a dead worker is closed by the next one, after its lease expired).
    if busy > 0 {
        info!(batch = %batch.name, busy, "other workers hold some mailboxes; they close the pass");
        return Ok(run);
    }

    // The batch may have been stopped or removed while the pass ran.
    let Some(mut current) = store.batch(batch.name.as_str()).await? else {
        return Ok(run);
    };
    let now = Utc::now();
    let statuses: Vec<UserStatus> = store
        .users(Some(batch.name.as_str()), None)
        .await?
        .iter()
        .map(|u| u.status)
        .collect();
    current.status = match current.status {
        BatchStatus::Stopping | BatchStatus::Stopped => BatchStatus::Stopped,
        BatchStatus::Removing => BatchStatus::Removing,
        _ => BatchStatus::after_pass_with_skipped(
            &statuses,
            store.unapproved_skipped_items(batch.name.as_str()).await?
                + store.users_with_held_removals(batch.name.as_str()).await?,
        ),
    };
    if current.status != BatchStatus::Stopped && current.status != BatchStatus::Removing {
        current.initial_sync_at.get_or_insert(now);
        current.last_synced_at = Some(now);
        current.next_sync_at = Some(now + current.incremental_interval);
    }
    match store.update_batch(&current).await {
        // Removed meanwhile (`batch remove` waits for the users, not for this).
        Err(StoreError::NotFound { .. }) => return Ok(run),
        other => other?,
    }
    run.status = current.status;
    info!(batch = %current.name, status = %current.status, users = run.users, failed = run.failed, copied = run.copied, "pass finished");
    events.send(SyncEvent::BatchFinished {
        batch: current.name.to_string(),
        status: current.status,
    });
    Ok(run)
}

/// Sizes the source mailboxes of `users[which]`, `limit` at a time, and keeps each size
/// as the user's source counts. A mailbox that cannot be sized keeps its place in the
/// users CSV's order; its pass says what is wrong.
async fn size_sources(
    store: Arc<dyn Store>,
    sides: &Sides,
    batch: &Batch,
    users: &mut [MigrationUser],
    which: &[usize],
    limit: u32,
    stop: &StopSignal,
) -> Result<(), RunError> {
    let started = std::time::Instant::now();
    let slots = Arc::new(Semaphore::new(limit.max(1) as usize));
    let mut tasks = JoinSet::new();
    for &i in which {
        let Ok(job) = sides
            .job(
                store.as_ref(),
                batch,
                &users[i],
                stop.clone(),
                MemoryBudget::from_env(),
            )
            .await?
        else {
            continue;
        };
        let slots = slots.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            if stop.reason().is_some() {
                return (i, None);
            }
            match sizing::size_source(&job).await {
                Ok(size) => (i, Some(size)),
                Err(e) => {
                    debug!(user = job.email, error = %e, "could not size the source mailbox");
                    (i, None)
                }
            }
        });
    }
    let mut sized = 0;
    while let Some(joined) = tasks.join_next().await {
        let Ok((i, Some(size))) = joined else {
            continue;
        };
        let user = &mut users[i];
        user.stats.source_items = size.messages;
        user.stats.source_bytes = size.bytes.unwrap_or(0);
        store
            .set_source_size(user.email.as_str(), size.messages, size.bytes.unwrap_or(0))
            .await?;
        sized += 1;
    }
    info!(batch = %batch.name, sized, of = which.len(), millis = started.elapsed().as_millis() as u64,
        "source mailboxes sized; the biggest start first");
    Ok(())
}

/// A user whose pass was stopped: Stopped when the admin stopped the batch; as before the
/// pass when the process shuts down, so that the next run resumes it. What the pass
/// copied is in the message map either way.
async fn stopped(
    store: &dyn Store,
    mut user: MigrationUser,
    reason: StopReason,
    events: &EventSink,
) -> Result<(UserStatus, PassOutcome), StoreError> {
    user.status = match reason {
        // Another worker may have the mailbox now: its status is that worker's to set.
        StopReason::LeaseLost => return Ok((user.status, PassOutcome::default())),
        StopReason::BatchStopped => UserStatus::Stopped,
        StopReason::Shutdown if user.initial_sync_done => UserStatus::Synced,
        StopReason::Shutdown => UserStatus::Queued,
    };
    user.error = None;
    // What it copied and skipped (or copied after an earlier skip), as a finished pass
    // counts it.
    count_from_ledger(store, &mut user).await?;
    store.update_user(&user).await?;
    info!(user = %user.email, status = %user.status, "pass stopped");
    events.send(SyncEvent::UserFinished {
        email: user.email.to_string(),
        status: user.status,
        copied: 0,
        error: None,
    });
    Ok((user.status, PassOutcome::default()))
}

/// One user's pass with retries of transient failures; the user's status and
/// statistics are saved whatever happens. A pass that skipped more items than the
/// batch allows (BadItemLimit, LargeItemLimit) fails the user.
async fn run_user(
    store: Arc<dyn Store>,
    batch: &Batch,
    mut user: MigrationUser,
    job: Result<MailboxJob, String>,
    events: EventSink,
    gate: &Gate,
) -> Result<(UserStatus, PassOutcome), StoreError> {
    // Mail users, contacts and groups: no mailbox, so no IMAP pass (no_mailbox.rs).
    if !user.kind.has_mailbox() {
        return crate::no_mailbox::pass(store.as_ref(), user, &events).await;
    }
    let email = user.email.to_string();
    // Asked to stop while waiting for a slot: never started.
    if let Ok(job) = &job
        && let Some(reason) = job.stop.reason()
    {
        return stopped(store.as_ref(), user, reason, &events).await;
    }
    user.status = UserStatus::running(user.initial_sync_done);
    // A Synced user's error is what did not fit the target; a pass that ends at a glance
    // leaves it as it was.
    let warnings = user.error.take();
    store.update_user(&user).await?;
    events.send(SyncEvent::UserStarted {
        email: email.clone(),
    });

    let result = match job {
        Err(reason) => Err(reason),
        Ok(job) => {
            let mut attempt = 1;
            let mut refusals = 0;
            loop {
                let (copied_before, _) = store.copied_totals(&email).await?;
                let inside = match job
                    .stop
                    .interrupt(Duration::ZERO, async { Ok(gate.enter().await) }, |r| r)
                    .await
                {
                    Ok(inside) => inside,
                    Err(reason) => return stopped(store.as_ref(), user, reason, &events).await,
                };
                let pass = sync_mailbox(&job, store.as_ref(), &events);
                let result = job
                    .stop
                    .interrupt(STOP_GRACE, pass, SyncError::Stopped)
                    .await;
                // A server that refused for load: the user waits and tries again, and
                // fewer run at once; it fails nothing (unless it never ends).
                if let Err(e) = &result
                    && let Some(throttle) = throttle::throttle_of(e)
                    && refusals < MAX_REFUSALS
                {
                    refusals += 1;
                    let wait = throttle::wait_after(throttle, refusals);
                    inside.throttled(wait);
                    warn!(user = email, refusals, wait_ms = wait.as_millis() as u64,
                        limit = gate.limit(), error = %e, "throttled by the server; waiting");
                    let until = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    store.set_throttled(&email, Some(until)).await?;
                    let pause = async {
                        tokio::time::sleep(wait).await;
                        Ok(())
                    };
                    if let Err(reason) = job.stop.interrupt(Duration::ZERO, pause, |r| r).await {
                        store.set_throttled(&email, None).await?;
                        return stopped(store.as_ref(), user, reason, &events).await;
                    }
                    continue;
                }
                inside.done();
                if refusals > 0 {
                    store.set_throttled(&email, None).await?;
                    refusals = 0;
                }
                match result {
                    Ok(outcome) => break Ok(outcome),
                    Err(SyncError::Store(e)) => return Err(e),
                    Err(SyncError::Stopped(reason)) => {
                        return stopped(store.as_ref(), user, reason, &events).await;
                    }
                    Err(e)
                        if e.is_transient()
                            && let Some(next) = next_attempt(
                                attempt,
                                store.copied_totals(&email).await?.0 > copied_before,
                            ) =>
                    {
                        warn!(user = email, attempt, error = %e, "transient failure; retrying the pass");
                        let backoff = async {
                            tokio::time::sleep(Duration::from_secs(2u64.pow(next - 1))).await;
                            Ok(())
                        };
                        if let Err(reason) =
                            job.stop.interrupt(Duration::ZERO, backoff, |r| r).await
                        {
                            return stopped(store.as_ref(), user, reason, &events).await;
                        }
                        attempt = next;
                    }
                    Err(e) if e.is_transient() => {
                        break Err(format!(
                            "{e} (a transient failure: gave up after {ATTEMPTS} attempts that moved nothing; the next pass tries again)"
                        ));
                    }
                    Err(e) => break Err(e.to_string()),
                }
            }
        }
    };

    let outcome = match result {
        Ok(outcome) => {
            user.status = UserStatus::Synced;
            user.initial_sync_done = true;
            user.last_synced_at = Some(Utc::now());
            user.stats.folders = outcome.folders;
            user.stats.last_pass_items = outcome.copied;
            user.stats.last_pass_millis = outcome.millis;
            // A pass that ended at a glance leaves what the last full pass found.
            if outcome.source_unchanged {
                user.error = warnings;
            } else {
                user.stats.folders_left_out = outcome.folders_left_out.clone();
                // Synced, but what did not fit the target is said on the user.
                user.error = (!outcome.folder_warnings.is_empty())
                    .then(|| outcome.folder_warnings.join("; "));
            }
            user.removals_held = outcome.held_removals.as_ref().map_or(0, |h| h.messages);
            user.removals_held_detail = outcome.held_removals.as_ref().map(|h| h.detail.clone());
            // An approval this pass used is spent; one given meanwhile stays.
            if let Some(at) = user.removals_approved_at
                && outcome.held_removals.is_none()
            {
                store.spend_removal_approval(&email, at).await?;
            }
            outcome
        }
        Err(reason) => {
            warn!(user = email, error = reason, "mailbox failed");
            user.status = UserStatus::Failed;
            user.error = Some(reason);
            PassOutcome::default()
        }
    };
    // Counted from the store, exact whatever passes failed or stopped: messages on the
    // target through this migration, and skipped items (a message skipped by several
    // passes is one item, and one copied since is none).
    let counts = count_from_ledger(store.as_ref(), &mut user).await?;
    if user.status == UserStatus::Synced
        && let Err(over) = check_item_limits(
            &email,
            batch.name.as_str(),
            batch.bad_item_limit,
            batch.large_item_limit,
            &counts,
        )
    {
        warn!(user = email, error = %over, "skipped items over the batch's limits");
        user.status = UserStatus::Failed;
        user.error = Some(over.to_string());
    }
    store.update_user(&user).await?;
    events.send(SyncEvent::UserFinished {
        email,
        status: user.status,
        copied: outcome.copied,
        error: user.error.clone(),
    });
    Ok((user.status, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_that_move_mail_on_never_run_out() {
        assert_eq!(next_attempt(1, false), Some(2));
        assert_eq!(next_attempt(2, false), Some(3));
        assert_eq!(next_attempt(ATTEMPTS, false), None);
        assert_eq!(next_attempt(ATTEMPTS, true), Some(1));
        // Any number of failures, each after progress: the pass goes on.
        let mut attempt = 1;
        for _ in 0..100 {
            attempt = next_attempt(attempt, true).unwrap();
        }
        assert_eq!(attempt, 1);
    }
}
