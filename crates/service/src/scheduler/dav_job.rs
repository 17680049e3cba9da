//! The `dav-pass` job: one attempt at a user's calendars, contacts and tasks
//! ([`cutover_dav::pass::run_pass`]) under the job's lease, its result read as an
//! [`Attempt`] and decided by the same table as the mail pass ([`decide`]).
//!
//! The job never writes the user's row (its mail pass, which may run at the same time,
//! owns status and mail counters): the DAV ledger holds the counts, refused items are
//! skipped items with their reason (`dav_skipped`, approved with the batch's others), and
//! how the last DAV pass ended is `dav_passes`, which the round's close reads.

use chrono::Utc;
use cutover_model::{
    Batch, MigrationUser, SkippedCounts, SkippedKind, UserStatus, check_item_limits,
};
use cutover_store::{Job, JobEnd, Store};
use cutover_sync::{Attempt, RunError, Sides, StopReason, StopSignal};
use tracing::{info, warn};

use super::{Decision, JobContext, decide};

/// The user's status as the batch's status after a round counts it: a user whose last
/// DAV pass failed counts as Failed (the batch ends SyncedWithErrors), whatever its mail.
pub(super) async fn with_dav_outcome(
    store: &dyn Store,
    user: &MigrationUser,
) -> Result<UserStatus, cutover_store::StoreError> {
    if user.status == UserStatus::Synced
        && store
            .dav_summary(user.email.as_str())
            .await?
            .last_error
            .is_some()
    {
        return Ok(UserStatus::Failed);
    }
    Ok(user.status)
}

/// The user's skipped DAV items over the batch's limits (items the admin approved do
/// not count), as the mail pass checks its skipped messages.
async fn over_item_limits(
    store: &dyn Store,
    batch: &Batch,
    email: &str,
) -> Result<Option<String>, RunError> {
    let mut counts = SkippedCounts::default();
    for item in store.dav_skipped_items(email).await? {
        let unapproved = u64::from(item.approved_at.is_none());
        match item.kind {
            SkippedKind::BadItem => {
                counts.bad += 1;
                counts.unapproved_bad += unapproved;
            }
            SkippedKind::LargeItem => {
                counts.large += 1;
                counts.unapproved_large += unapproved;
            }
        }
    }
    Ok(check_item_limits(
        email,
        batch.name.as_str(),
        batch.bad_item_limit,
        batch.large_item_limit,
        &counts,
    )
    .err()
    .map(|e| format!("calendars and contacts: {e}")))
}

impl JobContext {
    /// Runs one attempt of the DAV pass of `user` (the job's subject, as read for it) and
    /// ends the job as [`decide`] says.
    pub(super) async fn run_dav(
        &self,
        job: &Job,
        batch: &Batch,
        sides: &Sides,
        user: Option<MigrationUser>,
        stop: StopSignal,
    ) -> Result<Option<(UserStatus, u64, u64)>, RunError> {
        let store = self.store.as_ref();
        let owner = self.worker.id.as_str();
        let user = match user {
            Some(user) if user.kind.has_mailbox() => user,
            // gone, or a recipient without a mailbox: nothing to copy
            _ => {
                store.end_job(job.id, owner, &JobEnd::Done).await?;
                return Ok(None);
            }
        };
        let email = user.email.as_str();
        let password = store.user_password(email).await?;
        let accounts = match crate::calendars::accounts(
            &sides.endpoint,
            &sides.target,
            &user,
            password.as_ref(),
        )
        .await
        {
            Some(Ok(accounts)) => accounts,
            Some(Err(reason)) => {
                warn!(
                    user = email,
                    error = reason,
                    "the calendars and contacts cannot be copied"
                );
                store.dav_end_pass(email, Utc::now(), Some(&reason)).await?;
                store.end_job(job.id, owner, &JobEnd::Done).await?;
                return Ok(None);
            }
            None => {
                store.end_job(job.id, owner, &JobEnd::Done).await?;
                return Ok(None);
            }
        };
        let mine = stop.child();
        if let Some(reason) = mine.reason() {
            return self.give_back_dav(job, reason).await;
        }
        let beat = tokio::spawn(self.worker.clone().keep_lease(
            self.store.clone(),
            job.id,
            mine.clone(),
        ));
        // A stop drops the pass where it waits: the ledger's intents make that a crash
        // the next pass recovers from without duplicates.
        let ran = tokio::select! {
            ran = cutover_dav::pass::run_pass(&accounts.0, &accounts.1, store, email) => Some(ran),
            _ = mine.stopped() => None,
        };
        beat.abort();
        let attempt = match &ran {
            None => Attempt::Stopped(mine.reason().unwrap_or(StopReason::Shutdown)),
            Some(ran) => match cutover_dav::job::attempt(ran) {
                Ok(attempt) => attempt,
                // the store failed under the pass: given back, due again
                Err(e) => {
                    warn!(
                        job = job.id,
                        user = email,
                        error = e,
                        "the DAV ledger could not be written; giving the job back"
                    );
                    store.end_job(job.id, owner, &JobEnd::Release).await?;
                    return Ok(None);
                }
            },
        };
        match decide(&attempt, job.attempts, job.refusals) {
            Decision::Finish(result) => {
                let error = match result {
                    Ok(()) => over_item_limits(store, batch, email).await?,
                    Err(e) => Some(e),
                };
                if let Some(Ok(summary)) = &ran {
                    info!(user = email, copied = ?summary.applied.copied, updated = summary.applied.updated,
                        deleted = summary.applied.deleted, skipped = summary.applied.skipped.len(),
                        "calendars and contacts copied");
                }
                if let Some(e) = &error {
                    warn!(
                        user = email,
                        error = e,
                        "the calendars and contacts pass failed"
                    );
                }
                store
                    .dav_end_pass(email, Utc::now(), error.as_deref())
                    .await?;
                store.end_job(job.id, owner, &JobEnd::Done).await?;
                Ok(None)
            }
            Decision::Retry {
                after,
                attempts,
                refusals,
                error,
                ..
            } => {
                warn!(
                    user = email,
                    attempts, error, "the calendars and contacts pass failed for now; retrying"
                );
                let run_at = Utc::now() + chrono::Duration::from_std(after).unwrap_or_default();
                let end = JobEnd::Later {
                    run_at,
                    attempts,
                    refusals,
                    error: Some(error),
                };
                store.end_job(job.id, owner, &end).await?;
                Ok(None)
            }
            Decision::GiveBack(reason) => self.give_back_dav(job, reason).await,
            Decision::LetGo => Ok(None),
        }
    }

    /// Stopped: the job is given back (the user's status is its mail pass's to set).
    async fn give_back_dav(
        &self,
        job: &Job,
        reason: StopReason,
    ) -> Result<Option<(UserStatus, u64, u64)>, RunError> {
        if reason != StopReason::LeaseLost {
            self.store
                .end_job(job.id, &self.worker.id, &JobEnd::Release)
                .await?;
        }
        Ok(None)
    }
}
