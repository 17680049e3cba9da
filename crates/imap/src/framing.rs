//! Splitting the server's byte stream into whole IMAP messages: lines, and the literals
//! they announce (`{n}`, `{n+}`, `~{n}`), before imap-codec decodes each message.
//!
//! imap-codec's Fragmentizer does the same, but moves every byte through a `VecDeque`
//! drain one at a time; on a migration, where almost every byte is a message literal,
//! that was 40% of our CPU. Here literals are copied with `memcpy`, and a message that
//! exceeds the limit is consumed (the stream stays in sync) but not kept.
//!
//! A literal of [`SET_ASIDE_FROM`] bytes or more (a message body, on a migration) is set
//! aside instead of copied into the message: the message keeps an empty literal in its
//! place, which imap-codec decodes without looking at the body (it would check every
//! byte for NUL, one at a time: 13% of our CPU), and the body moves to its owner without
//! another copy. [`Framer::restore`] puts the literals back, for a message that is not
//! the answer the caller can fill in. While asked to ([`Framer::spill`]), a long literal
//! goes straight into a temporary file as it arrives: a message of any size is fetched
//! whole in one command, holding one read in memory.

use std::ops::Range;

use crate::spool::Spool;

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
/// Literals this long or longer are set aside.
pub(crate) const SET_ASIDE_FROM: u64 = 1024;
/// What stands in the message for a literal set aside (after its `~`, if any).
const PLACEHOLDER: &[u8] = b"{0}\r\n";

/// A literal kept beside the message instead of in it.
#[derive(Debug)]
pub(crate) struct SetAside {
    /// Where [`PLACEHOLDER`] stands in the message.
    at: usize,
    /// The announcement it replaced, `{n}` to the end of the line (`{n+}`, CRLF or LF).
    header: Vec<u8>,
    /// A literal8 (`~{n}`), in which NUL is allowed.
    pub(crate) eight: bool,
    pub(crate) held: Held,
}

/// Where a literal set aside is.
#[derive(Debug)]
pub(crate) enum Held {
    Memory(Vec<u8>),
    /// In a temporary file ([`Framer::spill`]).
    Spooled(Spool),
}

