//! When the source's answers prove something, and when they only suggest it.
//!
//! After the MX switch the target copy *is* the users' mail, so a pass removes nothing
//! on a guess. A reply line that did not arrive (a dropped connection, a proxy, a server
//! bug) must read as "unknown", never as "deleted". The rules, as pure functions:
//!
//! * a listing of a folder proves an absence only when it is complete: it holds as many
//!   messages as the EXISTS of the same selection ([`listing_is_complete`]);
//! * a delta since the last pass (CONDSTORE/QRESYNC) is trusted only when it adds up
//!   with the last pass's count and today's EXISTS ([`delta_adds_up`]); otherwise the
//!   folder is listed whole;
//! * a folder missing from LIST is gone only when the server answers a direct STATUS of
//!   it with "does not exist" ([`FolderFate::of_status`]);
//! * even proven removals wait for the admin when one pass would remove much of a
//!   mailbox ([`brake`]).

use std::collections::BTreeSet;
use std::fmt;

/// Whether a listing of a selected folder is known to be whole: the server said how many
/// messages the folder holds (EXISTS) and the listing has exactly that many distinct UIDs.
/// A selection without EXISTS proves nothing.
pub fn listing_is_complete(exists: Option<u32>, listed: &BTreeSet<u32>) -> bool {
    exists.is_some_and(|n| listed.len() as u64 == u64::from(n))
}

/// What a delta pass saw of a folder since the last pass's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta<'a> {
    /// Messages in the folder when the checkpoint was taken.
    pub messages_then: u32,
    /// UIDNEXT of the checkpoint: messages below it were all known then.
    pub uid_next_then: u32,
    /// UIDs the store knows (copied) in this folder.
    pub known: &'a BTreeSet<u32>,
    /// Reported expunged since (QRESYNC VANISHED); may name UIDs that never existed.
    pub vanished: Option<&'a BTreeSet<u32>>,
    /// Every UID present now (UID SEARCH ALL), when the server has no QRESYNC.
    pub present: Option<&'a BTreeSet<u32>>,
    /// With QRESYNC, the UIDs at or above the checkpoint's UIDNEXT (UID SEARCH UID N:*):
    /// a second account of the new messages, so that a lost FETCH line cannot be offset
    /// by a lost VANISHED one.
    pub present_new: Option<&'a BTreeSet<u32>>,
    /// New messages listed (UID at or above `uid_next_then`).
    pub new: &'a BTreeSet<u32>,
    /// EXISTS of the selection the delta was read in.
    pub exists: Option<u32>,
}

/// Whether a delta accounts for every message: what was there, less what vanished, plus
/// what is new, is what the folder holds now. A VANISHED, SEARCH or FETCH line that did
/// not arrive breaks the sum, and the folder is then listed whole instead.
///
/// With QRESYNC the expunged messages are those VANISHED names among the known ones below
/// the checkpoint's UIDNEXT, and UID SEARCH must find exactly the new messages listed.
/// Without it, UID SEARCH ALL must hold EXISTS UIDs, and its UIDs at or above the
/// checkpoint must be exactly the new ones listed.
pub fn delta_adds_up(d: &Delta<'_>) -> bool {
    let Some(exists) = d.exists else {
        return false;
    };
    let exists = u64::from(exists);
    match (d.vanished, d.present) {
        (_, Some(present)) => {
            let above: BTreeSet<u32> = present.range(d.uid_next_then..).copied().collect();
            present.len() as u64 == exists && above == *d.new
        }
        (Some(vanished), None) => {
            if d.present_new != Some(d.new) {
                return false;
            }
            let gone = vanished
                .iter()
                .filter(|u| **u < d.uid_next_then && d.known.contains(u))
                .count() as u64;
            let then = u64::from(d.messages_then);
            then >= gone && then - gone + d.new.len() as u64 == exists
        }
        // Neither: nothing tells what was expunged.
        (None, None) => false,
    }
}

/// What a direct check says of a folder that LIST did not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderFate {
    /// The server says it does not exist: it is gone (or renamed).
    Gone,
    /// The server answers for it: the LIST reply lacked a line; nothing is done to it.
    StillThere,
    /// Neither (another NO, an error): nothing is done to it this pass.
    Unknown,
}

