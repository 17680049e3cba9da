//! Skipped items: messages a pass could not copy. Each is a *bad item* or a *large
//! item*, counted against the batch's BadItemLimit / LargeItemLimit, and together they
//! give each user Exchange Online's data consistency grade.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a message was skipped, in Exchange's two kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SkippedKind {
    /// Malformed, unreadable on the source, or refused by the target for a reason
    /// other than its size.
    BadItem,
    /// Refused by the target because it is too large.
    LargeItem,
}

impl SkippedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SkippedKind::BadItem => "BadItem",
            SkippedKind::LargeItem => "LargeItem",
        }
    }

    /// The kind of a message the target refused with a NO, from the server's answer:
    /// a large item when the response code is TOOBIG (RFC 4469/7889) or the text says
    /// the message is too large; a bad item otherwise (including quota, which is the
    /// mailbox's size, not the message's).
    pub fn of_refusal(code: Option<&str>, text: &str) -> SkippedKind {
        let code = code
            .and_then(|c| c.split_ascii_whitespace().next())
            .unwrap_or("");
        if code.eq_ignore_ascii_case("TOOBIG") {
            return SkippedKind::LargeItem;
        }
        if code.eq_ignore_ascii_case("OVERQUOTA") {
            return SkippedKind::BadItem;
        }
        let text = text.to_ascii_lowercase();
        let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
        let about_size = says(&["message", "mail", "size", "literal", "item"]);
        let too_large = says(&[
            "too large",
            "too big",
            "larger than",
            "bigger than",
            "exceeds",
            "exceeded",
            "size limit",
            "maximum size",
        ]);
        if about_size && too_large && !says(&["quota"]) {
            SkippedKind::LargeItem
        } else {
            SkippedKind::BadItem
        }
    }
}

impl fmt::Display for SkippedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SkippedKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            k if k.eq_ignore_ascii_case("BadItem") => Ok(SkippedKind::BadItem),
            k if k.eq_ignore_ascii_case("LargeItem") => Ok(SkippedKind::LargeItem),
            _ => Err(format!(
                "unknown skipped item kind '{s}'; expected BadItem or LargeItem"
            )),
        }
    }
}

/// How many of a user's messages are skipped now, by kind, and how many of them the
/// admin has not approved (`batch approve-skipped-items`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedCounts {
    pub bad: u64,
    pub large: u64,
    pub unapproved_bad: u64,
    pub unapproved_large: u64,
}

impl SkippedCounts {
    pub fn total(&self) -> u64 {
        self.bad + self.large
    }

    pub fn unapproved(&self) -> u64 {
        self.unapproved_bad + self.unapproved_large
    }
}

/// A user has skipped more items than the batch allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what}; see them with `cutover user stats {user} --include-skipped-items`, then raise {flags} \
     with `cutover batch set {batch}` or accept them with `cutover batch approve-skipped-items {batch}`, \
     and sync again with `cutover batch start {batch}`"
)]
pub struct ItemLimitExceeded {
    pub user: String,
    pub batch: String,
    /// "3 large items skipped, over LargeItemLimit 1" (and the same for bad items).
    pub what: String,
    /// The options to raise: "--large-item-limit" and/or "--bad-item-limit".
    pub flags: String,
}

/// Checks a user's unapproved skipped items against the batch's limits (items the admin
/// approved are accepted losses and no longer count). The counts are totals over every
/// pass, as Exchange counts them, not the last pass's.
pub fn check_item_limits(
    user: &str,
    batch: &str,
    bad_item_limit: u32,
    large_item_limit: u32,
    counts: &SkippedCounts,
) -> Result<(), ItemLimitExceeded> {
    let mut what = Vec::new();
    let mut flags = Vec::new();
    if counts.unapproved_bad > u64::from(bad_item_limit) {
        what.push(format!(
            "{} bad item(s) skipped, over BadItemLimit {bad_item_limit}",
            counts.unapproved_bad
        ));
        flags.push("--bad-item-limit");
    }
    if counts.unapproved_large > u64::from(large_item_limit) {
        what.push(format!(
            "{} large item(s) skipped, over LargeItemLimit {large_item_limit}",
            counts.unapproved_large
        ));
        flags.push("--large-item-limit");
    }
    if what.is_empty() {
        return Ok(());
    }
    Err(ItemLimitExceeded {
        user: user.to_string(),
        batch: batch.to_string(),
        what: what.join(" and "),
        flags: flags.join(" and "),
    })
}

/// Exchange Online's data consistency grade (DataConsistencyScore), worst last.
///
/// Microsoft documents the four grades (learn.microsoft.com, "Track and prevent
/// migration data loss in Exchange Online": Perfect = no inconsistency; Good = some,
/// but not impactful; Investigate = a small amount of noticeable data loss; Poor = major
/// data loss) but not the numeric thresholds behind them. Every item we skip is a whole
/// message a user may notice, so we grade by the share of skipped messages among the
/// user's source messages with the thresholds below (our choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DataConsistencyScore {
    Perfect,
    Good,
    Investigate,
    Poor,
}

/// Up to this share of skipped messages (in parts per million) a user is Good:
/// 0.1 %, one message in a thousand.
pub const GOOD_MAX_SKIPPED_PPM: u64 = 1_000;
/// Up to this share a user is Investigate (5 %); above it, Poor.
pub const INVESTIGATE_MAX_SKIPPED_PPM: u64 = 50_000;

