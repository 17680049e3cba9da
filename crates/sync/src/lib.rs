//! The mailbox sync engine.
//!
//! [`folder_map`] decides where each source folder goes on the target and [`planner`]
//! which messages a pass copies, both as pure functions over listings and checkpoints;
//! [`executor`] carries one mailbox's pass out against the two IMAP servers and
//! records every copied message in the store; [`runner`] runs the passes that are
//! due for a batch, mailboxes in parallel within the endpoint's limits, and moves
//! batch and user statuses. Progress leaves as typed [`events::SyncEvent`]s; nothing
//! here prints.

pub mod apply;
pub mod budget;
pub mod credentials;
pub mod events;
pub mod executor;
pub mod folder_map;
pub mod incremental;
pub mod lifecycle;
pub mod planner;
pub mod recovery;
pub mod runner;
pub mod scan;
mod subject;
pub mod test_hooks;

pub use events::{EventSink, SyncEvent};
pub use executor::{MailboxJob, PassOutcome, SyncError, sync_mailbox};
pub use runner::{BatchRun, RunError, run_batch, run_due};
