//! Our own owned view of server responses.
//!
//! Every message decoded by imap-codec is converted here right away, so nothing
//! borrows the framer's buffer beyond one call. When imap-codec cannot decode a
//! message, the small lenient tokenizer at the end recovers what we must not lose:
//! the status of a tagged completion (O365 sends `OK [Error="..." ...]`) and the UID of
//! a FETCH response we could not read (a NUL byte in a `BODY[]` literal).

use chrono::{DateTime, FixedOffset};
use imap_types::{
    core::{IString, NString},
    fetch::MessageDataItem,
    flag::FlagFetch,
    mailbox::Mailbox,
    response::{
        self, CommandContinuationRequest, Data, Greeting, GreetingKind, Response, Status,
        StatusBody,
    },
    status::StatusDataItem,
};

use crate::error::ImapError;
use crate::mailbox::{ListedMailbox, MailboxName};
use crate::uid_set::UidSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKind {
    Ok,
    No,
    Bad,
}

/// A response code, e.g. `[UIDVALIDITY 3]` or `[TOOBIG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Code {
    Capability(Vec<String>),
    UidValidity(u32),
    UidNext(u32),
    HighestModSeq(u64),
    /// RFC 4315. `uids`: one UID, or a set after MULTIAPPEND; kept as ranges.
    AppendUid {
        uid_validity: u32,
        uids: UidSet,
    },
    /// Any other code, as its full text (`ALREADYEXISTS`, `OVERQUOTA`, `Error="x" y`).
    Other(String),
}

impl Code {
    /// The code as it would appear between the brackets.
    pub(crate) fn text(&self) -> String {
        match self {
            Code::Capability(caps) => format!("CAPABILITY {}", caps.join(" ")),
            Code::UidValidity(n) => format!("UIDVALIDITY {n}"),
            Code::UidNext(n) => format!("UIDNEXT {n}"),
            Code::HighestModSeq(n) => format!("HIGHESTMODSEQ {n}"),
            Code::AppendUid { uid_validity, uids } => format!("APPENDUID {uid_validity} {uids}"),
            Code::Other(text) => text.clone(),
        }
    }

    /// Whether the code's name (first atom) is `name`, case-insensitively.
    pub(crate) fn is(&self, name: &str) -> bool {
        let own = match self {
            Code::Capability(_) => "CAPABILITY",
            Code::UidValidity(_) => "UIDVALIDITY",
            Code::UidNext(_) => "UIDNEXT",
            Code::HighestModSeq(_) => "HIGHESTMODSEQ",
            Code::AppendUid { .. } => "APPENDUID",
            Code::Other(text) => text.split_ascii_whitespace().next().unwrap_or(""),
        };
        own.eq_ignore_ascii_case(name)
    }
}

/// The interesting part of an OK/NO/BAD response, tagged or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusLine {
    pub kind: StatusKind,
    pub code: Option<Code>,
    pub text: String,
}

impl StatusLine {
    /// NO and BAD as errors of `command`.
    pub(crate) fn check(&self, command: &'static str) -> Result<(), ImapError> {
        match self.kind {
            StatusKind::Ok => Ok(()),
            StatusKind::No => Err(ImapError::No {
                command,
                code: self.code.as_ref().map(|c| c.text()),
                text: self.text.clone(),
            }),
            StatusKind::Bad => Err(ImapError::Bad {
                command,
                text: self.text.clone(),
            }),
        }
    }

    /// A CREATE refused because the mailbox is there already: by RFC 5530's code, or by
    /// the text of servers without it.
    pub(crate) fn is_already_exists(&self) -> bool {
        self.kind == StatusKind::No
            && (self.code.as_ref().is_some_and(|c| c.is("ALREADYEXISTS"))
                || self.text.to_ascii_lowercase().contains("already exist"))
    }
}