impl DataConsistencyScore {
    pub fn as_str(self) -> &'static str {
        match self {
            DataConsistencyScore::Perfect => "Perfect",
            DataConsistencyScore::Good => "Good",
            DataConsistencyScore::Investigate => "Investigate",
            DataConsistencyScore::Poor => "Poor",
        }
    }

    /// The grade of a user with `skipped` messages skipped out of `source_items` in
    /// the source mailbox.
    pub fn grade(skipped: u64, source_items: u64) -> DataConsistencyScore {
        if skipped == 0 {
            return DataConsistencyScore::Perfect;
        }
        // A skipped message is in the source, so the source holds at least that many.
        let total = source_items.max(skipped);
        let ppm = skipped.saturating_mul(1_000_000) / total;
        if ppm <= GOOD_MAX_SKIPPED_PPM {
            DataConsistencyScore::Good
        } else if ppm <= INVESTIGATE_MAX_SKIPPED_PPM {
            DataConsistencyScore::Investigate
        } else {
            DataConsistencyScore::Poor
        }
    }

    /// The batch's grade: its worst user's (Perfect for a batch without users).
    pub fn worst(grades: impl IntoIterator<Item = DataConsistencyScore>) -> DataConsistencyScore {
        grades
            .into_iter()
            .max()
            .unwrap_or(DataConsistencyScore::Perfect)
    }
}

impl fmt::Display for DataConsistencyScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_for_size_are_large_items() {
        use SkippedKind::*;
        assert_eq!(
            SkippedKind::of_refusal(Some("TOOBIG"), "whatever"),
            LargeItem
        );
        assert_eq!(SkippedKind::of_refusal(Some("toobig"), ""), LargeItem);
        assert_eq!(
            SkippedKind::of_refusal(
                Some("LIMIT"),
                "Mail size is larger than the maximum size allowed by server configuration"
            ),
            LargeItem
        );
        assert_eq!(
            SkippedKind::of_refusal(None, "Message too large"),
            LargeItem
        );
        assert_eq!(
            SkippedKind::of_refusal(None, "message exceeds the size limit"),
            LargeItem
        );
        // The mailbox is full: not the message's fault.
        assert_eq!(
            SkippedKind::of_refusal(
                Some("OVERQUOTA"),
                "Quota exceeded (mailbox for user is full)"
            ),
            BadItem
        );
        assert_eq!(
            SkippedKind::of_refusal(None, "Quota exceeded: mail size too large for quota"),
            BadItem
        );
        assert_eq!(
            SkippedKind::of_refusal(Some("PARSE"), "Invalid message header"),
            BadItem
        );
        assert_eq!(SkippedKind::of_refusal(None, ""), BadItem);
        for k in [BadItem, LargeItem] {
            assert_eq!(k.as_str().parse::<SkippedKind>().unwrap(), k);
        }
        assert!("Huge".parse::<SkippedKind>().is_err());
    }

    #[test]
    fn limits_count_unapproved_items_and_name_what_to_do() {
        let counts = SkippedCounts {
            bad: 1,
            large: 3,
            unapproved_bad: 1,
            unapproved_large: 3,
        };
        assert!(check_item_limits("a@b.test", "B", 1, 3, &counts).is_ok());
        let err = check_item_limits("a@b.test", "B", 1, 1, &counts).unwrap_err();
        let s = err.to_string();
        assert!(
            s.contains("3 large item(s) skipped, over LargeItemLimit 1"),
            "{s}"
        );
        assert!(!s.contains("BadItemLimit"), "{s}");
        assert!(s.contains("--large-item-limit"), "{s}");
        assert!(s.contains("`cutover batch set B`"), "{s}");
        assert!(s.contains("`cutover batch approve-skipped-items B`"), "{s}");
        assert!(
            s.contains("`cutover user stats a@b.test --include-skipped-items`"),
            "{s}"
        );
        let both = check_item_limits("a@b.test", "B", 0, 0, &counts)
            .unwrap_err()
            .to_string();
        assert!(
            both.contains("1 bad item(s) skipped, over BadItemLimit 0 and 3 large item(s)"),
            "{both}"
        );
        assert!(
            both.contains("--bad-item-limit and --large-item-limit"),
            "{both}"
        );
        // Approved items are accepted losses.
        let approved = SkippedCounts {
            unapproved_bad: 0,
            unapproved_large: 0,
            ..counts
        };
        assert!(check_item_limits("a@b.test", "B", 0, 0, &approved).is_ok());
        assert_eq!((counts.total(), approved.unapproved()), (4, 0));
    }

    #[test]
    fn grades_follow_the_share_of_skipped_messages() {
        use DataConsistencyScore::*;
        assert_eq!(DataConsistencyScore::grade(0, 0), Perfect);
        assert_eq!(DataConsistencyScore::grade(0, 10_000), Perfect);
        assert_eq!(DataConsistencyScore::grade(1, 1_000), Good);
        assert_eq!(DataConsistencyScore::grade(10, 10_000), Good);
        assert_eq!(DataConsistencyScore::grade(11, 10_000), Investigate);
        assert_eq!(DataConsistencyScore::grade(1, 20), Investigate);
        assert_eq!(DataConsistencyScore::grade(5, 100), Investigate);
        assert_eq!(DataConsistencyScore::grade(6, 100), Poor);
        assert_eq!(DataConsistencyScore::grade(3, 0), Poor);
        assert_eq!(DataConsistencyScore::worst([Good, Poor, Perfect]), Poor);
        assert_eq!(DataConsistencyScore::worst([]), Perfect);
        assert_eq!(Investigate.to_string(), "Investigate");
    }
}
