//! UID sets as ranges (RFC 3501 `sequence-set`, RFC 4315 `uid-set`).
//!
//! A server can name four billion UIDs in 14 bytes (`1:4294967295`), in a VANISHED
//! reply, an APPENDUID/COPYUID code or a SEARCH result. Such a set is kept as the
//! ranges it was sent as, so that memory follows the length of the text, never the
//! numbers in it; UIDs are only ever listed against UIDs the caller already knows
//! ([`UidSet::intersect`]).

use std::{fmt, num::NonZeroU32, ops::RangeInclusive, str::FromStr};

use imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// A set of UIDs as sorted, non-overlapping, non-adjacent inclusive ranges.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct UidSet {
    /// `(first, last)`, `first <= last`, sorted; a range never touches the next one.
    ranges: Vec<(u32, u32)>,
}

/// Why a uid-set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a uid-set: {0}")]
pub struct UidSetError(String);

impl UidSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// The set of these ranges, in any order, overlapping or not (`a:b` and `b:a` alike).
    /// UID 0 does not exist and is left out.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut raw: Vec<(u32, u32)> = ranges
            .into_iter()
            .map(|(a, b)| (a.min(b).max(1), a.max(b)))
            .filter(|&(_, hi)| hi != 0)
            .collect();
        raw.sort_unstable();
        let mut ranges: Vec<(u32, u32)> = Vec::with_capacity(raw.len());
        for (lo, hi) in raw {
            match ranges.last_mut() {
                // Overlapping or adjacent: one range.
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => ranges.push((lo, hi)),
            }
        }
        ranges.shrink_to_fit();
        UidSet { ranges }
    }

    /// The set of these UIDs, in any order (the caller's own list, or a SEARCH result).
    pub fn from_uids(uids: impl IntoIterator<Item = u32>) -> Self {
        Self::from_ranges(uids.into_iter().map(|u| (u, u)))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many UIDs the set names, counted without listing them.
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(lo, hi)| u64::from(hi - lo) + 1)
            .sum()
    }

    pub fn contains(&self, uid: u32) -> bool {
        // The first range that does not end before `uid`.
        let i = self.ranges.partition_point(|&(_, hi)| hi < uid);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= uid)
    }

    /// The ranges, ascending.
    pub fn iter_ranges(&self) -> impl ExactSizeIterator<Item = RangeInclusive<u32>> + '_ {
        self.ranges.iter().map(|&(lo, hi)| lo..=hi)
    }

    /// The UIDs, ascending, one at a time: bound it (`take`, a comparison with what you
    /// know), the set may name billions.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|&(lo, hi)| lo..=hi)
    }

    pub fn first(&self) -> Option<u32> {
        self.ranges.first().map(|r| r.0)
    }

    pub fn last(&self) -> Option<u32> {
        self.ranges.last().map(|r| r.1)
    }

    /// The UIDs of `known` that are in the set, in the order of `known` (sorted in,
    /// sorted out). Memory follows `known`, never the set's count.
    pub fn intersect(&self, known: &[u32]) -> Vec<u32> {
        known
            .iter()
            .copied()
            .filter(|&u| self.contains(u))
            .collect()
    }

    /// Both sets together.
    pub fn union(&self, other: &UidSet) -> UidSet {
        Self::from_ranges(self.ranges.iter().chain(&other.ranges).copied())
    }

    /// From an imap-types sequence set whose numbers are UIDs; `*` is the largest UID.
    pub(crate) fn from_sequence_set(set: &SequenceSet) -> Self {
        let value = |s: &SeqOrUid| match s {
            SeqOrUid::Value(n) => n.get(),
            SeqOrUid::Asterisk => u32::MAX,
        };
        Self::from_ranges(set.0.as_ref().iter().map(|seq| match seq {
            Sequence::Single(s) => (value(s), value(s)),
            Sequence::Range(a, b) => (value(a), value(b)),
        }))
    }

    /// As an imap-types sequence set for a command; `None` when empty (IMAP has no
    /// empty set).
    pub fn to_sequence_set(&self) -> Option<SequenceSet> {
        let nz = |n: u32| SeqOrUid::Value(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        let seqs: Vec<Sequence> = self
            .ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    Sequence::Single(nz(lo))
                } else {
                    Sequence::Range(nz(lo), nz(hi))
                }
            })
            .collect();
        seqs.try_into().ok().map(SequenceSet)
    }
}

/// RFC 4315 `uid-set`: `uniqueid / uid-range` separated by commas, a range's ends in
/// either order. No `*`: a server never sends it in these codes.
impl FromStr for UidSet {
    type Err = UidSetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shown = || {
            let mut s: String = text.chars().take(40).collect();
            if text.len() > s.len() {
                s.push_str("...");
            }
            UidSetError(format!("{s:?}"))
        };
        let number = |s: &str| -> Option<u32> {
            if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok().filter(|&n| n != 0)
        };
        // Parts are at least two bytes apart, so this is bounded by the text's length.
        let mut ranges = Vec::with_capacity(text.len() / 2 + 1);
        for part in text.split(',') {
            let range = match part.split_once(':') {
                None => number(part).map(|n| (n, n)),
                Some((a, b)) => number(a).zip(number(b)),
            };
            ranges.push(range.ok_or_else(shown)?);
        }
        Ok(Self::from_ranges(ranges))
    }
}

