//! Splitting the server's byte stream into whole IMAP messages: lines, and the literals
//! they announce (`{n}`, `{n+}`, `~{n}`), before imap-codec decodes each message.
//!
//! imap-codec's Fragmentizer does the same, but moves every byte through a `VecDeque`
//! drain one at a time; on a migration, where almost every byte is a message literal,
//! that was 40% of our CPU. Here literals are copied with `memcpy`, and a message that
//! exceeds the limit is consumed (the stream stays in sync) but not kept.

use std::ops::Range;

/// Where the framer is within the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a line; bytes before `scanned` (relative to the unread start) hold no LF.
    Line { scanned: usize },
    /// Inside a literal with this many bytes still to come.
    Literal { remaining: u64 },
}

#[derive(Debug)]
pub(crate) struct Framer {
    /// Received bytes; those before `start` are framed already.
    pending: Vec<u8>,
    start: usize,
    /// The message being framed, complete when `frame` returns true.
    message: Vec<u8>,
    /// Ranges of the message's lines (without literals) in `message`.
    lines: Vec<Range<usize>>,
    state: State,
    max: usize,
    too_long: bool,
    complete: bool,
}

impl Framer {
    pub(crate) fn new(max_message_size: usize) -> Self {
        Self {
            pending: Vec::new(),
            start: 0,
            message: Vec::new(),
            lines: Vec::new(),
            state: State::Line { scanned: 0 },
            max: max_message_size,
            too_long: false,
            complete: false,
        }
    }

    pub(crate) fn enqueue(&mut self, bytes: &[u8]) {
        // Drop what was framed before growing, so the buffer stays about one read long.
        if self.start > 0 && self.start >= self.pending.len() / 2 {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// Whether bytes were received that are not part of a framed message.
    pub(crate) fn has_unframed(&self) -> bool {
        self.start < self.pending.len()
    }

    /// The bytes received after the last framed message.
    pub(crate) fn unframed(&self) -> &[u8] {
        &self.pending[self.start..]
    }

    fn keep(&mut self, range: Range<usize>) {
        if self.message.len() + range.len() > self.max {
            self.too_long = true;
        }
        if !self.too_long {
            self.message.extend_from_slice(&self.pending[range]);
        }
    }

    /// Frames as much as the received bytes allow; true when a whole message is ready in
    /// [`Framer::message`]. The next call starts the next message.
    pub(crate) fn frame(&mut self) -> bool {
        if self.complete {
            self.complete = false;
            self.too_long = false;
            self.message.clear();
            self.lines.clear();
        }
        loop {
            let unread = &self.pending[self.start..];
            match self.state {
                State::Literal { remaining } => {
                    if unread.is_empty() {
                        return false;
                    }
                    let take = (remaining.min(unread.len() as u64)) as usize;
                    self.keep(self.start..self.start + take);
                    self.start += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::Line { scanned: 0 }
                    } else {
                        State::Literal { remaining: left }
                    };
                    if left > 0 {
                        return false;
                    }
                }
                State::Line { scanned } => {
                    let Some(at) = unread[scanned..].iter().position(|&b| b == b'\n') else {
                        self.state = State::Line {
                            scanned: unread.len(),
                        };
                        return false;
                    };
                    let end = self.start + scanned + at + 1;
                    let line = self.start..end;
                    let announced = literal_length(&self.pending[line.clone()]);
                    let from = self.message.len();
                    self.keep(line);
                    if !self.too_long {
                        self.lines.push(from..self.message.len());
                    }
                    self.start = end;
                    match announced {
                        Some(n) => self.state = State::Literal { remaining: n },
                        None => {
                            self.state = State::Line { scanned: 0 };
                            self.complete = true;
                            return true;
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn message(&self) -> &[u8] {
        &self.message
    }

    /// The message's lines, without the literals between them.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().map(|r| &self.message[r.clone()])
    }

    /// The message went over the limit; `message` holds only its beginning, if anything.
    pub(crate) fn too_long(&self) -> bool {
        self.too_long
    }
}

/// The length a line announces for the literal that follows it: `{n}`, `{n+}`, `{n-}`
/// or `~{n}` right before the line's end (RFC 3501, 7888, 3516).
fn literal_length(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    if let Some(d) = digits
        .strip_suffix(b"+")
        .or_else(|| digits.strip_suffix(b"-"))
    {
        digits = d;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(input: &[u8], split: usize, max: usize) -> Vec<(Vec<u8>, bool, usize)> {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        for part in [&input[..split], &input[split..]] {
            f.enqueue(part);
            while f.frame() {
                out.push((f.message().to_vec(), f.too_long(), f.lines().count()));
            }
        }
        out
    }

    #[test]
    fn literals_are_announced_at_the_end_of_a_line() {
        assert_eq!(literal_length(b"* 1 FETCH (BODY[] {12}\r\n"), Some(12));
        assert_eq!(literal_length(b"A APPEND x {3+}\r\n"), Some(3));
        assert_eq!(literal_length(b"* 1 FETCH (BINARY[] ~{7}\r\n"), Some(7));
        assert_eq!(literal_length(b"* 1 FETCH (BODY[] {12}\n"), Some(12));
        assert_eq!(literal_length(b"* OK {x}\r\n"), None);
        assert_eq!(literal_length(b"* OK done\r\n"), None);
        assert_eq!(literal_length(b"* OK {}\r\n"), None);
    }

    #[test]
    fn messages_frame_the_same_at_every_split() {
        let input: &[u8] = b"* 1 FETCH (UID 5 BODY[] {11}\r\nhello\r\nworld FLAGS (\\Seen))\r\n\
                             * 2 FETCH (UID 6 BODY[] {0}\r\n)\r\nA1 OK done\r\n";
        let expected = vec![
            (
                b"* 1 FETCH (UID 5 BODY[] {11}\r\nhello\r\nworld FLAGS (\\Seen))\r\n".to_vec(),
                false,
                2,
            ),
            (b"* 2 FETCH (UID 6 BODY[] {0}\r\n)\r\n".to_vec(), false, 2),
            (b"A1 OK done\r\n".to_vec(), false, 1),
        ];
        for split in 0..=input.len() {
            assert_eq!(
                frame_all(input, split, 1 << 20),
                expected,
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_message_over_the_limit_is_skipped_and_the_stream_stays_in_sync() {
        let input: &[u8] = b"* 1 FETCH (BODY[] {20}\r\n01234567890123456789)\r\nA1 OK done\r\n";
        for split in 0..=input.len() {
            let got = frame_all(input, split, 30);
            assert_eq!(got.len(), 2, "split at {split}");
            assert!(got[0].1, "split at {split}: not marked too long");
            assert_eq!(got[1], (b"A1 OK done\r\n".to_vec(), false, 1));
        }
    }
}