impl FolderFate {
    /// From STATUS's outcome: `Ok` when it answered; `Err(Some((code, text)))` for a NO.
    /// Gone only on `[NONEXISTENT]` (RFC 5530) or a NO whose text says the mailbox does
    /// not exist (servers without RFC 5530 codes).
    pub fn of_status(answer: Result<(), Option<(Option<&str>, &str)>>) -> FolderFate {
        match answer {
            Ok(()) => FolderFate::StillThere,
            Err(Some((code, text))) => {
                let code_says = code.is_some_and(|c| {
                    c.split_ascii_whitespace()
                        .next()
                        .is_some_and(|n| n.eq_ignore_ascii_case("NONEXISTENT"))
                });
                let t = text.to_ascii_lowercase();
                let text_says = ["not exist", "doesn't exist", "no such mailbox", "not found"]
                    .iter()
                    .any(|s| t.contains(s));
                if code_says || text_says {
                    FolderFate::Gone
                } else {
                    FolderFate::Unknown
                }
            }
            Err(None) => FolderFate::Unknown,
        }
    }
}

/// Removals one pass would make in one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderRemovals {
    /// The folder, display form.
    pub folder: String,
    /// Messages to remove from the target.
    pub messages: u64,
    /// The whole target folder would be deleted (gone on the source), holding this many
    /// migrated messages.
    pub whole_folder: bool,
}

/// The brake's settings, per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrakeRule {
    /// Hold when a pass would remove more than this share of the mailbox's migrated
    /// messages (percent).
    pub percent: u32,
    /// ... and at least this many: deleting a few messages of a small mailbox is ordinary.
    pub min_messages: u64,
}

impl BrakeRule {
    pub const DEFAULT_PERCENT: u32 = 10;
    pub const MIN_MESSAGES: u64 = 10;

    pub fn with_percent(percent: u32) -> Self {
        BrakeRule {
            percent,
            min_messages: Self::MIN_MESSAGES,
        }
    }
}

impl Default for BrakeRule {
    fn default() -> Self {
        BrakeRule::with_percent(Self::DEFAULT_PERCENT)
    }
}

/// Removals held for the admin's approval, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRemovals {
    pub messages: u64,
    /// For the admin: how many and where.
    pub detail: String,
}

