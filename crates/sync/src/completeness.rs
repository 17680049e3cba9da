//! "Did everything arrive?": one folder's source and target messages set against the
//! ledger, every message accounted for. A pure function over plain data ([`account`]);
//! `audit` lists the servers, and the completeness proof (service crate) signs what
//! comes out.
//!
//! A source message is *matched* when the ledger says where it went and that target
//! message is there; a target message is matched by the same record. Everything else is
//! a [`Difference`], each with its [`Explanation`], and only [`Explanation::Missing`]
//! means something did not arrive that should have.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

/// A message as listed: its UID and RFC822.SIZE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub uid: u32,
    pub size: u32,
}

/// What the ledger says of one copied message: source UID -> target UID (under the target
/// folder's UIDVALIDITY then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub src_uid: u32,
    pub dst_uidvalidity: Option<u32>,
    pub dst_uid: Option<u32>,
}

/// What the accounting of a folder knows besides the listings.
#[derive(Debug, Clone, Default)]
pub struct FolderLedger {
    /// The folder's records at the source's current UIDVALIDITY.
    pub records: Vec<Record>,
    /// The target folder's UIDVALIDITY now (`None`: there is no target folder).
    pub target_validity: Option<u32>,
    /// Skipped messages (source UID -> the reason).
    pub skipped: HashMap<u32, String>,
    /// The source's UIDNEXT at the last pass: messages from it on arrived since.
    pub uid_next_at_last_pass: Option<u32>,
}

/// Why a message is on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "Why",
    rename_all = "PascalCase",
    rename_all_fields = "PascalCase"
)]
pub enum Explanation {
    /// Skipped by a pass (a bad or too large item), with the reason recorded then.
    Skipped { reason: String },
    /// Arrived on the source after the last pass: the next pass copies it.
    ArrivedSinceLastPass,
    /// Copied, then expunged on the source: the target keeps it until a pass removes it
    /// (or the brake holds the removal).
    ExpungedOnSource,
    /// Copied, then removed on the target (by its user, after the MX switch).
    RemovedOnTarget,
    /// Copied, but the message at its recorded place on the target has another size.
    Differs { target_uid: u32 },
    /// Copied, but where it went cannot be checked: the target gave no UID (no UIDPLUS),
    /// or the target folder was recreated since.
    Unconfirmed,
    /// On the target and not from the source: delivered there, or made there.
    NotFromSource,
    /// On the source, not on the target, and nothing explains it (also: a folder with no
    /// finished pass at its current UIDVALIDITY).
    Missing,
}

impl Explanation {
    /// Whether the proof cannot vouch for the message.
    pub fn is_unexplained(&self) -> bool {
        matches!(
            self,
            Explanation::Missing | Explanation::Differs { .. } | Explanation::Unconfirmed
        )
    }
}

/// One message on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Difference {
    /// "Source" or "Target": where the message is.
    pub side: &'static str,
    pub uid: u32,
    pub size: u32,
    #[serde(flatten)]
    pub explanation: Explanation,
}

/// One folder, accounted for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FolderAccount {
    pub source_messages: u64,
    pub source_bytes: u64,
    pub target_messages: u64,
    pub target_bytes: u64,
    /// Messages on both sides, matched through the ledger.
    pub matched: u64,
    pub differences: Vec<Difference>,
}

impl FolderAccount {
    /// Differences nothing explains (missing, differing or unconfirmed messages).
    pub fn missing(&self) -> u64 {
        self.differences
            .iter()
            .filter(|d| d.explanation.is_unexplained())
            .count() as u64
    }
}

