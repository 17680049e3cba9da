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
    /// In a line (or between messages).
    Line,
    /// Inside a literal with this many bytes still to come.
    Literal { remaining: u64 },
}

/// A line went over the line limit before its end arrived; the stream cannot be
/// followed any further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineTooLong;

/// Bytes at the end of a line that can announce a literal: `~{` 19 digits `+}` CRLF.
const TAIL: usize = 32;
/// What the framer counts for each line it remembers (a `Range<usize>`).
const LINE_COST: usize = std::mem::size_of::<Range<usize>>();

#[derive(Debug)]
pub(crate) struct Framer {
    /// Received bytes; those before `start` are framed already. Everything in it is
    /// consumed before the next read, so it never holds more than one read.
    pending: Vec<u8>,
    start: usize,
    /// The message being framed, complete when `frame` returns true. Lines are copied
    /// in as they arrive, so a long line waits here, within `max_message`.
    message: Vec<u8>,
    /// Ranges of the message's lines (without literals) in `message`.
    lines: Vec<Range<usize>>,
    /// The current line: where it starts in `message`, its length so far (kept or
    /// not), and its last bytes.
    line_from: usize,
    line_len: usize,
    tail: Vec<u8>,
    state: State,
    /// Bytes of the current message received so far, kept or not.
    wire: u64,
    max_line: usize,
    max_message: usize,
    too_long: bool,
    complete: bool,
}

impl Framer {
    /// `max_line`: longest line (without literals) before framing fails;
    /// `max_message`: most bytes of one message kept (literals included).
    pub(crate) fn new(max_line: usize, max_message: usize) -> Self {
        Self {
            pending: Vec::new(),
            start: 0,
            message: Vec::new(),
            lines: Vec::new(),
            line_from: 0,
            line_len: 0,
            tail: Vec::with_capacity(TAIL * 2),
            state: State::Line,
            wire: 0,
            max_line,
            max_message,
            too_long: false,
            complete: false,
        }
    }

    pub(crate) fn set_limits(&mut self, max_line: usize, max_message: usize) {
        self.max_line = max_line;
        self.max_message = max_message;
    }

    pub(crate) fn enqueue(&mut self, bytes: &[u8]) {
        if self.start >= self.pending.len() {
            self.pending.clear();
        } else {
            self.pending.drain(..self.start);
        }
        self.start = 0;
        self.pending.extend_from_slice(bytes);
    }

    /// Whether bytes were received that are not part of a framed message.
    pub(crate) fn has_unframed(&self) -> bool {
        self.start < self.pending.len() || self.partial()
    }

    /// A message was begun and not finished.
    fn partial(&self) -> bool {
        !self.complete
            && (self.line_len > 0
                || !self.message.is_empty()
                || matches!(self.state, State::Literal { .. }))
    }

    /// The bytes received after the last framed message (for COMPRESS, whose stream
    /// starts right after the OK).
    pub(crate) fn unframed(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.partial() {
            out.extend_from_slice(&self.message);
        }
        out.extend_from_slice(&self.pending[self.start..]);
        out
    }

