//! One module per noun of the command line.

pub mod autodiscover;
pub mod batch;
pub mod dav;
pub mod directory;
pub mod dns;
pub mod domain;
pub mod endpoint;
pub mod job;
pub mod license;
pub mod notify;
pub mod report;
pub mod run;
pub mod serve;
pub mod state;
pub mod target;
pub mod test_server;
pub mod user;
pub mod verify;
