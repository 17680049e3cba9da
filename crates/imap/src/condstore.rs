//! CONDSTORE and QRESYNC (RFC 7162): what changed in a mailbox since a mod-sequence,
//! without listing every message. Also the commands that apply changes on a target:
//! UID STORE of flags, UID EXPUNGE (RFC 4315), UID SEARCH for the UIDs that exist.

use std::num::NonZeroU64;

use imap_types::{
    command::{CommandBody, FetchModifier},
    core::Vec1,
    extensions::enable::CapabilityEnable,
    fetch::MessageDataItemName,
    flag::{Flag, StoreResponse, StoreType},
    search::SearchKey,
    sequence::SequenceSet,
};

use crate::{
    connection::{Logging, Out},
    error::ImapError,
    fetch::uid_set_string,
    response::{FetchItems, Untagged},
    session::Session,
    uid_set::UidSet,
};

/// What changed in the selected mailbox since a mod-sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// (UID, flags as sent without `\Recent`) of every message whose flags changed,
    /// new messages included.
    pub flags: Vec<(u32, Vec<String>)>,
    /// UIDs expunged since (only with QRESYNC's VANISHED), as the server's ranges:
    /// compare them with the UIDs you know ([`UidSet::intersect`]), never list them.
    pub vanished: UidSet,
}

/// How a flag change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    Add,
    Remove,
}

fn flags_of(flags: &[String]) -> Result<Vec<Flag<'_>>, ImapError> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| {
            Flag::try_from(f.as_str())
                .map_err(|e| ImapError::InvalidArgument(format!("flag {f:?}: {e:?}")))
        })
        .collect()
}

impl Session {
    /// ENABLE (RFC 5161) the given extensions, e.g. "QRESYNC". Returns what the server
    /// enabled; an empty list when it has no ENABLE.
    pub async fn enable(&mut self, extensions: &[&str]) -> Result<Vec<String>, ImapError> {
        let Some(body) = self.enable_command(extensions)? else {
            return Ok(Vec::new());
        };
        self.run("ENABLE", body).await?;
        Ok(self.enabled_of(extensions))
    }

