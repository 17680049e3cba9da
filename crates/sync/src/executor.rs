//! One pass over one mailbox, in three parts: [`crate::observe`] looks at both servers
//! and the store (reads only), [`crate::plan`] decides the steps (a pure function), and
//! [`crate::apply`] makes them (the only writes). [`plan_pass`] stops after the second:
//! what `cutover batch plan` prints.
//!
//! Every copied message is recorded in the store (source folder, UIDVALIDITY, UID ->
//! target UID) in the same transaction for a whole appended chunk, so a later pass
//! never copies it again.

use std::time::Instant;

use cutover_store::Store;
use tracing::info;

use crate::apply;
use crate::connect::{close, open};
use crate::events::EventSink;
use crate::glance;
use crate::observe;
pub use crate::pass::{MailboxJob, PassOutcome, Role, SyncError};
use crate::plan::{self, MailboxPlan, PlanRules};

fn rules(job: &MailboxJob) -> PlanRules {
    PlanRules {
        brake: job.removal_brake,
        removals_approved: job.removals_approved,
    }
}

/// Runs one pass for one mailbox.
pub async fn sync_mailbox(
    job: &MailboxJob,
    store: &dyn Store,
    events: &EventSink,
) -> Result<PassOutcome, SyncError> {
    let started = Instant::now();
    let email = job.email.as_str();
    let mut src = open(&job.source, Role::Source).await?;
    if let Some(mut outcome) = glance::unchanged_source(&mut src, job, store).await? {
        close(src);
        outcome.millis = started.elapsed().as_millis() as u64;
        info!(
            user = email,
            folders = outcome.folders,
            millis = outcome.millis,
            "mailbox pass finished: nothing changed on the source"
        );
        return Ok(outcome);
    }
    let mut dst = open(&job.target, Role::Target).await?;
    let facts = observe::observe_mailbox(&mut src, &mut dst, job, store, true).await?;
    let plan = plan::plan_mailbox(&facts, rules(job));
    let mut outcome =
        apply::apply_plan(&mut src, &mut dst, job, store, events, facts, plan).await?;

    close(src);
    close(dst);
    outcome.millis = started.elapsed().as_millis() as u64;
    info!(
        user = email,
        folders = outcome.folders,
        copied = outcome.copied,
        bytes = outcome.bytes,
        skipped = outcome.skipped,
        flags_changed = outcome.flags_changed,
        removed = outcome.removed,
        millis = outcome.millis,
        "mailbox pass finished"
    );
    Ok(outcome)
}

/// The steps the next pass would take for one mailbox, without taking them: both servers
/// and the store are only read.
pub async fn plan_pass(job: &MailboxJob, store: &dyn Store) -> Result<MailboxPlan, SyncError> {
    let mut src = open(&job.source, Role::Source).await?;
    let mut dst = open(&job.target, Role::Target).await?;
    let facts = observe::observe_mailbox(&mut src, &mut dst, job, store, false).await?;
    let _ = src.logout().await;
    let _ = dst.logout().await;
    Ok(plan::plan_mailbox(&facts, rules(job)))
}
