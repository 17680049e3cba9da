//! What the workers of this process are doing now: their events, re-broadcast to API
//! clients (`/api/v1/events`). (Throughput and progress come from the store, so they
//! count every process's workers.)

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

/// Shared by the workers' event pump and the API handlers.
#[derive(Debug)]
pub struct Live {
    events: broadcast::Sender<EventView>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            events: broadcast::channel(1024).0,
        }
    }
}

impl Live {
    pub fn publish(&self, event: EventView) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventView> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_as_json() {
        let live = Live::default();
        let mut rx = live.subscribe();
        live.publish(
            SyncEvent::Copied {
                email: "a@x.test".into(),
                messages: 2,
                bytes: 5000,
            }
            .into(),
        );
        let got = rx.try_recv().unwrap();
        assert_eq!(got.kind(), "Copied");
        let json = serde_json::to_value(&got).unwrap();
        assert_eq!(json["Type"], "Copied");
        assert_eq!(json["Bytes"], 5000);
        assert_eq!(json["Email"], "a@x.test");
    }
}
