//! The cutover batch and its migration users.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::directory::RecipientKind;
use crate::folder_map::FolderMapEntry;
use crate::names::{EmailAddress, Name};
use crate::progress::{PassStart, Progress, progress};
use crate::skipped::DataConsistencyScore;
use crate::status::{BatchStatus, UserStatus};

/// A cutover batch (New-MigrationBatch): every mailbox of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub name: Name,
    pub source_endpoint: Name,
    pub status: BatchStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    /// When every user first finished its initial sync (InitialSyncDateTime).
    pub initial_sync_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// When the next incremental pass is due.
    pub next_sync_at: Option<DateTime<Utc>>,
    pub incremental_interval: Duration,
    pub bad_item_limit: u32,
    pub large_item_limit: u32,
    /// Source folder names (display form) left out of the migration.
    pub excluded_folders: Vec<String>,
    /// The admin's explicit source -> target folder names, applied before special-use
    /// mapping.
    #[serde(default)]
    pub folder_map: Vec<FolderMapEntry>,
    /// When the admin last approved the skipped items (SkippedItemApprovalTime).
    pub skipped_item_approval_time: Option<DateTime<Utc>>,
    /// A pass that would remove more than this share (percent) of a mailbox's migrated
    /// messages, or a whole folder holding them, waits for `batch approve-removals`.
    #[serde(default = "Batch::default_removal_threshold")]
    pub removal_threshold_percent: u32,
    /// Who gets the batch's notification e-mails (New-MigrationBatch -NotificationEmails);
    /// none: no mail is sent.
    #[serde(default)]
    pub notification_emails: Vec<EmailAddress>,
    /// How often a report mail goes out while the batch runs (-ReportInterval).
    #[serde(default = "Batch::default_report_interval")]
    pub report_interval: Duration,
    /// No periodic report mails, only the initial-sync and failure ones (-SkipReports).
    #[serde(default)]
    pub skip_reports: bool,
    /// Created with `--skip-domain-check` (labs): preflight reports a domain that is not
    /// accepted and verified as a warning, not as a blocking finding.
    #[serde(default)]
    pub domain_check_skipped: bool,
    /// The whole organization read from the endpoint's directory (`--all-mailboxes`):
    /// each round picks up the recipients that appeared and the changes of the others.
    #[serde(default)]
    pub from_directory: bool,
}

impl Batch {
    pub const DEFAULT_INCREMENTAL_INTERVAL_HOURS: i64 = 24;
    pub const DEFAULT_REMOVAL_THRESHOLD_PERCENT: u32 = 10;

    pub const DEFAULT_REPORT_INTERVAL_HOURS: i64 = 24;

    fn default_removal_threshold() -> u32 {
        Self::DEFAULT_REMOVAL_THRESHOLD_PERCENT
    }

    fn default_report_interval() -> Duration {
        Duration::hours(Self::DEFAULT_REPORT_INTERVAL_HOURS)
    }

    /// A new batch with Exchange's defaults: Created, an incremental sync every 24 hours,
    /// no bad or large item allowed, the removal brake at 10%, no notification mails.
    pub fn new(name: Name, source_endpoint: Name, created_at: DateTime<Utc>) -> Self {
        Self {
            name,
            source_endpoint,
            status: BatchStatus::Created,
            created_at,
            started_at: None,
            initial_sync_at: None,
            last_synced_at: None,
            next_sync_at: None,
            incremental_interval: Duration::hours(Self::DEFAULT_INCREMENTAL_INTERVAL_HOURS),
            bad_item_limit: 0,
            large_item_limit: 0,
            excluded_folders: Vec::new(),
            folder_map: Vec::new(),
            skipped_item_approval_time: None,
            removal_threshold_percent: Self::DEFAULT_REMOVAL_THRESHOLD_PERCENT,
            notification_emails: Vec::new(),
            report_interval: Self::default_report_interval(),
            skip_reports: false,
            domain_check_skipped: false,
            from_directory: false,
        }
    }

    /// Time from start to the end of the initial sync (InitialSyncDuration).
    pub fn initial_sync_duration(&self) -> Option<Duration> {
        Some(self.initial_sync_at? - self.started_at?)
    }

    /// Whether workers should run a pass for this batch now.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            BatchStatus::Syncing => true,
            BatchStatus::Synced | BatchStatus::SyncedWithErrors => {
                self.next_sync_at.is_some_and(|due| due <= now)
            }
            _ => false,
        }
    }
}

/// Counters of one user's migration (Get-MigrationUserStatistics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStats {
    /// Messages in the source mailbox at the last pass (folders included in the batch).
    pub source_items: u64,
    /// Messages of the source on the target through this migration now (copied by any
    /// pass, not expunged on the source since).
    pub items_synced: u64,
    /// Messages skipped now (bad plus large items): skipped by some pass and not
    /// copied since.
    pub items_skipped: u64,
    /// Of those, bad items (malformed, unreadable, refused for another reason).
    pub bad_items: u64,
    /// Of those, large items (refused by the target for their size).
    pub large_items: u64,
    /// Bytes of those messages.
    pub bytes_synced: u64,
    /// Bytes of the source's messages as the last pass counted them: those on the
    /// target through this migration then, plus those the pass was to copy.
    #[serde(default)]
    pub source_bytes: u64,
    /// Folders seen in the source at the last pass.
    pub folders: u64,
    /// Messages copied by the last pass.
    pub last_pass_items: u64,
    /// How long the last pass took, in milliseconds.
    pub last_pass_millis: u64,
    /// Source folders the last pass left out because they belong to other users' or
    /// shared namespaces (display names).
    #[serde(default)]
    pub folders_left_out: Vec<String>,
}

