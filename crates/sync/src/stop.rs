//! Asking running passes to stop: the admin stopped (or removed) the batch, the process
//! is shutting down, or the worker lost its lease on the mailbox. Passes look at the
//! signal between chunks, finish and record the chunk in flight, and leave every folder
//! they did not finish to the next pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Why passes stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `batch stop` or `batch remove`: users end Stopped.
    BatchStopped,
    /// The process is shutting down (SIGTERM, Ctrl-C): users resume next time.
    Shutdown,
    /// The worker's lease on the mailbox expired and another worker may have taken it:
    /// this worker leaves the mailbox (and its status) alone.
    LeaseLost,
}

#[derive(Debug, Default)]
struct Inner {
    code: AtomicU8,
    parent: Option<StopSignal>,
}

/// Shared by everything that must stop together; cloning shares it. A
/// [`StopSignal::child`] stops with its parent, and can be stopped alone.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<Inner>);

impl StopSignal {
    /// A signal that is stopped when this one is, or on its own.
    pub fn child(&self) -> StopSignal {
        StopSignal(Arc::new(Inner {
            code: AtomicU8::new(0),
            parent: Some(self.clone()),
        }))
    }

    pub fn stop(&self, reason: StopReason) {
        let code = match reason {
            StopReason::BatchStopped => 1,
            StopReason::Shutdown => 2,
            StopReason::LeaseLost => 3,
        };
        // The first reason wins.
        let _ = self
            .0
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.0.code.load(Ordering::SeqCst) {
            1 => Some(StopReason::BatchStopped),
            2 => Some(StopReason::Shutdown),
            3 => Some(StopReason::LeaseLost),
            _ => self.0.parent.as_ref().and_then(StopSignal::reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins_and_clones_share_it() {
        let a = StopSignal::default();
        let b = a.clone();
        assert_eq!(b.reason(), None);
        a.stop(StopReason::Shutdown);
        b.stop(StopReason::BatchStopped);
        assert_eq!(b.reason(), Some(StopReason::Shutdown));
    }

    #[test]
    fn a_child_stops_with_its_parent_but_not_the_other_way() {
        let parent = StopSignal::default();
        let lost = parent.child();
        let other = parent.child();
        lost.stop(StopReason::LeaseLost);
        assert_eq!(lost.reason(), Some(StopReason::LeaseLost));
        assert_eq!(parent.reason(), None);
        assert_eq!(other.reason(), None);
        parent.stop(StopReason::BatchStopped);
        assert_eq!(other.reason(), Some(StopReason::BatchStopped));
        assert_eq!(lost.reason(), Some(StopReason::LeaseLost));
    }
}
