//! The sync planner: pure decisions over plain data, tested without servers.
//!
//! Given what the source holds and what earlier passes copied, it says which messages
//! to copy, in which order, and in which chunks; where folders go is
//! [`crate::folder_map`]'s. It never touches a socket or the store.

use std::collections::{BTreeMap, BTreeSet};

/// One source message as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceMessage {
    pub uid: u32,
    pub size: u32,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
}

/// The messages of a folder still to copy, newest first so users see recent mail
/// early. A message is identified by its source UID under the folder's UIDVALIDITY;
/// `copied` are the UIDs earlier passes put on the target.
pub fn plan_copies(source: &[SourceMessage], copied: &BTreeSet<u32>) -> Vec<SourceMessage> {
    let mut unique: BTreeMap<u32, SourceMessage> = BTreeMap::new();
    for m in source {
        if !copied.contains(&m.uid) {
            unique.insert(m.uid, *m);
        }
    }
    let mut out: Vec<SourceMessage> = unique.into_values().collect();
    out.sort_by_key(|m| std::cmp::Reverse((m.internal_date, m.uid)));
    out
}

/// Limits of one transfer unit (one UID FETCH on the source, one APPEND on the target).
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    pub max_messages: usize,
    pub max_bytes: u64,
}

/// Groups messages, in order, into chunks within the limits. A message larger than
/// `max_bytes` travels alone.
pub fn chunk(messages: &[SourceMessage], limits: ChunkLimits) -> Vec<Vec<SourceMessage>> {
    let mut out: Vec<Vec<SourceMessage>> = Vec::new();
    let mut current: Vec<SourceMessage> = Vec::new();
    let mut bytes = 0u64;
    for m in messages {
        let size = u64::from(m.size);
        if !current.is_empty()
            && (current.len() >= limits.max_messages || bytes + size > limits.max_bytes)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(*m);
        bytes += size;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Folders copied together, in one round trip of the source: each whole in one chunk
/// (no message over `large`, the size that goes to a temporary file), all of them within
/// one chunk's limits. On a distant source a folder costs a round trip for EXAMINE and
/// one per chunk; a mailbox of many small folders pays that in latency, not bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderGroup {
    pub messages: usize,
    pub bytes: u64,
}

impl FolderGroup {
    /// Whether a folder with these copies may join the group.
    pub fn fits(&self, copies: &[SourceMessage], limits: ChunkLimits, large: u32) -> bool {
        let bytes: u64 = copies.iter().map(|m| u64::from(m.size)).sum();
        copies.iter().all(|m| m.size <= large)
            && self.messages + copies.len() <= limits.max_messages
            && self.bytes + bytes <= limits.max_bytes
    }

    pub fn add(&mut self, copies: &[SourceMessage]) {
        self.messages += copies.len();
        self.bytes += copies.iter().map(|m| u64::from(m.size)).sum::<u64>();
    }

    /// [`FolderGroup::fits`], and joins it if so.
    pub fn join(&mut self, copies: &[SourceMessage], limits: ChunkLimits, large: u32) -> bool {
        let fits = self.fits(copies, limits, large);
        if fits {
            self.add(copies);
        }
        fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn copies_are_newest_first_and_skip_what_was_copied() {
        let m = |uid, date| SourceMessage {
            uid,
            size: 10,
            internal_date: date,
        };
        let src = [m(1, 100), m(2, 300), m(3, 200), m(4, 300)];
        let plan = plan_copies(&src, &BTreeSet::from([3]));
        assert_eq!(
            plan.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![4, 2, 1]
        );
    }

    #[test]
    fn folders_join_a_group_within_one_chunk_and_without_large_messages() {
        let m = |uid, size| SourceMessage {
            uid,
            size,
            internal_date: 0,
        };
        let limits = ChunkLimits {
            max_messages: 4,
            max_bytes: 100,
        };
        let mut g = FolderGroup::default();
        assert!(g.join(&[m(1, 10), m(2, 20)], limits, 50));
        assert!(g.join(&[], limits, 50));
        assert!(!g.join(&[m(3, 60)], limits, 50), "a large message");
        assert!(
            !g.join(&[m(4, 10), m(5, 10), m(6, 10)], limits, 50),
            "too many"
        );
        assert!(!g.join(&[m(7, 45), m(8, 45)], limits, 50), "too many bytes");
        assert!(g.join(&[m(9, 40)], limits, 50));
        assert_eq!(
            g,
            FolderGroup {
                messages: 3,
                bytes: 70
            }
        );
    }

    proptest! {
        #[test]
        fn a_group_stays_within_its_limits(
            folders in prop::collection::vec(prop::collection::vec(1u32..200, 0..8), 0..20),
            max_messages in 1usize..20,
            max_bytes in 1u64..2000,
            large in 1u32..200,
        ) {
            let limits = ChunkLimits { max_messages, max_bytes };
            let mut g = FolderGroup::default();
            let mut joined: Vec<u32> = Vec::new();
            for sizes in &folders {
                let copies: Vec<SourceMessage> = sizes
                    .iter()
                    .map(|&size| SourceMessage { uid: 1, size, internal_date: 0 })
                    .collect();
                if g.join(&copies, limits, large) {
                    joined.extend(sizes);
                }
            }
            prop_assert!(joined.len() <= max_messages);
            prop_assert!(joined.iter().map(|&s| u64::from(s)).sum::<u64>() <= max_bytes);
            prop_assert!(joined.iter().all(|&s| s <= large));
            prop_assert_eq!(g, FolderGroup {
                messages: joined.len(),
                bytes: joined.iter().map(|&s| u64::from(s)).sum(),
            });
        }
    }

    #[test]
    fn chunks_respect_limits_and_big_messages_go_alone() {
        let m = |uid, size| SourceMessage {
            uid,
            size,
            internal_date: 0,
        };
        let msgs = [m(1, 10), m(2, 10), m(3, 100), m(4, 10), m(5, 10), m(6, 10)];
        let chunks = chunk(
            &msgs,
            ChunkLimits {
                max_messages: 2,
                max_bytes: 50,
            },
        );
        let uids: Vec<Vec<u32>> = chunks
            .iter()
            .map(|c| c.iter().map(|m| m.uid).collect())
            .collect();
        assert_eq!(uids, vec![vec![1, 2], vec![3], vec![4, 5], vec![6]]);
    }

    proptest! {
        /// Any source, any earlier progress: one pass copies each missing message exactly
        /// once, and a second pass (after recording the copies) plans nothing.
        #[test]
        fn a_pass_converges_and_the_next_plans_nothing(
            uids in proptest::collection::vec((1u32..500, 0u32..100_000, 0i64..2_000_000_000), 0..200),
            copied in proptest::collection::btree_set(1u32..500, 0..100),
            max_messages in 1usize..20,
            max_bytes in 1u64..300_000,
        ) {
            let source: Vec<SourceMessage> = uids.iter().map(|&(uid, size, internal_date)| SourceMessage { uid, size, internal_date }).collect();
            let plan = plan_copies(&source, &copied);
            let planned: BTreeSet<u32> = plan.iter().map(|m| m.uid).collect();
            prop_assert_eq!(planned.len(), plan.len(), "a message planned twice");
            let wanted: BTreeSet<u32> = source.iter().map(|m| m.uid).filter(|u| !copied.contains(u)).collect();
            prop_assert_eq!(&planned, &wanted);
            for pair in plan.windows(2) {
                prop_assert!((pair[0].internal_date, pair[0].uid) >= (pair[1].internal_date, pair[1].uid));
            }
            let chunks = chunk(&plan, ChunkLimits { max_messages, max_bytes });
            let flat: Vec<u32> = chunks.iter().flatten().map(|m| m.uid).collect();
            prop_assert_eq!(flat, plan.iter().map(|m| m.uid).collect::<Vec<_>>());
            for c in &chunks {
                prop_assert!(c.len() <= max_messages);
                prop_assert!(c.len() == 1 || c.iter().map(|m| u64::from(m.size)).sum::<u64>() <= max_bytes);
            }
            let after: BTreeSet<u32> = copied.union(&planned).copied().collect();
            prop_assert!(plan_copies(&source, &after).is_empty());
        }
    }
}

/// A target message that may be the landed copy of an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub uid: u32,
    pub size: u32,
    pub internal_date: i64,
}

/// For each intent, the target messages with its size and date, in UID order: the
/// only ones that can be its copy (APPEND keeps both). The caller compares bytes.
pub fn pair_intents<'a>(
    intents: &'a [cutover_store::Intent],
    candidates: &[Candidate],
) -> Vec<(&'a cutover_store::Intent, Vec<u32>)> {
    let mut by_key: BTreeMap<(u32, i64), Vec<u32>> = BTreeMap::new();
    for c in candidates {
        by_key
            .entry((c.size, c.internal_date))
            .or_default()
            .push(c.uid);
    }
    for uids in by_key.values_mut() {
        uids.sort_unstable();
    }
    intents
        .iter()
        .map(|i| {
            let uids = by_key
                .get(&(i.size, i.internal_date))
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|u| *u >= i.dst_uid_floor)
                        .collect()
                })
                .unwrap_or_default();
            (i, uids)
        })
        .collect()
}