    /// Bytes held: received and not consumed, and of the message being framed.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        (
            self.pending.len() - self.start,
            self.message.len() + self.lines.len() * LINE_COST,
        )
    }

    fn keep(&mut self, range: Range<usize>) {
        self.wire += range.len() as u64;
        let held = self.message.len() + self.lines.len() * LINE_COST;
        if held + range.len() > self.max_message {
            self.too_long = true;
        }
        if !self.too_long {
            self.message.extend_from_slice(&self.pending[range]);
        }
    }

    /// Part of the current line, up to and including its LF if it has come.
    fn line_part(&mut self, range: Range<usize>) -> Result<(), LineTooLong> {
        if self.line_len + range.len() > self.max_line {
            return Err(LineTooLong);
        }
        if self.line_len == 0 {
            self.line_from = self.message.len();
        }
        self.line_len += range.len();
        let bytes = &self.pending[range.clone()];
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL)..]);
        if self.tail.len() > TAIL {
            self.tail.drain(..self.tail.len() - TAIL);
        }
        self.keep(range);
        Ok(())
    }

    /// Frames as much as the received bytes allow; true when a whole message is ready in
    /// [`Framer::message`]. The next call starts the next message. After an error the
    /// stream cannot be framed any further.
    pub(crate) fn frame(&mut self) -> Result<bool, LineTooLong> {
        if self.complete {
            self.complete = false;
            self.too_long = false;
            self.message.clear();
            self.lines.clear();
            self.wire = 0;
        }
        loop {
            let unread = &self.pending[self.start..];
            match self.state {
                State::Literal { remaining } => {
                    if unread.is_empty() && remaining > 0 {
                        return Ok(false);
                    }
                    let take = (remaining.min(unread.len() as u64)) as usize;
                    self.keep(self.start..self.start + take);
                    self.start += take;
                    let left = remaining - take as u64;
                    if left > 0 {
                        self.state = State::Literal { remaining: left };
                        return Ok(false);
                    }
                    self.state = State::Line;
                }
                State::Line => {
                    let Some(at) = unread.iter().position(|&b| b == b'\n') else {
                        let end = self.pending.len();
                        self.line_part(self.start..end)?;
                        self.start = end;
                        return Ok(false);
                    };
                    let end = self.start + at + 1;
                    self.line_part(self.start..end)?;
                    self.start = end;
                    if self.message.len() + (self.lines.len() + 1) * LINE_COST > self.max_message {
                        self.too_long = true;
                    }
                    if !self.too_long {
                        self.lines.push(self.line_from..self.message.len());
                    }
                    let announced = literal_length(&self.tail);
                    self.line_len = 0;
                    self.tail.clear();
                    match announced {
                        Some(n) => self.state = State::Literal { remaining: n },
                        None => {
                            self.complete = true;
                            return Ok(true);
                        }
                    }
                }
            }
        }
    }

    /// Bytes of the current message so far (all of it once `frame` returned true),
    /// literals included, whether they were kept or not.
    pub(crate) fn wire_len(&self) -> u64 {
        self.wire
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
    use proptest::prelude::*;

    fn frame_all(input: &[u8], split: usize, max: usize) -> Vec<(Vec<u8>, bool, usize)> {
        let mut f = Framer::new(1 << 20, max);
        let mut out = Vec::new();
        for part in [&input[..split], &input[split..]] {
            f.enqueue(part);
            while f.frame().unwrap() {
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

    #[test]
    fn a_line_over_the_limit_fails_without_being_held() {
        let mut f = Framer::new(100, 1 << 20);
        f.enqueue(b"* OK ");
        assert_eq!(f.frame(), Ok(false));
        for _ in 0..9 {
            f.enqueue(&[b'x'; 10]);
            assert_eq!(f.frame(), Ok(false));
        }
        f.enqueue(&[b'x'; 10]);
        assert_eq!(f.frame(), Err(LineTooLong));
        // Literals do not count towards their line.
        let mut f = Framer::new(30, 1 << 20);
        f.enqueue(b"* 1 FETCH (BODY[] {100}\r\n");
        f.enqueue(&[b'y'; 100]);
        f.enqueue(b")\r\n");
        assert_eq!(f.frame(), Ok(true));
        assert_eq!(f.lines().count(), 2);
    }

    #[test]
    fn bytes_after_a_message_are_unframed() {
        let mut f = Framer::new(1 << 10, 1 << 10);
        f.enqueue(b"C1 OK go\r\n\x78\x9c");
        assert_eq!(f.frame(), Ok(true));
        assert!(f.has_unframed());
        assert_eq!(f.unframed(), b"\x78\x9c");
        let mut f = Framer::new(1 << 10, 1 << 10);
        f.enqueue(b"C1 OK go\r\n");
        assert_eq!(f.frame(), Ok(true));
        assert!(!f.has_unframed());
        f.enqueue(b"* OK half");
        assert_eq!(f.frame(), Ok(false));
        assert!(f.has_unframed());
        assert_eq!(f.unframed(), b"* OK half");
    }

    /// Valid server streams, to be cut up and corrupted.
    fn streams() -> Vec<Vec<u8>> {
        vec![
            b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n".to_vec(),
            b"* 1 FETCH (UID 5 BODY[] {11}\r\nhello\r\nworld FLAGS (\\Seen))\r\nA1 OK done\r\n"
                .to_vec(),
            b"* VANISHED (EARLIER) 1:4294967295\r\n* SEARCH 1 2 3\r\nC2 OK [APPENDUID 1 1:4294967295] x\r\n"
                .to_vec(),
            b"* LIST () \".\" {4}\r\nR&-D\r\n* 3 FETCH (BINARY[] ~{3}\r\na\0c)\r\n".to_vec(),
            b"* 1 FETCH (BODY[] {99999999999}\r\nabc".to_vec(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever arrives, in whatever pieces: no panic, and never more held than the
        /// limits plus one read.
        #[test]
        fn any_bytes_stay_within_the_limits(
            base in prop::sample::select(streams()),
            junk in prop::collection::vec(any::<u8>(), 0..600),
            cut in any::<prop::sample::Index>(),
            insert_at in any::<prop::sample::Index>(),
            splits in prop::collection::vec(1usize..80, 1..40),
            max_line in 1usize..120,
            max_message in 1usize..300,
        ) {
            let mut input = base.clone();
            let at = insert_at.index(input.len() + 1);
            input.splice(at..at, junk.iter().copied());
            input.truncate(cut.index(input.len() + 1).max(1));
            let mut f = Framer::new(max_line, max_message);
            let mut rest = &input[..];
            let mut sizes = splits.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                f.enqueue(&rest[..n]);
                rest = &rest[n..];
                loop {
                    let (pending, held) = f.held();
                    prop_assert!(pending <= n, "pending {pending} > read {n}");
                    prop_assert!(held <= max_message, "held {held} > {max_message}");
                    match f.frame() {
                        Ok(true) => {
                            let _ = f.lines().count();
                            let _ = f.message();
                        }
                        Ok(false) => break,
                        Err(LineTooLong) => return Ok(()),
                    }
                }
                prop_assert!(f.line_len <= max_line);
            }
        }
    }
}
