//! Asking running passes to stop: the admin stopped (or removed) the batch, or the
//! process is shutting down. Passes look at the signal between chunks, finish and record
//! the chunk in flight, and leave every folder they did not finish to the next pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Why passes stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `batch stop` or `batch remove`: users end Stopped.
    BatchStopped,
    /// The process is shutting down (SIGTERM, Ctrl-C): users resume next time.
    Shutdown,
}

/// Shared by everything that must stop together; cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicU8>);

impl StopSignal {
    pub fn stop(&self, reason: StopReason) {
        let code = match reason {
            StopReason::BatchStopped => 1,
            StopReason::Shutdown => 2,
        };
        // The first reason wins.
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.0.load(Ordering::SeqCst) {
            1 => Some(StopReason::BatchStopped),
            2 => Some(StopReason::Shutdown),
            _ => None,
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
}
