//! APPEND (RFC 3501 6.3.11), MULTIAPPEND (RFC 3502), LITERAL+/LITERAL- (RFC 7888) and
//! APPENDUID (RFC 4315).
//!
//! The command line is written here rather than by `CommandCodec`: MULTIAPPEND has no
//! type in imap-types, and the message bytes go from the caller's buffer straight to the
//! socket instead of being copied into an encoded command.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, FixedOffset};
use imap_types::flag::Flag;
use tracing::warn;

use crate::{
    connection::{Logging, Out},
    error::ImapError,
    mailbox::MailboxName,
    response::Code,
    session::Session,
    spool::MessageBody,
};

/// Non-synchronizing literals are used up to this size; bigger ones wait for `+` so that
/// a rejection does not cost the upload. Below it, a round trip per message would cost
/// more on a distant link than the rare refused upload does.
const LITERAL_PLUS_MAX: u64 = 8 * 1024 * 1024;
/// RFC 7888 LITERAL- allows non-synchronizing literals up to 4096 bytes.
const LITERAL_MINUS_MAX: u64 = 4096;

/// One message to append.
#[derive(Debug, Clone, Copy)]
pub struct AppendMessage<'a> {
    /// As received from the source; `\Recent` is dropped.
    pub flags: &'a [String],
    pub internal_date: Option<DateTime<FixedOffset>>,
    pub body: MessageBody<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendResult {
    /// Target UIDVALIDITY from APPENDUID, if the server sent it.
    pub uid_validity: Option<u32>,
    /// Target UID per input message, in input order (None without APPENDUID).
    pub uids: Vec<Option<u32>>,
}

#[derive(Clone, Copy)]
struct LiteralPolicy {
    plus: bool,
    minus: bool,
    binary: bool,
}

impl Session {
    /// Appends `messages` to `mailbox`, as one MULTIAPPEND command when advertised,
    /// else one APPEND per message.
    ///
    /// A NO is [`ImapError::No`] with the server's code (TOOBIG, OVERQUOTA, TRYCREATE,
    /// LIMIT...). MULTIAPPEND is atomic, so then nothing was appended. Without it, a
    /// failure after the first message is [`ImapError::PartialAppend`], which carries the
    /// UIDs of the messages that did make it.
    pub async fn append(
        &mut self,
        mailbox: &MailboxName,
        messages: &[AppendMessage<'_>],
    ) -> Result<AppendResult, ImapError> {
        if messages.is_empty() {
            return Ok(AppendResult::default());
        }
        let mbox = mailbox.to_astring_wire()?;
        for m in messages {
            check_message(m)?;
        }
        let policy = LiteralPolicy {
            plus: self.caps.has("LITERAL+"),
            minus: self.caps.has("LITERAL-"),
            binary: self.caps.has("BINARY"),
        };
        if messages.len() == 1 || self.caps.has("MULTIAPPEND") {
            return self.append_command(&mbox, messages, policy).await;
        }
        let mut result = AppendResult::default();
        for (i, message) in messages.iter().enumerate() {
            match self
                .append_command(&mbox, std::slice::from_ref(message), policy)
                .await
            {
                Ok(one) => {
                    result.uid_validity = one.uid_validity.or(result.uid_validity);
                    result.uids.extend(one.uids);
                }
                Err(e) if i == 0 => return Err(e),
                Err(e) => {
                    return Err(ImapError::PartialAppend {
                        appended: i,
                        uid_validity: result.uid_validity,
                        uids: result.uids,
                        source: Box::new(e),
                    });
                }
            }
        }
        Ok(result)
    }

    async fn append_command(
        &mut self,
        mbox: &[u8],
        messages: &[AppendMessage<'_>],
        policy: LiteralPolicy,
    ) -> Result<AppendResult, ImapError> {
        let tag = self.conn.next_tag();
        let parts = build_append(&tag, mbox, messages, policy);
        let command = if messages.len() > 1 {
            "MULTIAPPEND"
        } else {
            "APPEND"
        };
        let done = self
            .conn
            .execute(command, &tag, parts, Logging::FirstLine)
            .await?
            .ok(command)?;
        let mut result = AppendResult {
            uid_validity: None,
            uids: vec![None; messages.len()],
        };
        if let Some(Code::AppendUid { uid_validity, uids }) = &done.status.code {
            result.uid_validity = Some(*uid_validity);
            // RFC 4315: one UID per message, assigned in order, so ascending. A set of
            // another size maps to nothing; the pass finds those messages later.
            if uids.count() == messages.len() as u64 {
                result.uids = uids.iter().take(messages.len()).map(Some).collect();
            } else {
                warn!(
                    uids = ?uids,
                    count = messages.len(),
                    "APPENDUID does not match the number of appended messages; UIDs unknown"
                );
            }
        }
        Ok(result)
    }
}

fn check_message(m: &AppendMessage<'_>) -> Result<(), ImapError> {
    for flag in m.flags {
        if flag.eq_ignore_ascii_case("\\Recent") {
            continue;
        }
        Flag::try_from(flag.as_str())
            .map_err(|e| ImapError::InvalidArgument(format!("flag {flag:?}: {e}")))?;
    }
    if let Some(date) = m.internal_date
        && !(0..=9999).contains(&date.year())
    {
        return Err(ImapError::InvalidArgument(format!(
            "internal date {date} cannot be written in IMAP"
        )));
    }
    Ok(())
}

/// `tag APPEND mbox [(flags)] ["date"] {n[+]}\r\n<bytes>[ [(flags)] ["date"] {n}...]\r\n`
fn build_append<'a>(
    tag: &str,
    mbox: &[u8],
    messages: &[AppendMessage<'a>],
    policy: LiteralPolicy,
) -> Vec<Out<'a>> {
    let mut parts = Vec::with_capacity(messages.len() * 3 + 1);
    let mut line = format!("{tag} APPEND ").into_bytes();
    line.extend_from_slice(mbox);
    for m in messages {
        let flags: Vec<&str> = m
            .flags
            .iter()
            .map(String::as_str)
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .collect();
        if !flags.is_empty() {
            line.extend_from_slice(format!(" ({})", flags.join(" ")).as_bytes());
        }
        if let Some(date) = m.internal_date {
            line.extend_from_slice(
                format!(" \"{}\"", date.format("%d-%b-%Y %H:%M:%S %z")).as_bytes(),
            );
        }
        let len = m.body.len();
        let non_sync =
            (policy.plus && len <= LITERAL_PLUS_MAX) || (policy.minus && len <= LITERAL_MINUS_MAX);
        // A NUL byte is only allowed in a literal8 (RFC 3516).
        let tilde = if policy.binary && m.body.has_nul() {
            "~"
        } else {
            ""
        };
        let plus = if non_sync { "+" } else { "" };
        line.extend_from_slice(format!(" {tilde}{{{len}{plus}}}\r\n").as_bytes());
        parts.push(Out::Bytes(Cow::Owned(std::mem::take(&mut line))));
        if !non_sync {
            parts.push(Out::AwaitContinuation);
        }
        parts.push(match m.body {
            MessageBody::Bytes(b) => Out::Bytes(Cow::Borrowed(b)),
            MessageBody::Spool(s) => Out::Spool(s),
        });
    }
    line.extend_from_slice(b"\r\n");
    parts.push(Out::Bytes(Cow::Owned(line)));
    parts
}
