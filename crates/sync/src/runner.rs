//! A user's mailbox pass as the scheduler's job runs it (the scheduler, in the service
//! crate, decides when and how often): [`begin_pass`] marks the user running,
//! [`attempt_pass`] runs one pass and says how it went ([`Attempt`]: passed, throttled,
//! a transient failure, a failure, stopped), and [`end_pass`] or [`stopped`] record the
//! user's status and statistics, counted from the ledger. [`Sides`] puts a user's job
//! together from the store (both servers, the credentials); [`size_sources`] sizes
//! mailboxes so that the biggest start first. `cutover batch plan` and the completeness
//! audit use the same jobs and only read ([`plan_batch`], [`audit_batch`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cutover_model::{Batch, MigrationUser, UserStatus, check_item_limits};
use cutover_store::{Store, StoreError, count_from_ledger};
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
use crate::throttle;

/// How long a stopped pass may take to record its chunk in flight and end by itself
/// before it is dropped, waiting command and all (a stalled server).
const STOP_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no target is set; run `cutover target set --server ... --admin ...` first")]
    NoTarget,
    #[error("batch '{batch}' uses endpoint '{endpoint}', which does not exist any more")]
    MissingEndpoint { batch: String, endpoint: String },
    /// The organization could not be read or prepared for provisioning.
    #[error("provisioning the target organization: {0}")]
    Provisioning(String),
}

/// How one attempt at a user's pass went.
#[derive(Debug)]
pub enum Attempt {
    /// The pass went through.
    Passed(PassOutcome),
    /// A server refused for load (the wait it asked for, if it named one).
    Throttled {
        hint: Option<Duration>,
        error: String,
    },
    /// A failure that may pass (a dropped connection, a timeout); `progressed`: the
    /// attempt moved mail on before it.
    Transient { error: String, progressed: bool },
    /// A failure that trying again soon will not mend (a refused login, no credentials).
    Failed { error: String },
    /// Stopped by the admin, the process shutting down, or a lost lease.
    Stopped(StopReason),
}

/// What every mailbox job of a batch shares: both servers and their admin passwords.
pub struct Sides {
    pub target: cutover_model::Target,
    target_password: secrecy::SecretString,
    pub endpoint: cutover_model::Endpoint,
    source_password: secrecy::SecretString,
}

impl Sides {
    pub async fn of(store: &dyn Store, batch: &Batch) -> Result<Sides, RunError> {
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
    pub async fn job(
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

/// Sizes the source mailboxes of `users[which]`, [`sizing::at_once`] of `limit` at a
/// time, and keeps each size as the user's source counts. A mailbox that cannot be
/// sized keeps its place in the users CSV's order; its pass says what is wrong.
pub async fn size_sources(
    store: Arc<dyn Store>,
    sides: &Sides,
    batch: &Batch,
    users: &mut [MigrationUser],
    which: &[usize],
    limit: u32,
    stop: &StopSignal,
) -> Result<(), RunError> {
    let started = std::time::Instant::now();
    let slots = Arc::new(Semaphore::new(sizing::at_once(limit)));
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
pub async fn stopped(
    store: &dyn Store,
    mut user: MigrationUser,
    reason: StopReason,
    events: &EventSink,
) -> Result<UserStatus, StoreError> {
    user.status = match reason {
        // Another worker may have the mailbox now: its status is that worker's to set.
        StopReason::LeaseLost => return Ok(user.status),
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
    Ok(user.status)
}

/// The user's pass starts: its status says it runs (only that column's worth: the
/// rest of the row is as the store has it).
pub async fn begin_pass(
    store: &dyn Store,
    user: &mut MigrationUser,
    events: &EventSink,
) -> Result<(), StoreError> {
    user.status = UserStatus::running(user.initial_sync_done);
    store.update_user(user).await?;
    events.send(SyncEvent::UserStarted {
        email: user.email.to_string(),
    });
    Ok(())
}

/// One attempt at the pass of `job`; the store's failures are the caller's.
/// `copied_before` is the user's `items_synced` as the attempt starts (chunks that land
/// move it on): a transient failure after it grew moved mail on.
pub async fn attempt_pass(
    store: &dyn Store,
    job: &MailboxJob,
    events: &EventSink,
    copied_before: u64,
) -> Result<Attempt, StoreError> {
    if let Some(reason) = job.stop.reason() {
        return Ok(Attempt::Stopped(reason));
    }
    let pass = sync_mailbox(job, store, events);
    let result = job
        .stop
        .interrupt(STOP_GRACE, pass, SyncError::Stopped)
        .await;
    Ok(match result {
        Ok(outcome) => Attempt::Passed(outcome),
        Err(SyncError::Store(e)) => return Err(e),
        Err(SyncError::Stopped(reason)) => Attempt::Stopped(reason),
        Err(e) => {
            if let Some(t) = throttle::throttle_of(&e) {
                Attempt::Throttled {
                    hint: t.hint,
                    error: e.to_string(),
                }
            } else if e.is_transient() {
                let progressed = store
                    .user(&job.email)
                    .await?
                    .is_some_and(|u| u.stats.items_synced > copied_before);
                Attempt::Transient {
                    error: e.to_string(),
                    progressed,
                }
            } else {
                Attempt::Failed {
                    error: e.to_string(),
                }
            }
        }
    })
}

/// The pass is over (`Ok`: it went through; `Err`: it failed for good, with the reason):
/// the user's status and statistics are saved, counted from the ledger. A pass that
/// skipped more items than the batch allows (BadItemLimit, LargeItemLimit) fails the user.
pub async fn end_pass(
    store: &dyn Store,
    batch: &Batch,
    mut user: MigrationUser,
    result: Result<PassOutcome, String>,
    events: &EventSink,
) -> Result<UserStatus, StoreError> {
    let email = user.email.to_string();
    let outcome = match result {
        Ok(outcome) => {
            user.status = UserStatus::Synced;
            user.initial_sync_done = true;
            user.last_synced_at = Some(Utc::now());
            user.stats.folders = outcome.folders;
            user.stats.last_pass_items = outcome.copied;
            user.stats.last_pass_millis = outcome.millis;
            // A pass that ended at a glance leaves what the last full pass found (a
            // Synced user's error is what did not fit the target).
            if !outcome.source_unchanged {
                user.stats.folders_left_out = outcome.folders_left_out.clone();
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
    let counts = count_from_ledger(store, &mut user).await?;
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
    Ok(user.status)
}
