//! Persistence of the control plane behind one trait, [`Store`].
//!
//! The store is the single source of truth: the CLI (and later the HTTP API) write
//! desired state into it, workers write progress and the message map. SQLite
//! ([`SqliteStore`]) is the embedded default; PostgreSQL ([`PostgresStore`]) lets many
//! workers share one state. [`open`] picks one from the state URL. Secrets are sealed by [`secrets::Sealer`] before they reach a table. Every
//! store can show itself ([`StateInspection`]): the whole state as stable text, and
//! the invariants it keeps, which the tests check after their steps.

pub mod dav;
pub mod directory;
pub mod domains;
mod inspect;
pub mod jobs;
pub mod licenses;
pub mod notifications;
mod postgres;
pub mod private_file;
pub mod provisioning;
mod rows;
pub mod secrets;
mod sqlite;
pub mod user_query;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cutover_model::{
    Batch, BatchStatus, EmailAddress, Endpoint, MigrationUser, PassStart, RecipientKind,
    SkippedCounts, SkippedKind, Target, UserStatus,
};
use secrecy::SecretString;

pub use dav::{DavIntent, DavItemKind, DavLedger, DavRecord, DavStore, DavSummary};
pub use directory::DirectoryStore;
pub use domains::{AcceptedDomain, DomainStore, EndpointDiscovery, MxCheck};
pub use inspect::{Invariant, InvariantViolation, StateInspection};
pub use jobs::{Job, JobEnd, JobKind, JobLease, JobStore, NewJob, Round, ThrottleState};
pub use licenses::{DisabledLogin, LicenseAssignment, LicenseSku, LicenseStore};
pub use notifications::{NotificationRecord, NotificationStore};
pub use postgres::{PostgresStore, redact_url};
pub use provisioning::{ProvisioningRecord, ProvisioningStore};
pub use sqlite::SqliteStore;
pub use user_query::{THROUGHPUT_BUCKET_SECONDS, ThroughputBucket, UserPage, UserQuery, UserSort};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot upgrade the state database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "unsupported state URL '{0}': use sqlite://PATH or postgres://USER@HOST[:PORT]/DATABASE \
         (postgresql:// too)"
    )]
    UnsupportedUrl(String),
    /// The URL is shown without its password.
    #[error("invalid state URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "a PostgreSQL state ('{url}') needs --key-file FILE (or CUTOVER_KEY_FILE): the key that \
         seals its secrets cannot live beside a database on a server; give a file only this \
         installation can read (it is created, 0600, when missing)"
    )]
    KeyFileRequired { url: String },
    #[error("{what} '{name}' already exists")]
    AlreadyExists { what: &'static str, name: String },
    #[error("{what} '{name}' was not found")]
    NotFound { what: &'static str, name: String },
    #[error(
        "every unit of license SKU '{sku}' is assigned ({units} of {units}); unassign it from \
         a user (`cutover license unassign USER {sku}`) or give it more units \
         (`cutover license sku set {sku} --units N`)"
    )]
    LicenseSkuFull { sku: String, units: u64 },
    #[error(
        "license SKU '{sku}' is assigned to {assigned} users: it cannot have fewer units \
         ({units}); unassign it from some first"
    )]
    LicenseSkuUnits {
        sku: String,
        units: u64,
        assigned: u64,
    },
    #[error("endpoint '{endpoint}' is used by batch '{batch}'; remove the batch first")]
    EndpointInUse { endpoint: String, batch: String },
    #[error(
        "a cutover batch already exists ('{existing}'): only one cutover batch may exist at a time; \
         remove it with `cutover batch remove {existing}` first"
    )]
    OneCutoverBatch { existing: String },
    #[error("cannot use the secrets key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secrets key file {} is not a valid key (32 bytes, base64)", path.display())]
    KeyFileInvalid { path: PathBuf },
    #[error("cannot seal the secret of {owner}")]
    Seal { owner: String },
    #[error(
        "cannot open the secret of {owner} with the key in {}: the key file does not match \
         this database; use the key file it was created with, or set the password again",
        key_file.display()
    )]
    Unseal { owner: String, key_file: PathBuf },
    #[error("the state database holds an invalid value: {0}")]
    Corrupt(String),
    #[error("cannot create the state database {}: {source}", path.display())]
    StateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database, a side file of it or the key file is open to group or others.
    #[error(transparent)]
    NotPrivate(#[from] private_file::CheckError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Opens the state at `url`: `sqlite://PATH` (the key file defaults to `PATH.key`) or
/// `postgres://...` / `postgresql://...` (the key file is required). Errors never show the
/// URL's password.
pub async fn open(url: &str, key_file: Option<&Path>) -> Result<Arc<dyn Store>> {
    if postgres::is_postgres_url(url) {
        let key_file = key_file.ok_or_else(|| StoreError::KeyFileRequired {
            url: redact_url(url),
        })?;
        Ok(Arc::new(PostgresStore::open(url, key_file).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, key_file).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// The path other files of an installation are named after (`PATH.api-token`,
/// `PATH.signing-key`): the SQLite database itself, or, for PostgreSQL, the key file, so
/// that they sit beside it. Pure: nothing is opened.
pub fn side_files_base(url: &str, key_file: Option<&Path>) -> Result<PathBuf> {
    if postgres::is_postgres_url(url) {
        key_file
            .map(Path::to_path_buf)
            .ok_or_else(|| StoreError::KeyFileRequired {
                url: redact_url(url),
            })
    } else {
        sqlite::database_path(url)
    }
}

/// A user to add to a new batch, from the users CSV or the source directory.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: EmailAddress,
    pub source_login: Option<String>,
    pub password: Option<SecretString>,
    /// A mailbox (every row of a users CSV), or what the directory says it is.
    pub kind: RecipientKind,
}

/// What a pass saw of one source folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderState {
    /// Wire name (modified UTF-7) on the source.
    pub src_name: Vec<u8>,
    pub src_uidvalidity: u32,
    /// Wire name on the target.
    pub dst_name: Vec<u8>,
    pub uidnext: Option<u32>,
    pub highest_modseq: Option<u64>,
    pub messages: u32,
    /// RFC 8474 MAILBOXID, when the source has OBJECTID: survives a rename.
    pub mailbox_id: Option<String>,
}

/// One message copied to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedMessage {
    pub src_uid: u32,
    pub dst_uidvalidity: Option<u32>,
    pub dst_uid: Option<u32>,
    pub size: u32,
    /// Source flags when it was copied.
    pub flags: Vec<String>,
}

/// A message a pass could not copy, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedItem {
    /// Source folder, wire name (modified UTF-7), as in the message map.
    pub src_name: Vec<u8>,
    /// Source folder, display form.
    pub folder: String,
    pub src_uidvalidity: u32,
    pub src_uid: u32,
    pub size: u32,
    pub kind: SkippedKind,
    /// The decoded Subject header; empty when the message could not be read.
    pub subject: String,
    /// What went wrong, with the server's answer.
    pub reason: String,
    /// When it was first skipped.
    pub skipped_at: chrono::DateTime<chrono::Utc>,
    /// When the admin approved it (`batch approve-skipped-items`).
    pub approved_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A message about to be appended to the target (written before the APPEND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub src_uidvalidity: u32,
    pub src_uid: u32,
    /// Target folder, wire name.
    pub dst_name: Vec<u8>,
    /// The message, if it landed, has a target UID at or above this.
    pub dst_uid_floor: u32,
    pub size: u32,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
}

/// Rows per multi-row statement: at 9 columns, well under the bound values SQLite and
/// PostgreSQL take in one statement (32,766 and 65,535).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// The copies to record, one per UID: a UID given twice ends as its last record, as
/// upserts row by row would leave it (and a multi-row upsert may not touch a row twice).
pub(crate) fn last_per_uid(copies: &[CopiedMessage]) -> Vec<&CopiedMessage> {
    let mut at: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let mut out: Vec<&CopiedMessage> = Vec::with_capacity(copies.len());
    for c in copies {
        match at.get(&c.src_uid) {
            Some(&i) => out[i] = c,
            None => {
                at.insert(c.src_uid, out.len());
                out.push(c);
            }
        }
    }
    out
}

/// The intents to record, one per message: the last one's folder, size and date, and the
/// lowest UID floor of them all, as upserts row by row would leave it.
pub(crate) fn merge_intents(intents: &[Intent]) -> Vec<Intent> {
    let mut at: std::collections::HashMap<(u32, u32), usize> = std::collections::HashMap::new();
    let mut out: Vec<Intent> = Vec::with_capacity(intents.len());
    for i in intents {
        match at.get(&(i.src_uidvalidity, i.src_uid)) {
            Some(&k) => {
                let floor = out[k].dst_uid_floor.min(i.dst_uid_floor);
                out[k] = Intent {
                    dst_uid_floor: floor,
                    ..i.clone()
                };
            }
            None => {
                at.insert((i.src_uidvalidity, i.src_uid), out.len());
                out.push(i.clone());
            }
        }
    }
    out
}

/// Sets a user's counters from the ledger (messages on the target through this
/// migration, their bytes, and what is skipped now), exact whatever passes failed,
/// stopped or died, and returns the skipped counts; the caller saves the user. What the
/// last pass counted of the source and where it started ([`Store::start_pass`]) are
/// taken from the store too, so saving a user read before that pass keeps them.
pub async fn count_from_ledger(
    store: &dyn Store,
    user: &mut MigrationUser,
) -> Result<SkippedCounts> {
    if let Some(saved) = store.user(user.email.as_str()).await? {
        user.stats.source_items = saved.stats.source_items;
        user.stats.source_bytes = saved.stats.source_bytes;
        user.pass_start = saved.pass_start;
    }
    let (copied, bytes) = store.copied_totals(user.email.as_str()).await?;
    user.stats.items_synced = copied;
    user.stats.bytes_synced = bytes;
    let counts = store.skipped_counts(user.email.as_str()).await?;
    user.stats.items_skipped = counts.total();
    user.stats.bad_items = counts.bad;
    user.stats.large_items = counts.large;
    Ok(counts)
}

/// The state of every migration, behind one interface so backends can differ.
#[async_trait]
pub trait Store:
    JobStore
    + DomainStore
    + DirectoryStore
    + ProvisioningStore
    + DavStore
    + NotificationStore
    + LicenseStore
    + StateInspection
    + Send
    + Sync
{
    /// Closes the store, waiting for its connections to finish (SQLite's files are closed
    /// when this returns).
    async fn close(&self);

    async fn set_target(&self, target: &Target, password: &SecretString) -> Result<()>;
    async fn target(&self) -> Result<Option<Target>>;
    /// Remembers the target's case rule for folder names found by a probe, unless the
    /// admin set one (or an earlier probe found it).
    async fn remember_target_folds_case(&self, folds: bool) -> Result<()>;
    async fn target_password(&self) -> Result<SecretString>;

    async fn insert_endpoint(&self, endpoint: &Endpoint, password: &SecretString) -> Result<()>;
    /// Replaces the endpoint's settings; the password only when one is given.
    async fn update_endpoint(
        &self,
        endpoint: &Endpoint,
        password: Option<&SecretString>,
    ) -> Result<()>;
    async fn endpoint(&self, name: &str) -> Result<Option<Endpoint>>;
    async fn endpoint_password(&self, name: &str) -> Result<SecretString>;
    async fn endpoints(&self) -> Result<Vec<Endpoint>>;
    async fn remove_endpoint(&self, name: &str) -> Result<()>;

    /// Creates the cutover batch and its users in one transaction; fails if any
    /// cutover batch exists already.
    async fn create_batch(&self, batch: &Batch, users: &[NewUser]) -> Result<()>;
    async fn batch(&self, name: &str) -> Result<Option<Batch>>;
    async fn batches(&self) -> Result<Vec<Batch>>;
    async fn update_batch(&self, batch: &Batch) -> Result<()>;
    /// Moves the batch's status from `from` to `to` and nothing else (but, with
    /// `synced = Some((at, next))`, the end of a pass: initial sync time if unset, last
    /// sync `at`, next sync `next`), unless its status is no longer `from`: false then,
    /// and nothing written. The scheduler's writes, which the admin's cannot undo.
    async fn set_batch_status(
        &self,
        name: &str,
        from: BatchStatus,
        to: BatchStatus,
        synced: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<bool>;
    /// Removes the batch, its users and their sync state (mail on the target stays).
    async fn remove_batch(&self, name: &str) -> Result<()>;

    /// Users in CSV order, optionally of one batch and/or one status.
    async fn users(
        &self,
        batch: Option<&str>,
        status: Option<UserStatus>,
    ) -> Result<Vec<MigrationUser>>;
    /// A page of a batch's users: filtered, sorted, sliced by the database.
    async fn users_page(&self, batch: &str, query: &UserQuery) -> Result<UserPage>;
    async fn user(&self, email: &str) -> Result<Option<MigrationUser>>;
    async fn user_password(&self, email: &str) -> Result<Option<SecretString>>;
    /// Saves status, error, timestamps and statistics of a user.
    async fn update_user(&self, user: &MigrationUser) -> Result<()>;

    async fn folder_states(&self, email: &str) -> Result<Vec<FolderState>>;
    async fn save_folder_state(&self, email: &str, state: &FolderState) -> Result<()>;
    /// Source UIDs of a folder (at one UIDVALIDITY) already on the target.
    async fn copied_uids(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
    ) -> Result<Vec<u32>>;
    /// Records intents (messages about to be appended), in one transaction.
    async fn record_intents(
        &self,
        email: &str,
        src_folder: &[u8],
        intents: &[Intent],
    ) -> Result<()>;
    /// The intents left for a source folder (by a crash or a failed APPEND).
    async fn intents(&self, email: &str, src_folder: &[u8]) -> Result<Vec<Intent>>;
    /// Whether any intent of the user is left, in any folder (one query, for a pass that
    /// may end at a glance).
    async fn has_intents(&self, email: &str) -> Result<bool>;
    /// Forgets intents whose message did not land on the target.
    async fn drop_intents(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        src_uids: &[u32],
    ) -> Result<()>;
    /// Target UIDs (at one target UIDVALIDITY) that hold messages of a source folder.
    async fn copied_dst_uids(
        &self,
        email: &str,
        src_folder: &[u8],
        dst_uidvalidity: u32,
    ) -> Result<Vec<u32>>;
    /// The copied messages of a source folder at one UIDVALIDITY.
    async fn copied_messages(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
    ) -> Result<Vec<CopiedMessage>>;
    /// Records the source flags of copied messages after their change was applied.
    async fn update_flags(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        flags: &[(u32, Vec<String>)],
    ) -> Result<()>;
    /// Forgets messages expunged on the source: their copy records and skipped items.
    async fn forget_messages(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        src_uids: &[u32],
    ) -> Result<()>;
    /// Whether the source subscribed each folder at the last pass (wire name -> subscribed);
    /// folders no pass recorded are absent.
    async fn subscriptions_seen(&self, email: &str) -> Result<Vec<(Vec<u8>, bool)>>;
    /// Records what a pass saw of the source's subscriptions, in one transaction.
    async fn set_subscriptions_seen(&self, email: &str, seen: &[(Vec<u8>, bool)]) -> Result<()>;
    /// Everything recorded about a source folder: state, messages, intents, skipped,
    /// subscription.
    async fn forget_folder(&self, email: &str, src_folder: &[u8]) -> Result<()>;
    /// A source folder was renamed: its records follow it, except the subscription seen,
    /// which is forgotten (servers differ on whether RENAME moves subscriptions, so the
    /// new name's subscription is not a change of the old one's).
    async fn rename_folder(
        &self,
        email: &str,
        from: &[u8],
        to: &[u8],
        dst_name: &[u8],
    ) -> Result<()>;
    /// The digest of the source's listing at the end of the user's last complete pass
    /// (`None` before one).
    async fn source_listing(&self, email: &str) -> Result<Option<String>>;
    async fn set_source_listing(&self, email: &str, digest: Option<&str>) -> Result<()>;
    /// A user's pass has made its plan: what the source holds as it counted it, and
    /// where the pass starts copying from. Touches only those columns.
    async fn start_pass(
        &self,
        email: &str,
        source_items: u64,
        source_bytes: u64,
        start: &PassStart,
    ) -> Result<()>;
    /// The user's pass waits until `until` because a server refused for load (`None`:
    /// it does not wait). Touches only that column.
    async fn set_throttled(
        &self,
        email: &str,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<()>;
    /// What a source mailbox holds as sized before its first pass (for the order of the
    /// initial sync and the dashboard); the first pass's own count replaces it.
    async fn set_source_size(
        &self,
        email: &str,
        source_items: u64,
        source_bytes: u64,
    ) -> Result<()>;
    /// Messages landed on the target during a pass: the user's counters move on (the
    /// pass's end counts them again from the message map) and the batch's throughput
    /// bucket of `at` grows. Touches only those columns.
    async fn record_progress(
        &self,
        email: &str,
        messages: u64,
        bytes: u64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// A batch's throughput buckets from `since` on, oldest first.
    async fn throughput(
        &self,
        batch: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ThroughputBucket>>;

    /// How many messages of a user are on the target through this migration, and their
    /// bytes (the message map, so exact whatever passes were interrupted).
    async fn copied_totals(&self, email: &str) -> Result<(u64, u64)>;
    /// Records copied messages and removes their intents, all in one transaction.
    /// Records copied messages, all in one transaction; a copied message that an
    /// earlier pass skipped is no longer skipped.
    async fn record_copies(
        &self,
        email: &str,
        src_folder: &[u8],
        src_uidvalidity: u32,
        copies: &[CopiedMessage],
    ) -> Result<()>;

    /// Records a skipped message; skipped again, it keeps its first time and approval.
    async fn record_skipped(&self, email: &str, item: &SkippedItem) -> Result<()>;
    async fn skipped_items(&self, email: &str) -> Result<Vec<SkippedItem>>;
    /// What a user has skipped now, by kind and approval.
    async fn skipped_counts(&self, email: &str) -> Result<SkippedCounts>;
    /// Skipped items of a batch's users that wait for the admin's approval.
    async fn unapproved_skipped_items(&self, batch: &str) -> Result<u64>;
    /// Approves every item skipped so far by the batch's users, and records the time on
    /// the batch and on each user; returns how many items were newly approved.
    async fn approve_skipped_items(
        &self,
        batch: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64>;

    /// Users of a batch whose removals the brake holds.
    async fn users_with_held_removals(&self, batch: &str) -> Result<u64>;
    /// Approves the held removals of a batch's users (or of one of them): their next pass
    /// makes them. Returns the users approved; fails if `user` is not in the batch.
    async fn approve_removals(
        &self,
        batch: &str,
        user: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64>;
    /// The pass used the approval given at `at`: it is spent (a later approval stays).
    async fn spend_removal_approval(
        &self,
        email: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn side_files_sit_beside_the_sqlite_database_or_the_key_file() {
        assert_eq!(
            side_files_base("sqlite:///var/lib/cutover/state.db", None).unwrap(),
            Path::new("/var/lib/cutover/state.db")
        );
        let key = Path::new("/etc/cutover/state.key");
        assert_eq!(
            side_files_base("postgres://u:pw@db.test/cutover", Some(key)).unwrap(),
            key
        );
        let err = side_files_base("postgres://u:pw@db.test/cutover", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--key-file") && err.contains("CUTOVER_KEY_FILE") && !err.contains("pw@"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_unknown_or_keyless_url_is_refused_without_its_password() {
        let err = open("mysql://root:hunter2@db.test/x", None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("sqlite://PATH")
                && err.contains("postgres://")
                && !err.contains("hunter2"),
            "{err}"
        );
        let err = open("postgresql://root:hunter2@db.test/x", None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("--key-file") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
