//! UID FETCH of message metadata and bodies.
//!
//! Responses are keyed by UID, never by arrival order: Dovecot may answer out of order
//! (and interleave pipelined commands). Bodies are requested with `BODY.PEEK[]` so the
//! source's `\Seen` flags stay as they are.

use std::{
    collections::{BTreeMap, HashMap},
    num::NonZeroU32,
};

use chrono::{DateTime, FixedOffset};
use imap_types::{command::CommandBody, fetch::MessageDataItemName, sequence::SequenceSet};
use tracing::warn;

use crate::{
    error::ImapError,
    framing::{SET_ASIDE_FROM, Spill},
    mailbox::MailboxName,
    response::{FetchItems, Untagged},
    session::{SelectedMailbox, Session},
    spool::Spool,
};

/// What `fetch_meta` returns for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    /// As sent, without `\Recent`.
    pub flags: Vec<String>,
    pub internal_date: DateTime<FixedOffset>,
    pub size: u32,
}

/// Outcome of one message in [`Session::fetch_bodies`].
pub type BodyResult = Result<Vec<u8>, ImapError>;

impl Session {
    /// `UID FETCH <uid_set> (UID FLAGS INTERNALDATE RFC822.SIZE)` on the selected
    /// mailbox; `uid_set` like `"1:*"`. Sorted by UID. A message whose response cannot
    /// be decoded is logged and left out.
    pub async fn fetch_meta(&mut self, uid_set: &str) -> Result<Vec<MessageMeta>, ImapError> {
        let done = self.run("UID FETCH", meta_fetch(uid_set)?).await?;
        Ok(metas(done.untagged))
    }

