//! The service: `cutover serve` runs the workers and the HTTP API in one process.
//!
//! [`control`] holds the admin's operations on the batch (create, start, stop, remove),
//! shared by the CLI and the API; [`views`] how objects look to an admin in both
//! (Exchange's property names), [`report`] the batch's MigrationStatistics.csv and
//! MigrationErrors.csv built from them, [`proof`] the signed completeness proof and its
//! check, [`throughput`] the batch's throughput over time (the dashboard's chart);
//! [`notify`] the notification e-mails (what is due when, the mail, the SMTP relay);
//! [`organization`] the source and target directories read for a batch of the whole
//! organization and for preflight; [`licenses`] the license SKUs, assignments and the
//! grace period, and the enforcement that disables unlicensed users' logins;
//! [`calendars`] the calendars, contacts and tasks beside mail in the views.
//! [`api`] is the JSON API under `/api/v1` with its
//! generated OpenAPI document, guarded by the bearer token of [`auth`]; [`live`]
//! carries the workers' events to the API's event stream; [`dashboard`] serves the
//! dashboard's embedded files; [`tls`] HTTPS; [`scheduler`] turns batches into jobs and
//! runs them under leases (the loop of `cutover run`, `cutover worker` and `cutover
//! serve`); [`server`] puts the API and the scheduler together.

pub mod api;
pub mod auth;
pub mod calendars;
pub mod control;
pub mod dashboard;
pub mod licenses;
pub mod live;
pub mod notify;
pub mod organization;
pub mod proof;
pub mod provisioning;
pub mod report;
pub mod scheduler;
pub mod server;
pub mod throughput;
pub mod tls;
pub mod views;

pub use control::ControlError;
pub use server::{Listening, ServeError, ServeOptions, serve};
