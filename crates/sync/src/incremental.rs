//! What a pass must do to a folder's messages: a pure function from what the source
//! shows now and what earlier passes recorded, to copies, flag changes and removals.
//!
//! The source may be seen whole (every UID with its flags: servers without CONDSTORE,
//! and the first pass) or as a delta since the last pass (CONDSTORE's CHANGEDSINCE,
//! QRESYNC's VANISHED, new UIDs above the last UIDNEXT). Both views give the same plan.
//!
//! Flags move as *changes*: a flag the source added since the last pass is added on the
//! target, one it removed is removed. Flags a user changed on the target after the MX
//! switch stay, unless the source changed the same flag.

use std::collections::{BTreeMap, BTreeSet};

use crate::planner::{self, SourceMessage};

/// A message earlier passes copied: its source UID, where it is on the target, and the
/// source flags at the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMessage {
    pub src_uid: u32,
    pub dst_uid: Option<u32>,
    pub flags: Vec<String>,
}

/// A source message with everything needed to copy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMessage {
    pub uid: u32,
    pub size: u32,
    pub internal_date: i64,
    pub flags: Vec<String>,
}

/// What the source shows of a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceView {
    /// Messages with their metadata: every message (whole view) or the new ones.
    pub listed: Vec<ListedMessage>,
    /// Current flags of messages whose flags may have changed (a superset is fine).
    pub changed_flags: Vec<(u32, Vec<String>)>,
    /// Every UID that exists now, when known (whole view, or UID SEARCH ALL).
    pub present: Option<BTreeSet<u32>>,
    /// UIDs known to be expunged (QRESYNC VANISHED).
    pub vanished: Vec<u32>,
}

/// A flag change to apply to one target message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    pub src_uid: u32,
    pub dst_uid: Option<u32>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// The source's flags now, to record.
    pub flags: Vec<String>,
}

/// The plan for one folder's messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessagePlan {
    /// Messages to copy, newest first.
    pub copies: Vec<SourceMessage>,
    pub flag_updates: Vec<FlagUpdate>,
    /// Messages gone from the source: (source UID, target UID).
    pub removals: Vec<(u32, Option<u32>)>,
}

impl MessagePlan {
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty() && self.flag_updates.is_empty() && self.removals.is_empty()
    }
}

/// Flags compare case-insensitively (RFC 3501: flag names are case-insensitive).
fn flag_set(flags: &[String]) -> BTreeMap<String, &String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| (f.to_ascii_lowercase(), f))
        .collect()
}

/// Flags in `now` and not in `before`, as written in `now`.
fn added(before: &[String], now: &[String]) -> Vec<String> {
    let b = flag_set(before);
    flag_set(now)
        .into_iter()
        .filter(|(k, _)| !b.contains_key(k))
        .map(|(_, f)| f.clone())
        .collect()
}