impl fmt::Display for HeldRemovals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Whether a pass's removals go ahead or wait for `batch approve-removals`: they wait when
/// they would delete a whole folder that holds migrated mail, or remove more than the
/// rule's share of the mailbox's migrated messages (`migrated`), unless the admin
/// approved them.
pub fn brake(
    removals: &[FolderRemovals],
    migrated: u64,
    rule: BrakeRule,
    approved: bool,
) -> Option<HeldRemovals> {
    let messages: u64 = removals.iter().map(|r| r.messages).sum();
    let whole: Vec<&FolderRemovals> = removals
        .iter()
        .filter(|r| r.whole_folder && r.messages > 0)
        .collect();
    let share_over = messages >= rule.min_messages
        && u128::from(messages) * 100 > u128::from(migrated) * u128::from(rule.percent);
    if approved || (whole.is_empty() && !share_over) {
        return None;
    }
    let mut parts: Vec<String> = removals
        .iter()
        .filter(|r| r.messages > 0)
        .map(|r| {
            if r.whole_folder {
                format!("the folder '{}' with {} messages", r.folder, r.messages)
            } else {
                format!("{} in '{}'", r.messages, r.folder)
            }
        })
        .collect();
    parts.truncate(10);
    let more = removals.iter().filter(|r| r.messages > 0).count() - parts.len();
    let mut detail = format!(
        "{messages} of {migrated} migrated messages would be removed from the target ({}",
        parts.join(", ")
    );
    if more > 0 {
        detail.push_str(&format!(", and {more} more folders"));
    }
    detail.push_str(
        "): held until `cutover batch approve-removals` (the source reported them removed; \
         check the source before approving)",
    );
    Some(HeldRemovals { messages, detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(uids: impl IntoIterator<Item = u32>) -> BTreeSet<u32> {
        uids.into_iter().collect()
    }

    #[test]
    fn a_listing_is_complete_only_when_it_has_exists_messages() {
        assert!(listing_is_complete(Some(3), &set([1, 2, 5])));
        assert!(listing_is_complete(Some(0), &set([])));
        assert!(!listing_is_complete(Some(4), &set([1, 2, 5])));
        assert!(!listing_is_complete(None, &set([1, 2, 5])));
        assert!(!listing_is_complete(None, &set([])));
    }

    fn delta<'a>(
        known: &'a BTreeSet<u32>,
        vanished: Option<&'a BTreeSet<u32>>,
        present: Option<&'a BTreeSet<u32>>,
        new: &'a BTreeSet<u32>,
        exists: Option<u32>,
    ) -> Delta<'a> {
        Delta {
            messages_then: known.len() as u32,
            uid_next_then: 11,
            known,
            vanished,
            present,
            present_new: vanished.map(|_| new),
            new,
            exists,
        }
    }

    #[test]
    fn a_qresync_delta_adds_up_when_vanished_and_new_explain_exists() {
        let known = set(1..=10);
        let vanished = set([3, 4]);
        let new = set([11, 12, 13]);
        assert!(delta_adds_up(&delta(
            &known,
            Some(&vanished),
            None,
            &new,
            Some(11)
        )));
        // VANISHED may name UIDs that never were: only known ones count.
        let wide = set([3, 4, 50, 60]);
        assert!(delta_adds_up(&delta(
            &known,
            Some(&wide),
            None,
            &new,
            Some(11)
        )));
        // A lost VANISHED line, or a lost FETCH line of a new message: no.
        let none = set([]);
        assert!(!delta_adds_up(&delta(
            &known,
            Some(&none),
            None,
            &new,
            Some(11)
        )));
        // A lost FETCH line of a new message, even when a lost VANISHED line makes up
        // for it in the sum: SEARCH still finds the message.
        let fewer = set([11, 12]);
        let searched = set([11, 12, 13]);
        let three = set([3]);
        let mut d = delta(&known, Some(&three), None, &fewer, Some(11));
        d.present_new = Some(&searched);
        assert!(!delta_adds_up(&d));
        // No EXISTS: nothing adds up.
        assert!(!delta_adds_up(&delta(
            &known,
            Some(&vanished),
            None,
            &new,
            None
        )));
    }

    #[test]
    fn a_search_delta_adds_up_when_search_holds_exists_and_the_new_ones() {
        let known = set(1..=10);
        let present = set([1, 2, 5, 6, 7, 8, 9, 10, 11, 12]);
        let new = set([11, 12]);
        assert!(delta_adds_up(&delta(
            &known,
            None,
            Some(&present),
            &new,
            Some(10)
        )));
        // A lost SEARCH reply reads as an empty mailbox: it does not add up.
        let empty = set([]);
        assert!(!delta_adds_up(&delta(
            &known,
            None,
            Some(&empty),
            &new,
            Some(10)
        )));
        // A new message the FETCH lost.
        let one = set([11]);
        assert!(!delta_adds_up(&delta(
            &known,
            None,
            Some(&present),
            &one,
            Some(10)
        )));
        assert!(!delta_adds_up(&delta(&known, None, None, &new, Some(10))));
    }

    #[test]
    fn a_folder_is_gone_only_when_the_server_says_so() {
        assert_eq!(FolderFate::of_status(Ok(())), FolderFate::StillThere);
        assert_eq!(
            FolderFate::of_status(Err(Some((Some("NONEXISTENT"), "Mailbox doesn't exist: X")))),
            FolderFate::Gone
        );
        assert_eq!(
            FolderFate::of_status(Err(Some((None, "Mailbox does not exist")))),
            FolderFate::Gone
        );
        assert_eq!(
            FolderFate::of_status(Err(Some((Some("UNAVAILABLE"), "try later")))),
            FolderFate::Unknown
        );
        assert_eq!(
            FolderFate::of_status(Err(Some((None, "Permission denied")))),
            FolderFate::Unknown
        );
        assert_eq!(FolderFate::of_status(Err(None)), FolderFate::Unknown);
    }

    fn r(folder: &str, messages: u64, whole_folder: bool) -> FolderRemovals {
        FolderRemovals {
            folder: folder.into(),
            messages,
            whole_folder,
        }
    }

    #[test]
    fn the_brake_holds_a_large_share_or_a_whole_folder() {
        let rule = BrakeRule::with_percent(10);
        // 30 % of 600: held, and the detail says how many and where.
        let held = brake(
            &[r("INBOX", 150, false), r("Archive", 30, false)],
            600,
            rule,
            false,
        )
        .expect("held");
        assert_eq!(held.messages, 180);
        assert!(held.detail.contains("180 of 600"), "{}", held.detail);
        assert!(held.detail.contains("150 in 'INBOX'"), "{}", held.detail);
        // Approved: goes ahead.
        assert_eq!(brake(&[r("INBOX", 150, false)], 600, rule, true), None);
        // 10 % exactly is allowed; a few messages of a small mailbox too.
        assert_eq!(brake(&[r("INBOX", 60, false)], 600, rule, false), None);
        assert_eq!(brake(&[r("INBOX", 3, false)], 5, rule, false), None);
        // A whole folder with mail, however small.
        let held = brake(&[r("Old", 2, true)], 600, rule, false).expect("held");
        assert!(held.detail.contains("the folder 'Old' with 2 messages"));
        // An empty folder deleted: nothing to hold.
        assert_eq!(brake(&[r("Empty", 0, true)], 600, rule, false), None);
        assert_eq!(brake(&[], 0, rule, false), None);
    }

    proptest! {
        /// Whatever the source's lines, a listing that lost any of them is not complete.
        #[test]
        fn a_listing_that_lost_lines_is_never_complete(
            uids in proptest::collection::btree_set(1u32..500, 0..60),
            lost in 1usize..10,
        ) {
            let exists = uids.len() as u32;
            let kept: BTreeSet<u32> = uids.iter().copied().skip(lost.min(uids.len())).collect();
            prop_assert_eq!(listing_is_complete(Some(exists), &kept), kept.len() == uids.len());
        }

        /// A QRESYNC delta whose VANISHED or new-message lines were partly lost never adds
        /// up; the true one always does.
        #[test]
        fn a_delta_adds_up_exactly_when_nothing_was_lost(
            known in proptest::collection::btree_set(1u32..100, 0..40),
            expunged_mask in proptest::collection::vec(any::<bool>(), 40),
            new_count in 0u32..20,
            lose_vanished in any::<bool>(),
            lose_new in any::<bool>(),
        ) {
            let expunged: BTreeSet<u32> = known
                .iter()
                .zip(&expunged_mask)
                .filter(|(_, e)| **e)
                .map(|(u, _)| *u)
                .collect();
            let new: BTreeSet<u32> = (100..100 + new_count).collect();
            let exists = (known.len() - expunged.len()) as u32 + new_count;
            let mut seen_vanished = expunged.clone();
            if lose_vanished && let Some(first) = expunged.iter().next().copied() {
                seen_vanished.remove(&first);
            }
            let mut seen_new = new.clone();
            if lose_new && let Some(first) = new.iter().next().copied() {
                seen_new.remove(&first);
            }
            let d = Delta {
                messages_then: known.len() as u32,
                uid_next_then: 100,
                known: &known,
                vanished: Some(&seen_vanished),
                present: None,
                present_new: Some(&new),
                new: &seen_new,
                exists: Some(exists),
            };
            let lost = seen_vanished != expunged || seen_new != new;
            prop_assert_eq!(delta_adds_up(&d), !lost);
        }

        /// The brake never lets more than the share through unapproved, and never holds
        /// what stays under it without a whole folder.
        #[test]
        fn the_brake_is_the_share_rule(
            removed in proptest::collection::vec(0u64..200, 0..6),
            migrated in 0u64..2000,
            percent in 0u32..100,
        ) {
            let removals: Vec<FolderRemovals> =
                removed.iter().enumerate().map(|(i, n)| r(&format!("F{i}"), *n, false)).collect();
            let total: u64 = removed.iter().sum();
            let held = brake(&removals, migrated, BrakeRule::with_percent(percent), false);
            let over = total >= BrakeRule::MIN_MESSAGES
                && u128::from(total) * 100 > u128::from(migrated) * u128::from(percent);
            prop_assert_eq!(held.is_some(), over);
            prop_assert!(brake(&removals, migrated, BrakeRule::with_percent(percent), true).is_none());
        }
    }
}
