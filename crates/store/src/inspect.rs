//! The store can show itself: the whole persisted state as stable text
//! ([`StateInspection::dump_state`]), and the rules that state keeps whatever happened to
//! the processes that wrote it ([`StateInspection::check_invariants`]).
//!
//! Tests call both after their steps (the store's own tests, and the end-to-end tests
//! through `cutover state check` after every `cutover run`), so that a bug that leaves the
//! ledger inconsistent shows where it happens, not three passes later.
//!
//! Each backend does the reading (its SQL); the formatting helpers and the rules'
//! names live here so that every backend dumps and reports the same way.
//!
//! Not invariants, though they look like ones:
//! * "every copied message and intent belongs to a folder state of its user": a pass
//!   saves a folder's state when it is done with the folder (`copy::copy_mailbox`,
//!   `FolderDone`), after recording its copies, so during the first pass, and after a
//!   first pass stopped, killed or failed midway, messages have no folder row yet.
//!   (`forget_folder` and `rename_folder` do keep the four tables together.)
//! * "every mapping has an intent": an intent is removed in the transaction that records
//!   its copy, so a mapping never has one.
//! * "no owner holds two leases": a worker holds one lease per mailbox it runs; one job
//!   has at most one lease by its primary key.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cutover_imap::MailboxName;
use cutover_model::UserStatus;

use crate::Result;

pub(crate) mod read;

/// A rule of the persisted state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// At most one batch exists: a cutover batch holds every mailbox (`create_batch`
    /// refuses a second one).
    OneCutoverBatch,
    /// No two copied messages of a user sit on the same target UID of one target folder
    /// at one target UIDVALIDITY: that would mean one message on the target stands for
    /// two source messages, so one of them is missing there.
    UniqueTargetUid,
    /// No intent outlives a finished pass: every pass resolves the intents of the folders
    /// it visits before copying, so an intent written before the user's last successful
    /// pass ended (`last_synced_at`) was forgotten by it.
    NoIntentAfterFinishedPass,
    /// A user's counters equal the ledger once no pass of it runs: `items_synced` and
    /// `bytes_synced` are the number and size of its copied messages, `bad_items`,
    /// `large_items` and `items_skipped` its skipped items.
    CountersMatchLedger,
    /// A skipped item is not also a copied message (recording the copy removes the skip).
    SkippedNotCopied,
    /// A lease was acquired before its last heartbeat, which is before it expires.
    LeaseTimesInOrder,
}

impl Invariant {
    pub const ALL: &'static [Invariant] = &[
        Invariant::OneCutoverBatch,
        Invariant::UniqueTargetUid,
        Invariant::NoIntentAfterFinishedPass,
        Invariant::CountersMatchLedger,
        Invariant::SkippedNotCopied,
        Invariant::LeaseTimesInOrder,
    ];

    /// The rule's stable name, as `cutover state check` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::OneCutoverBatch => "one-cutover-batch",
            Invariant::UniqueTargetUid => "unique-target-uid",
            Invariant::NoIntentAfterFinishedPass => "no-intent-after-finished-pass",
            Invariant::CountersMatchLedger => "counters-match-ledger",
            Invariant::SkippedNotCopied => "skipped-not-copied",
            Invariant::LeaseTimesInOrder => "lease-times-in-order",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One place where the state breaks a rule: the rule, and the rows that break it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantViolation {
    pub invariant: Invariant,
    pub detail: String,
}

