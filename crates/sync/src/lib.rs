//! The mailbox sync engine.
//!
//! One mailbox's pass is observe -> plan -> apply, run by [`executor::sync_mailbox`]:
//! `observe` reads both IMAP servers and the store (the listings and namespaces, the
//! folders renamed and gone ([`lifecycle`]), each source folder as cheaply as the server
//! allows ([`scan`]), and what a crash or a new UIDVALIDITY left ([`recovery`])) into
//! plain [`facts`]; [`plan`] is one pure function from those facts to typed steps; and
//! [`apply`] is the only code that writes to the target and the store ([`target_folders`],
//! lifecycle's rename and delete, and `copy`'s pipelined fetch and append, with the
//! flag changes and removals of `message_changes`; on a distant source on several
//! connections per side, as [`lanes`] decides). [`executor::plan_pass`] stops
//! before apply: `cutover batch plan`.
//!
//! The pure decisions the plan uses: [`folder_map`] says where each source folder goes on
//! the target, [`namespace`] takes each side's personal namespace off and puts it on,
//! [`planner`] which messages to copy and in what chunks, [`incremental`] what a pass
//! does to a folder's messages (copies, flag changes, removals), [`subscriptions`]
//! whether a target folder is subscribed or unsubscribed, and [`proof`] when the source's
//! answers prove a removal, and the brake that holds mass removals for the admin.
//!
//! The vocabulary every part shares ([`pass`]: the job, the outcome, the errors; and
//! [`facts`]) are leaves, so nothing imports another through the orchestrator
//! (`tests/module_graph.rs`). [`runner`] is a user's pass as a job of the scheduler (in
//! the service crate) runs it: one attempt, its typed outcome, and the user's status and
//! statistics; passes share the memory [`budget`] of their process, and [`throttle`]
//! tells a server's refusal for load from other failures. Progress leaves as typed
//! [`events::SyncEvent`]s; nothing here prints. [`completeness`] accounts for every
//! message of a folder on both sides (pure), and [`audit`] lists both servers for it: the
//! completeness proof. [`worker`] names the process that holds the leases on jobs while
//! it runs them. [`test_hooks`] holds the pause points the crash tests kill the process at.

pub mod apply;
pub mod audit;
pub mod budget;
pub mod completeness;
mod connect;
mod copy;
pub mod credentials;
pub mod events;
pub mod executor;
pub mod facts;
pub mod folder_map;
pub mod glance;
pub mod incremental;
pub mod lanes;
pub mod lifecycle;
pub mod link;
pub mod listing;
mod message_changes;
pub mod namespace;
pub mod no_mailbox;
mod observe;
pub mod pass;
pub mod plan;
pub mod planner;
pub mod proof;
pub mod recovery;
pub mod runner;
pub mod scan;
pub mod sizing;
pub mod stop;
mod subject;
pub mod subscriptions;
pub mod target_folders;
pub mod test_hooks;
pub mod throttle;
pub mod worker;

pub use events::{EventSink, SyncEvent};
pub use executor::{MailboxJob, PassOutcome, SyncError, plan_pass, sync_mailbox};
pub use plan::{MailboxPlan, Step};
pub use runner::{
    Attempt, RunError, Sides, attempt_pass, audit_batch, begin_pass, end_pass, plan_batch,
    size_sources, stopped,
};
pub use stop::{StopReason, StopSignal};
pub use worker::Worker;
