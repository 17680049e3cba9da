//! NAMESPACE (RFC 2342): where a server keeps a user's own folders (`""` on most Dovecot
//! set-ups, `INBOX.` on Cyrus and Courier), other users' and shared folders.

use imap_types::command::CommandBody;

use crate::{error::ImapError, response::Untagged, session::Session};

/// One namespace: its prefix (wire bytes, with its trailing separator, e.g. `INBOX.`)
/// and its hierarchy separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub prefix: Vec<u8>,
    pub separator: Option<char>,
}

/// A server's namespaces, as it announced them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub personal: Vec<Namespace>,
    pub other: Vec<Namespace>,
    pub shared: Vec<Namespace>,
}

impl Session {
    /// NAMESPACE, when the server has it; `None` otherwise (the caller infers the
    /// personal prefix from LIST).
    pub async fn namespaces(&mut self) -> Result<Option<Namespaces>, ImapError> {
        if !self.caps.has("NAMESPACE") {
            return Ok(None);
        }
        let done = self.run("NAMESPACE", CommandBody::Namespace).await?;
        Ok(done.untagged.into_iter().find_map(|u| match u {
            Untagged::Namespace(n) => Some(n),
            _ => None,
        }))
    }
}
