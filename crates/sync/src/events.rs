//! Typed progress of a run. The engine emits these; the CLI draws progress bars from
//! them, the service will store them, tests collect them.

use cutover_model::{BatchStatus, UserStatus};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    BatchStarted {
        batch: String,
        users: u64,
        incremental: bool,
    },
    UserStarted {
        email: String,
    },
    /// The pass knows what it has to copy.
    UserPlanned {
        email: String,
        folders: u64,
        messages: u64,
        bytes: u64,
    },
    Copied {
        email: String,
        messages: u64,
        bytes: u64,
    },
    /// A message the target refused; the pass goes on without it.
    Skipped {
        email: String,
        folder: String,
        uid: u32,
        reason: String,
    },
    UserFinished {
        email: String,
        status: UserStatus,
        copied: u64,
        error: Option<String>,
    },
    BatchFinished {
        batch: String,
        status: BatchStatus,
    },
}

/// Where events go. Sending never blocks and never fails the sync: a closed
/// receiver just means nobody is watching.
#[derive(Debug, Clone)]
pub struct EventSink(Option<mpsc::UnboundedSender<SyncEvent>>);

impl EventSink {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<SyncEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    /// A sink that drops everything.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn send(&self, event: SyncEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}