/// Accounts for every message of one folder on both sides.
pub fn account(source: &[Listed], target: &[Listed], ledger: &FolderLedger) -> FolderAccount {
    let src: BTreeMap<u32, u32> = source.iter().map(|m| (m.uid, m.size)).collect();
    let dst: BTreeMap<u32, u32> = target.iter().map(|m| (m.uid, m.size)).collect();
    // Records that point into the target folder as it is now.
    let here: BTreeMap<u32, u32> = ledger
        .records
        .iter()
        .filter(|r| r.dst_uidvalidity.is_some() && r.dst_uidvalidity == ledger.target_validity)
        .filter_map(|r| Some((r.src_uid, r.dst_uid?)))
        .collect();
    let recorded: BTreeSet<u32> = ledger.records.iter().map(|r| r.src_uid).collect();
    let mut out = FolderAccount {
        source_messages: src.len() as u64,
        source_bytes: src.values().map(|s| u64::from(*s)).sum(),
        target_messages: dst.len() as u64,
        target_bytes: dst.values().map(|s| u64::from(*s)).sum(),
        ..FolderAccount::default()
    };
    let mut claimed: BTreeSet<u32> = BTreeSet::new();
    for (&uid, &size) in &src {
        let on_target = here
            .get(&uid)
            .and_then(|d| Some((*d, *dst.get(d)?)))
            .filter(|(d, _)| !claimed.contains(d));
        let explanation = match on_target {
            Some((d, target_size)) => {
                claimed.insert(d);
                if target_size == size {
                    out.matched += 1;
                    continue;
                }
                Explanation::Differs { target_uid: d }
            }
            None if ledger.skipped.contains_key(&uid) => Explanation::Skipped {
                reason: ledger.skipped[&uid].clone(),
            },
            // Recorded into the target folder as it is, and not there any more.
            None if here.contains_key(&uid) => Explanation::RemovedOnTarget,
            None if recorded.contains(&uid) => Explanation::Unconfirmed,
            // Only a folder with a finished pass at this UIDVALIDITY has a "since".
            None if ledger.uid_next_at_last_pass.is_some_and(|next| uid >= next) => {
                Explanation::ArrivedSinceLastPass
            }
            None => Explanation::Missing,
        };
        out.differences.push(Difference {
            side: "Source",
            uid,
            size,
            explanation,
        });
    }
    let from_source: BTreeMap<u32, u32> = here.iter().map(|(s, d)| (*d, *s)).collect();
    for (&uid, &size) in &dst {
        if claimed.contains(&uid) {
            continue;
        }
        let explanation = match from_source.get(&uid) {
            Some(src_uid) if !src.contains_key(src_uid) => Explanation::ExpungedOnSource,
            _ => Explanation::NotFromSource,
        };
        out.differences.push(Difference {
            side: "Target",
            uid,
            size,
            explanation,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn listed(uids: &[u32]) -> Vec<Listed> {
        uids.iter().map(|&uid| Listed { uid, size: 100 }).collect()
    }

    fn record(src: u32, dst: u32) -> Record {
        Record {
            src_uid: src,
            dst_uidvalidity: Some(9),
            dst_uid: Some(dst),
        }
    }

    fn ledger(records: Vec<Record>) -> FolderLedger {
        FolderLedger {
            records,
            target_validity: Some(9),
            uid_next_at_last_pass: Some(10),
            ..Default::default()
        }
    }

    fn why(a: &FolderAccount) -> Vec<(&'static str, u32, Explanation)> {
        a.differences
            .iter()
            .map(|d| (d.side, d.uid, d.explanation.clone()))
            .collect()
    }

    #[test]
    fn a_complete_copy_has_no_differences() {
        let a = account(
            &listed(&[1, 2]),
            &listed(&[11, 12]),
            &ledger(vec![record(1, 11), record(2, 12)]),
        );
        assert_eq!(a.matched, 2);
        assert!(a.differences.is_empty());
        assert_eq!((a.source_messages, a.target_messages), (2, 2));
    }

    #[test]
    fn every_difference_is_explained() {
        let mut l = ledger(vec![record(1, 11), record(2, 12), record(3, 13)]);
        l.skipped.insert(4, "too large".into());
        // 1 matched; 2 expunged on the source (12 still on the target); 3 removed on the
        // target; 4 skipped; 5 never copied below UIDNEXT (missing); 10 new since; 20 on
        // the target only.
        let a = account(&listed(&[1, 3, 4, 5, 10]), &listed(&[11, 12, 20]), &l);
        assert_eq!(a.matched, 1);
        assert_eq!(
            why(&a),
            [
                ("Source", 3, Explanation::RemovedOnTarget),
                (
                    "Source",
                    4,
                    Explanation::Skipped {
                        reason: "too large".into()
                    }
                ),
                ("Source", 5, Explanation::Missing),
                ("Source", 10, Explanation::ArrivedSinceLastPass),
                ("Target", 12, Explanation::ExpungedOnSource),
                ("Target", 20, Explanation::NotFromSource),
            ]
        );
        assert_eq!(a.missing(), 1);
    }

    #[test]
    fn records_into_an_earlier_target_folder_or_without_a_uid_are_unconfirmed() {
        let mut l = ledger(vec![record(1, 11)]);
        l.target_validity = Some(10);
        let a = account(&listed(&[1]), &listed(&[11]), &l);
        assert_eq!(a.matched, 0);
        assert_eq!(
            why(&a),
            [
                ("Source", 1, Explanation::Unconfirmed),
                ("Target", 11, Explanation::NotFromSource)
            ]
        );
        assert_eq!(a.missing(), 1);
        let mut l = ledger(vec![Record {
            src_uid: 1,
            dst_uidvalidity: Some(9),
            dst_uid: None,
        }]);
        l.skipped.clear();
        assert_eq!(
            why(&account(&listed(&[1]), &[], &l)),
            [("Source", 1, Explanation::Unconfirmed)]
        );
    }

    #[test]
    fn a_folder_without_a_finished_pass_has_no_since() {
        let mut l = ledger(Vec::new());
        l.uid_next_at_last_pass = None;
        let a = account(&listed(&[1, 50]), &[], &l);
        assert_eq!(
            why(&a),
            [
                ("Source", 1, Explanation::Missing),
                ("Source", 50, Explanation::Missing)
            ]
        );
    }

    #[test]
    fn a_copy_of_another_size_differs() {
        let source = [Listed { uid: 1, size: 10 }];
        let target = [Listed { uid: 11, size: 12 }];
        let a = account(&source, &target, &ledger(vec![record(1, 11)]));
        assert_eq!(
            why(&a),
            [("Source", 1, Explanation::Differs { target_uid: 11 })]
        );
        assert_eq!(a.missing(), 1);
    }

    #[test]
    fn explanations_read_as_json() {
        let d = Difference {
            side: "Source",
            uid: 4,
            size: 10,
            explanation: Explanation::Skipped { reason: "r".into() },
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"Side":"Source","Uid":4,"Size":10,"Why":"Skipped","Reason":"r"}"#
        );
    }

    proptest! {
        /// Every message of either side is matched or listed once, never both; matched
        /// pairs are the same on both sides.
        #[test]
        fn every_message_is_accounted_for_once(
            source in proptest::collection::btree_set(1u32..40, 0..30),
            target in proptest::collection::btree_set(100u32..140, 0..30),
            pairs in proptest::collection::vec((1u32..40, 100u32..140), 0..30),
        ) {
            let src: Vec<u32> = source.iter().copied().collect();
            let dst: Vec<u32> = target.iter().copied().collect();
            let l = ledger(pairs.iter().map(|(s, d)| record(*s, *d)).collect());
            let a = account(&listed(&src), &listed(&dst), &l);
            let on = |side| a.differences.iter().filter(|d| d.side == side).count() as u64;
            prop_assert_eq!(a.matched + on("Source"), src.len() as u64);
            let differs = a
                .differences
                .iter()
                .filter(|d| matches!(d.explanation, Explanation::Differs { .. }))
                .count() as u64;
            // Same sizes on both sides here: nothing differs.
            prop_assert_eq!(differs, 0);
            prop_assert_eq!(a.matched + on("Target"), dst.len() as u64);
            let mut seen = BTreeSet::new();
            for d in &a.differences {
                prop_assert!(seen.insert((d.side, d.uid)));
            }
        }
    }
}
