//! End-to-end tests: the `cutover` binary against real Dovecot (and Cyrus) servers started
//! by the tests themselves on loopback ports (see `support`). One binary, a module per area.

mod autodiscover;
mod bad_items;
mod biggest_first;
mod compression;
mod crash;
mod cyrus;
mod cyrus_cutover;
mod dashboard;
mod dav;
mod directory;
mod domains;
mod first_cutover;
mod fixture;
mod folders;
mod huge_numbers;
mod incremental;
mod large_messages;
mod leases;
mod lost_replies;
mod notifications;
mod oauth;
mod plan;
mod postgres;
mod powershell;
mod preflight;
mod proof;
mod reports;
mod serve;
mod stopping;
mod support;
mod test_server;
mod throttling;
mod workers;
