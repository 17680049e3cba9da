//! The shared vocabulary of a mailbox pass: what a pass is given ([`MailboxJob`]), what
//! each folder's work is (`FolderPass` to look at it, `FolderWork` to apply its
//! message steps), what it reports ([`PassOutcome`]) and how it fails ([`SyncError`]).
//! A leaf, like [`crate::facts`]: observe, plan and apply, the modules they use, and the
//! executor that runs them all import it, and it imports none of them, so nothing
//! imports another through the orchestrator.

use std::collections::HashMap;

use cutover_imap::{ImapError, MessageMeta, Session};
use cutover_store::{FolderState, Store, StoreError};

use crate::budget::MemoryBudget;
use crate::credentials::Side;
use crate::incremental::FlagUpdate;
use crate::planner::SourceMessage;
use crate::proof::{BrakeRule, HeldRemovals};
use crate::stop::{StopReason, StopSignal};

/// Which server an error came from, for the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Target => "target",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot connect to the {role} server {addr}: {source}")]
    Connect {
        role: Role,
        addr: String,
        source: ImapError,
    },
    #[error("cannot log in to the {role} server {addr} as {identity}: {source}")]
    Login {
        role: Role,
        addr: String,
        identity: String,
        source: ImapError,
    },
    #[error("{role} server, folder '{folder}': {source}")]
    Folder {
        role: Role,
        folder: String,
        source: ImapError,
    },
    #[error("{role} server: {source}")]
    Imap { role: Role, source: ImapError },
    #[error("state database: {0}")]
    Store(#[from] StoreError),
    /// The pass was asked to stop; what it finished is recorded.
    #[error("stopped ({0:?})")]
    Stopped(StopReason),
}

impl SyncError {
    /// Whether trying the pass again later may help (dropped connection, timeout,
    /// server busy), as opposed to a wrong password or a missing mailbox.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Connect { source, .. }
            | SyncError::Folder { source, .. }
            | SyncError::Imap { source, .. } => source.is_transient(),
            SyncError::Login { source, .. } => {
                !matches!(source, ImapError::AuthenticationFailed { .. }) && source.is_transient()
            }
            SyncError::Store(_) | SyncError::Stopped(_) => false,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassOutcome {
    pub folders: u64,
    pub source_items: u64,
    pub copied: u64,
    pub bytes: u64,
    pub skipped: u64,
    /// Messages whose flags changed on the target.
    pub flags_changed: u64,
    /// Messages removed from the target because they were expunged on the source.
    pub removed: u64,
    /// Folders renamed or deleted on the target after the source.
    pub folders_renamed: u64,
    pub folders_deleted: u64,
    /// Removals the brake held for the admin's approval (nothing of them was done).
    pub held_removals: Option<HeldRemovals>,
    /// Source folders left out because they are in other users' or shared namespaces
    /// (display names).
    pub folders_left_out: Vec<String>,
    /// What the pass could not keep of the source's folders (a name the target refused),
    /// for the admin: it is reported on the user, never only logged.
    pub folder_warnings: Vec<String>,
    pub millis: u64,
    /// The source showed no change since the last complete pass: the pass ended there,
    /// without the target ([`crate::glance`]); what that pass found still holds.
    pub source_unchanged: bool,
}

/// Everything a pass needs to know about one mailbox.
#[derive(Debug, Clone)]
pub struct MailboxJob {
    pub email: String,
    /// Checked between chunks and folders.
    pub stop: StopSignal,
    /// Message bytes in flight, shared by every mailbox of the run.
    pub memory: MemoryBudget,
    pub source: Side,
    pub target: Side,
    pub excluded_folders: Vec<String>,
    /// The batch's `--folder-map`.
    pub folder_map: Vec<cutover_model::FolderMapEntry>,
    /// When a pass's removals wait for the admin (the batch's threshold).
    pub removal_brake: BrakeRule,
    /// The admin approved the removals the brake held: this pass makes them.
    pub removals_approved: bool,
    /// The target's case rule for folder names, when set or found before; `None`: probe.
    pub target_folds_case: Option<bool>,
    /// The user's last pass completed (it is Synced): this pass may end at a glance at the
    /// source when nothing changed there ([`crate::glance`]).
    pub may_glance: bool,
}

/// What the source server lets a pass use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceModes {
    /// CONDSTORE: HIGHESTMODSEQ and CHANGEDSINCE.
    pub condstore: bool,
    /// QRESYNC enabled: VANISHED.
    pub qresync: bool,
    /// OBJECTID (RFC 8474): EXAMINE names the folder's MAILBOXID.
    pub object_ids: bool,
}

/// What looking at one folder needs: both sessions, the records, and the folder's wire
/// names on each side.
pub(crate) struct FolderPass<'a> {
    pub(crate) src: &'a mut Session,
    pub(crate) dst: &'a mut Session,
    pub(crate) store: &'a dyn Store,
    pub(crate) email: &'a str,
    pub(crate) src_folder: &'a [u8],
    pub(crate) dst_folder: &'a [u8],
    /// The target folder's name now, for reading it: its old name when this pass
    /// follows its rename (the target folder is renamed when the plan is applied).
    pub(crate) dst_now: &'a [u8],
    /// The name the store knows the folder by: the source's name before a rename this
    /// pass follows (the records move when the plan is applied).
    pub(crate) records: &'a [u8],
}

/// One folder's message steps, as the copy pipeline applies them: flag changes and
/// removals when the folder's turn comes, then the copies, then the checkpoint.
#[derive(Debug, Default)]
pub(crate) struct FolderWork {
    pub(crate) src: Vec<u8>,
    pub(crate) dst: Vec<u8>,
    pub(crate) uid_validity: u32,
    pub(crate) flag_updates: Vec<FlagUpdate>,
    pub(crate) removals: Vec<(u32, Option<u32>)>,
    pub(crate) copies: Vec<SourceMessage>,
    /// Flags and dates of the messages to copy, for the APPEND.
    pub(crate) metas: HashMap<u32, MessageMeta>,
    /// The folder's state for the next pass, and whether it is settled (then, and only
    /// if every message to copy was answered for, HIGHESTMODSEQ is saved).
    pub(crate) checkpoint: Option<(FolderState, bool)>,
    /// The plan's steps for the folder, logged as they are applied, and whether each is
    /// bookkeeping (the checkpoint, logged at debug).
    pub(crate) steps: Vec<(String, bool)>,
}
