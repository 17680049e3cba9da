//! One error type for the whole client. Messages never carry secrets: server text
//! is included, but nothing the client sent during authentication.

use std::time::Duration;

use crate::limits::Limit;

/// Everything that can go wrong talking to an IMAP server.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by server")]
    ConnectionClosed,
    /// Nothing was read or written for `after` (the idle timeout) during `command`; or
    /// the TLS handshake or the greeting took longer than that.
    #[error("the server {server} stopped answering during {command} after {}", secs(*after))]
    Timeout {
        server: String,
        command: &'static str,
        after: Duration,
    },
    /// The server sent more than a [`Limits`](crate::Limits) allows. The command failed and
    /// the connection was dropped; retrying gives the same result until the limit is
    /// raised (with the environment variable named in the message).
    #[error(
        "the server {server} sent {} during {command} (limit: {limit}; raise {} if the server is right)",
        limit.what(*value),
        limit.env()
    )]
    LimitExceeded {
        server: String,
        command: &'static str,
        limit: Limit,
        /// The configured limit.
        value: u64,
    },
    /// An earlier command failed in a way that left the connection out of step with the
    /// server (a timeout, a limit, a broken stream): it takes no more commands.
    #[error("the connection was dropped after an earlier failure: {cause}")]
    ConnectionUnusable { cause: String, transient: bool },
    #[error("server said BYE: {text}")]
    Bye { text: String },
    #[error("authentication failed: {text}")]
    AuthenticationFailed { text: String },
    /// No OAuth token could be had for the login (the token endpoint refused or could
    /// not be reached); nothing was sent to the IMAP server.
    #[error("no OAuth token: {text}")]
    Token { text: String, transient: bool },
    #[error("{command} failed: {}{text}", code.as_ref().map(|c| format!("[{c}] ")).unwrap_or_default())]
    No {
        command: &'static str,
        code: Option<String>,
        text: String,
    },
    #[error("{command} rejected as bad command: {text}")]
    Bad { command: &'static str, text: String },
    /// The server answered the FETCH without data for this UID (expunged meanwhile?).
    #[error("server returned no data for UID {uid}")]
    NotFound { uid: u32 },
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A caller-supplied value cannot be sent (mailbox name with CR/LF/8-bit bytes,
    /// malformed flag, UID 0...). Nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Without MULTIAPPEND messages go one APPEND at a time; this reports that the first
    /// `appended` messages made it (their UIDs are in `uids`) before `source` stopped the rest.
    #[error("APPEND stopped after {appended} message(s): {source}")]
    PartialAppend {
        appended: usize,
        uid_validity: Option<u32>,
        uids: Vec<Option<u32>>,
        #[source]
        source: Box<ImapError>,
    },
}

impl ImapError {
    /// Whether retrying later (on a fresh connection) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ImapError::Connect { .. }
            | ImapError::Io(_)
            | ImapError::ConnectionClosed
            | ImapError::Timeout { .. }
            | ImapError::Bye { .. } => true,
            ImapError::ConnectionUnusable { transient, .. } => *transient,
            ImapError::Token { transient, .. } => *transient,
            // RFC 5530: UNAVAILABLE and INUSE are the temporary failure codes.
            ImapError::No {
                code: Some(code), ..
            } => {
                let name = code.split_ascii_whitespace().next().unwrap_or("");
                name.eq_ignore_ascii_case("UNAVAILABLE") || name.eq_ignore_ascii_case("INUSE")
            }
            ImapError::PartialAppend { source, .. } => source.is_transient(),
            _ => false,
        }
    }

    /// The response code name of a NO (e.g. "TOOBIG", "OVERQUOTA"), upper-cased.
    pub fn code_name(&self) -> Option<String> {
        match self {
            ImapError::No {
                code: Some(code), ..
            } => code
                .split_ascii_whitespace()
                .next()
                .map(|s| s.to_ascii_uppercase()),
            ImapError::PartialAppend { source, .. } => source.code_name(),
            _ => None,
        }
    }
}

/// `120 s`, `1.5 s`, `0.05 s`.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} s", (d.as_millis() as f64) / 1000.0)
    }
}
