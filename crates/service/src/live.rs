//! What the workers of this process are doing now: their events, re-broadcast to API
//! clients (`/api/v1/events`), and the bytes they copied recently (throughput).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cutover_sync::SyncEvent;
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// One event of the stream, as JSON: `Type` says which, the other properties depend on it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "Type")]
pub enum EventView {
    /// A batch's pass began.
    #[serde(rename_all = "PascalCase")]
    BatchStarted {
        batch: String,
        users: u64,
        incremental: bool,
    },
    #[serde(rename_all = "PascalCase")]
    UserStarted { email: String },
    /// A user's pass knows what it has to copy.
    #[serde(rename_all = "PascalCase")]
    UserPlanned {
        email: String,
        folders: u64,
        messages: u64,
        bytes: u64,
    },
    /// Messages landed on the target.
    #[serde(rename_all = "PascalCase")]
    Copied {
        email: String,
        messages: u64,
        bytes: u64,
    },
    /// A message the target refused; the pass goes on without it.
    #[serde(rename_all = "PascalCase")]
    Skipped {
        email: String,
        folder: String,
        uid: u32,
        reason: String,
    },
    #[serde(rename_all = "PascalCase")]
    UserFinished {
        email: String,
        status: String,
        copied: u64,
        error: Option<String>,
    },
    #[serde(rename_all = "PascalCase")]
    BatchFinished { batch: String, status: String },
    /// The admin changed a batch (created, started, stopped, removed) through the API.
    #[serde(rename_all = "PascalCase")]
    BatchChanged { batch: String, status: String },
}

impl From<SyncEvent> for EventView {
    fn from(e: SyncEvent) -> Self {
        match e {
            SyncEvent::BatchStarted {
                batch,
                users,
                incremental,
            } => EventView::BatchStarted {
                batch,
                users,
                incremental,
            },
            SyncEvent::UserStarted { email } => EventView::UserStarted { email },
            SyncEvent::UserPlanned {
                email,
                folders,
                messages,
                bytes,
            } => EventView::UserPlanned {
                email,
                folders,
                messages,
                bytes,
            },
            SyncEvent::Copied {
                email,
                messages,
                bytes,
            } => EventView::Copied {
                email,
                messages,
                bytes,
            },
            SyncEvent::Skipped {
                email,
                folder,
                uid,
                reason,
            } => EventView::Skipped {
                email,
                folder,
                uid,
                reason,
            },
            SyncEvent::UserFinished {
                email,
                status,
                copied,
                error,
            } => EventView::UserFinished {
                email,
                status: status.to_string(),
                copied,
                error,
            },
            SyncEvent::BatchFinished { batch, status } => EventView::BatchFinished {
                batch,
                status: status.to_string(),
            },
        }
    }
}

impl EventView {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            EventView::BatchStarted { .. } => "BatchStarted",
            EventView::UserStarted { .. } => "UserStarted",
            EventView::UserPlanned { .. } => "UserPlanned",
            EventView::Copied { .. } => "Copied",
            EventView::Skipped { .. } => "Skipped",
            EventView::UserFinished { .. } => "UserFinished",
            EventView::BatchFinished { .. } => "BatchFinished",
            EventView::BatchChanged { .. } => "BatchChanged",
        }
    }
}

/// The window throughput is measured over.
const WINDOW: Duration = Duration::from_secs(60);

/// Shared by the workers' event pump and the API handlers.
#[derive(Debug)]
pub struct Live {
    events: broadcast::Sender<EventView>,
    copied: Mutex<VecDeque<(Instant, u64)>>,
    since: Instant,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            events: broadcast::channel(1024).0,
            copied: Mutex::new(VecDeque::new()),
            since: Instant::now(),
        }
    }
}

impl Live {
    pub fn publish(&self, event: EventView) {
        if let EventView::Copied { bytes, .. } = &event {
            let now = Instant::now();
            let mut copied = self.copied.lock().unwrap_or_else(|p| p.into_inner());
            copied.push_back((now, *bytes));
            while copied.front().is_some_and(|(t, _)| now - *t > WINDOW) {
                copied.pop_front();
            }
        }
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventView> {
        self.events.subscribe()
    }

    /// Bytes per second copied by this process's workers over the last minute (or since
    /// it started, if that is shorter).
    pub fn throughput(&self) -> u64 {
        let now = Instant::now();
        let copied = self.copied.lock().unwrap_or_else(|p| p.into_inner());
        let bytes: u64 = copied
            .iter()
            .filter(|(t, _)| now - *t <= WINDOW)
            .map(|(_, b)| b)
            .sum();
        let span = (now - self.since).min(WINDOW).as_secs_f64().max(1.0);
        (bytes as f64 / span) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_bytes_make_throughput_and_reach_subscribers() {
        let live = Live::default();
        let mut rx = live.subscribe();
        assert_eq!(live.throughput(), 0);
        live.publish(
            SyncEvent::Copied {
                email: "a@x.test".into(),
                messages: 2,
                bytes: 5000,
            }
            .into(),
        );
        // Less than a second old: counted over one second.
        assert_eq!(live.throughput(), 5000);
        let got = rx.try_recv().unwrap();
        assert_eq!(got.kind(), "Copied");
        let json = serde_json::to_value(&got).unwrap();
        assert_eq!(json["Type"], "Copied");
        assert_eq!(json["Bytes"], 5000);
        assert_eq!(json["Email"], "a@x.test");
    }
}
