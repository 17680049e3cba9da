//! The source organization's directory, read over LDAP (Active Directory or OpenLDAP).
//!
//! [`reader`] is the only IO: it connects with strict TLS (LDAPS or StartTLS), binds,
//! reads every recipient object with paged results and joins AD's ranged attributes
//! into plain [`Entry`] values. [`recipient_from_entry`] is the pure mapping from an
//! entry to a [`Recipient`] (kind, primary SMTP address, aliases, members, manager,
//! delegates), over the attribute names of a profile ([`AttributeNames`]).
//! [`preflight`] is the pure decision of what must be fixed before a cutover starts,
//! over facts read from both directories, the batch and the accepted domains; the
//! target's directory is read with the same reader. [`provision`] decides what the
//! target should hold (pure); [`writer`] writes it there and sets initial passwords.
//! [`login`] disables and enables a user's login on the target directory for the
//! license enforcement (ppolicy's lock on OpenLDAP, ACCOUNTDISABLE on AD).

pub mod attributes;
pub mod entry;
pub mod error;
pub mod login;
pub mod preflight;
pub mod provision;
pub mod reader;
pub mod recipient;
pub mod target;
pub mod writer;

pub use attributes::{AttributeNames, Field, MEMBER_RANGE_STEP, parse_override};
pub use entry::{Entry, ValueRange, join_next_range, parse_ranged};
pub use error::DirectoryError;
pub use login::{LoginEdit, LoginOutcome, LoginWriter, login_edit};
pub use preflight::{
    BatchUser, Code, DomainFact, Finding, PreflightFacts, Severity, TargetFacts, preflight,
};
pub use provision::{DesiredEntry, Member, desired_entries, joining, needs_writing};
pub use reader::{BaseCheck, DirectoryReader, PAGE_SIZE};
pub use recipient::{GROUP_TYPE_SECURITY, Recipient, is_security_group_type, recipient_from_entry};
pub use target::read_target;
pub use writer::{DirectoryWriter, OpenLdapWriter, Written, initial_password};
