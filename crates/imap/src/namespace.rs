//! NAMESPACE (RFC 2342): where a server keeps a user's own folders (`""` on most Dovecot
//! set-ups, `INBOX.` on Cyrus and Courier), other users' and shared folders.

use imap_types::command::CommandBody;

use crate::{
    connection::Out,
    error::ImapError,
    mailbox::{ListedMailbox, MailboxName},
    response::{StatusKind, Untagged},
    session::{MailboxStatus, Session, encode_command, status_item_name, status_of},
};

/// A mailbox's folders, subscriptions and namespaces, read in one round trip
/// ([`Session::folders`]).
#[derive(Debug, Clone, Default)]
pub struct Folders {
    /// As [`Session::list_special_use`] lists them.
    pub listed: Vec<ListedMailbox>,
    /// As [`Session::lsub`] lists them.
    pub subscribed: Vec<ListedMailbox>,
    /// As [`Session::namespaces`] says.
    pub namespaces: Option<Namespaces>,
    /// The listed folders' STATUS, where the LIST asked for it (LIST-STATUS, RFC 5819):
    /// see [`Session::enable_and_list`].
    pub statuses: ListedStatuses,
}

/// The STATUS the server sent with its LIST (LIST-STATUS, RFC 5819), of every listed
/// folder it could tell; a folder it could not tell has none, and is asked on its own
/// ([`Session::statuses_after_listing`]).
#[derive(Debug, Clone, Default)]
pub struct ListedStatuses(Vec<Untagged>);

impl ListedStatuses {
    /// `name`'s STATUS, if the LIST carried it.
    pub fn get(&self, name: &MailboxName) -> Option<MailboxStatus> {
        status_of(name, &self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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
    /// LIST (with special-use attributes where the server offers them), LSUB and
    /// NAMESPACE, pipelined: a round trip where they took three. The replies are told
    /// apart by their kind, so the server may interleave them. A server that refuses
    /// `RETURN (SPECIAL-USE)` (BAD) is listed again plainly, as
    /// [`Session::list_special_use`] does.
    pub async fn folders(&mut self) -> Result<Folders, ImapError> {
        Ok(self.enable_and_list(&[], false).await?.0)
    }

    /// [`Session::enable`] of `extensions`, then [`Session::folders`], in the same round
    /// trip (ENABLE must only come before a SELECT, and LIST selects nothing). Returns the
    /// folders and what was enabled.
    ///
    /// `with_status`: where the server has LIST-STATUS (RFC 5819), the LIST also returns
    /// every folder's STATUS, as [`Session::statuses`] asks for it, in the same round trip
    /// ([`Folders::statuses`]). A server that refuses that LIST (BAD) is listed plainly.
    pub async fn enable_and_list(
        &mut self,
        extensions: &[&str],
        with_status: bool,
    ) -> Result<(Folders, Vec<String>), ImapError> {
        let special_use = self.caps.has("SPECIAL-USE") || self.caps.has("LIST-EXTENDED");
        let list_status = with_status && self.caps.has("LIST-STATUS");
        let with_namespaces = self.caps.has("NAMESPACE");
        let mut commands = Vec::with_capacity(4);
        let enabling = match self.enable_command(extensions)? {
            Some(body) => {
                let tag = self.conn.next_tag();
                commands.push((tag.clone(), encode_command(&tag, body)?));
                true
            }
            None => false,
        };
        let tag = self.conn.next_tag();
        let list = if special_use || list_status {
            // imap-codec has no type for LIST return options, so this one line is ours.
            let mut options = Vec::new();
            if special_use {
                options.push("SPECIAL-USE".to_string());
            }
            if list_status {
                let items: Vec<&str> = self.status_items().iter().map(status_item_name).collect();
                options.push(format!("STATUS ({})", items.join(" ")));
            }
            let line = format!("{tag} LIST \"\" \"*\" RETURN ({})\r\n", options.join(" "));
            vec![Out::Bytes(line.into_bytes().into())]
        } else {
            let body = CommandBody::list("", "*")
                .map_err(|e| ImapError::InvalidArgument(format!("LIST: {e:?}")))?;
            encode_command(&tag, body)?
        };
        commands.push((tag, list));
        let tag = self.conn.next_tag();
        let body = CommandBody::lsub("", "*")
            .map_err(|e| ImapError::InvalidArgument(format!("LSUB: {e:?}")))?;
        commands.push((tag.clone(), encode_command(&tag, body)?));
        if with_namespaces {
            let tag = self.conn.next_tag();
            commands.push((tag.clone(), encode_command(&tag, CommandBody::Namespace)?));
        }
        let (untagged, statuses) = self
            .conn
            .execute_pipelined(
                if enabling {
                    "ENABLE/LIST/LSUB/NAMESPACE"
                } else {
                    "LIST/LSUB/NAMESPACE"
                },
                commands,
            )
            .await?;
        let mut folders = Folders::default();
        for u in untagged {
            match u {
                Untagged::List(l) => folders.listed.push(l),
                Untagged::Lsub(l) => folders.subscribed.push(l),
                Untagged::Namespace(n) => folders.namespaces = Some(n),
                status @ Untagged::Status { .. } if list_status => folders.statuses.0.push(status),
                _ => {}
            }
        }
        let mut statuses = statuses.into_iter();
        let mut enabled = Vec::new();
        if enabling && let Some(enable) = statuses.next() {
            enable.check("ENABLE")?;
            enabled = self.enabled_of(extensions);
        }
        if let Some(list) = statuses.next() {
            if (special_use || list_status) && list.kind == StatusKind::Bad {
                tracing::debug!("LIST with return options refused; listing without STATUS");
                // The special-use attributes still count (an \All folder copied as a
                // folder would hold every message twice): asked for on their own, which
                // falls back to a plain LIST where refused too.
                folders.listed = if special_use && list_status {
                    self.list_special_use().await?
                } else {
                    self.list().await?
                };
                folders.statuses = ListedStatuses::default();
            } else {
                list.check("LIST")?;
            }
        }
        if let Some(lsub) = statuses.next() {
            lsub.check("LSUB")?;
        }
        if let Some(namespace) = statuses.next() {
            namespace.check("NAMESPACE")?;
        }
        Ok((folders, enabled))
    }

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