/// One mailbox of a batch (Get-MigrationUser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationUser {
    pub email: EmailAddress,
    pub batch: Name,
    /// What it is in the source organization (RecipientType): a mailbox (from a users
    /// CSV, always), or from the directory a mail user, contact or group, which has no
    /// mailbox to copy.
    #[serde(default = "MigrationUser::default_kind")]
    pub kind: RecipientKind,
    /// The source login when it differs from the address (the CSV's UserName).
    pub source_login: Option<String>,
    /// Whether the CSV gave this user's own password (kept encrypted in the store).
    pub has_password: bool,
    pub status: UserStatus,
    /// The last error, readable by an admin, with its cause.
    pub error: Option<String>,
    pub initial_sync_done: bool,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub stats: UserStats,
    /// When the admin last approved this user's skipped items.
    pub skipped_items_approved_at: Option<DateTime<Utc>>,
    /// Messages (of removed folders included) the last pass would have removed from the
    /// target and held for the admin's approval; 0 when none wait.
    #[serde(default)]
    pub removals_held: u64,
    /// How many and where, for the admin.
    #[serde(default)]
    pub removals_held_detail: Option<String>,
    /// When the admin approved the held removals: the next pass makes them.
    #[serde(default)]
    pub removals_approved_at: Option<DateTime<Utc>>,
    /// Where the last pass started copying (its progress and time left count from here).
    #[serde(default)]
    pub pass_start: Option<PassStart>,
    /// A server refused the user's pass for load: it tries again at this time.
    #[serde(default)]
    pub throttled_until: Option<DateTime<Utc>>,
}

impl MigrationUser {
    fn default_kind() -> RecipientKind {
        RecipientKind::Mailbox
    }

    /// Exchange's RecipientType of the user (`UserMailbox`, `MailContact`, ...); a
    /// migration user always has an address.
    pub fn recipient_type(&self) -> &'static str {
        self.kind.recipient_type(true)
    }

    /// A user of `batch` that no pass has touched: Queued, nothing counted.
    pub fn new(email: EmailAddress, batch: Name) -> Self {
        Self {
            email,
            batch,
            kind: RecipientKind::Mailbox,
            source_login: None,
            has_password: false,
            status: UserStatus::Queued,
            error: None,
            initial_sync_done: false,
            last_synced_at: None,
            stats: UserStats::default(),
            skipped_items_approved_at: None,
            removals_held: 0,
            removals_held_detail: None,
            removals_approved_at: None,
            pass_start: None,
            throttled_until: None,
        }
    }

    /// Until when the running pass waits because a server refused for load; `None` when
    /// it does not wait (Exchange's StatusDetail `Throttled` is shown while it does).
    pub fn throttled_wait(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let running = matches!(
            self.status,
            UserStatus::Syncing | UserStatus::IncrementalSyncing
        );
        self.throttled_until.filter(|t| running && *t > now)
    }

    /// The login to use on the source: the CSV's UserName, else the address.
    pub fn source_login(&self) -> &str {
        self.source_login.as_deref().unwrap_or(self.email.as_str())
    }

    /// How far this user is, and the time its running pass has left.
    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        let running = matches!(
            self.status,
            UserStatus::Syncing | UserStatus::IncrementalSyncing
        );
        progress(
            &self.stats,
            self.pass_start.as_ref().filter(|_| running),
            now,
        )
    }

    /// Exchange's DataConsistencyScore of this user, from what is skipped now.
    pub fn data_consistency(&self) -> DataConsistencyScore {
        DataConsistencyScore::grade(self.stats.items_skipped, self.stats.source_items)
    }
}

/// How many users of a batch are where (Get-MigrationBatch's counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    pub total: u64,
    pub queued: u64,
    pub syncing: u64,
    pub synced: u64,
    pub stopped: u64,
    pub failed: u64,
}

impl BatchCounts {
    pub fn from_statuses(statuses: impl IntoIterator<Item = UserStatus>) -> Self {
        let mut c = BatchCounts::default();
        for s in statuses {
            c.total += 1;
            match s {
                UserStatus::Queued => c.queued += 1,
                UserStatus::Provisioning | UserStatus::Syncing | UserStatus::IncrementalSyncing => {
                    c.syncing += 1
                }
                UserStatus::Synced => c.synced += 1,
                UserStatus::Stopped => c.stopped += 1,
                UserStatus::Failed => c.failed += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(status: BatchStatus, next: Option<DateTime<Utc>>) -> Batch {
        Batch {
            status,
            next_sync_at: next,
            ..Batch::new(
                Name::parse("batch", "B").unwrap(),
                Name::parse("endpoint", "E").unwrap(),
                Utc::now(),
            )
        }
    }

    #[test]
    fn due_batches() {
        let now = Utc::now();
        assert!(batch(BatchStatus::Syncing, None).is_due(now));
        assert!(!batch(BatchStatus::Synced, None).is_due(now));
        assert!(batch(BatchStatus::Synced, Some(now - Duration::seconds(1))).is_due(now));
        assert!(!batch(BatchStatus::Synced, Some(now + Duration::hours(1))).is_due(now));
        assert!(!batch(BatchStatus::Stopped, Some(now)).is_due(now));
    }

    #[test]
    fn counts() {
        use UserStatus::*;
        let c = BatchCounts::from_statuses([Queued, Syncing, IncrementalSyncing, Synced, Failed]);
        assert_eq!(
            (c.total, c.queued, c.syncing, c.synced, c.failed),
            (5, 1, 2, 1, 1)
        );
    }
}
