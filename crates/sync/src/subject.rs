//! The Subject of a message, for the admin's list of skipped items.

use mail_parser::MessageParser;

/// At most this many characters of a subject are kept.
const MAX_CHARS: usize = 200;

/// The message's Subject header, RFC 2047-decoded and on one line; empty when there is
/// none. Only the header section is parsed: a refused message may be large or broken.
pub fn subject(message: &[u8]) -> String {
    let end = find(message, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| find(message, b"\n\n").map(|i| i + 2))
        .unwrap_or(message.len());
    let Some(parsed) = MessageParser::new().parse_headers(&message[..end]) else {
        return String::new();
    };
    let Some(text) = parsed.subject() else {
        return String::new();
    };
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_CHARS)
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn subjects_are_decoded_and_unfolded() {
        assert_eq!(
            subject(b"From: a@b.test\r\nSubject: Quarterly report\r\n\r\nbody"),
            "Quarterly report"
        );
        assert_eq!(
            subject(b"Subject: =?UTF-8?B?w4l0w6kgMjAyNQ==?=\r\n\r\n"),
            "\u{c9}t\u{e9} 2025"
        );
        assert_eq!(
            subject(b"Subject: =?ISO-8859-1?Q?caf=E9?= au\r\n lait\r\n\r\n"),
            "caf\u{e9} au lait"
        );
        assert_eq!(
            subject(b"From: a@b.test\r\n\r\nSubject: not a header\r\n"),
            ""
        );
        assert_eq!(subject(b""), "");
        assert_eq!(subject(b"Subject: lf only\n\nbody\n"), "lf only");
    }
}
