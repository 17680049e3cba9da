//! How many connections a mailbox's copy runs on, and in which order its folders are
//! taken: a pure decision from the source's measured round-trip time and the bytes each
//! folder has to copy.
//!
//! One connection per side keeps a link busy only while a request's data is on its
//! way: every chunk's FETCH and every folder's EXAMINE costs a round trip in which
//! nothing arrives, so on a distant source (tens of milliseconds) one mailbox moves at a
//! fraction of the link's rate. More connections (lanes), each with its own pipeline,
//! fill those gaps; near the server (a LAN, loopback) they only add load, so there the
//! copy keeps one. The lanes share one queue of folders, biggest first: a lane that is
//! done with its folder takes the next, so lanes with many small messages (a round trip
//! per chunk) and lanes with a few large ones end close together.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// At most this many connections per side for one mailbox: with the scan's and the
/// sizing's, well under the 10 a Dovecot allows one user from one address by default.
pub const MAX_LANES: usize = 4;

/// Below this round trip the server is near: one lane.
const NEAR: Duration = Duration::from_millis(5);

/// Round trip that one more lane covers: a chunk of a few MB takes about this long to
/// arrive at a link's rate of a few hundred Mbit/s, so a lane per this much round trip
/// keeps data arriving throughout (measured at 50 ms: 3 lanes moved a mailbox at 90% of
/// the link, 4 at about 95%).
const PER_LANE: Duration = Duration::from_millis(15);

/// A lane is worth its connection (a login, a folder's set-up) above this many bytes.
const LANE_BYTES: u64 = 16 * 1024 * 1024;

/// How a mailbox's copy runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanePlan {
    /// Connections per side.
    pub lanes: usize,
    /// The folders (indexes into the folders' bytes) in the order the lanes take them:
    /// as given for one lane, biggest first for several.
    pub order: Vec<usize>,
}

/// The plan for folders with `bytes` to copy each, the source's round trip `rtt`
/// (`None` when not measured: one lane), and at most `max` lanes.
pub fn plan(rtt: Option<Duration>, bytes: &[u64], max: usize) -> LanePlan {
    let total: u64 = bytes.iter().sum();
    let copying = bytes.iter().filter(|&&b| b > 0).count();
    let wanted = match rtt {
        Some(rtt) if rtt >= NEAR => 1 + (rtt.as_micros() / PER_LANE.as_micros()) as usize,
        _ => 1,
    };
    let lanes = wanted
        .min(max.max(1))
        .min(copying.max(1))
        .min((total / LANE_BYTES).max(1) as usize);
    let mut order: Vec<usize> = (0..bytes.len()).collect();
    if lanes > 1 {
        // Biggest first; equal sizes in folder order.
        order.sort_by(|&a, &b| bytes[b].cmp(&bytes[a]).then(a.cmp(&b)));
    }
    LanePlan { lanes, order }
}

/// The folders still to take, shared by a mailbox's lanes.
#[derive(Debug)]
pub struct FolderQueue {
    order: Vec<usize>,
    next: AtomicUsize,
}

impl FolderQueue {
    pub fn new(order: Vec<usize>) -> Self {
        Self {
            order,
            next: AtomicUsize::new(0),
        }
    }

    /// The next folder, once to one lane; `None` when all are taken.
    pub fn take(&self) -> Option<usize> {
        let at = self.next.fetch_add(1, Ordering::Relaxed);
        self.order.get(at).copied()
    }

    /// The next folder if `wanted` says so (it stays next otherwise).
    pub fn take_if(&self, wanted: impl Fn(usize) -> bool) -> Option<usize> {
        let mut at = self.next.load(Ordering::Relaxed);
        loop {
            let folder = *self.order.get(at)?;
            if !wanted(folder) {
                return None;
            }
            match self
                .next
                .compare_exchange(at, at + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(folder),
                Err(now) => at = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn near_servers_and_small_mailboxes_keep_one_lane_in_folder_order() {
        let big = [100 * MB, 200 * MB, 50 * MB];
        let one = LanePlan {
            lanes: 1,
            order: vec![0, 1, 2],
        };
        assert_eq!(plan(None, &big, MAX_LANES), one);
        assert_eq!(plan(Some(Duration::from_micros(300)), &big, MAX_LANES), one);
        let small = [MB, 2 * MB, 3 * MB];
        assert_eq!(
            plan(Some(Duration::from_millis(50)), &small, MAX_LANES),
            one
        );
    }

    #[test]
    fn a_distant_source_gets_a_lane_per_fifteen_milliseconds_biggest_folders_first() {
        let bytes = [60 * MB, 90 * MB, 0, 100 * MB, 70 * MB, 80 * MB];
        assert_eq!(
            plan(Some(Duration::from_millis(20)), &bytes, MAX_LANES).lanes,
            2
        );
        assert_eq!(
            plan(Some(Duration::from_millis(30)), &bytes, MAX_LANES),
            LanePlan {
                lanes: 3,
                order: vec![3, 1, 5, 4, 0, 2]
            }
        );
        assert_eq!(
            plan(Some(Duration::from_millis(400)), &bytes, MAX_LANES).lanes,
            MAX_LANES
        );
        // No more lanes than folders with something to copy.
        assert_eq!(
            plan(
                Some(Duration::from_millis(400)),
                &[0, 90 * MB, 0, 80 * MB],
                8
            )
            .lanes,
            2
        );
    }

    #[test]
    fn the_queue_gives_each_folder_once() {
        let q = FolderQueue::new(vec![2, 0, 1]);
        assert_eq!(
            (q.take(), q.take(), q.take(), q.take()),
            (Some(2), Some(0), Some(1), None)
        );
        let q = FolderQueue::new(vec![2, 0, 1]);
        assert_eq!(q.take_if(|f| f == 0), None);
        assert_eq!(q.take_if(|f| f == 2), Some(2));
        assert_eq!(
            (q.take(), q.take_if(|_| true), q.take_if(|_| true)),
            (Some(0), Some(1), None)
        );
    }

    proptest! {
        #[test]
        fn the_plan_orders_every_folder_once_within_the_limits(
            bytes in proptest::collection::vec(prop_oneof![Just(0u64), 0u64..400 * MB], 0..40),
            rtt_ms in proptest::option::of(0u64..500),
            max in 0usize..8,
        ) {
            let p = plan(rtt_ms.map(Duration::from_millis), &bytes, max);
            prop_assert!(p.lanes >= 1 && p.lanes <= max.max(1));
            prop_assert!(p.lanes <= bytes.iter().filter(|&&b| b > 0).count().max(1));
            if rtt_ms.is_none_or(|ms| ms < 5) {
                prop_assert_eq!(p.lanes, 1);
            }
            let mut all = p.order.clone();
            all.sort_unstable();
            prop_assert_eq!(all, (0..bytes.len()).collect::<Vec<_>>());
            if p.lanes == 1 {
                prop_assert_eq!(&p.order, &(0..bytes.len()).collect::<Vec<_>>());
            } else {
                prop_assert!(p.order.windows(2).all(|w| bytes[w[0]] >= bytes[w[1]]));
            }
        }
    }
}
