//! Mailbox names.
//!
//! A name is kept exactly as the server sent it (modified UTF-7, RFC 3501 5.1.3) and sent
//! back byte for byte: re-encoding a name is how migrations end up writing to the wrong
//! folder. Decoding happens for display only.

use std::fmt;

use imap_types::mailbox::{Mailbox, MailboxOther};

use crate::error::ImapError;

/// A mailbox name exactly as on the wire (modified UTF-7), never re-encoded.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxName(Vec<u8>);

impl MailboxName {
    pub fn from_wire(bytes: Vec<u8>) -> Self {
        MailboxName(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0.eq_ignore_ascii_case(b"INBOX")
    }

    /// Human-readable form. Names that are not valid modified UTF-7 are shown as
    /// they are (lossily if they are not UTF-8 either).
    pub fn to_display(&self) -> String {
        match std::str::from_utf8(&self.0) {
            // Without '&' the name is its own decoding; utf7-imap builds a regex per call,
            // which folder mapping would otherwise pay for every name it compares.
            Ok(s) if s.is_ascii() && !s.contains('&') => s.to_string(),
            Ok(s) if s.is_ascii() && is_valid_mutf7(s) => {
                utf7_imap::decode_utf7_imap(s.to_string())
            }
            _ => String::from_utf8_lossy(&self.0).into_owned(),
        }
    }

    /// Encodes a human-readable name (e.g. typed by an operator) to modified UTF-7.
    pub fn from_display(name: &str) -> Self {
        MailboxName(utf7_imap::encode_utf7_imap(name.to_string()).into_bytes())
    }

    /// Checks that the name can go into a command line: 7-bit, no CR, LF or NUL.
    pub(crate) fn check_sendable(&self) -> Result<(), ImapError> {
        if let Some(&b) = self
            .0
            .iter()
            .find(|&&b| b == 0 || b == b'\r' || b == b'\n' || b >= 0x80)
        {
            return Err(ImapError::InvalidArgument(format!(
                "mailbox name {:?} contains byte 0x{b:02x}; only 7-bit modified UTF-7 names can be sent",
                self.to_display()
            )));
        }
        Ok(())
    }

    /// The imap-types value for commands built with `CommandCodec`. Built from the raw
    /// bytes so the name is sent as an atom or quoted string, never as a literal.
    pub(crate) fn to_imap(&self) -> Result<Mailbox<'_>, ImapError> {
        self.check_sendable()?;
        if self.is_inbox() {
            return Ok(Mailbox::Inbox);
        }
        MailboxOther::try_from(self.0.as_slice())
            .map(Mailbox::Other)
            .map_err(|e| {
                ImapError::InvalidArgument(format!("mailbox name {:?}: {e}", self.to_display()))
            })
    }

    /// The name as an IMAP astring for lines we write ourselves (APPEND): an atom when
    /// every byte is an astring-char, else a quoted string.
    pub(crate) fn to_astring_wire(&self) -> Result<Vec<u8>, ImapError> {
        self.check_sendable()?;
        if !self.0.is_empty() && self.0.iter().all(|&b| is_astring_char(b)) {
            return Ok(self.0.clone());
        }
        let mut out = Vec::with_capacity(self.0.len() + 2);
        out.push(b'"');
        for &b in &self.0 {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
        Ok(out)
    }
}

/// RFC 3501 ABNF: ATOM-CHAR or "]".
fn is_astring_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
}

/// Whether every `&...-` shift sequence is well-formed modified base64. utf7-imap panics on
/// malformed base64, so it only ever sees names that pass this.
fn is_valid_mutf7(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'&' {
            i += 1;
            continue;
        }
        let Some(len) = b[i + 1..].iter().position(|&c| c == b'-') else {
            return false;
        };
        let run = &b[i + 1..i + 1 + len];
        if !run
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b',')
        {
            return false;
        }
        // Leftover bits after the last whole byte must be zero (RFC 4648 canonical form).
        let unused_bits = match run.len() % 4 {
            0 => 0,
            1 => return false,
            2 => 4,
            _ => 2,
        };
        if let Some(&last) = run.last()
            && sextet(last) & ((1 << unused_bits) - 1) != 0
        {
            return false;
        }
        i += len + 2;
    }
    true
}

fn sextet(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_display())
    }
}

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxName({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// One line of a LIST or LSUB reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMailbox {
    pub name: MailboxName,
    pub delimiter: Option<char>,
    /// As sent, e.g. `\Noselect`, `\HasChildren`, `\Sent`.
    pub attributes: Vec<String>,
}

impl ListedMailbox {
    pub fn has_attribute(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
    }

    /// False for `\Noselect` (RFC 3501) and `\NonExistent` (RFC 5258) entries.
    pub fn is_selectable(&self) -> bool {
        !self.has_attribute("\\Noselect") && !self.has_attribute("\\NonExistent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trip() {
        let cases: [(&[u8], &str); 5] = [
            (b"&AMk-l&AOk-ments envoy&AOk-s", "Éléments envoyés"),
            (b"R&-D", "R&D"),
            (b"INBOX", "INBOX"),
            (b"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "Отправленные"),
            (b"Archive/2024", "Archive/2024"),
        ];
        for (wire, display) in cases {
            let name = MailboxName::from_wire(wire.to_vec());
            assert_eq!(name.to_display(), display);
            assert_eq!(name.to_string(), display);
            assert_eq!(MailboxName::from_display(display).as_bytes(), wire);
        }
    }

    #[test]
    fn malformed_mutf7_does_not_panic() {
        for wire in [
            &b"a&AB-"[..],
            b"&!!-",
            b"&A-",
            b"x&abc",
            b"caf\xc3\xa9",
            b"&AMk",
        ] {
            let _ = MailboxName::from_wire(wire.to_vec()).to_display();
        }
        assert_eq!(
            MailboxName::from_wire(b"x&abc".to_vec()).to_display(),
            "x&abc"
        );
    }

    #[test]
    fn inbox_and_wire_forms() {
        assert!(MailboxName::from_wire(b"inbox".to_vec()).is_inbox());
        assert_eq!(
            MailboxName::from_wire(b"Inbox".to_vec()).to_imap().unwrap(),
            Mailbox::Inbox
        );
        let spaced = MailboxName::from_wire(b"Sent \"old\" \\x".to_vec());
        assert_eq!(
            spaced.to_astring_wire().unwrap(),
            b"\"Sent \\\"old\\\" \\\\x\""
        );
        let plain = MailboxName::from_wire(b"&AMk-l]".to_vec());
        assert_eq!(plain.to_astring_wire().unwrap(), b"&AMk-l]");
        assert!(
            MailboxName::from_wire(b"a\r\nb".to_vec())
                .to_astring_wire()
                .is_err()
        );
        assert!(
            MailboxName::from_wire("é".as_bytes().to_vec())
                .to_imap()
                .is_err()
        );
    }
}