    /// Each folder's EXAMINE and `UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)`,
    /// all of them in one round trip: what [`Session::examine`] and
    /// [`Session::fetch_meta`] give one folder after the other, at a round trip each. One
    /// result per folder, in order: a folder the server would not open (NO) is its error
    /// and leaves the others as they are. The outer error is the connection's. Afterwards
    /// the last folder that opened is selected (none when it did not).
    pub async fn examine_and_list(
        &mut self,
        names: &[MailboxName],
    ) -> Result<Vec<Result<(SelectedMailbox, Vec<MessageMeta>), ImapError>>, ImapError> {
        let mut commands = Vec::with_capacity(names.len() * 2);
        for name in names {
            let examine = CommandBody::Examine {
                mailbox: name.to_imap()?,
                parameters: Vec::new(),
            };
            let tag = self.conn.next_tag();
            commands.push((tag.clone(), crate::session::encode_command(&tag, examine)?));
            let tag = self.conn.next_tag();
            commands.push((
                tag.clone(),
                crate::session::encode_command(&tag, meta_fetch("1:*")?)?,
            ));
        }
        let done = self
            .conn
            .execute_each("EXAMINE/UID FETCH", commands)
            .await?;
        let mut out = Vec::with_capacity(names.len());
        let mut done = done.into_iter();
        while let (Some(examined), Some(listed)) = (done.next(), done.next()) {
            let selected = match examined.ok("EXAMINE").and_then(crate::session::selected) {
                Ok(s) => s,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            let listing = match listed.ok("UID FETCH") {
                Ok(l) => metas(l.untagged),
                // An empty folder has no `1:*` to fetch on some servers.
                Err(ImapError::No { .. } | ImapError::Bad { .. }) if selected.exists == Some(0) => {
                    Vec::new()
                }
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            out.push(Ok((selected, listing)));
        }
        Ok(out)
    }
}

/// `UID FETCH <uid_set> (UID FLAGS INTERNALDATE RFC822.SIZE)`.
fn meta_fetch(uid_set: &str) -> Result<CommandBody<'static>, ImapError> {
    let sequence_set = SequenceSet::try_from(uid_set)
        .map_err(|e| ImapError::InvalidArgument(format!("uid set {uid_set:?}: {e}")))?;
    Ok(CommandBody::Fetch {
        sequence_set,
        macro_or_item_names: vec![
            MessageDataItemName::Uid,
            MessageDataItemName::Flags,
            MessageDataItemName::InternalDate,
            MessageDataItemName::Rfc822Size,
        ]
        .into(),
        uid: true,
        modifiers: Vec::new(),
    })
}

/// The messages' metadata in a `UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE)` reply,
/// sorted by UID. A message whose response cannot be decoded is logged and left out.
fn metas(untagged: Vec<Untagged>) -> Vec<MessageMeta> {
    // A server may split one message's items over several FETCH responses.
    let mut merged: BTreeMap<u32, FetchItems> = BTreeMap::new();
    for u in untagged {
        match u {
            Untagged::Fetch(items) => {
                let Some(uid) = items.uid else { continue };
                let entry = merged.entry(uid).or_default();
                entry.uid = Some(uid);
                if items.flags.is_some() {
                    entry.flags = items.flags;
                }
                if items.internal_date.is_some() {
                    entry.internal_date = items.internal_date;
                }
                if items.size.is_some() {
                    entry.size = items.size;
                }
            }
            Untagged::FetchFailed { uid, reason } => {
                warn!(
                    ?uid,
                    reason, "skipping message whose metadata could not be read"
                );
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    for (uid, items) in merged {
        match (items.internal_date, items.size) {
            (Some(internal_date), Some(size)) => out.push(MessageMeta {
                uid,
                flags: items.flags.unwrap_or_default(),
                internal_date,
                size,
            }),
            // Typically an unsolicited flag update for a UID outside our set.
            _ => warn!(
                uid,
                "FETCH response without INTERNALDATE/RFC822.SIZE; skipped"
            ),
        }
    }
    out
}

impl Session {
    /// `UID FETCH <uids> (UID BODY.PEEK[])` on the selected mailbox.
    ///
    /// Returns `(uid, result)` for every requested UID the server answered for, in the
    /// order of `uids`; UIDs it did not answer for (expunged) are absent. A message whose
    /// response imap-codec cannot decode (a NUL byte in the literal, or longer than
    /// [`Limits::max_literal`](crate::Limits::max_literal)) does not fail the batch: it is retried alone with `BINARY.PEEK[]` when the
    /// server has BINARY (RFC 3516), and reported as an `Err` for that UID otherwise.
    /// Keep each call's total small (e.g. <= 8 MB).
    pub async fn fetch_bodies(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<(u32, BodyResult)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set_string(uids)?;
        let done = self.fetch_items(&set, whole_body()).await?;
        let (bodies, failed) = bodies_of(done.untagged);
        self.with_binary_fallback(uids, bodies, failed).await
    }

    /// Each folder's EXAMINE and `UID FETCH <uids> (UID BODY.PEEK[])`, all of them in one
    /// round trip: small folders of a distant source at one round trip for all instead
    /// of two each. Per folder, in order, what [`Session::examine`] and
    /// [`Session::fetch_bodies`] give it, or the error of a folder the server would not
    /// open; a body that needs the BINARY fallback is asked for after the round, its
    /// folder opened again. The outer error is the connection's. Afterwards one of the
    /// folders is selected.
    #[allow(clippy::type_complexity)]
    pub async fn examine_and_fetch(
        &mut self,
        folders: &[(MailboxName, Vec<u32>)],
    ) -> Result<Vec<Result<(SelectedMailbox, Vec<(u32, BodyResult)>), ImapError>>, ImapError> {
        let mut commands = Vec::with_capacity(folders.len() * 2);
        for (name, uids) in folders {
            let examine = CommandBody::Examine {
                mailbox: name.to_imap()?,
                parameters: Vec::new(),
            };
            let tag = self.conn.next_tag();
            commands.push((tag.clone(), crate::session::encode_command(&tag, examine)?));
            let fetch = uid_fetch(&uid_set_string(uids)?, whole_body())?;
            let tag = self.conn.next_tag();
            commands.push((tag.clone(), crate::session::encode_command(&tag, fetch)?));
        }
        let done = self
            .conn
            .execute_each("EXAMINE/UID FETCH", commands)
            .await?;
        let mut answers = Vec::with_capacity(folders.len());
        let mut done = done.into_iter();
        while let (Some(examined), Some(fetched)) = (done.next(), done.next()) {
            let selected = examined.ok("EXAMINE").and_then(crate::session::selected);
            answers.push(selected.and_then(|s| Ok((s, fetched.ok("UID FETCH")?))));
        }
        let mut out = Vec::with_capacity(folders.len());
        for ((name, uids), answer) in folders.iter().zip(answers) {
            let (selected, fetched) = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            let (bodies, failed) = bodies_of(fetched.untagged);
            if !failed.is_empty() && self.caps.has("BINARY") {
                self.examine(name).await?;
            }
            let bodies = self.with_binary_fallback(uids, bodies, failed).await?;
            out.push(Ok((selected, bodies)));
        }
        Ok(out)
    }

    /// The bodies asked for, in the order of `uids`, those that could not be read asked
    /// for again with `BINARY.PEEK[]` (on the selected folder) where the server has it.
    async fn with_binary_fallback(
        &mut self,
        uids: &[u32],
        mut bodies: HashMap<u32, BodyResult>,
        failed: Vec<(u32, String)>,
    ) -> Result<Vec<(u32, BodyResult)>, ImapError> {
        for (uid, reason) in failed {
            if !uids.contains(&uid) {
                continue;
            }
            let result = if self.caps.has("BINARY") {
                warn!(uid, reason, "retrying with BINARY.PEEK[]");
                self.fetch_binary(uid, None).await?
            } else {
                Err(ImapError::Protocol(format!("UID {uid}: {reason}")))
            };
            bodies.insert(uid, result);
        }
        let mut out = Vec::with_capacity(bodies.len());
        for &uid in uids {
            if let Some(result) = bodies.remove(&uid) {
                out.push((uid, result));
            }
        }
        Ok(out)
    }

    /// `UID FETCH <uid> (UID BODY.PEEK[]<offset.len>)`: one piece of a large message.
    /// The piece is shorter than `len` at the end of the message (empty past it).
    /// Falls back to `BINARY.PEEK[]<offset.len>` like [`Session::fetch_bodies`].
    pub async fn fetch_body_piece(
        &mut self,
        uid: u32,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, ImapError> {
        let offset = imap_offset(offset)?;
        let Some(len) = NonZeroU32::new(len) else {
            return Ok(Vec::new());
        };
        let set = uid_set_string(&[uid])?;
        let done = self.fetch_items(&set, body_piece(offset, len)).await?;
        let mut failure = None;
        for u in done.untagged {
            match u {
                Untagged::Fetch(FetchItems {
                    uid: Some(got),
                    body: Some(body),
                    ..
                }) if got == uid => {
                    if body.origin.is_some_and(|o| o != offset) {
                        return Err(ImapError::Protocol(format!(
                            "UID {uid}: asked for offset {offset}, got {:?}",
                            body.origin
                        )));
                    }
                    return body.data.ok_or_else(|| {
                        ImapError::Protocol(format!("server sent NIL as the body of UID {uid}"))
                    });
                }
                Untagged::FetchFailed {
                    uid: Some(got),
                    reason,
                } if got == uid => failure = Some(reason),
                _ => {}
            }
        }
        match failure {
            Some(reason) if self.caps.has("BINARY") => {
                warn!(uid, reason, "retrying piece with BINARY.PEEK[]");
                self.fetch_binary(uid, Some((offset, len))).await?
            }
            Some(reason) => Err(ImapError::Protocol(format!("UID {uid}: {reason}"))),
            None => Err(ImapError::NotFound { uid }),
        }
    }

    /// `UID FETCH <uid> (UID BODY.PEEK[])` for each message, pipelined, every body going
    /// into a temporary file as it arrives: a message of any size is fetched whole, in
    /// one command, holding one read in memory. (Whole, because a server serves that
    /// cheaper than pieces: Dovecot 2.3 spent 70% more CPU on a corpus fetched in 1 MiB
    /// pieces.) `messages` are `(uid, RFC822.SIZE)`; a body announced at more than twice
    /// its size plus [`SPOOL_SLACK`] is not written to disk but read past, and reported
    /// for its message (a server cannot fill the disk with a literal without end).
    ///
    /// Results as [`Session::fetch_bodies`]: in the order asked, UIDs the server did not
    /// answer for (expunged) absent, a body with a NUL asked for again with
    /// `BINARY.PEEK[]` where the server has BINARY, and a message's own failure its `Err`.
    /// The outer error is the connection's.
    pub async fn fetch_spooled(
        &mut self,
        messages: &[(u32, u64)],
    ) -> Result<Vec<(u32, Result<Spool, ImapError>)>, ImapError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let max = messages
            .iter()
            .map(|&(_, size)| size.saturating_mul(2).saturating_add(SPOOL_SLACK))
            .max()
            .unwrap_or(SPOOL_SLACK);
        self.conn.spill(Some(Spill {
            from: SET_ASIDE_FROM,
            max,
        }));
        let result = self.fetch_spooled_with_binary(messages).await;
        self.conn.spill(None);
        result
    }

    async fn fetch_spooled_with_binary(
        &mut self,
        messages: &[(u32, u64)],
    ) -> Result<Vec<(u32, Result<Spool, ImapError>)>, ImapError> {
        let uids: Vec<u32> = messages.iter().map(|m| m.0).collect();
        let mut got = self.spooled_round(&uids, whole_body()).await?;
        let unreadable: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|uid| matches!(got.get(uid), Some(Spooled::Unreadable(_))))
            .collect();
        if !unreadable.is_empty() && self.caps.has("BINARY") {
            warn!(uids = ?unreadable, "retrying with BINARY.PEEK[]");
            let binary = MessageDataItemName::Binary {
                section: Vec::new(),
                partial: None,
                peek: true,
            };
            for (uid, again) in self.spooled_round(&unreadable, binary).await? {
                let again = match again {
                    Spooled::Unreadable(reason) => Spooled::Failed(ImapError::Protocol(format!(
                        "UID {uid}: BINARY fallback failed too: {reason}"
                    ))),
                    other => other,
                };
                got.insert(uid, again);
            }
        }
        let mut out = Vec::with_capacity(uids.len());
        for uid in uids {
            match got.remove(&uid) {
                Some(Spooled::Body(spool)) => out.push((uid, Ok(spool))),
                Some(Spooled::Failed(e)) => out.push((uid, Err(e))),
                Some(Spooled::Unreadable(reason)) => out.push((
                    uid,
                    Err(ImapError::Protocol(format!("UID {uid}: {reason}"))),
                )),
                None => {}
            }
        }
        Ok(out)
    }

    /// One pipelined `UID FETCH <uid> (UID <item>)` per message, bodies spooled.
    async fn spooled_round(
        &mut self,
        uids: &[u32],
        item: MessageDataItemName<'static>,
    ) -> Result<HashMap<u32, Spooled>, ImapError> {
        let mut commands = Vec::with_capacity(uids.len());
        for &uid in uids {
            let body = uid_fetch(&uid_set_string(&[uid])?, item.clone())?;
            let tag = self.conn.next_tag();
            let parts = crate::session::encode_command(&tag, body)?;
            commands.push((tag, parts));
        }
        let (untagged, statuses) = self.conn.execute_pipelined("UID FETCH", commands).await?;
        let mut spools: HashMap<u32, Spool> = self.conn.take_spooled().into_iter().collect();
        let mut got: HashMap<u32, Spooled> = HashMap::new();
        for u in untagged {
            match u {
                Untagged::Fetch(FetchItems {
                    uid: Some(uid),
                    body: Some(body),
                    ..
                }) if uids.contains(&uid) => {
                    let spooled = match (spools.remove(&uid), body.data) {
                        (Some(spool), _) => Spooled::Body(spool),
                        // Short enough to have stayed in memory.
                        (None, Some(bytes)) => {
                            let mut spool = Spool::new()?;
                            spool.append(&bytes)?;
                            Spooled::Body(spool)
                        }
                        (None, None) => Spooled::Failed(ImapError::Protocol(format!(
                            "server sent NIL as the body of UID {uid}"
                        ))),
                    };
                    got.insert(uid, spooled);
                }
                Untagged::FetchFailed {
                    uid: Some(uid),
                    reason,
                } if uids.contains(&uid) => {
                    got.insert(uid, Spooled::Unreadable(reason));
                }
                _ => {}
            }
        }
        for (&uid, status) in uids.iter().zip(statuses) {
            if let Err(e) = status.check("UID FETCH") {
                got.insert(uid, Spooled::Failed(e));
            }
        }
        Ok(got)
    }

    async fn fetch_items(
        &mut self,
        set: &str,
        item: MessageDataItemName<'static>,
    ) -> Result<crate::connection::Completion, ImapError> {
        self.run("UID FETCH", uid_fetch(set, item)?).await
    }

    /// The outer result is a connection-level failure; the inner one is this message's.
    async fn fetch_binary(
        &mut self,
        uid: u32,
        partial: Option<(u32, NonZeroU32)>,
    ) -> Result<BodyResult, ImapError> {
        let set = uid_set_string(&[uid])?;
        let done = match self
            .fetch_items(
                &set,
                MessageDataItemName::Binary {
                    section: Vec::new(),
                    partial,
                    peek: true,
                },
            )
            .await
        {
            Ok(done) => done,
            Err(e @ (ImapError::No { .. } | ImapError::Bad { .. })) => return Ok(Err(e)),
            Err(e) => return Err(e),
        };
        for u in done.untagged {
            match u {
                Untagged::Fetch(FetchItems {
                    uid: Some(got),
                    body: Some(body),
                    ..
                }) if got == uid => {
                    return Ok(body.data.ok_or_else(|| {
                        ImapError::Protocol(format!("server sent NIL as BINARY of UID {uid}"))
                    }));
                }
                Untagged::FetchFailed {
                    uid: Some(got),
                    reason,
                } if got == uid => {
                    return Ok(Err(ImapError::Protocol(format!(
                        "UID {uid}: BINARY fallback failed too: {reason}"
                    ))));
                }
                _ => {}
            }
        }
        Ok(Err(ImapError::NotFound { uid }))
    }
}

/// `BODY.PEEK[]`: the whole message, unchanged, without setting `\Seen`.
fn whole_body() -> MessageDataItemName<'static> {
    MessageDataItemName::BodyExt {
        section: None,
        partial: None,
        peek: true,
    }
}

/// The bodies in a FETCH reply by UID, and the messages whose reply could not be read.
fn bodies_of(untagged: Vec<Untagged>) -> (HashMap<u32, BodyResult>, Vec<(u32, String)>) {
    let mut bodies: HashMap<u32, BodyResult> = HashMap::new();
    let mut failed = Vec::new();
    for u in untagged {
        match u {
            Untagged::Fetch(FetchItems {
                uid: Some(uid),
                body: Some(body),
                ..
            }) => {
                let result = body.data.ok_or_else(|| {
                    ImapError::Protocol(format!("server sent NIL as the body of UID {uid}"))
                });
                bodies.insert(uid, result);
            }
            Untagged::FetchFailed {
                uid: Some(uid),
                reason,
            } => failed.push((uid, reason)),
            Untagged::FetchFailed { uid: None, reason } => {
                warn!(
                    reason,
                    "undecodable FETCH response without a UID; that message will be missing"
                );
            }
            _ => {}
        }
    }
    (bodies, failed)
}

/// What one message's spooled fetch gave.
enum Spooled {
    Body(Spool),
    /// The server answered, but not in a way that can be read (a NUL outside a literal8).
    Unreadable(String),
    Failed(ImapError),
}

/// Bytes a spooled body may go beyond twice its RFC822.SIZE.
pub const SPOOL_SLACK: u64 = 64 * 1024 * 1024;

/// `UID FETCH <set> (UID <item>)`.
fn uid_fetch(
    set: &str,
    item: MessageDataItemName<'static>,
) -> Result<CommandBody<'static>, ImapError> {
    let sequence_set = SequenceSet::try_from(set)
        .map_err(|e| ImapError::InvalidArgument(format!("uid set {set:?}: {e}")))?;
    Ok(CommandBody::Fetch {
        sequence_set,
        macro_or_item_names: vec![MessageDataItemName::Uid, item].into(),
        uid: true,
        modifiers: Vec::new(),
    })
}

/// `BODY.PEEK[]<origin.len>`.
fn body_piece(origin: u32, len: NonZeroU32) -> MessageDataItemName<'static> {
    MessageDataItemName::BodyExt {
        section: None,
        partial: Some((origin, len)),
        peek: true,
    }
}

/// A byte offset as IMAP's partial fetch takes it (32 bits).
fn imap_offset(offset: u64) -> Result<u32, ImapError> {
    u32::try_from(offset).map_err(|_| {
        ImapError::InvalidArgument(format!("offset {offset} exceeds what IMAP can express"))
    })
}

/// An IMAP UID set (`3,5:7`) from UIDs in any order.
pub fn uid_set_string(uids: &[u32]) -> Result<String, ImapError> {
    if uids.contains(&0) {
        return Err(ImapError::InvalidArgument("UID 0 does not exist".into()));
    }
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set_string(&[7, 3, 5, 6, 6]).unwrap(), "3,5:7");
        assert_eq!(uid_set_string(&[1]).unwrap(), "1");
        assert!(uid_set_string(&[0]).is_err());
    }
}
