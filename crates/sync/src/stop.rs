//! Asking running passes to stop: the admin stopped (or removed) the batch, the process
//! is shutting down, or the worker lost its lease on the mailbox. Passes look at the
//! signal between chunks, finish and record the chunk in flight, and leave every folder
//! they did not finish to the next pass. A pass stuck in a command (a stalled server) is
//! dropped a few seconds after the signal ([`StopSignal::interrupt`]): what it appended
//! but did not record is found again from its intents, as after a crash.

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

    /// Waits until the signal is stopped (looked at every 100 ms).
    pub async fn stopped(&self) -> StopReason {
        loop {
            if let Some(reason) = self.reason() {
                return reason;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Runs `work` to its end, or until the signal stops: then `work` gets `grace` to
    /// end by itself (a pass records the chunk in flight and returns `Stopped`), after
    /// which it is dropped with whatever command it was waiting on, and `stopped(reason)`
    /// is returned. A server that stalls in the middle of a command cannot hold a stop.
    pub async fn interrupt<T, E>(
        &self,
        grace: std::time::Duration,
        work: impl std::future::Future<Output = Result<T, E>>,
        stopped: impl FnOnce(StopReason) -> E,
    ) -> Result<T, E> {
        let work = std::pin::pin!(work);
        let mut work = work;
        tokio::select! {
            done = &mut work => done,
            reason = self.stopped() => match tokio::time::timeout(grace, &mut work).await {
                Ok(done) => done,
                Err(_) => Err(stopped(reason)),
            },
        }
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

    #[tokio::test]
    async fn interrupt_drops_work_that_does_not_end_after_the_grace() {
        use std::time::{Duration, Instant};
        let stop = StopSignal::default();
        let later = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            later.stop(StopReason::BatchStopped);
        });
        let started = Instant::now();
        let stuck = std::future::pending::<Result<(), StopReason>>();
        let got = stop
            .interrupt(Duration::from_millis(300), stuck, |r| r)
            .await;
        assert_eq!(got, Err(StopReason::BatchStopped));
        assert!(started.elapsed() < Duration::from_secs(2));

        // Work that ends by itself within the grace keeps its own result.
        let quick = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<u32, StopReason>(7)
        };
        let got = stop.interrupt(Duration::from_secs(1), quick, |r| r).await;
        assert_eq!(got, Ok(7));
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