/// The wire form, e.g. `3,5:7`; empty for the empty set.
impl fmt::Display for UidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}:{hi}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for UidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A set of 100k ranges would flood a log line.
        const SHOWN: usize = 8;
        write!(f, "UidSet(")?;
        if self.ranges.len() <= SHOWN {
            write!(f, "{self}")?;
        } else {
            let head = UidSet {
                ranges: self.ranges[..SHOWN].to_vec(),
            };
            write!(f, "{head},... {} ranges", self.ranges.len())?;
        }
        write!(f, "; {} UIDs)", self.count())
    }
}

impl FromIterator<u32> for UidSet {
    fn from_iter<T: IntoIterator<Item = u32>>(iter: T) -> Self {
        Self::from_uids(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(s: &str) -> UidSet {
        s.parse().unwrap()
    }

    #[test]
    fn parse_normalizes_and_displays() {
        assert_eq!(set("3955:3957").to_string(), "3955:3957");
        assert_eq!(set("5,7:8").to_string(), "5,7:8");
        assert_eq!(set("9:8").to_string(), "8:9");
        assert_eq!(set("7,5,6,1:2,3").to_string(), "1:3,5:7");
        assert_eq!(set("1:10,4:12,20").to_string(), "1:12,20");
        assert_eq!(set("4294967295").count(), 1);
        for bad in [
            "",
            "0",
            "a",
            "1,",
            ",1",
            "1:",
            ":2",
            "1:0",
            "1:*",
            "4294967296",
            "1 2",
        ] {
            assert!(bad.parse::<UidSet>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_huge_range_stays_one_range() {
        let s = set("1:4294967295");
        assert_eq!(s.count(), 4_294_967_295);
        assert_eq!(s.iter_ranges().len(), 1);
        assert!(s.contains(1) && s.contains(u32::MAX) && !s.contains(0));
        assert_eq!(s.intersect(&[0, 3, 7, u32::MAX]), [3, 7, u32::MAX]);
        assert_eq!(s.iter().take(3).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(format!("{s:?}"), "UidSet(1:4294967295; 4294967295 UIDs)");
    }

    #[test]
    fn many_ranges_cost_their_text() {
        let text: String = (0..100_000u32)
            .map(|i| format!("{}:{}", i * 10 + 1, i * 10 + 5))
            .collect::<Vec<_>>()
            .join(",");
        let s: UidSet = text.parse().unwrap();
        assert_eq!(s.iter_ranges().len(), 100_000);
        assert_eq!(s.count(), 500_000);
        assert_eq!(s.to_string(), text);
        assert!(s.contains(999_995) && !s.contains(999_996));
    }

    #[test]
    fn sequence_sets_convert_both_ways() {
        let seq = SequenceSet::try_from("5:3,9,1:2").unwrap();
        let s = UidSet::from_sequence_set(&seq);
        assert_eq!(s.to_string(), "1:5,9");
        assert_eq!(
            s.to_sequence_set().unwrap(),
            SequenceSet::try_from("1:5,9").unwrap()
        );
        let star = SequenceSet::try_from("7:*").unwrap();
        assert_eq!(
            UidSet::from_sequence_set(&star).count(),
            u64::from(u32::MAX) - 6
        );
        assert!(UidSet::new().to_sequence_set().is_none());
    }

    proptest! {
        #[test]
        fn behaves_like_the_expanded_set(
            ranges in prop::collection::vec((1u32..300, 0u32..20), 0..20),
            probes in prop::collection::vec(0u32..330, 0..50),
        ) {
            let ranges: Vec<(u32, u32)> = ranges.iter().map(|&(a, len)| (a, a + len)).collect();
            let s = UidSet::from_ranges(ranges.iter().copied());
            let expanded: std::collections::BTreeSet<u32> =
                ranges.iter().flat_map(|&(a, b)| a..=b).collect();
            prop_assert_eq!(s.count(), expanded.len() as u64);
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), expanded.iter().copied().collect::<Vec<_>>());
            for p in &probes {
                prop_assert_eq!(s.contains(*p), expanded.contains(p));
            }
            let mut sorted = probes.clone();
            sorted.sort_unstable();
            let want: Vec<u32> = sorted.iter().copied().filter(|p| expanded.contains(p)).collect();
            prop_assert_eq!(s.intersect(&sorted), want);
            // Normalized: no two ranges touch.
            let r: Vec<_> = s.iter_ranges().collect();
            for w in r.windows(2) {
                prop_assert!(*w[0].end() + 1 < *w[1].start());
            }
            if !s.is_empty() {
                prop_assert_eq!(s.to_string().parse::<UidSet>().unwrap(), s);
            }
        }
    }
}
