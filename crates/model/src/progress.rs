//! How far a mailbox's migration is and how long it has left: arithmetic over what the
//! store knows (what the source holds as the pass counted it, what has landed on the
//! target, and where the running pass started), with no clock of its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::batch::UserStats;

/// Where a user's pass started, recorded once its plan is made (before any copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassStart {
    /// When the pass began copying.
    pub at: DateTime<Utc>,
    /// The user's messages and bytes on the target through this migration then.
    pub items: u64,
    pub bytes: u64,
}

/// A mailbox's progress as the dashboard and the statistics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Share of the source's messages on the target, in whole percent rounded down (100
    /// only when every message is there); `None` before a pass has counted the source.
    pub items_percent: Option<u8>,
    /// The same for bytes.
    pub bytes_percent: Option<u8>,
    /// Time left of the running pass at the rate it has copied so far; `None` when no
    /// pass runs or it has not copied enough to tell.
    pub seconds_left: Option<u64>,
}

/// The progress of a user with these statistics; `pass` is where its running pass
/// started (`None` when no pass runs).
pub fn progress(stats: &UserStats, pass: Option<&PassStart>, now: DateTime<Utc>) -> Progress {
    let percent = |done: u64, of: u64| -> Option<u8> {
        if of == 0 {
            return None;
        }
        let p = u128::from(done.min(of)) * 100 / u128::from(of);
        Some(p as u8)
    };
    let seconds_left = pass.and_then(|start| {
        let remaining = stats.source_bytes.saturating_sub(stats.bytes_synced);
        if remaining == 0 {
            return Some(0);
        }
        let moved = stats.bytes_synced.saturating_sub(start.bytes);
        let elapsed_ms = (now - start.at).num_milliseconds();
        // Less than a second or nothing copied yet: no rate to go by.
        if moved == 0 || elapsed_ms < 1000 {
            return None;
        }
        let left = u128::from(remaining) * elapsed_ms as u128 / u128::from(moved);
        Some(left.div_ceil(1000).min(u128::from(u64::MAX)) as u64)
    });
    Progress {
        items_percent: percent(stats.items_synced, stats.source_items),
        bytes_percent: percent(stats.bytes_synced, stats.source_bytes),
        seconds_left,
    }
}

/// A duration for people: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`.
pub fn human_duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds.div_ceil(60)),
        3600..86400 => format!("{} h {:02} min", seconds / 3600, (seconds % 3600) / 60),
        _ => format!("{} d {} h", seconds / 86400, (seconds % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn stats(source_items: u64, items: u64, source_bytes: u64, bytes: u64) -> UserStats {
        UserStats {
            source_items,
            items_synced: items,
            source_bytes,
            bytes_synced: bytes,
            ..UserStats::default()
        }
    }

    #[test]
    fn a_mailbox_half_copied_in_ten_seconds_has_ten_seconds_left() {
        let start = Utc::now();
        let pass = PassStart {
            at: start,
            items: 0,
            bytes: 0,
        };
        let p = progress(
            &stats(100, 50, 1000, 500),
            Some(&pass),
            start + Duration::seconds(10),
        );
        assert_eq!(p.items_percent, Some(50));
        assert_eq!(p.bytes_percent, Some(50));
        assert_eq!(p.seconds_left, Some(10));
    }

    #[test]
    fn an_uncounted_source_and_a_pass_that_copied_nothing_say_nothing() {
        let now = Utc::now();
        let pass = PassStart {
            at: now - Duration::seconds(30),
            items: 4,
            bytes: 400,
        };
        let p = progress(&stats(0, 0, 0, 0), None, now);
        assert_eq!(p, Progress::default());
        let p = progress(&stats(10, 4, 1000, 400), Some(&pass), now);
        assert_eq!(p.seconds_left, None);
        assert_eq!(p.items_percent, Some(40));
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(human_duration(0), "0 s");
        assert_eq!(human_duration(59), "59 s");
        assert_eq!(human_duration(61), "2 min");
        assert_eq!(human_duration(3600 + 5 * 60), "1 h 05 min");
        assert_eq!(human_duration(2 * 86400 + 4 * 3600 + 7), "2 d 4 h");
    }

    proptest! {
        #[test]
        fn shares_stay_within_0_and_100_and_reach_100_only_when_all_is_there(
            source in 0u64..1_000_000, done in 0u64..2_000_000,
        ) {
            let p = progress(&stats(source, done, source, done), None, Utc::now());
            if source == 0 {
                prop_assert_eq!(p.items_percent, None);
            } else {
                let pct = p.items_percent.unwrap();
                prop_assert!(pct <= 100);
                prop_assert_eq!(pct == 100, done >= source);
                prop_assert_eq!(p.bytes_percent, p.items_percent);
            }
            prop_assert_eq!(p.seconds_left, None);
        }

        #[test]
        fn more_copied_in_the_same_time_never_means_more_time_left(
            source in 1u64..10_000_000_000, a in 1u64..10_000_000_000, b in 1u64..10_000_000_000,
            elapsed in 1i64..100_000,
        ) {
            let (a, b) = (a.min(b).min(source), a.max(b).min(source));
            let start = Utc::now();
            let pass = PassStart { at: start, items: 0, bytes: 0 };
            let now = start + Duration::seconds(elapsed);
            let slow = progress(&stats(1, 0, source, a), Some(&pass), now).seconds_left.unwrap();
            let fast = progress(&stats(1, 0, source, b), Some(&pass), now).seconds_left.unwrap();
            prop_assert!(fast <= slow, "{fast} > {slow}");
            prop_assert_eq!(fast == 0, b >= source);
        }
    }
}
