//! The sync planner: pure decisions over plain data, tested without servers.
//!
//! Given what the source holds, what the target holds and what earlier passes copied,
//! it says which folders to create and subscribe on the target, and which messages
//! to copy, in which order. It never touches a socket or the store.

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A folder as listed by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFolder {
    /// Wire name (modified UTF-7).
    pub name: Vec<u8>,
    pub selectable: bool,
    pub subscribed: bool,
}

/// Where a source folder goes on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderMapping {
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    /// Whether messages can be in it (false for `\Noselect` parents).
    pub selectable: bool,
    pub subscribe: bool,
    /// Whether the target lacks it and it must be created.
    pub create: bool,
}

/// The hierarchy separators of both sides (None: flat namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    pub source: Option<char>,
    pub target: Option<char>,
}

/// Character that replaces the target's separator inside a source name component,
/// so that "Reports.2024" does not become a "2024" child of "Reports" on a '.' server.
const SEPARATOR_STAND_IN: u8 = b'_';

/// Translates a source wire name to the target's hierarchy.
pub fn map_name(src: &[u8], seps: Separators) -> Vec<u8> {
    if is_inbox(src) {
        return b"INBOX".to_vec();
    }
    let parts: Vec<&[u8]> = match seps.source {
        Some(s) if s.is_ascii() => src.split(|b| *b == s as u8).collect(),
        _ => vec![src],
    };
    let target_sep = seps.target.filter(|c| c.is_ascii()).map(|c| c as u8);
    let mut out = Vec::with_capacity(src.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // Without a target separator, the hierarchy is flattened with the stand-in.
            out.push(target_sep.unwrap_or(SEPARATOR_STAND_IN));
        }
        out.extend(part.iter().map(|b| {
            if Some(*b) == target_sep {
                SEPARATOR_STAND_IN
            } else {
                *b
            }
        }));
    }
    out
}

pub fn is_inbox(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"INBOX")
}

/// Whether a folder is excluded: by display name, case-insensitively, with its
/// subfolders. Admins write '/' between levels whatever the server's separator is.
pub fn is_excluded(display: &str, separator: Option<char>, excluded: &[String]) -> bool {
    let name = match separator {
        Some(sep) if sep != '/' => display.replace(sep, "/"),
        _ => display.to_string(),
    }
    .to_lowercase();
    excluded.iter().any(|ex| {
        let ex = ex.trim().trim_matches('/').to_lowercase();
        !ex.is_empty() && (name == ex || name.starts_with(&format!("{ex}/")))
    })
}

/// Maps every source folder to the target. `display` turns a wire name into the
/// name an admin writes in `--exclude-folders`.
pub fn plan_folders(
    source: &[ListedFolder],
    target: &[ListedFolder],
    seps: Separators,
    excluded: &[String],
    display: impl Fn(&[u8]) -> String,
) -> Vec<FolderMapping> {
    let existing: HashSet<Vec<u8>> = target
        .iter()
        .map(|f| {
            if is_inbox(&f.name) {
                b"INBOX".to_vec()
            } else {
                f.name.clone()
            }
        })
        .collect();
    let mut out = Vec::new();
    // INBOX always exists; sort so parents come before children.
    let mut sorted: Vec<&ListedFolder> = source.iter().collect();
    sorted.sort_by(|a, b| (!is_inbox(&a.name), &a.name).cmp(&(!is_inbox(&b.name), &b.name)));
    for f in sorted {
        if is_excluded(&display(&f.name), seps.source, excluded) {
            continue;
        }
        let dst = map_name(&f.name, seps);
        out.push(FolderMapping {
            create: !existing.contains(&dst) && !is_inbox(&dst),
            src: f.name.clone(),
            dst,
            selectable: f.selectable,
            subscribe: f.subscribed,
        });
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SLASH: Separators = Separators {
        source: Some('/'),
        target: Some('/'),
    };

    fn folder(name: &str, selectable: bool) -> ListedFolder {
        ListedFolder {
            name: name.as_bytes().to_vec(),
            selectable,
            subscribed: true,
        }
    }

    fn display(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn names_follow_the_target_separator() {
        let to_dot = Separators {
            source: Some('/'),
            target: Some('.'),
        };
        assert_eq!(map_name(b"Archive/2024", to_dot), b"Archive.2024");
        // The target's separator inside a component must not create a level.
        assert_eq!(map_name(b"Reports.2024", to_dot), b"Reports_2024");
        assert_eq!(map_name(b"Reports.2024", SLASH), b"Reports.2024");
        let to_slash = Separators {
            source: Some('.'),
            target: Some('/'),
        };
        assert_eq!(map_name(b"a/b.c", to_slash), b"a_b/c");
        assert_eq!(map_name(b"inbox", to_slash), b"INBOX");
        // mUTF-7 is carried as it is.
        assert_eq!(
            map_name(b"&AMk-l&AOk-ments envoy&AOk-s", SLASH),
            b"&AMk-l&AOk-ments envoy&AOk-s"
        );
    }

    #[test]
    fn folders_to_create_and_exclusions() {
        let source = [
            folder("INBOX", true),
            folder("Archive", false),
            folder("Archive/2024", true),
            folder("Junk", true),
            folder("Junk/Old", true),
            folder("Sent", true),
        ];
        let target = [folder("INBOX", true), folder("Sent", true)];
        let plan = plan_folders(&source, &target, SLASH, &["junk".into()], display);
        let names: Vec<(&[u8], bool)> = plan.iter().map(|m| (&m.dst[..], m.create)).collect();
        assert_eq!(
            names,
            vec![
                (&b"INBOX"[..], false),
                (&b"Archive"[..], true),
                (&b"Archive/2024"[..], true),
                (&b"Sent"[..], false)
            ]
        );
        assert!(!plan[1].selectable);
    }

    #[test]
    fn exclusion_matches_subfolders_only_at_a_separator() {
        let ex = vec!["Archive".to_string()];
        assert!(is_excluded("Archive", Some('/'), &ex));
        assert!(is_excluded("archive/2024", Some('/'), &ex));
        assert!(!is_excluded("Archives", Some('/'), &ex));
        assert!(is_excluded(
            "Archive.2024",
            Some('.'),
            &["Archive/2024".into()]
        ));
    }

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

        /// Mapping names never loses the hierarchy and never invents a level.
        #[test]
        fn mapped_names_keep_their_levels(parts in proptest::collection::vec("[a-zA-Z0-9 ._&-]{1,8}", 1..5)) {
            let src = parts.join("/");
            prop_assume!(!is_inbox(src.as_bytes()));
            let dst = map_name(src.as_bytes(), Separators { source: Some('/'), target: Some('.') });
            prop_assert_eq!(dst.iter().filter(|b| **b == b'.').count(), parts.len() - 1);
        }
    }
}

/// An IMAP UID set (`3,5:7`) of the given UIDs, in any order.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted: Vec<u32> = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if sorted[i] == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{}", sorted[i]));
        }
        i += 1;
    }
    out
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
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[7, 3, 5, 6, 3]), "3,5:7");
        assert_eq!(uid_set(&[1]), "1");
        assert_eq!(uid_set(&[]), "");
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
