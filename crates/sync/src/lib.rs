//! The mailbox sync engine.
//!
//! Pure decisions: [`folder_map`] says where each source folder goes on the target,
//! [`planner`] which messages to copy and in what chunks, [`incremental`] what a pass
//! does to a folder's messages (copies, flag changes, removals), [`subscriptions`] whether
//! a target folder is subscribed or unsubscribed.
//!
//! The vocabulary every step of a pass shares (its job, each folder's work, its outcome
//! and errors) is the leaf [`pass`], so no step imports another through the orchestrator.
//! One mailbox's pass, [`executor::sync_mailbox`], runs the steps against the two IMAP
//! servers: [`lifecycle`] follows renamed and deleted folders, [`target_folders`] creates
//! the missing ones and changes subscriptions, [`scan`] looks at each
//! source folder as cheaply as the server allows (after [`recovery`] from a crash or a
//! new UIDVALIDITY), [`apply`] applies flag changes and removals, and `copy` moves the
//! messages within the shared memory [`budget`]. [`runner`] runs the passes that are due,
//! mailboxes in parallel within the endpoint's limits, and moves batch and user
//! statuses. Progress leaves as typed [`events::SyncEvent`]s; nothing here prints.
//! [`proof`] says when the source's answers prove a removal, and holds mass removals
//! for the admin's approval. [`worker`] names the process that holds the leases on mailboxes while it runs them.
//! [`test_hooks`] holds the pause points the crash tests kill the process at.

pub mod apply;
pub mod budget;
mod copy;
pub mod credentials;
pub mod events;
pub mod executor;
pub mod folder_map;
pub mod incremental;
pub mod lifecycle;
pub mod namespace;
pub mod pass;
pub mod planner;
pub mod proof;
pub mod recovery;
pub mod runner;
pub mod scan;
pub mod stop;
mod subject;
pub mod subscriptions;
pub mod target_folders;
pub mod test_hooks;
pub mod worker;

pub use events::{EventSink, SyncEvent};
pub use executor::{MailboxJob, PassOutcome, SyncError, sync_mailbox};
pub use runner::{BatchRun, OnError, Rounds, RunError, run_batch, run_due, work};
pub use stop::{StopReason, StopSignal};
pub use worker::Worker;