/// Literals from `from` to `max` bytes long go into temporary files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spill {
    pub(crate) from: u64,
    pub(crate) max: u64,
}

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
    /// The message's long literals, in order; the last one is being filled while
    /// `setting_aside`.
    set_aside: Vec<SetAside>,
    setting_aside: bool,
    /// Bytes in `set_aside`.
    aside: usize,
    /// Literals this long or longer are set aside ([`SET_ASIDE_FROM`]).
    set_aside_from: u64,
    spill: Option<Spill>,
    /// Bytes of the current message written to temporary files.
    spilled: u64,
    /// Writing a temporary file failed; the rest of that literal is read past.
    spill_error: Option<std::io::Error>,
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
            set_aside: Vec::new(),
            setting_aside: false,
            aside: 0,
            set_aside_from: SET_ASIDE_FROM,
            spill: None,
            spilled: 0,
            spill_error: None,
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

    #[cfg(test)]
    pub(crate) fn set_aside_from(&mut self, n: u64) {
        self.set_aside_from = n;
    }

    /// From now on, literals `spill` names go into temporary files (`None`: none do).
    pub(crate) fn spill(&mut self, spill: Option<Spill>) {
        self.spill = spill;
    }

    /// Why writing a temporary file failed, once.
    pub(crate) fn take_spill_error(&mut self) -> Option<std::io::Error> {
        self.spill_error.take()
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
            out = self.original().0;
        }
        out.extend_from_slice(&self.pending[self.start..]);
        out
    }

    /// Bytes held: received and not consumed, and of the message being framed.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.pending.len() - self.start, self.held_by_message())
    }

    fn held_by_message(&self) -> usize {
        self.message.len() + self.lines.len() * LINE_COST + self.aside
    }

    fn keep(&mut self, range: Range<usize>) {
        self.wire += range.len() as u64;
        if self.setting_aside
            && let Some(SetAside {
                held: Held::Spooled(spool),
                ..
            }) = self.set_aside.last_mut()
        {
            self.spilled += range.len() as u64;
            if self.spill_error.is_none()
                && let Err(e) = spool.append(&self.pending[range])
            {
                self.spill_error = Some(e);
            }
            return;
        }
        if self.held_by_message() + range.len() > self.max_message {
            self.too_long = true;
        }
        if self.too_long {
            return;
        }
        let bytes = &self.pending[range];
        match self.set_aside.last_mut() {
            Some(SetAside {
                held: Held::Memory(held),
                ..
            }) if self.setting_aside => {
                held.extend_from_slice(bytes);
                self.aside += bytes.len();
            }
            _ => self.message.extend_from_slice(bytes),
        }
    }

    /// The message as it came, its literals in place, and its lines' ranges in it.
    fn original(&self) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut out = Vec::with_capacity(self.message.len() + self.aside);
        // Per literal: where its placeholder ends in `message`, where that is in `out`,
        // and where its header ends in `out` (the end of the line that announced it).
        let mut marks: Vec<(usize, usize, usize)> = Vec::with_capacity(self.set_aside.len());
        let mut from = 0;
        for literal in &self.set_aside {
            out.extend_from_slice(&self.message[from..literal.at]);
            out.extend_from_slice(&literal.header);
            let header_end = out.len();
            match &literal.held {
                Held::Memory(bytes) => out.extend_from_slice(bytes),
                // `restore` read them back first; a partial message is never spooled.
                Held::Spooled(_) => {}
            }
            from = literal.at + PLACEHOLDER.len();
            marks.push((from, out.len(), header_end));
        }
        out.extend_from_slice(&self.message[from..]);
        let map = |pos: usize, is_end: bool| match marks.iter().rev().find(|m| m.0 <= pos) {
            Some(&(end, _, header_end)) if is_end && pos == end => header_end,
            Some(&(end, at, _)) => at + (pos - end),
            None => pos,
        };
        let lines = self
            .lines
            .iter()
            .map(|r| map(r.start, false)..map(r.end, true))
            .collect();
        (out, lines)
    }

    /// Puts the literals set aside back into the message, as it came (those in temporary
    /// files read back), if the message then fits its limit; if not, the message is too
    /// long (and keeps its placeholders).
    pub(crate) fn restore(&mut self) {
        if self.set_aside.is_empty() {
            return;
        }
        if self.spilled > 0 {
            if self.held_by_message() as u64 + self.spilled > self.max_message as u64 {
                self.too_long = true;
                return;
            }
            for literal in &mut self.set_aside {
                if let Held::Spooled(spool) = &literal.held {
                    match spool.read_all() {
                        Ok(bytes) => {
                            self.aside += bytes.len();
                            literal.held = Held::Memory(bytes);
                        }
                        Err(e) => {
                            self.spill_error = Some(e);
                            self.too_long = true;
                            return;
                        }
                    }
                }
            }
            self.spilled = 0;
        }
        let (message, lines) = self.original();
        // Put back, a literal's length is longer than its placeholder's `{0}`: the message
        // as it came may be over the limit where the framed one was not.
        if message.len() + lines.len() * LINE_COST > self.max_message {
            self.too_long = true;
            return;
        }
        self.message = message;
        self.lines = lines;
        self.set_aside.clear();
        self.setting_aside = false;
        self.aside = 0;
    }

    /// The literals set aside from the message framed last, in order.
    pub(crate) fn set_aside(&self) -> &[SetAside] {
        &self.set_aside
    }

    /// Takes the literals set aside; the message keeps its placeholders.
    pub(crate) fn take_set_aside(&mut self) -> Vec<SetAside> {
        self.aside = 0;
        std::mem::take(&mut self.set_aside)
    }

    /// The message up to where the literal set aside `k`-th stands.
    pub(crate) fn before_set_aside(&self, k: usize) -> &[u8] {
        &self.message[..self.set_aside[k].at]
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
            self.set_aside.clear();
            self.aside = 0;
            self.spilled = 0;
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
                    self.setting_aside = false;
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
                    if self.held_by_message() + LINE_COST > self.max_message {
                        self.too_long = true;
                    }
                    let announced = literal_length(&self.tail);
                    if !self.too_long {
                        if let Some(n) = announced
                            && n >= self.set_aside_from
                        {
                            self.begin_set_aside(n);
                        }
                        self.lines.push(self.line_from..self.message.len());
                    }
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

    /// The line just ended announces a literal of `n` bytes: its announcement in the
    /// message becomes the placeholder, and the literal goes beside the message.
    fn begin_set_aside(&mut self, n: u64) {
        let line = &self.message[self.line_from..];
        let Some(open) = line.iter().rposition(|&b| b == b'{') else {
            return; // the whole line is in the message, so this does not happen
        };
        let at = self.line_from + open;
        let eight = open > 0 && line[open - 1] == b'~';
        let header = self.message.split_off(at);
        self.message.extend_from_slice(PLACEHOLDER);
        let spool = match self.spill {
            Some(spill) if (spill.from..=spill.max).contains(&n) => match Spool::new() {
                Ok(spool) => Some(spool),
                Err(e) => {
                    self.spill_error = Some(e);
                    None
                }
            },
            _ => None,
        };
        let held = match spool {
            Some(spool) => Held::Spooled(spool),
            None => {
                let room = self.max_message.saturating_sub(self.held_by_message());
                Held::Memory(Vec::with_capacity(n.min(room as u64) as usize))
            }
        };
        self.set_aside.push(SetAside {
            at,
            header,
            eight,
            held,
        });
        self.setting_aside = true;
    }

    /// Bytes of the current message so far (all of it once `frame` returned true),
    /// literals included, whether they were kept or not, except those written to
    /// temporary files.
    pub(crate) fn wire_len(&self) -> u64 {
        self.wire - self.spilled
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
        f.set_aside_from(u64::MAX);
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

    #[test]
    fn a_long_literal_is_set_aside_and_restored_as_it_came() {
        let input: &[u8] = b"* 1 FETCH (UID 5 BODY[] {12}\r\nhello\r\nworld FLAGS (\\Seen))\r\n\
                             * 2 FETCH (UID 6 BINARY[] ~{3+}\nabc)\r\nA1 OK done\r\n";
        for split in 0..=input.len() {
            let mut f = Framer::new(1 << 20, 1 << 20);
            f.set_aside_from(3);
            let mut got = Vec::new();
            for part in [&input[..split], &input[split..]] {
                f.enqueue(part);
                while f.frame().unwrap() {
                    let message = f.message().to_vec();
                    let aside: Vec<(Vec<u8>, bool)> = f
                        .set_aside()
                        .iter()
                        .map(|l| match &l.held {
                            Held::Memory(bytes) => (bytes.clone(), l.eight),
                            Held::Spooled(_) => unreachable!("not asked to spill"),
                        })
                        .collect();
                    f.restore();
                    let lines: Vec<Vec<u8>> = f.lines().map(<[u8]>::to_vec).collect();
                    got.push((message, aside, f.message().to_vec(), lines));
                }
            }
            let lines = |l: &[&[u8]]| l.iter().map(|x| x.to_vec()).collect::<Vec<_>>();
            assert_eq!(
                got,
                vec![
                    (
                        b"* 1 FETCH (UID 5 BODY[] {0}\r\n FLAGS (\\Seen))\r\n".to_vec(),
                        vec![(b"hello\r\nworld".to_vec(), false)],
                        b"* 1 FETCH (UID 5 BODY[] {12}\r\nhello\r\nworld FLAGS (\\Seen))\r\n"
                            .to_vec(),
                        lines(&[b"* 1 FETCH (UID 5 BODY[] {12}\r\n", b" FLAGS (\\Seen))\r\n"]),
                    ),
                    (
                        b"* 2 FETCH (UID 6 BINARY[] ~{0}\r\n)\r\n".to_vec(),
                        vec![(b"abc".to_vec(), true)],
                        b"* 2 FETCH (UID 6 BINARY[] ~{3+}\nabc)\r\n".to_vec(),
                        lines(&[b"* 2 FETCH (UID 6 BINARY[] ~{3+}\n", b")\r\n"]),
                    ),
                    (
                        b"A1 OK done\r\n".to_vec(),
                        vec![],
                        b"A1 OK done\r\n".to_vec(),
                        lines(&[b"A1 OK done\r\n"]),
                    ),
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn spilled_literals_go_to_files_within_their_bounds_and_read_back() {
        let first: &[u8] = b"* 1 FETCH (UID 5 BODY[] {8}\r\n12345678)\r\n";
        let second: &[u8] = b"* 2 FETCH (UID 6 BODY[] {12}\r\nabcdefghijkl)\r\n";
        let input = [first, second].concat();
        for split in 0..=input.len() {
            let mut f = Framer::new(1 << 20, 200);
            f.set_aside_from(4);
            f.spill(Some(Spill { from: 4, max: 10 }));
            let mut got = Vec::new();
            for part in [&input[..split], &input[split..]] {
                f.enqueue(part);
                while f.frame().unwrap() {
                    let spooled = matches!(f.set_aside()[0].held, Held::Spooled(_));
                    // Spooled bytes are not held in memory, nor counted as received.
                    got.push((spooled, f.wire_len(), f.held().1));
                    f.restore();
                    got.push((false, 0, f.message().len()));
                }
            }
            assert!(f.take_spill_error().is_none());
            // The second is over the spill bound: in memory, as without spilling.
            let lines = 2 * LINE_COST;
            assert_eq!(
                got,
                [
                    // The message with its placeholder, and its two lines.
                    (true, first.len() as u64 - 8, 32 + lines),
                    (false, 0, first.len()),
                    (false, second.len() as u64, 32 + 12 + lines),
                    (false, 0, second.len()),
                ],
                "split at {split}"
            );
        }
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

        /// Messages with literals of any length, in any pieces: each framed message,
        /// its literals put back, is the message as sent, line for line.
        #[test]
        fn set_aside_literals_restore_to_the_message_as_sent(
            messages in prop::collection::vec(
                prop::collection::vec((prop::collection::vec(any::<u8>(), 0..40), any::<bool>()), 0..4),
                1..5,
            ),
            splits in prop::collection::vec(1usize..50, 1..40),
            set_aside_from in 0u64..30,
        ) {
            let mut input = Vec::new();
            let mut expected = Vec::new();
            for (n, literals) in messages.iter().enumerate() {
                let mut message = format!("* {} FETCH (", n + 1).into_bytes();
                let mut lines = Vec::new();
                let mut line_from = 0;
                for (bytes, eight) in literals {
                    let tilde = if *eight { "~" } else { "" };
                    message.extend_from_slice(format!("X {tilde}{{{}}}\r\n", bytes.len()).as_bytes());
                    lines.push(message[line_from..].to_vec());
                    message.extend_from_slice(bytes);
                    line_from = message.len();
                }
                message.extend_from_slice(b")\r\n");
                lines.push(message[line_from..].to_vec());
                input.extend_from_slice(&message);
                expected.push((message, lines));
            }
            let mut f = Framer::new(1 << 20, 1 << 20);
            f.set_aside_from(set_aside_from);
            let mut got = Vec::new();
            let mut rest = &input[..];
            let mut sizes = splits.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                f.enqueue(&rest[..n]);
                rest = &rest[n..];
                while f.frame().unwrap() {
                    f.restore();
                    let lines: Vec<Vec<u8>> = f.lines().map(<[u8]>::to_vec).collect();
                    got.push((f.message().to_vec(), lines));
                }
            }
            prop_assert_eq!(got, expected);
        }

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
            set_aside_from in 0u64..20,
        ) {
            let mut input = base.clone();
            let at = insert_at.index(input.len() + 1);
            input.splice(at..at, junk.iter().copied());
            input.truncate(cut.index(input.len() + 1).max(1));
            let mut f = Framer::new(max_line, max_message);
            f.set_aside_from(set_aside_from);
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
                            f.restore();
                            prop_assert!(f.held().1 <= max_message);
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
