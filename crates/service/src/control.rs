//! The admin's operations on the cutover batch (New-, Start-, Stop-, Remove-MigrationBatch),
//! shared by the CLI and the HTTP API. They only change desired state in the store;
//! workers see it and act (a stop or remove reaches a running pass within a second).

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use cutover_directory::Finding;
use cutover_model::{
    Batch, BatchStatus, EmailAddress, FolderMapEntry, MigrationUser, Name, UserStatus,
};
use cutover_store::{NewUser, Store, StoreError};
use cutover_sync::worker::is_dead_local_owner;

use crate::views::UserStatsView;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{what} '{name}' was not found")]
    NotFound { what: &'static str, name: String },
    /// The operation makes no sense in the object's current state (a 409 over HTTP).
    #[error("batch '{batch}' cannot be {action}: {why}")]
    IllegalState {
        batch: String,
        action: &'static str,
        why: String,
    },
    /// A value the admin gave is wrong (a 422 over HTTP).
    #[error("{0}")]
    Invalid(String),
    #[error(
        "batch '{batch}' is Removing, but {running} mailbox pass(es) have not stopped after \
         {secs}s; if their worker hangs, remove it with force"
    )]
    StillRunning {
        batch: String,
        running: usize,
        secs: u64,
    },
    /// A directory preflight or the batch needs could not be read (a 502 over HTTP).
    #[error("cannot read the {which}: {reason}")]
    Directory { which: &'static str, reason: String },
    /// Preflight found what must be fixed before the batch may start (a 409 over HTTP).
    #[error("{}", blocked_message(batch, *created, findings))]
    PreflightBlocked {
        batch: String,
        /// The batch was just created (`--auto-start`): it exists, not started.
        created: bool,
        findings: Vec<Finding>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn blocked_message(batch: &str, created: bool, findings: &[Finding]) -> String {
    let blocking: Vec<&Finding> = findings.iter().filter(|f| f.is_blocking()).collect();
    let mut text = format!(
        "batch '{batch}' {}: preflight found {} problem(s) to fix first \
         (`cutover batch preflight {batch}` lists them with the warnings; fix them, then \
         `cutover batch start {batch}`):",
        if created {
            "was created but not started"
        } else {
            "cannot be started"
        },
        blocking.len()
    );
    for f in blocking {
        text.push_str(&format!("\n  {}: {}; {}", f.code, f.message, f.action));
    }
    text
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

/// How long a removal waits for running passes to stop, and with force.
pub const REMOVE_WAIT: Duration = Duration::from_secs(30);
pub const FORCED_REMOVE_WAIT: Duration = Duration::from_secs(5);

pub async fn load_batch(store: &dyn Store, name: &str) -> Result<Batch> {
    store
        .batch(name)
        .await?
        .ok_or_else(|| ControlError::NotFound {
            what: "batch",
            name: name.to_string(),
        })
}

/// A new cutover batch, as `batch new` and `POST /api/v1/batches` describe it.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub name: String,
    pub source_endpoint: String,
    pub users: Vec<NewUser>,
    pub bad_item_limit: u32,
    pub large_item_limit: u32,
    pub excluded_folders: Vec<String>,
    pub folder_map: Vec<FolderMapEntry>,
    pub incremental_interval_hours: u32,
    /// The brake on mass removal (percent of a mailbox's migrated messages).
    pub removal_threshold_percent: u32,
    /// Who gets the notification e-mails (none: no mail).
    pub notification_emails: Vec<EmailAddress>,
    /// Hours between report mails.
    pub report_interval_hours: u32,
    /// No periodic report mails.
    pub skip_reports: bool,
    pub auto_start: bool,
    /// Lets users of domains that are not accepted and verified in (labs, benchmarks);
    /// preflight then reports them as warnings.
    pub skip_domain_check: bool,
    /// The users are the organization read from the endpoint's directory: their domains
    /// are preflight's to check (at `batch start`), not a reason to refuse the batch.
    pub from_directory: bool,
}

/// Creates the cutover batch (and starts it when asked).
pub async fn create_batch(store: &dyn Store, new: NewBatch) -> Result<Batch> {
    let name = Name::parse("batch", &new.name).map_err(|e| ControlError::Invalid(e.to_string()))?;
    let endpoint =
        store
            .endpoint(&new.source_endpoint)
            .await?
            .ok_or_else(|| ControlError::NotFound {
                what: "endpoint",
                name: new.source_endpoint.clone(),
            })?;
    if new.incremental_interval_hours == 0 {
        return Err(ControlError::Invalid(
            "the incremental interval must be at least 1 hour".into(),
        ));
    }
    if new.users.is_empty() {
        return Err(ControlError::Invalid(
            "a batch needs at least one user".into(),
        ));
    }
    check_removal_threshold(new.removal_threshold_percent)?;
    check_report_interval(new.report_interval_hours)?;
    let mut batch = Batch {
        name,
        source_endpoint: endpoint.name.clone(),
        status: BatchStatus::Created,
        created_at: Utc::now(),
        started_at: None,
        initial_sync_at: None,
        last_synced_at: None,
        next_sync_at: None,
        incremental_interval: chrono::Duration::hours(i64::from(new.incremental_interval_hours)),
        bad_item_limit: new.bad_item_limit,
        large_item_limit: new.large_item_limit,
        excluded_folders: new
            .excluded_folders
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        folder_map: new.folder_map,
        skipped_item_approval_time: None,
        removal_threshold_percent: new.removal_threshold_percent,
        notification_emails: dedup(new.notification_emails),
        report_interval: chrono::Duration::hours(i64::from(new.report_interval_hours)),
        skip_reports: new.skip_reports,
        domain_check_skipped: new.skip_domain_check,
        from_directory: new.from_directory,
    };
    if new.skip_domain_check {
        tracing::warn!(
            batch = new.name,
            "the accepted-domain check is skipped, as asked: users of unverified domains may migrate"
        );
    } else if !new.from_directory {
        check_accepted_domains(store, &new.users).await?;
    }
    store.create_batch(&batch, &new.users).await?;
    if new.auto_start {
        start(store, &mut batch).await.map_err(|e| match e {
            ControlError::PreflightBlocked {
                batch, findings, ..
            } => ControlError::PreflightBlocked {
                batch,
                created: true,
                findings,
            },
            e => e,
        })?;
    }
    Ok(batch)
}

/// Preflight of a batch, now: every finding, blocking ones first.
pub async fn preflight(store: &dyn Store, name: &str) -> Result<(Batch, Vec<Finding>)> {
    let batch = load_batch(store, name).await?;
    let facts = crate::organization::preflight_facts(store, &batch).await?;
    Ok((batch, cutover_directory::preflight(&facts)))
}

/// Moves a batch (and its users) to running, as Start-MigrationBatch does: a batch
/// that finished its initial sync gets an incremental pass now. Preflight runs first,
/// and a blocking finding refuses the start. Returns the warnings it found.
pub async fn start(store: &dyn Store, batch: &mut Batch) -> Result<Vec<Finding>> {
    batch
        .status
        .check_start()
        .map_err(|why| ControlError::IllegalState {
            batch: batch.name.to_string(),
            action: "started",
            why,
        })?;
    let facts = crate::organization::preflight_facts(store, batch).await?;
    let findings = cutover_directory::preflight(&facts);
    if findings.iter().any(Finding::is_blocking) {
        return Err(ControlError::PreflightBlocked {
            batch: batch.name.to_string(),
            created: false,
            findings,
        });
    }
    let now = Utc::now();
    batch.started_at.get_or_insert(now);
    if batch.initial_sync_at.is_some() {
        // Synced (or stopped after its initial sync): an incremental pass, now.
        if !matches!(batch.status, BatchStatus::SyncedWithErrors) {
            batch.status = BatchStatus::Synced;
        }
        batch.next_sync_at = Some(now);
    } else {
        batch.status = BatchStatus::Syncing;
    }
    for mut u in store.users(Some(batch.name.as_str()), None).await? {
        if matches!(u.status, UserStatus::Stopped | UserStatus::Failed) {
            u.status = UserStatus::Queued;
            store.update_user(&u).await?;
        }
    }
    store.update_batch(batch).await?;
    Ok(findings)
}

/// Starts the batch by name; returns it and preflight's warnings.
pub async fn start_batch(store: &dyn Store, name: &str) -> Result<(Batch, Vec<Finding>)> {
    let mut batch = load_batch(store, name).await?;
    let warnings = start(store, &mut batch).await?;
    Ok((batch, warnings))
}

/// The users a live worker holds a job of now: leases not expired, and not of a process
/// of this machine that is gone.
async fn held_by_live_workers(store: &dyn Store) -> Result<HashSet<String>> {
    let now = Utc::now();
    Ok(store
        .leased_jobs()
        .await?
        .into_iter()
        .filter(|j| j.is_held(now))
        .filter(|j| {
            j.lease
                .as_ref()
                .is_some_and(|l| !is_dead_local_owner(&l.owner))
        })
        .map(|j| j.subject.to_ascii_lowercase())
        .collect())
}

/// Whether a user's pass is running now: its status says so and a live worker holds
/// its job (a worker that was killed leaves the status behind, not a live lease).
fn in_a_live_pass(u: &MigrationUser, live: &HashSet<String>) -> bool {
    matches!(
        u.status,
        UserStatus::Syncing | UserStatus::IncrementalSyncing | UserStatus::Provisioning
    ) && live.contains(&u.email.as_str().to_ascii_lowercase())
}

/// Stops the batch's users (Stop-MigrationBatch): queued ones, and ones whose worker
/// is gone, at once; running ones when their worker sees the batch Stopping (within a
/// second).
pub async fn stop_batch(store: &dyn Store, name: &str) -> Result<Batch> {
    let mut b = load_batch(store, name).await?;
    b.status
        .check_stop()
        .map_err(|why| ControlError::IllegalState {
            batch: b.name.to_string(),
            action: "stopped",
            why,
        })?;
    // Leases before users: a pass that ends in between is then seen settled, not dead.
    let live = held_by_live_workers(store).await?;
    let mut running = false;
    for mut u in store.users(Some(b.name.as_str()), None).await? {
        match u.status {
            _ if in_a_live_pass(&u, &live) => running = true,
            UserStatus::Syncing | UserStatus::IncrementalSyncing | UserStatus::Provisioning => {
                // Its worker died mid-pass; what it copied and skipped is in the ledger.
                u.status = UserStatus::Stopped;
                cutover_store::count_from_ledger(store, &mut u).await?;
                store.update_user(&u).await?;
            }
            UserStatus::Queued => {
                u.status = UserStatus::Stopped;
                store.update_user(&u).await?;
            }
            _ => {}
        }
    }
    b.status = if running {
        BatchStatus::Stopping
    } else {
        BatchStatus::Stopped
    };
    store.update_batch(&b).await?;
    Ok(b)
}

/// Approves every item the batch's users skipped so far (Set-MigrationBatch
/// -ApproveSkippedItems): a SyncedWithErrors batch is Synced again unless users failed,
/// and approved items no longer count against the limits. Returns the batch and how
/// many items were newly approved.
pub async fn approve_skipped_items(store: &dyn Store, name: &str) -> Result<(Batch, u64)> {
    let b = load_batch(store, name).await?;
    let approved = store
        .approve_skipped_items(b.name.as_str(), Utc::now())
        .await?;
    // Reloaded: the store recorded the approval time on it.
    let mut b = load_batch(store, b.name.as_str()).await?;
    if b.status == BatchStatus::SyncedWithErrors {
        let statuses: Vec<UserStatus> = store
            .users(Some(b.name.as_str()), None)
            .await?
            .iter()
            .map(|u| u.status)
            .collect();
        let held = store.users_with_held_removals(b.name.as_str()).await?;
        b.status = BatchStatus::after_pass_with_skipped(&statuses, held);
        store.update_batch(&b).await?;
    }
    Ok((b, approved))
}

/// What the batch's reports are made of: every user's statistics with its skipped
/// items, in the order of the users CSV (see [`crate::report`]).
pub async fn batch_report(store: &dyn Store, name: &str) -> Result<(Batch, Vec<UserStatsView>)> {
    let b = load_batch(store, name).await?;
    let mut users = Vec::new();
    for u in store.users(Some(b.name.as_str()), None).await? {
        let skipped = crate::calendars::skipped_items(store, u.email.as_str()).await?;
        let dav = crate::calendars::user_dav(store, &u).await?;
        users.push(UserStatsView::new(&u, Some(&skipped)).with_dav(dav.as_ref()));
    }
    Ok((b, users))
}

/// One user's statistics with its skipped items, for its report.
pub async fn user_report(store: &dyn Store, email: &str) -> Result<UserStatsView> {
    let u = store
        .user(email)
        .await?
        .ok_or_else(|| ControlError::NotFound {
            what: "migration user",
            name: email.to_string(),
        })?;
    let skipped = crate::calendars::skipped_items(store, u.email.as_str()).await?;
    let dav = crate::calendars::user_dav(store, &u).await?;
    Ok(UserStatsView::new(&u, Some(&skipped)).with_dav(dav.as_ref()))
}

/// The removal threshold is a share of a mailbox, in percent.
pub fn check_removal_threshold(percent: u32) -> Result<()> {
    if percent > 100 {
        return Err(ControlError::Invalid(format!(
            "the removal threshold is a percentage of a mailbox's migrated messages (0 to 100), not {percent}"
        )));
    }
    Ok(())
}

/// Report mails go out at most hourly.
pub fn check_report_interval(hours: u32) -> Result<()> {
    if hours == 0 {
        return Err(ControlError::Invalid(
            "the report interval must be at least 1 hour".into(),
        ));
    }
    Ok(())
}

fn dedup(mut emails: Vec<EmailAddress>) -> Vec<EmailAddress> {
    let mut seen = HashSet::new();
    emails.retain(|e| seen.insert(e.clone()));
    emails
}

/// What Set-MigrationBatch changes; `None` keeps the setting.
#[derive(Debug, Default, Clone)]
pub struct BatchChanges {
    pub bad_item_limit: Option<u32>,
    pub large_item_limit: Option<u32>,
    pub removal_threshold_percent: Option<u32>,
    /// Replaces the notification addresses (empty: no more mail).
    pub notification_emails: Option<Vec<EmailAddress>>,
    pub report_interval_hours: Option<u32>,
    pub skip_reports: Option<bool>,
}

impl BatchChanges {
    pub fn is_empty(&self) -> bool {
        self.bad_item_limit.is_none()
            && self.large_item_limit.is_none()
            && self.removal_threshold_percent.is_none()
            && self.notification_emails.is_none()
            && self.report_interval_hours.is_none()
            && self.skip_reports.is_none()
    }
}

/// Changes a batch's settings (Set-MigrationBatch); they apply from the next pass (the
/// notification settings from the next round).
pub async fn set_batch(store: &dyn Store, name: &str, changes: BatchChanges) -> Result<Batch> {
    let mut b = load_batch(store, name).await?;
    if let Some(p) = changes.removal_threshold_percent {
        check_removal_threshold(p)?;
        b.removal_threshold_percent = p;
    }
    if let Some(h) = changes.report_interval_hours {
        check_report_interval(h)?;
        b.report_interval = chrono::Duration::hours(i64::from(h));
    }
    if let Some(n) = changes.bad_item_limit {
        b.bad_item_limit = n;
    }
    if let Some(n) = changes.large_item_limit {
        b.large_item_limit = n;
    }
    if let Some(emails) = changes.notification_emails {
        b.notification_emails = dedup(emails);
    }
    if let Some(skip) = changes.skip_reports {
        b.skip_reports = skip;
    }
    store.update_batch(&b).await?;
    Ok(b)
}

/// Approves the removals the brake held for the batch's users (or one of them): their
/// next pass makes them. Returns the batch and how many users were approved.
pub async fn approve_removals(
    store: &dyn Store,
    name: &str,
    user: Option<&str>,
) -> Result<(Batch, u64)> {
    let b = load_batch(store, name).await?;
    let approved = store
        .approve_removals(b.name.as_str(), user, Utc::now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound { what, name } => ControlError::NotFound { what, name },
            other => other.into(),
        })?;
    Ok((b, approved))
}

/// Waits until no user of the batch is in a live pass (they stop when they see the
/// batch Stopping or Removing), at most `limit`; returns how many still were, if any.
async fn wait_for_passes_to_stop(
    store: &dyn Store,
    batch: &Batch,
    limit: Duration,
) -> Result<Option<usize>> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let live = held_by_live_workers(store).await?;
        let running = store
            .users(Some(batch.name.as_str()), None)
            .await?
            .iter()
            .filter(|u| in_a_live_pass(u, &live))
            .count();
        if running == 0 {
            return Ok(None);
        }
        if std::time::Instant::now() > deadline {
            return Ok(Some(running));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Removes the batch and its users from the store (Remove-MigrationBatch); migrated
/// mail stays on the target. Running passes are stopped first and waited for, so that
/// their last records land before the rows go; `force` removes a batch still in its
/// initial sync, and does not wait long for passes that do not stop (a killed worker
/// leaves its users saying Syncing).
/// What a removal has to say besides having happened.
#[derive(Debug, Default)]
pub struct Removed {
    /// Removed, but early: within 72 hours of the MX switch.
    pub warning: Option<String>,
}

pub async fn remove_batch(store: &dyn Store, name: &str, force: bool) -> Result<Removed> {
    let mut b = load_batch(store, name).await?;
    if b.initial_sync_at.is_none() && b.status == BatchStatus::Syncing && !force {
        return Err(ControlError::IllegalState {
            batch: b.name.to_string(),
            action: "removed",
            why: "it is still in its initial sync; removing it now leaves mailboxes half \
                  copied. Stop it first, or remove it with force"
                .into(),
        });
    }
    let warning = check_mx_switch(store, &b, force).await?;
    b.status = BatchStatus::Removing;
    store.update_batch(&b).await?;
    let wait = if force {
        FORCED_REMOVE_WAIT
    } else {
        REMOVE_WAIT
    };
    if let Some(running) = wait_for_passes_to_stop(store, &b, wait)
        .await?
        .filter(|_| !force)
    {
        return Err(ControlError::StillRunning {
            batch: b.name.to_string(),
            running,
            secs: wait.as_secs(),
        });
    }
    // The DAV ledger is kept per user, outside the batch's rows: it goes with them.
    for u in store.users(Some(b.name.as_str()), None).await? {
        store.dav_remove_user(u.email.as_str()).await?;
    }
    store.remove_batch(b.name.as_str()).await?;
    Ok(Removed { warning })
}

/// The seed's step 1: every user's primary SMTP domain must be an accepted, verified
/// domain. Names every user and domain that is not.
async fn check_accepted_domains(store: &dyn Store, users: &[NewUser]) -> Result<()> {
    let accepted: Vec<(String, bool)> = store
        .accepted_domains()
        .await?
        .into_iter()
        .map(|d| (d.name, d.verified_at.is_some()))
        .collect();
    let problems =
        cutover_discover::domain::unaccepted(users.iter().map(|u| u.email.as_str()), &accepted);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|(domain, known, users)| {
            let (what, fix) = if *known {
                (
                    "is accepted but not verified",
                    format!(
                        "publish its TXT record (`cutover domain get {domain}`), then \
                         `cutover domain verify {domain}`"
                    ),
                )
            } else {
                (
                    "is not an accepted domain",
                    format!(
                        "`cutover domain add {domain}`, publish the TXT record it prints, then \
                         `cutover domain verify {domain}`"
                    ),
                )
            };
            format!(
                "  {domain} {what} ({} user(s): {}); {fix}",
                users.len(),
                users.join(", ")
            )
        })
        .collect();
    Err(ControlError::Invalid(format!(
        "the batch cannot be created: a mailbox migrates only to an accepted, verified domain \
         of the target, and these users' primary SMTP domains are not:\n{}",
        lines.join("\n")
    )))
}

/// `batch remove` waits for the MX switch of every domain of the batch and a sync after
/// it (the rule is `cutover_discover::guard::removal`). Within 72 hours of the switch it
/// removes with a warning.
async fn check_mx_switch(store: &dyn Store, batch: &Batch, force: bool) -> Result<Option<String>> {
    use cutover_discover::guard::{Removal, RemovalFacts, removal};
    let mut domains: Vec<String> = store
        .users(Some(batch.name.as_str()), None)
        .await?
        .iter()
        .map(|u| u.email.domain().to_string())
        .collect();
    domains.sort();
    domains.dedup();
    let mut latest = None;
    let mut unseen = Vec::new();
    for domain in &domains {
        match store
            .mx_check(domain)
            .await?
            .and_then(|c| c.first_switch_at)
        {
            Some(t) => latest = latest.max(Some(t)),
            None => unseen.push(domain.as_str()),
        }
    }
    let facts = RemovalFacts {
        started: batch.started_at.is_some(),
        last_synced: batch.last_synced_at,
        mx_switched: if unseen.is_empty() { latest } else { None },
        now: Utc::now(),
        force,
    };
    match removal(facts) {
        Removal::Allow => Ok(None),
        Removal::Warn(why) => Ok(Some(why)),
        Removal::Refuse(why) if !unseen.is_empty() => Err(ControlError::IllegalState {
            batch: batch.name.to_string(),
            action: "removed",
            why: format!(
                "{why} (domains without a seen switch: {})",
                unseen.join(", ")
            ),
        }),
        Removal::Refuse(why) => Err(ControlError::IllegalState {
            batch: batch.name.to_string(),
            action: "removed",
            why,
        }),
    }
}