pub fn plan_messages(view: &SourceView, known: &[KnownMessage]) -> MessagePlan {
    let known_by_uid: BTreeMap<u32, &KnownMessage> = known.iter().map(|k| (k.src_uid, k)).collect();
    let vanished: BTreeSet<u32> = view.vanished.iter().copied().collect();
    let gone = |uid: u32| {
        vanished.contains(&uid) || view.present.as_ref().is_some_and(|p| !p.contains(&uid))
    };

    let removals: Vec<(u32, Option<u32>)> = known
        .iter()
        .filter(|k| gone(k.src_uid))
        .map(|k| (k.src_uid, k.dst_uid))
        .collect();

    // Latest flags per known UID, from both the listing and the change list.
    let mut current: BTreeMap<u32, &Vec<String>> = BTreeMap::new();
    for m in &view.listed {
        current.insert(m.uid, &m.flags);
    }
    for (uid, flags) in &view.changed_flags {
        current.insert(*uid, flags);
    }
    let flag_updates = current
        .into_iter()
        .filter(|(uid, _)| !gone(*uid))
        .filter_map(|(uid, flags)| {
            let k = known_by_uid.get(&uid)?;
            let add = added(&k.flags, flags);
            let remove = added(flags, &k.flags);
            (!add.is_empty() || !remove.is_empty()).then(|| FlagUpdate {
                src_uid: uid,
                dst_uid: k.dst_uid,
                add,
                remove,
                flags: flags.clone(),
            })
        })
        .collect();

    let new: Vec<SourceMessage> = view
        .listed
        .iter()
        .filter(|m| !gone(m.uid))
        .map(|m| SourceMessage {
            uid: m.uid,
            size: m.size,
            internal_date: m.internal_date,
        })
        .collect();
    let copied: BTreeSet<u32> = known_by_uid.keys().copied().collect();
    MessagePlan {
        copies: planner::plan_copies(&new, &copied),
        flag_updates,
        removals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(flags: &[&str]) -> Vec<String> {
        flags.iter().map(|f| f.to_string()).collect()
    }

    fn listed(uid: u32, flags: &[&str]) -> ListedMessage {
        ListedMessage {
            uid,
            size: 10,
            internal_date: i64::from(uid),
            flags: s(flags),
        }
    }

    fn known(uid: u32, flags: &[&str]) -> KnownMessage {
        KnownMessage {
            src_uid: uid,
            dst_uid: Some(uid + 100),
            flags: s(flags),
        }
    }

    #[test]
    fn nothing_changed_plans_nothing() {
        let view = SourceView {
            listed: vec![listed(1, &["\\Seen"]), listed(2, &[])],
            present: Some(BTreeSet::from([1, 2])),
            ..Default::default()
        };
        assert!(plan_messages(&view, &[known(1, &["\\SEEN"]), known(2, &[])]).is_empty());
    }

    #[test]
    fn new_messages_are_copied() {
        let view = SourceView {
            listed: vec![listed(1, &[]), listed(3, &[])],
            present: Some(BTreeSet::from([1, 3])),
            ..Default::default()
        };
        let plan = plan_messages(&view, &[known(1, &[])]);
        assert_eq!(
            plan.copies.iter().map(|c| c.uid).collect::<Vec<_>>(),
            vec![3]
        );
        assert!(plan.removals.is_empty() && plan.flag_updates.is_empty());
    }

    #[test]
    fn flag_changes_are_deltas() {
        let view = SourceView {
            changed_flags: vec![(1, s(&["\\Seen", "$Label1"]))],
            ..Default::default()
        };
        let plan = plan_messages(&view, &[known(1, &["\\Seen", "\\Flagged"])]);
        assert_eq!(
            plan.flag_updates,
            vec![FlagUpdate {
                src_uid: 1,
                dst_uid: Some(101),
                add: s(&["$Label1"]),
                remove: s(&["\\Flagged"]),
                flags: s(&["\\Seen", "$Label1"]),
            }]
        );
    }

    #[test]
    fn expunges_come_from_vanished_or_from_absence() {
        let by_vanished = SourceView {
            vanished: vec![2],
            ..Default::default()
        };
        let ks = [known(1, &[]), known(2, &[])];
        assert_eq!(
            plan_messages(&by_vanished, &ks).removals,
            vec![(2, Some(102))]
        );
        let by_absence = SourceView {
            listed: vec![listed(1, &[])],
            present: Some(BTreeSet::from([1])),
            ..Default::default()
        };
        assert_eq!(
            plan_messages(&by_absence, &ks).removals,
            vec![(2, Some(102))]
        );
        // A change list alone says nothing about expunges.
        let delta_only = SourceView {
            changed_flags: vec![(1, vec![])],
            ..Default::default()
        };
        assert!(plan_messages(&delta_only, &ks).removals.is_empty());
    }

    #[test]
    fn a_message_both_new_and_vanished_is_not_copied() {
        let view = SourceView {
            listed: vec![listed(5, &[])],
            vanished: vec![5],
            ..Default::default()
        };
        assert!(plan_messages(&view, &[]).is_empty());
    }

    /// Source state: uid -> flags (from a small alphabet).
    fn state() -> impl Strategy<Value = BTreeMap<u32, BTreeSet<u8>>> {
        proptest::collection::btree_map(
            1u32..60,
            proptest::collection::btree_set(0u8..5, 0..4),
            0..40,
        )
    }

    const FLAGS: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "$Label1", "NonJunk"];

    fn names(set: &BTreeSet<u8>) -> Vec<String> {
        set.iter().map(|i| FLAGS[*i as usize].to_string()).collect()
    }

    proptest! {
        /// From any recorded state to any new source state, through the whole view or a
        /// delta view, applying the plan makes the target equal to the source (as seen
        /// through the mapping), and planning again plans nothing.
        #[test]
        fn plans_converge_whole_and_delta(
            before in state(),
            after_raw in state(),
            extra_changed in proptest::collection::btree_set(1u32..60, 0..10),
            use_delta in any::<bool>(),
            use_vanished in any::<bool>(),
        ) {
            // UIDs only grow: messages of `after` below the old max that were not in `before`
            // cannot appear; drop them so the scenario is one a server can produce.
            let old_next = before.keys().max().map(|m| m + 1).unwrap_or(1);
            let after: BTreeMap<u32, BTreeSet<u8>> = after_raw
                .into_iter()
                .filter(|(uid, _)| *uid >= old_next || before.contains_key(uid))
                .collect();
            // The target, keyed by source UID (the mapping is the identity here), as the
            // earlier pass left it: equal to `before`.
            let mut target: BTreeMap<u32, BTreeSet<String>> =
                before.iter().map(|(u, f)| (*u, names(f).into_iter().collect())).collect();
            let known: Vec<KnownMessage> = before
                .iter()
                .map(|(u, f)| KnownMessage { src_uid: *u, dst_uid: Some(*u), flags: names(f) })
                .collect();

            let view = if use_delta {
                let changed: Vec<(u32, Vec<String>)> = after
                    .iter()
                    .filter(|(u, f)| before.get(u) != Some(*f) || extra_changed.contains(u))
                    .filter(|(u, _)| **u < old_next)
                    .map(|(u, f)| (*u, names(f)))
                    .collect();
                let listed = after
                    .iter()
                    .filter(|(u, _)| **u >= old_next)
                    .map(|(u, f)| ListedMessage { uid: *u, size: 1, internal_date: 0, flags: names(f) })
                    .collect();
                let gone: Vec<u32> = before.keys().filter(|u| !after.contains_key(u)).copied().collect();
                if use_vanished {
                    SourceView { listed, changed_flags: changed, present: None, vanished: gone }
                } else {
                    SourceView { listed, changed_flags: changed, present: Some(after.keys().copied().collect()), vanished: vec![] }
                }
            } else {
                SourceView {
                    listed: after
                        .iter()
                        .map(|(u, f)| ListedMessage { uid: *u, size: 1, internal_date: 0, flags: names(f) })
                        .collect(),
                    present: Some(after.keys().copied().collect()),
                    ..Default::default()
                }
            };

            let plan = plan_messages(&view, &known);
            // Apply it.
            let mut recorded: BTreeMap<u32, Vec<String>> = before.iter().map(|(u, f)| (*u, names(f))).collect();
            for (src, _) in &plan.removals {
                target.remove(src);
                recorded.remove(src);
            }
            for u in &plan.flag_updates {
                let t = target.get_mut(&u.src_uid).unwrap();
                for f in &u.add { t.insert(f.clone()); }
                for f in &u.remove { t.remove(f); }
                recorded.insert(u.src_uid, u.flags.clone());
            }
            for c in &plan.copies {
                prop_assert!(!target.contains_key(&c.uid), "copied twice");
                let f = names(&after[&c.uid]);
                target.insert(c.uid, f.iter().cloned().collect());
                recorded.insert(c.uid, f);
            }
            let expected: BTreeMap<u32, BTreeSet<String>> =
                after.iter().map(|(u, f)| (*u, names(f).into_iter().collect())).collect();
            prop_assert_eq!(&target, &expected);

            // A second pass, whole view, plans nothing.
            let known2: Vec<KnownMessage> = recorded
                .iter()
                .map(|(u, f)| KnownMessage { src_uid: *u, dst_uid: Some(*u), flags: f.clone() })
                .collect();
            let whole = SourceView {
                listed: after.iter().map(|(u, f)| ListedMessage { uid: *u, size: 1, internal_date: 0, flags: names(f) }).collect(),
                present: Some(after.keys().copied().collect()),
                ..Default::default()
            };
            prop_assert!(plan_messages(&whole, &known2).is_empty());
        }
    }
}
