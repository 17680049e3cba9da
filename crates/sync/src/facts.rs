//! What a pass observed of one mailbox, as plain data: the facts [`crate::observe`]
//! reads from both servers and the store, and [`crate::plan`] turns into steps. Nothing
//! here reads or writes anything; a test builds these by hand.

use std::collections::{BTreeSet, HashMap};

use cutover_imap::MessageMeta;
use cutover_store::{CopiedMessage, FolderState};

use crate::folder_map::FolderMapping;
use crate::incremental::{KnownMessage, SourceView};

/// Everything the plan of one mailbox's pass is made from.
#[derive(Debug, Clone, Default)]
pub struct MailboxFacts {
    /// Where each source folder goes, wire names on both sides, both namespaces applied.
    pub mappings: Vec<FolderMapping>,
    /// Source folders in other users' or shared namespaces (display names).
    pub folders_left_out: Vec<String>,
    /// Source folders an earlier pass saw (by source wire name, renames followed): they
    /// are never created again.
    pub known_folders: BTreeSet<Vec<u8>>,
    /// Folders renamed on the source since the last pass.
    pub renames: Vec<RenamedFolder>,
    /// Folders the source proved gone (and no new folder took their UIDVALIDITY).
    pub gone: Vec<GoneFolder>,
    /// The source's subscriptions as the last pass saw them (source wire name).
    pub subscriptions_seen: HashMap<Vec<u8>, bool>,
    /// The target's subscriptions now (target wire names).
    pub target_subscribed: BTreeSet<Vec<u8>>,
    /// Each selectable source folder, looked at.
    pub folders: Vec<FolderFacts>,
    /// Messages this migration put on the target for the mailbox (the brake's base).
    pub migrated: u64,
    /// The target's case rule for folder names, found by this pass's probe (to remember).
    pub learned_folds_case: Option<bool>,
    /// The target's hierarchy separator.
    pub target_separator: Option<char>,
    /// The source's listing and the batch's folder rules, digested ([`crate::listing`]):
    /// kept once the pass completes, for the next pass's glance ([`crate::glance`]).
    pub source_listing: String,
    /// Source parents that hold only subfolders (`\Noselect`) whose target folders can
    /// hold mail: a shape the target cannot keep, reported on the user (source names).
    pub parents_made_selectable: Vec<Vec<u8>>,
}

/// A source folder renamed since the last pass: same UIDVALIDITY, new name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenamedFolder {
    pub src_from: Vec<u8>,
    pub src_to: Vec<u8>,
    /// The target folder's name when the rename is applied (after its parents' renames).
    pub dst_from: Vec<u8>,
    pub dst_to: Vec<u8>,
    /// The target still has the old name and not the new one (else its parent's rename
    /// already moved it, or it is gone): only then is it renamed on the target.
    pub rename_on_target: bool,
    /// The old name the target subscribes: RENAME leaves that subscription behind on
    /// some servers (Dovecot), so it is dropped with the rename.
    pub unsubscribe: Option<Vec<u8>>,
}

/// A source folder proven gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneFolder {
    pub src_name: Vec<u8>,
    pub state: FolderState,
    /// Messages this migration put in its target folder.
    pub migrated: u64,
    /// What its target folder holds now.
    pub target: GoneTarget,
}

/// The target folder of a folder gone from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneTarget {
    /// It does not exist (any more).
    Missing,
    /// It exists and holds `foreign` messages that did not come from the source.
    Holds { foreign: u64 },
}

/// One source folder, looked at.
#[derive(Debug, Clone, Default)]
pub struct FolderFacts {
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
    pub messages: u32,
    /// RFC 8474 MAILBOXID, when the source has one.
    pub mailbox_id: Option<String>,
    /// Nothing changed since the last pass (STATUS said so); nothing was selected.
    pub unchanged: bool,
    /// Every message of the folder is accounted for (a whole listing as long as EXISTS,
    /// a delta that adds up): only then may the pass remove from the target what the
    /// source no longer has, and move the folder's checkpoint on.
    pub complete: bool,
    /// What the source shows (whole or as a delta since the last pass).
    pub view: SourceView,
    /// Metadata of the messages that may be copied (flags and date for the APPEND).
    pub metas: HashMap<u32, MessageMeta>,
    /// The folder's messages earlier passes copied, at this UIDVALIDITY, including what
    /// `intents` and `rematched` found on the target.
    pub known: Vec<KnownMessage>,
    /// Messages an interrupted pass left in flight, looked for on the target.
    pub intents: Option<IntentsFound>,
    /// The source folder has a new UIDVALIDITY: what of it is already on the target.
    pub rematched: Option<Rematched>,
    /// Skipped messages of the folder that are gone from the source.
    pub skipped_gone: Vec<u32>,
}

/// Intents of an interrupted pass, resolved by comparing bytes on both servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntentsFound {
    /// Found on the target: recorded as copied.
    pub found: Vec<CopiedMessage>,
    /// Not on the target: copied again.
    pub lost: Vec<u32>,
    /// Intents of an earlier UIDVALIDITY of the source folder (UIDVALIDITY, UIDs): void.
    pub stale: Vec<(u32, Vec<u32>)>,
}

/// A source folder whose UIDVALIDITY changed, matched against the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rematched {
    pub old_validity: u32,
    /// The UIDs recorded under the old UIDVALIDITY: void now.
    pub old_uids: Vec<u32>,
    /// Messages of the new UIDVALIDITY already on the target.
    pub found: Vec<CopiedMessage>,
}