    /// The ENABLE command for `extensions`; `None` when the server has no ENABLE or
    /// there is nothing to enable.
    pub(crate) fn enable_command<'e>(
        &self,
        extensions: &[&'e str],
    ) -> Result<Option<CommandBody<'e>>, ImapError> {
        if !self.caps.has("ENABLE") || extensions.is_empty() {
            return Ok(None);
        }
        let caps: Vec<CapabilityEnable<'e>> = extensions
            .iter()
            .map(|e| {
                CapabilityEnable::try_from(*e)
                    .map_err(|err| ImapError::InvalidArgument(format!("ENABLE {e}: {err:?}")))
            })
            .collect::<Result<_, _>>()?;
        let capabilities = Vec1::try_from(caps)
            .map_err(|_| ImapError::InvalidArgument("ENABLE needs a capability".into()))?;
        Ok(Some(CommandBody::Enable { capabilities }))
    }

    /// What an accepted ENABLE of `extensions` enabled: a server enables what it
    /// advertises and ignores the rest (RFC 5161).
    pub(crate) fn enabled_of(&self, extensions: &[&str]) -> Vec<String> {
        extensions
            .iter()
            .filter(|e| self.caps.has(e))
            .map(|e| e.to_string())
            .collect()
    }

    /// `UID FETCH <set> (UID FLAGS) (CHANGEDSINCE <modseq> [VANISHED])` on the selected
    /// mailbox. `vanished` needs QRESYNC enabled.
    pub async fn fetch_changed(
        &mut self,
        uid_set: &str,
        changed_since: u64,
        vanished: bool,
    ) -> Result<Changes, ImapError> {
        let sequence_set = SequenceSet::try_from(uid_set)
            .map_err(|e| ImapError::InvalidArgument(format!("uid set {uid_set:?}: {e}")))?;
        let since = NonZeroU64::new(changed_since).unwrap_or(NonZeroU64::MIN);
        let mut modifiers = vec![FetchModifier::ChangedSince(since)];
        if vanished {
            modifiers.push(FetchModifier::Vanished);
        }
        let body = CommandBody::Fetch {
            sequence_set,
            macro_or_item_names: vec![MessageDataItemName::Uid, MessageDataItemName::Flags].into(),
            uid: true,
            modifiers,
        };
        let done = self.run("UID FETCH", body).await?;
        let mut changes = Changes::default();
        for u in done.untagged {
            match u {
                Untagged::Fetch(FetchItems {
                    uid: Some(uid),
                    flags: Some(flags),
                    ..
                }) => changes.flags.push((uid, flags)),
                Untagged::Vanished { uids, .. } => changes.vanished = changes.vanished.union(&uids),
                _ => {}
            }
        }
        changes.flags.sort_by_key(|(uid, _)| *uid);
        Ok(changes)
    }

    /// `UID SEARCH ALL`: every UID of the selected mailbox, as ranges. Where ESEARCH
    /// (RFC 4731) is advertised, `UID SEARCH RETURN (ALL) ALL`, whose answer is ranges on
    /// the wire too: a folder of a million messages is a few bytes, not an 8 MB line.
    pub async fn search_all_uids(&mut self) -> Result<UidSet, ImapError> {
        let done = if self.caps.has("ESEARCH") {
            // imap-codec has no type for RETURN options, so this one line is ours.
            let tag = self.conn.next_tag();
            let line = format!("{tag} UID SEARCH RETURN (ALL) ALL\r\n").into_bytes();
            self.conn
                .execute(
                    "UID SEARCH",
                    &tag,
                    vec![Out::Bytes(line.into())],
                    Logging::FirstLine,
                )
                .await?
                .ok("UID SEARCH")?
        } else {
            let body = CommandBody::search(None, Vec1::from(SearchKey::All), true);
            self.run("UID SEARCH", body).await?
        };
        let mut uids = UidSet::new();
        let mut answered = false;
        for u in done.untagged {
            if let Untagged::Search(found) = u {
                uids = uids.union(&found);
                answered = true;
            }
        }
        // An ESEARCH answer always comes, empty or not (RFC 4731 3.1). Without one, "no
        // UIDs" would be a guess, and callers delete folders on it.
        if self.caps.has("ESEARCH") && !answered {
            return Err(ImapError::Protocol(
                "UID SEARCH RETURN (ALL) completed without an ESEARCH answer".into(),
            ));
        }
        Ok(uids)
    }

    /// `UID SEARCH UID <from>:*`: the UIDs at or above `from` in the selected mailbox
    /// (a second, independent account of the new messages a listing showed). As sent:
    /// "N:*" also matches the last message when its UID is below N.
    pub async fn search_uids_from(&mut self, from: u32) -> Result<UidSet, ImapError> {
        let from = from.max(1);
        let set = SequenceSet::try_from(format!("{from}:*").as_str())
            .map_err(|e| ImapError::InvalidArgument(format!("uid set: {e}")))?;
        let body = CommandBody::search(None, Vec1::from(SearchKey::Uid(set)), true);
        let done = self.run("UID SEARCH", body).await?;
        let mut uids = UidSet::new();
        for u in done.untagged {
            if let Untagged::Search(found) = u {
                uids = uids.union(&found);
            }
        }
        Ok(uids)
    }

    /// `UID STORE <uids> +FLAGS.SILENT (..)` or `-FLAGS.SILENT`, on the selected mailbox.
    pub async fn store_flags(
        &mut self,
        uids: &[u32],
        change: FlagChange,
        flags: &[String],
    ) -> Result<(), ImapError> {
        let flags = flags_of(flags)?;
        if uids.is_empty() || flags.is_empty() {
            return Ok(());
        }
        let sequence_set = SequenceSet::try_from(uid_set_string(uids)?.as_str())
            .map_err(|e| ImapError::InvalidArgument(format!("uid set: {e}")))?;
        let body = CommandBody::Store {
            sequence_set,
            kind: match change {
                FlagChange::Add => StoreType::Add,
                FlagChange::Remove => StoreType::Remove,
            },
            response: StoreResponse::Silent,
            flags,
            uid: true,
            modifiers: Vec::new(),
        };
        self.run("UID STORE", body).await?;
        Ok(())
    }

    /// Removes exactly these messages: `\Deleted` then `UID EXPUNGE` (UIDPLUS), so that
    /// other messages marked `\Deleted` by someone else stay. Without UIDPLUS nothing
    /// is expunged and the messages stay marked; the caller is told.
    pub async fn expunge_uids(&mut self, uids: &[u32]) -> Result<bool, ImapError> {
        if uids.is_empty() {
            return Ok(true);
        }
        self.store_flags(uids, FlagChange::Add, &["\\Deleted".to_string()])
            .await?;
        if !self.caps.has("UIDPLUS") {
            return Ok(false);
        }
        let sequence_set = SequenceSet::try_from(uid_set_string(uids)?.as_str())
            .map_err(|e| ImapError::InvalidArgument(format!("uid set: {e}")))?;
        self.run("UID EXPUNGE", CommandBody::ExpungeUid { sequence_set })
            .await?;
        Ok(true)
    }
}