impl InvariantViolation {
    pub fn new(invariant: Invariant, detail: impl Into<String>) -> Self {
        Self {
            invariant,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// The whole state as text, and its invariants; every [`crate::Store`] has them.
#[async_trait]
pub trait StateInspection: Send + Sync {
    /// Every table that matters, one line per row, sorted by natural keys: target,
    /// endpoints, accepted domains and MX checks, batches, users, folders, the message
    /// map, intents, skipped items, rounds, jobs (with their leases), throttles. Times show as `<time>` (`-` when unset),
    /// random tokens and lease owners' ids as `<redacted>`; sealed passwords are never
    /// read (only whether one is stored). Folder names show decoded, with their wire
    /// bytes when those differ. Holds the whole message map in memory: for tests and
    /// for looking at a state by hand, not for a million-message production state.
    async fn dump_state(&self) -> Result<String>;

    /// Checks every [`Invariant`] over one consistent read of the state; `Ok` with no
    /// violation when the state is consistent. `Err` only when the state cannot be read.
    async fn check_invariants(&self) -> Result<Vec<InvariantViolation>>;
}

/// Whether a pass of the user may be running now, so that its counters may lag the
/// ledger (`record_copies` moves them as it goes, but forgetting messages does not, and
/// skipped items are counted at the end of the pass). A worker killed mid-pass leaves
/// its user in one of these too, until the next pass or `batch stop` settles it.
pub(crate) fn in_a_pass(status: UserStatus) -> bool {
    matches!(
        status,
        UserStatus::Syncing | UserStatus::IncrementalSyncing | UserStatus::Provisioning
    )
}

/// A folder name for the dump: its display form (modified UTF-7 decoded), quoted and
/// escaped, and its wire bytes when they differ from it or are not ASCII (a server that
/// sends raw 8-bit names), escaped with non-ASCII bytes as `\xNN`.
pub(crate) fn folder(wire: &[u8]) -> String {
    let display = MailboxName::from_wire(wire.to_vec()).to_display();
    if display.as_bytes() == wire && wire.is_ascii() {
        format!("{display:?}")
    } else {
        format!("{display:?} (wire \"{}\")", wire.escape_ascii())
    }
}

/// A time, redacted: whether it is set is part of the state, its value is not stable.
pub(crate) fn time(t: Option<DateTime<Utc>>) -> &'static str {
    if t.is_some() { "<time>" } else { "-" }
}

/// A text value: bare when it is one plain word (`Synced`, `a@b.test`, `127.0.0.1`),
/// else quoted and escaped (control characters included); `-` when unset.
pub(crate) fn text(t: Option<&str>) -> String {
    let plain = |t: &str| {
        !t.is_empty()
            && t != "-"
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._@:+/-*{}$".contains(c))
    };
    match t {
        None => "-".to_string(),
        Some(t) if plain(t) => t.to_string(),
        Some(t) => format!("{t:?}"),
    }
}

/// A number that may be unset.
pub(crate) fn num<T: fmt::Display>(n: Option<T>) -> String {
    n.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// A lease owner (`run@HOST/PID/START`): what kind of worker it is, not which one.
pub(crate) fn owner(owner: &str) -> String {
    match owner.split_once('@') {
        Some((kind, _)) => format!("{kind:?}@<redacted>"),
        None => "<redacted>".to_string(),
    }
}

/// For tests: panics, naming every violation, unless the state keeps every invariant.
#[cfg(test)]
pub(crate) async fn assert_invariants(store: &dyn StateInspection) {
    let violations = store
        .check_invariants()
        .await
        .expect("the state can be read");
    assert!(
        violations.is_empty(),
        "the state breaks its invariants:\n{}\n{}",
        violations
            .iter()
            .map(|v| format!("  {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        store.dump_state().await.unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_show_decoded_with_their_wire_bytes_when_different() {
        assert_eq!(folder(b"INBOX"), r#""INBOX""#);
        assert_eq!(folder(b"R&-D"), r#""R&D" (wire "R&-D")"#);
        assert_eq!(
            folder(b"&AMk-l&AOk-ments envoy&AOk-s"),
            r#""Éléments envoyés" (wire "&AMk-l&AOk-ments envoy&AOk-s")"#
        );
        // Raw 8-bit names (not modified UTF-7) keep their bytes visible.
        assert_eq!(
            folder("Ärger".as_bytes()),
            r#""Ärger" (wire "\xc3\x84rger")"#
        );
        assert_eq!(folder(b"x\xff"), "\"x\u{fffd}\" (wire \"x\\xff\")");
        // Control characters never reach the output raw.
        assert_eq!(folder(b"a\x1b[2Jb"), r#""a\u{1b}[2Jb""#);
    }

    #[test]
    fn text_is_bare_only_when_it_cannot_be_misread() {
        assert_eq!(text(Some("Synced")), "Synced");
        assert_eq!(text(Some("a@b.test")), "a@b.test");
        assert_eq!(
            text(Some("template:{user}*{admin}")),
            "template:{user}*{admin}"
        );
        assert_eq!(text(None), "-");
        assert_eq!(text(Some("-")), r#""-""#);
        assert_eq!(text(Some("")), r#""""#);
        assert_eq!(text(Some("Sent Items")), r#""Sent Items""#);
        assert_eq!(text(Some("a=b")), r#""a=b""#);
        assert_eq!(text(Some("\\Seen $X")), r#""\\Seen $X""#);
        assert_eq!(text(Some("x\u{9b}y")), r#""x\u{9b}y""#);
    }

    #[test]
    fn every_invariant_has_a_distinct_name() {
        let mut names: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Invariant::ALL.len());
    }
}
