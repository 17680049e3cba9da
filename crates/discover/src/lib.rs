//! Finding a source server from an address, and checking DNS during a cutover.
//!
//! `discovery` tries, in order, RFC 6186 SRV records, Mozilla autoconfig, Microsoft
//! Autodiscover (POX) and host names guessed from the domain and its MX records, and
//! records why each method found nothing. `dns` is the one resolver everything uses
//! (the system's or `--dns-server`), also for HTTPS requests. The decisions are plain
//! functions tested without servers: `srv` (ordering), `autoconfig` and `pox`
//! (parsing), `mx` (comparing MX hosts with the target, guessing IMAP hosts), `guard`
//! (may the batch be removed yet), `domain` (verification tokens), `trust` (which
//! hosts may get the admin's login, which settings its password).

pub mod autoconfig;
pub mod discovery;
pub mod dns;
pub mod domain;
pub mod guard;
pub mod mx;
pub mod pox;
pub mod settings;
pub mod srv;
pub mod trust;

pub use discovery::{DiscoverOptions, discover};
pub use dns::{Dns, DnsError, ResolverSetupError};
pub use mx::{MxRecord, MxState};
pub use settings::{Attempt, Discovery, ImapSettings, Method, Withheld};