#[cfg(test)]
mod intent_tests {
    use super::*;
    use cutover_store::Intent;

    fn intent(uid: u32, size: u32, date: i64, floor: u32) -> Intent {
        Intent {
            src_uidvalidity: 1,
            src_uid: uid,
            dst_name: b"INBOX".to_vec(),
            dst_uid_floor: floor,
            size,
            internal_date: date,
        }
    }

    #[test]
    fn intents_pair_with_same_size_and_date_above_their_floor() {
        let intents = [
            intent(1, 100, 5, 10),
            intent(2, 200, 6, 10),
            intent(3, 100, 5, 12),
        ];
        let cands = [
            Candidate {
                uid: 9,
                size: 100,
                internal_date: 5,
            },
            Candidate {
                uid: 11,
                size: 100,
                internal_date: 5,
            },
            Candidate {
                uid: 12,
                size: 100,
                internal_date: 5,
            },
            Candidate {
                uid: 13,
                size: 300,
                internal_date: 6,
            },
        ];
        let pairs = pair_intents(&intents, &cands);
        let got: Vec<(u32, Vec<u32>)> = pairs.iter().map(|(i, c)| (i.src_uid, c.clone())).collect();
        assert_eq!(
            got,
            vec![
                (
                    1,
                    vec![9, 11, 12].into_iter().filter(|u| *u >= 10).collect()
                ),
                (2, vec![]),
                (3, vec![12])
            ]
        );
    }
}
