//! cutover-imap: the IMAP client cutover copies mailboxes with.
//!
//! It speaks just what a byte-exact migration needs (login or admin PLAIN, LIST/LSUB,
//! SELECT/EXAMINE/STATUS, UID FETCH of metadata and bodies, APPEND/MULTIAPPEND with
//! APPENDUID) on tokio, with imap-codec doing the grammar. The layering:
//!
//! * `connection` owns the socket: framing (`framing`), decoding with imap-codec into
//!   our own owned types (`response`), sending commands fragment by fragment (waiting for
//!   `+` before synchronizing literals) and routing completions by tag.
//! * `session` connects (TCP, TLS or STARTTLS via `tls`) and runs mailbox commands;
//!   `auth`, `fetch` and `append` add the other commands to [`Session`].
//! * `mailbox` keeps mailbox names as wire bytes (modified UTF-7), decoded only for display.
//!
//! Memory follows what we ask for, not what a server sends: server-sent UID sets stay
//! ranges (`uid_set`), and every line, response, command's data and inflated byte is
//! held against a configurable [`Limits`], as is silence (idle timeouts).
//!
//! Real servers send things imap-codec rejects (O365 `OK [Error="..."]`, NUL bytes in
//! bodies). Those are recovered per message, never by losing the stream's framing.

mod append;
mod auth;
mod compress;
mod condstore;
mod connection;
mod error;
mod fetch;
mod framing;
mod limits;
mod mailbox;
mod namespace;
mod response;
mod session;
mod spool;
mod tls;
mod uid_set;

#[cfg(test)]
mod tests;

pub use append::{AppendMessage, AppendResult};
pub use auth::{
    Bearer, BearerError, BearerTokens, Credentials, OAuthMechanism, choose_oauth_mechanism,
    describe_refusal,
};
pub use condstore::{Changes, FlagChange};
pub use error::ImapError;
pub use fetch::{BodyResult, MessageMeta, uid_set_string};
pub use limits::{Limit, Limits};
pub use mailbox::{ListedMailbox, MailboxName};
pub use namespace::{Folders, ListedStatuses, Namespace, Namespaces};
pub use session::{
    Capabilities, CreateOutcome, FolderSetup, MailboxStatus, Security, SelectedMailbox, ServerAddr,
    Session,
};
pub use spool::{MessageBody, Spool};
pub use tls::TlsOptions;
pub use uid_set::{UidSet, UidSetError};