/// Items of one FETCH response that we ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FetchItems {
    pub seq: u32,
    pub uid: Option<u32>,
    pub flags: Option<Vec<String>>,
    pub internal_date: Option<DateTime<FixedOffset>>,
    pub size: Option<u32>,
    pub modseq: Option<u64>,
    /// `BODY[]` or `BINARY[]` of the whole message (or a piece of it).
    pub body: Option<BodyData>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyData {
    /// The `<origin>` of a partial fetch.
    pub origin: Option<u32>,
    /// `None` when the server sent NIL.
    pub data: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Untagged {
    Capability(Vec<String>),
    List(ListedMailbox),
    /// An LSUB line: a subscribed mailbox (kept apart from LIST's, so that both can be
    /// asked for in one round trip).
    Lsub(ListedMailbox),
    Status {
        name: MailboxName,
        items: Vec<StatusItem>,
    },
    Exists(u32),
    Fetch(FetchItems),
    /// `* OK [UIDVALIDITY 3] ...` and friends.
    Info(StatusLine),
    /// A FETCH response imap-codec could not decode; the UID if we could find it.
    FetchFailed {
        uid: Option<u32>,
        reason: String,
    },
    /// `* VANISHED [(EARLIER)] uids` (RFC 7162 QRESYNC), as ranges.
    Vanished {
        earlier: bool,
        uids: UidSet,
    },
    /// `* SEARCH uids` (answer to UID SEARCH).
    Search(UidSet),
    /// `* NAMESPACE` (RFC 2342): personal, other users', shared.
    Namespace(crate::namespace::Namespaces),
    /// Anything else (FLAGS, RECENT, EXPUNGE...): harmless to us.
    Other(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusItem {
    Messages(u32),
    UidNext(u32),
    UidValidity(u32),
    HighestModSeq(u64),
    Size(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resp {
    /// `+ ...`, in either form (text, or base64 which includes the empty `+ `), with
    /// its data: decoded base64 (a SASL challenge, or a SASL failure's JSON), or the text.
    Continue(Vec<u8>),
    Tagged {
        tag: String,
        status: StatusLine,
    },
    Untagged(Untagged),
    Bye(String),
    /// imap-codec could not decode the message. `status` is set when the lenient
    /// tokenizer found `tag SP (OK|NO|BAD) ...`.
    Undecodable {
        tag: Option<String>,
        status: Option<StatusLine>,
        fetch_uid: Option<u32>,
        too_long: bool,
        first_line: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GreetingResp {
    Ok(Option<Vec<String>>),
    PreAuth(Option<Vec<String>>),
    Bye(String),
}

pub(crate) fn convert_greeting(g: Greeting<'_>) -> GreetingResp {
    let caps = match g.code.map(convert_code) {
        Some(Code::Capability(c)) => Some(c),
        _ => None,
    };
    match g.kind {
        GreetingKind::Ok => GreetingResp::Ok(caps),
        GreetingKind::PreAuth => GreetingResp::PreAuth(caps),
        GreetingKind::Bye => GreetingResp::Bye(g.text.to_string()),
    }
}

pub(crate) fn convert_response(r: Response<'_>) -> Resp {
    match r {
        Response::CommandContinuationRequest(CommandContinuationRequest::Base64(data)) => {
            Resp::Continue(data.into_owned())
        }
        Response::CommandContinuationRequest(CommandContinuationRequest::Basic(basic)) => {
            Resp::Continue(basic.text().as_ref().as_bytes().to_vec())
        }
        Response::Status(Status::Tagged(t)) => Resp::Tagged {
            tag: t.tag.as_ref().to_string(),
            status: convert_status_body(t.body),
        },
        Response::Status(Status::Untagged(body)) => {
            Resp::Untagged(Untagged::Info(convert_status_body(body)))
        }
        Response::Status(Status::Bye(bye)) => Resp::Bye(bye.text.to_string()),
        Response::Data(data) => Resp::Untagged(convert_data(data)),
    }
}

fn convert_status_body(body: StatusBody<'_>) -> StatusLine {
    StatusLine {
        kind: match body.kind {
            response::StatusKind::Ok => StatusKind::Ok,
            response::StatusKind::No => StatusKind::No,
            response::StatusKind::Bad => StatusKind::Bad,
        },
        code: body.code.map(convert_code),
        text: body.text.to_string(),
    }
}

fn convert_code(code: response::Code<'_>) -> Code {
    use response::Code as C;
    match code {
        C::Capability(caps) => {
            Code::Capability(caps.as_ref().iter().map(|c| c.to_string()).collect())
        }
        C::UidValidity(n) => Code::UidValidity(n.get()),
        C::UidNext(n) => Code::UidNext(n.get()),
        C::HighestModSeq(n) => Code::HighestModSeq(n.get()),
        C::AppendUid { uid_validity, uid } => Code::AppendUid {
            uid_validity: uid_validity.get(),
            uids: UidSet::from_uids([uid.get()]),
        },
        // We never COPY; the sets are not looked at (nor spelled out in a log).
        C::CopyUid { uid_validity, .. } => Code::Other(format!("COPYUID {uid_validity}")),
        C::Other(other) => {
            let text = String::from_utf8_lossy(other.inner()).into_owned();
            parse_appenduid_text(&text).unwrap_or(Code::Other(text))
        }
        C::Alert => Code::Other("ALERT".into()),
        C::Parse => Code::Other("PARSE".into()),
        C::ReadOnly => Code::Other("READ-ONLY".into()),
        C::ReadWrite => Code::Other("READ-WRITE".into()),
        C::TryCreate => Code::Other("TRYCREATE".into()),
        C::OverQuota => Code::Other("OVERQUOTA".into()),
        C::TooBig => Code::Other("TOOBIG".into()),
        C::UnknownCte => Code::Other("UNKNOWN-CTE".into()),
        C::UidNotSticky => Code::Other("UIDNOTSTICKY".into()),
        C::NoModSeq => Code::Other("NOMODSEQ".into()),
        C::Closed => Code::Other("CLOSED".into()),
        // The remaining variants carry data we never act on; their name is enough
        // for logs and error messages.
        other => {
            let debug = format!("{other:?}");
            let name: String = debug
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            Code::Other(name.to_ascii_uppercase())
        }
    }
}

/// `APPENDUID <uidvalidity> <uid-set>`: imap-codec only types the single-UID form.
fn parse_appenduid_text(text: &str) -> Option<Code> {
    let mut parts = text.split_ascii_whitespace();
    if !parts.next()?.eq_ignore_ascii_case("APPENDUID") {
        return None;
    }
    let uid_validity = parts.next()?.parse().ok()?;
    let uids = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(Code::AppendUid { uid_validity, uids })
}

fn parse_nz(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n != 0)
}

pub(crate) fn mailbox_bytes(mailbox: &Mailbox<'_>) -> Vec<u8> {
    match mailbox {
        Mailbox::Inbox => b"INBOX".to_vec(),
        Mailbox::Other(other) => other.as_ref().to_vec(),
    }
}

fn convert_data(data: Data<'_>) -> Untagged {
    match data {
        Data::Capability(caps) => {
            Untagged::Capability(caps.as_ref().iter().map(|c| c.to_string()).collect())
        }
        Data::List {
            items,
            delimiter,
            mailbox,
        } => Untagged::List(ListedMailbox {
            name: MailboxName::from_wire(mailbox_bytes(&mailbox)),
            delimiter: delimiter.map(|d| d.inner()),
            attributes: items.iter().map(|a| a.to_string()).collect(),
        }),
        Data::Lsub {
            items,
            delimiter,
            mailbox,
        } => Untagged::Lsub(ListedMailbox {
            name: MailboxName::from_wire(mailbox_bytes(&mailbox)),
            delimiter: delimiter.map(|d| d.inner()),
            attributes: items.iter().map(|a| a.to_string()).collect(),
        }),
        Data::Status { mailbox, items } => Untagged::Status {
            name: MailboxName::from_wire(mailbox_bytes(&mailbox)),
            items: items
                .iter()
                .filter_map(|item| match item {
                    StatusDataItem::Messages(n) => Some(StatusItem::Messages(*n)),
                    StatusDataItem::UidNext(n) => Some(StatusItem::UidNext(n.get())),
                    StatusDataItem::UidValidity(n) => Some(StatusItem::UidValidity(n.get())),
                    StatusDataItem::HighestModSeq(n) => Some(StatusItem::HighestModSeq(*n)),
                    StatusDataItem::Size(n) => Some(StatusItem::Size(*n)),
                    _ => None,
                })
                .collect(),
        },
        Data::Exists(n) => Untagged::Exists(n),
        Data::Fetch { seq, items } => Untagged::Fetch(convert_fetch(seq.get(), items.as_ref())),
        Data::Flags(_) => Untagged::Other("FLAGS"),
        Data::Recent(_) => Untagged::Other("RECENT"),
        Data::Expunge(_) => Untagged::Other("EXPUNGE"),
        Data::Vanished {
            earlier,
            known_uids,
        } => Untagged::Vanished {
            earlier,
            uids: UidSet::from_sequence_set(&known_uids),
        },
        // imap-codec lists the numbers one by one: as many as the line has.
        Data::Search(uids, _) => Untagged::Search(UidSet::from_uids(uids.iter().map(|u| u.get()))),
        Data::Namespace {
            personal,
            other,
            shared,
        } => {
            let convert = |list: &imap_types::extensions::namespace::Namespaces<'_>| {
                list.iter()
                    .map(|n| crate::namespace::Namespace {
                        prefix: n.prefix.as_ref().to_vec(),
                        separator: n.delimiter.map(|d| d.inner()),
                    })
                    .collect()
            };
            Untagged::Namespace(crate::namespace::Namespaces {
                personal: convert(&personal),
                other: convert(&other),
                shared: convert(&shared),
            })
        }
        _ => Untagged::Other("other"),
    }
}

fn nstring_bytes(n: &NString<'_>) -> Option<Vec<u8>> {
    n.0.as_ref().map(|s: &IString<'_>| s.as_ref().to_vec())
}

fn convert_fetch(seq: u32, items: &[MessageDataItem<'_>]) -> FetchItems {
    let mut out = FetchItems {
        seq,
        ..FetchItems::default()
    };
    for item in items {
        match item {
            MessageDataItem::Uid(uid) => out.uid = Some(uid.get()),
            MessageDataItem::Flags(flags) => {
                out.flags = Some(
                    flags
                        .iter()
                        .filter_map(|f| match f {
                            FlagFetch::Flag(flag) => Some(flag.to_string()),
                            FlagFetch::Recent => None,
                        })
                        .collect(),
                )
            }
            MessageDataItem::InternalDate(date) => out.internal_date = Some(*date.as_ref()),
            MessageDataItem::Rfc822Size(size) => out.size = Some(*size),
            MessageDataItem::ModSeq(m) => out.modseq = Some(m.get()),
            // Only the whole message (no section) is ever requested.
            MessageDataItem::BodyExt {
                section: None,
                origin,
                data,
            } => {
                out.body = Some(BodyData {
                    origin: *origin,
                    data: nstring_bytes(data),
                })
            }
            MessageDataItem::Rfc822(data) => {
                out.body = Some(BodyData {
                    origin: None,
                    data: nstring_bytes(data),
                })
            }
            MessageDataItem::Binary { section, value } if section.is_empty() => {
                let data = match value {
                    imap_types::core::NString8::NString(n) => nstring_bytes(n),
                    imap_types::core::NString8::Literal8(l) => Some(l.data.to_vec()),
                };
                out.body = Some(BodyData { origin: None, data });
            }
            _ => {}
        }
    }
    out
}

/// Whether a FETCH response up to a literal (`* 1 FETCH (UID 5 BODY[]<0> `, the `~` of a
/// literal8 included) puts that literal in the whole message's body item: `BODY[]`,
/// `BODY[]<n>`, `BINARY[]`, `BINARY[]<n>` or `RFC822`, the items [`convert_fetch`]
/// takes as the body.
pub(crate) fn announces_whole_body(before: &[u8]) -> bool {
    let before = before.strip_suffix(b"~").unwrap_or(before);
    let Some(before) = before.strip_suffix(b" ") else {
        return false;
    };
    let item = match before.iter().rposition(|&b| b == b' ' || b == b'(') {
        Some(at) => &before[at + 1..],
        None => return false,
    };
    let item = match item.strip_suffix(b">") {
        Some(partial) => match partial.iter().rposition(|&b| b == b'<') {
            Some(open)
                if open + 1 < partial.len()
                    && partial[open + 1..].iter().all(u8::is_ascii_digit) =>
            {
                &partial[..open]
            }
            _ => return false,
        },
        None => item,
    };
    item.eq_ignore_ascii_case(b"BODY[]")
        || item.eq_ignore_ascii_case(b"BINARY[]")
        || item.eq_ignore_ascii_case(b"RFC822")
}

// ---------------------------------------------------------------------------------
// Lenient tokenizer for messages imap-codec rejects.

/// `tag SP status SP [ "[" code "]" SP ] text` from the first line of a message.
pub(crate) fn lenient_status(first_line: &[u8]) -> Option<(String, StatusLine)> {
    let line = trim_crlf(first_line);
    let sp = line.iter().position(|&b| b == b' ')?;
    let tag = std::str::from_utf8(&line[..sp]).ok()?.to_string();
    let rest = &line[sp + 1..];
    let (word, rest) = match rest.iter().position(|&b| b == b' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let kind = if word.eq_ignore_ascii_case(b"OK") {
        StatusKind::Ok
    } else if word.eq_ignore_ascii_case(b"NO") {
        StatusKind::No
    } else if word.eq_ignore_ascii_case(b"BAD") {
        StatusKind::Bad
    } else {
        return None;
    };
    let (code, text) = if rest.first() == Some(&b'[') {
        match closing_bracket(rest) {
            Some(end) => {
                let code = String::from_utf8_lossy(&rest[1..end]).into_owned();
                let text = rest[end + 1..]
                    .strip_prefix(b" ")
                    .unwrap_or(&rest[end + 1..]);
                (Some(Code::Other(code)), text)
            }
            None => (None, rest),
        }
    } else {
        (None, rest)
    };
    Some((
        tag,
        StatusLine {
            kind,
            code,
            text: String::from_utf8_lossy(text).into_owned(),
        },
    ))
}

/// Index of the `]` closing the code that starts at `s[0] == b'['`, skipping quoted strings.
fn closing_bracket(s: &[u8]) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, &b) in s.iter().enumerate().skip(1) {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b']' {
            return Some(i);
        }
    }
    None
}

/// For `* n FETCH (...)` whose literal broke decoding: the `UID n` item from the
/// message's line fragments (never from literal contents).
pub(crate) fn lenient_fetch_uid(lines: &[&[u8]]) -> Option<u32> {
    let first = lines.first()?;
    let mut words = first.split(|&b| b == b' ');
    if words.next()? != b"*" {
        return None;
    }
    parse_nz(std::str::from_utf8(words.next()?).ok()?)?;
    if !words.next()?.eq_ignore_ascii_case(b"FETCH") {
        return None;
    }
    for line in lines {
        let tokens: Vec<&[u8]> = line
            .split(|&b| b == b' ' || b == b'(' || b == b')')
            .filter(|t| !t.is_empty())
            .collect();
        for pair in tokens.windows(2) {
            if pair[0].eq_ignore_ascii_case(b"UID")
                && let Some(uid) = std::str::from_utf8(trim_crlf(pair[1]))
                    .ok()
                    .and_then(parse_nz)
            {
                return Some(uid);
            }
        }
    }
    None
}

/// `* ESEARCH [(TAG "x")] UID [ALL set] [...]` (RFC 4731), the answer to
/// `UID SEARCH RETURN (ALL)`, which imap-codec does not know: the UIDs, as the ranges
/// they came in (none when ALL is absent). `None` for anything else, and for an
/// ESEARCH about sequence numbers.
pub(crate) fn lenient_esearch(line: &[u8]) -> Option<UidSet> {
    let line = std::str::from_utf8(trim_crlf(line)).ok()?;
    let rest = line.strip_prefix("* ")?;
    let (word, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !word.eq_ignore_ascii_case("ESEARCH") {
        return None;
    }
    // The correlator: a parenthesized (TAG "quoted") before the data.
    if rest.starts_with('(') {
        let close = closing_paren(rest)?;
        rest = rest[close + 1..].trim_start();
    }
    let mut words = rest.split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("UID") {
        return None;
    }
    let mut uids = UidSet::new();
    while let Some(name) = words.next() {
        let value = words.next()?;
        if name.eq_ignore_ascii_case("ALL") {
            uids = uids.union(&value.parse().ok()?);
        }
    }
    Some(uids)
}

/// Index of the `)` closing the list that starts at `s[0] == b'('`, skipping quoted strings.
fn closing_paren(s: &str) -> Option<usize> {
    let (mut in_quote, mut escaped) = (false, false);
    for (i, b) in s.bytes().enumerate().skip(1) {
        if in_quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_quote = false,
                _ => {}
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b')' {
            return Some(i);
        }
    }
    None
}

pub(crate) fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appenduid_codes_keep_their_ranges() {
        let Some(Code::AppendUid { uid_validity, uids }) =
            parse_appenduid_text("APPENDUID 7 1:4294967295")
        else {
            panic!("not read");
        };
        assert_eq!((uid_validity, uids.count()), (7, 4_294_967_295));
        assert!(parse_appenduid_text("APPENDUID 7 0").is_none());
        assert!(parse_appenduid_text("APPENDUID 7 1:*").is_none());
        assert!(parse_appenduid_text("APPENDUID 7 1 2").is_none());
        let code = parse_appenduid_text("appenduid 7 5,7:8").unwrap();
        assert!(code.is("APPENDUID"));
        assert_eq!(code.text(), "APPENDUID 7 5,7:8");
    }

    #[test]
    fn lenient_tagged_with_broken_code() {
        let (tag, st) = lenient_status(b"C7 OK [Error=\"x\" y] done\r\n").unwrap();
        assert_eq!(tag, "C7");
        assert_eq!(st.kind, StatusKind::Ok);
        assert_eq!(st.code, Some(Code::Other("Error=\"x\" y".into())));
        assert_eq!(st.text, "done");
        let (_, st) = lenient_status(b"C8 no [A \"]\" B] nope\r\n").unwrap();
        assert_eq!(st.kind, StatusKind::No);
        assert_eq!(st.code, Some(Code::Other("A \"]\" B".into())));
        assert_eq!(st.text, "nope");
        assert!(lenient_status(b"* 3 FETCH (UID 4)\r\n").is_none());
    }

    #[test]
    fn lenient_handles_what_imap_codec_rejects() {
        use imap_codec::{ResponseCodec, decode::Decoder};
        let bracket_in_quotes = b"C7 OK [Error=\"a]b\" c] done\r\n";
        let eight_bit_text = "C8 NO fehlgeschlagen \u{e4}\r\n".as_bytes();
        for line in [&bracket_in_quotes[..], eight_bit_text] {
            assert!(ResponseCodec::default().decode(line).is_err());
        }
        let (_, st) = lenient_status(bracket_in_quotes).unwrap();
        assert_eq!(st.code, Some(Code::Other("Error=\"a]b\" c".into())));
        assert_eq!(st.text, "done");
        let (_, st) = lenient_status(eight_bit_text).unwrap();
        assert_eq!(
            (st.kind, st.text.as_str()),
            (StatusKind::No, "fehlgeschlagen \u{e4}")
        );
    }

    #[test]
    fn esearch_answers_keep_their_ranges() {
        let all =
            lenient_esearch(b"* ESEARCH (TAG \"C5\") UID ALL 1:3,5,7:4294967295\r\n").unwrap();
        assert_eq!(all.to_string(), "1:3,5,7:4294967295");
        // Dovecot leaves ALL out when nothing matches.
        assert_eq!(
            lenient_esearch(b"* ESEARCH (TAG \"C5\") UID\r\n"),
            Some(UidSet::new())
        );
        assert_eq!(
            lenient_esearch(b"* esearch (TAG \"a)b\") uid COUNT 2 ALL 4,9\r\n")
                .unwrap()
                .to_string(),
            "4,9"
        );
        assert_eq!(lenient_esearch(b"* ESEARCH ALL 1:3\r\n"), None, "not UIDs");
        assert_eq!(lenient_esearch(b"* ESEARCH UID ALL x\r\n"), None);
        assert_eq!(lenient_esearch(b"* SEARCH 1 2\r\n"), None);
    }

    #[test]
    fn only_the_whole_body_item_announces_the_body() {
        for yes in [
            &b"* 1 FETCH (UID 5 BODY[] "[..],
            b"* 1 FETCH (BODY[] ",
            b"* 12 FETCH (UID 70 BODY[]<4096> ",
            b"* 1 FETCH (UID 5 BINARY[] ~",
            b"* 1 FETCH (UID 5 binary[]<0> ~",
            b"* 1 FETCH (FLAGS (\\Seen) RFC822 ",
        ] {
            assert!(
                announces_whole_body(yes),
                "{}",
                String::from_utf8_lossy(yes)
            );
        }
        for no in [
            &b"* 1 FETCH (UID 5 BODY[HEADER] "[..],
            b"* 1 FETCH (UID 5 BODY[1] ",
            b"* 1 FETCH (UID 5 BODY[]<> ",
            b"* 1 FETCH (UID 5 RFC822.HEADER ",
            b"* 1 FETCH (ENVELOPE (NIL ",
            b"* LIST () \".\" ",
            b"* 1 FETCH (UID 5 BODY[]",
            b"BODY[] ",
        ] {
            assert!(!announces_whole_body(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn lenient_uid() {
        let lines: [&[u8]; 2] = [b"* 3 FETCH (FLAGS (\\Seen) BODY[] {5}\r\n", b" UID 42)\r\n"];
        assert_eq!(lenient_fetch_uid(&lines), Some(42));
        let lines: [&[u8]; 1] = [b"* 3 FETCH (UID 7 BODY[] {5}\r\n"];
        assert_eq!(lenient_fetch_uid(&lines), Some(7));
        let lines: [&[u8]; 1] = [b"* 3 EXISTS\r\n"];
        assert_eq!(lenient_fetch_uid(&lines), None);
    }
}
