//! One socket: framing, decoding, writing commands fragment by fragment, and routing
//! responses by tag.
//!
//! Framing is `framing.rs`, which keeps the stream in sync even when a message cannot
//! be decoded or is too long; imap-codec decodes each framed message. Every decoded message is converted at once
//! into the owned types of `response.rs`.

use std::{
    borrow::Cow,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use imap_codec::{GreetingCodec, ResponseCodec, decode::Decoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tracing::{debug, warn};

use crate::{
    error::ImapError,
    framing::{Framer, Held, LineTooLong, Spill},
    limits::{Limit, Limits},
    response::{
        GreetingResp, Resp, StatusLine, Untagged, announces_whole_body, convert_greeting,
        convert_response, lenient_esearch, lenient_fetch_uid, lenient_status, trim_crlf,
    },
    spool::Spool,
};

/// Bytes asked of the stream per read: the most the framer holds beyond its limits.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// A stream we can run IMAP over: TCP, TLS, or an in-memory pipe in tests.
pub(crate) trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}

/// One piece of an outgoing command.
pub(crate) enum Out<'a> {
    Bytes(Cow<'a, [u8]>),
    /// Flush and wait for a `+` continuation before sending what follows
    /// (a synchronizing literal, or the next AUTHENTICATE step).
    AwaitContinuation,
    /// The content of a spooled message, streamed from its file.
    Spool(&'a crate::spool::Spool),
}

/// Everything a command produced: its untagged data and its tagged completion.
#[derive(Debug)]
pub(crate) struct Completion {
    pub untagged: Vec<Untagged>,
    pub status: StatusLine,
}

impl Completion {
    /// Turns NO/BAD into errors.
    pub(crate) fn ok(self, command: &'static str) -> Result<Completion, ImapError> {
        self.status.check(command)?;
        Ok(self)
    }
}

/// How much of an outgoing command may be logged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logging {
    FirstLine,
    /// LOGIN/AUTHENTICATE: only tag and command name.
    Redacted,
}

/// With COMPRESS: compressed bytes read (counted below the inflater) and inflated bytes
/// received.
struct Inflation {
    compressed: Arc<AtomicU64>,
    inflated: u64,
}

pub(crate) struct Connection<S> {
    stream: BufWriter<S>,
    framer: Framer,
    read_buf: Box<[u8]>,
    next_tag: u64,
    limits: Limits,
    /// `host:port`, for errors.
    server: String,
    /// The command being run, for errors.
    command: &'static str,
    /// Bytes (of whole responses) and responses received since the command was sent.
    received: u64,
    responses: u64,
    /// See [`Connection::round_trip`].
    round_trip: Option<std::time::Duration>,
    inflation: Option<Inflation>,
    /// Set when a command failed in a way that leaves the stream out of step with the
    /// server: (what happened, whether a new connection may do better).
    broken: Option<(String, bool)>,
    /// Bodies the framer spooled ([`Connection::spill`]), by UID, for the caller to
    /// take; their FETCH responses carry no body.
    spooled: Vec<(u32, Spool)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub(crate) fn new(stream: S, next_tag: u64, limits: Limits, server: String) -> Self {
        Connection {
            stream: BufWriter::with_capacity(READ_CHUNK, stream),
            framer: Framer::new(limits.max_line, limits.max_literal),
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
            next_tag,
            limits,
            server,
            command: "greeting",
            received: 0,
            responses: 0,
            round_trip: None,
            inflation: None,
            broken: None,
            spooled: Vec::new(),
        }
    }

    /// From now on, FETCH bodies `spill` names go into temporary files, for
    /// [`Connection::take_spooled`] (`None`: into memory, as usual).
    pub(crate) fn spill(&mut self, spill: Option<Spill>) {
        self.framer.spill(spill);
        if spill.is_none() {
            self.spooled.clear();
        }
    }

    /// The bodies spooled since the last call, by UID.
    pub(crate) fn take_spooled(&mut self) -> Vec<(u32, Spool)> {
        std::mem::take(&mut self.spooled)
    }

    /// What the framer holds: (received and not framed, of the current message).
    #[cfg(test)]
    pub(crate) fn framer_held(&self) -> (usize, usize) {
        self.framer.held()
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.framer.set_limits(limits.max_line, limits.max_literal);
        self.limits = limits;
    }

    /// From now on the stream is inflated, and `compressed` counts its bytes before.
    pub(crate) fn is_inflating(&self) -> bool {
        self.inflation.is_some()
    }

    pub(crate) fn count_inflation(&mut self, compressed: Arc<AtomicU64>) {
        self.inflation = Some(Inflation {
            compressed,
            inflated: 0,
        });
    }

    /// Gives the socket back (for STARTTLS). Fails if the server sent anything after the
    /// last complete response: that data would be plaintext injected before TLS.
    pub(crate) fn into_inner(self) -> Result<(S, u64), ImapError> {
        if self.framer.has_unframed() {
            return Err(ImapError::Protocol(
                "server sent data after the STARTTLS response; refusing to continue".into(),
            ));
        }
        Ok((self.stream.into_inner(), self.next_tag))
    }

    /// Gives the socket back with the bytes read but not framed yet (for COMPRESS,
    /// whose compressed stream may start in them).
    pub(crate) fn into_parts(self) -> (S, Vec<u8>, u64) {
        let unframed = self.framer.unframed();
        (self.stream.into_inner(), unframed, self.next_tag)
    }

    pub(crate) fn next_tag(&mut self) -> String {
        let tag = format!("C{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    fn timeout_error(&self) -> ImapError {
        ImapError::Timeout {
            server: self.server.clone(),
            command: self.command,
            after: self.limits.timeout,
        }
    }

    fn limit_error(&self, limit: Limit) -> ImapError {
        ImapError::LimitExceeded {
            server: self.server.clone(),
            command: self.command,
            limit,
            value: self.limits.value(limit),
        }
    }

    /// One read, of whatever the stream has: the idle timeout starts again with every
    /// read that brings something.
    async fn fill(&mut self) -> Result<(), ImapError> {
        let n = tokio::time::timeout(self.limits.timeout, self.stream.read(&mut self.read_buf))
            .await
            .map_err(|_| self.timeout_error())??;
        if n == 0 {
            return Err(ImapError::ConnectionClosed);
        }
        if let Some(inflation) = &mut self.inflation {
            inflation.inflated += n as u64;
            let compressed = inflation.compressed.load(Ordering::Relaxed);
            let allowed = compressed
                .saturating_mul(u64::from(self.limits.max_inflate_ratio))
                .saturating_add(Limits::INFLATE_ALLOWANCE);
            if inflation.inflated > allowed {
                return Err(self.limit_error(Limit::InflateRatio));
            }
        }
        self.framer.enqueue(&self.read_buf[..n]);
        Ok(())
    }

    /// Reads until the framer holds one complete message. The command's responses are
    /// counted as they arrive, so that a literal without end fails at the limit.
    async fn next_message(&mut self) -> Result<(), ImapError> {
        loop {
            let done = match self.framer.frame() {
                Ok(done) => done,
                Err(LineTooLong) => return Err(self.limit_error(Limit::LineLength)),
            };
            if self.received + self.framer.wire_len() > self.limits.max_untagged_bytes {
                return Err(self.limit_error(Limit::UntaggedBytes));
            }
            if let Some(e) = self.framer.take_spill_error() {
                return Err(ImapError::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot write a message to a temporary file: {e}"),
                )));
            }
            if done {
                self.received += self.framer.wire_len();
                return Ok(());
            }
            self.fill().await?;
        }
    }

    fn first_line_for_log(&self) -> String {
        let line = trim_crlf(self.framer.lines().next().unwrap_or_default());
        let shown = &line[..line.len().min(200)];
        String::from_utf8_lossy(shown).into_owned()
    }

    /// Decodes the framed message as a whole (no bytes may be left over).
    fn decode<'a, C: Decoder>(&'a self, codec: &C) -> Result<C::Message<'a>, &'static str> {
        if self.framer.too_long() {
            return Err("over the response size limit");
        }
        match codec.decode(self.framer.message()) {
            Ok(([], message)) => Ok(message),
            Ok(_) => Err("trailing data"),
            Err(_) => Err("unparseable"),
        }
    }

    /// The greeting, which must arrive whole within the timeout (a server that trickles
    /// it does not hold a connection slot forever).
    pub(crate) async fn read_greeting(&mut self) -> Result<GreetingResp, ImapError> {
        self.command = "greeting";
        let limit = self.limits.timeout;
        match tokio::time::timeout(limit, self.next_message()).await {
            Ok(read) => read?,
            Err(_) => return Err(self.timeout_error()),
        }
        // Restored first: a literal put back may take the greeting over the limit.
        self.framer.restore();
        if self.framer.too_long() {
            return Err(self.limit_error(Limit::ResponseSize));
        }
        let greeting = match self.decode(&GreetingCodec::default()) {
            Ok(g) => convert_greeting(g),
            Err(why) => {
                let line = self.first_line_for_log();
                warn!(greeting = %line, "{why} greeting, reading it leniently");
                let upper = line.to_ascii_uppercase();
                if upper.starts_with("* OK") {
                    GreetingResp::Ok(None)
                } else if upper.starts_with("* PREAUTH") {
                    GreetingResp::PreAuth(None)
                } else if upper.starts_with("* BYE") {
                    GreetingResp::Bye(line.get(6..).unwrap_or("").to_string())
                } else {
                    return Err(ImapError::Protocol(format!("bad greeting: {line}")));
                }
            }
        };
        debug!(?greeting, "S: greeting");
        Ok(greeting)
    }

    pub(crate) async fn read_response(&mut self) -> Result<Resp, ImapError> {
        self.next_message().await?;
        self.responses += 1;
        if self.responses > self.limits.max_untagged_responses {
            return Err(self.limit_error(Limit::UntaggedResponses));
        }
        let filled = self.fetch_with_body_set_aside();
        if filled.is_none() {
            // Not put back when then over the limit: `decode` refuses it (never decoded
            // with empty literals in their place), and it is read leniently below.
            self.framer.restore();
        }
        let decoded = match filled {
            Some(resp) => Ok(resp),
            None => self.decode(&ResponseCodec::default()).map(convert_response),
        };
        let resp = match decoded {
            Ok(resp) => resp,
            Err(_) if let Some(uids) = self.esearch() => Resp::Untagged(Untagged::Search(uids)),
            Err(reason) => {
                let too_long = self.framer.too_long();
                let lines: Vec<&[u8]> = self.framer.lines().collect();
                let first = lines.first().copied().unwrap_or_default();
                let lenient = lenient_status(first);
                let fetch_uid = lenient_fetch_uid(&lines);
                let first_line = self.first_line_for_log();
                warn!(line = %first_line, reason, "cannot decode server response");
                Resp::Undecodable {
                    tag: lenient.as_ref().map(|(t, _)| t.clone()),
                    status: lenient.map(|(_, s)| s),
                    fetch_uid,
                    too_long,
                    first_line,
                }
            }
        };
        match &resp {
            Resp::Tagged { tag, status } => {
                debug!(tag, ?status.kind, code = ?status.code, text = %status.text, "S: completion")
            }
            Resp::Untagged(Untagged::Fetch(f)) => {
                debug!(seq = f.seq, uid = ?f.uid, body_len = ?f.body.as_ref().and_then(|b| b.data.as_ref()).map(Vec::len), "S: FETCH")
            }
            Resp::Untagged(u) => debug!(?u, "S: untagged"),
            Resp::Continue(_) => debug!("S: +"),
            Resp::Bye(text) => debug!(text, "S: BYE"),
            Resp::Undecodable { .. } => {}
        }
        Ok(resp)
    }

    /// A FETCH response whose message body the framer set aside: decoded with the
    /// placeholder, and the body put in its place. `None` for anything else (no literal
    /// or more than one set aside, one that is not the body, a response that is not a
    /// FETCH), which is decoded as it came.
    fn fetch_with_body_set_aside(&mut self) -> Option<Resp> {
        if self.framer.too_long()
            || self.framer.set_aside().len() != 1
            || !announces_whole_body(self.framer.before_set_aside(0))
        {
            return None;
        }
        let mut items = match self.decode(&ResponseCodec::default()).map(convert_response) {
            Ok(Resp::Untagged(Untagged::Fetch(items))) => items,
            _ => return None,
        };
        match &items.body {
            Some(body) if body.data.as_ref().is_some_and(Vec::is_empty) => {}
            _ => return None,
        }
        let literal = self.framer.take_set_aside().pop()?;
        let has_nul = match &literal.held {
            Held::Memory(bytes) => crate::spool::has_nul(bytes),
            Held::Spooled(spool) => spool.has_nul(),
        };
        if !literal.eight && has_nul {
            // What imap-codec says of a NUL outside a literal8: this message cannot be
            // read this way (the caller asks again with BINARY where it can).
            return Some(self.unreadable_fetch(
                items.uid,
                "NUL byte in a message body, which IMAP allows only in a literal8",
            ));
        }
        match literal.held {
            Held::Memory(bytes) => {
                if let Some(body) = items.body.as_mut() {
                    body.data = Some(bytes);
                }
            }
            Held::Spooled(spool) => match items.uid {
                Some(uid) => {
                    // The body is in `spooled`; a caller that reads it from the response
                    // (none should, while spilling) finds no body, never an empty one.
                    if let Some(body) = items.body.as_mut() {
                        body.data = None;
                    }
                    self.spooled.push((uid, spool));
                }
                None => {
                    return Some(self.unreadable_fetch(
                        None,
                        "a FETCH body without its UID; that message will be missing",
                    ));
                }
            },
        }
        Some(Resp::Untagged(Untagged::Fetch(items)))
    }

    /// A FETCH response that decoded but cannot be used, logged with `why`: as an
    /// undecodable one, which fails its message alone.
    fn unreadable_fetch(&self, uid: Option<u32>, why: &str) -> Resp {
        let first_line = self.first_line_for_log();
        warn!(line = %first_line, "{why}");
        Resp::Undecodable {
            tag: None,
            status: None,
            fetch_uid: uid,
            too_long: false,
            first_line,
        }
    }

    /// The framed message as an ESEARCH answer (one line), which imap-codec rejects.
    fn esearch(&self) -> Option<crate::uid_set::UidSet> {
        let mut lines = self.framer.lines();
        let line = lines.next()?;
        if self.framer.too_long() || lines.next().is_some() {
            return None;
        }
        lenient_esearch(line)
    }

    /// Writes all of `bytes`, a piece at a time: each piece the stream takes starts the
    /// idle timeout again, so a slow upload is not a stalled one.
    async fn write(&mut self, mut bytes: &[u8]) -> Result<(), ImapError> {
        while !bytes.is_empty() {
            let n = tokio::time::timeout(self.limits.timeout, self.stream.write(bytes))
                .await
                .map_err(|_| self.timeout_error())??;
            if n == 0 {
                return Err(ImapError::Io(std::io::ErrorKind::WriteZero.into()));
            }
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Flushes what is buffered: at most one buffer (64 KiB, plus what TLS or
    /// COMPRESS hold), within the idle timeout.
    async fn flush(&mut self) -> Result<(), ImapError> {
        tokio::time::timeout(self.limits.timeout, self.stream.flush())
            .await
            .map_err(|_| self.timeout_error())??;
        Ok(())
    }

    /// Starts a command: fails at once on a connection an earlier failure left out of
    /// step, and starts the command's counts.
    fn begin(&mut self, command: &'static str) -> Result<(), ImapError> {
        if let Some((cause, transient)) = &self.broken {
            return Err(ImapError::ConnectionUnusable {
                cause: cause.clone(),
                transient: *transient,
            });
        }
        self.command = command;
        self.received = 0;
        self.responses = 0;
        Ok(())
    }

    /// After a failed command: any failure of the connection itself (not a NO, not a
    /// refused argument) leaves it unusable.
    fn end<T>(&mut self, result: Result<T, ImapError>) -> Result<T, ImapError> {
        if let Err(e) = &result
            && !matches!(e, ImapError::InvalidArgument(_))
        {
            warn!(server = self.server, command = self.command, error = %e, "dropping the connection");
            self.broken = Some((e.to_string(), e.is_transient()));
        }
        result
    }

    /// Sends one command and reads until its tagged completion.
    ///
    /// Untagged data seen meanwhile is collected. If the server answers a synchronizing
    /// literal with the tagged completion instead of `+`, the rest is not sent and that
    /// completion is returned. An undecodable tagged completion for `tag` is recovered
    /// leniently. A failure of the connection (timeout, limit, closed) makes it refuse
    /// every later command.
    pub(crate) async fn execute(
        &mut self,
        command: &'static str,
        tag: &str,
        parts: Vec<Out<'_>>,
        logging: Logging,
    ) -> Result<Completion, ImapError> {
        self.begin(command)?;
        let started = std::time::Instant::now();
        let result = self
            .execute_inner(command, tag, parts, logging, None, &mut None)
            .await;
        if result.is_ok() {
            self.took_round_trip(started.elapsed());
        }
        self.end(result)
    }

    /// The quickest command so far, from its first byte sent to its completion (of a
    /// pipeline, to its first completion): about the round-trip time to the server (a
    /// small command's own work is next to nothing). Never less: nothing is answered
    /// before it arrives.
    pub(crate) fn round_trip(&self) -> Option<std::time::Duration> {
        self.round_trip
    }

    fn took_round_trip(&mut self, took: std::time::Duration) {
        self.round_trip = Some(self.round_trip.map_or(took, |rt| rt.min(took)));
    }

    /// [`Self::execute`] for a SASL exchange whose failure the server may announce with
    /// a `+` carrying its error: that data is returned beside the completion, after
    /// `failure_reply` (sent as a line) made the server finish the command.
    pub(crate) async fn execute_sasl(
        &mut self,
        command: &'static str,
        tag: &str,
        parts: Vec<Out<'_>>,
        failure_reply: &[u8],
    ) -> Result<(Completion, Option<Vec<u8>>), ImapError> {
        self.begin(command)?;
        let mut challenge = None;
        let result = self
            .execute_inner(
                command,
                tag,
                parts,
                Logging::Redacted,
                Some(failure_reply),
                &mut challenge,
            )
            .await;
        self.end(result).map(|done| (done, challenge))
    }

    async fn execute_inner(
        &mut self,
        command: &'static str,
        tag: &str,
        parts: Vec<Out<'_>>,
        logging: Logging,
        sasl_failure_reply: Option<&[u8]>,
        challenge: &mut Option<Vec<u8>>,
    ) -> Result<Completion, ImapError> {
        match logging {
            Logging::Redacted => debug!(tag, command, "C: {tag} {command} <redacted>"),
            Logging::FirstLine => {
                if let Some(Out::Bytes(first)) = parts.first() {
                    let line = trim_crlf(first.split(|&b| b == b'\n').next().unwrap_or_default());
                    let shown = &line[..line.len().min(300)];
                    debug!(tag, command, "C: {}", String::from_utf8_lossy(shown));
                }
            }
        }
        let mut untagged = Vec::new();
        let mut bye = None;
        for part in parts {
            match part {
                Out::Bytes(bytes) => self.write(&bytes).await?,
                Out::Spool(spool) => {
                    let mut blocks = spool.blocks()?;
                    while let Some(block) = blocks.next_block()? {
                        self.write(block).await?;
                    }
                }
                Out::AwaitContinuation => {
                    self.flush().await?;
                    loop {
                        match self.route(&[tag], &mut untagged, &mut bye).await? {
                            Routed::Continue(_) => break,
                            Routed::Done(_, status) => {
                                return Ok(Completion { untagged, status });
                            }
                            Routed::More => {}
                        }
                    }
                }
            }
        }
        self.flush().await?;
        loop {
            match self.route(&[tag], &mut untagged, &mut bye).await? {
                Routed::Done(_, status) => return Ok(Completion { untagged, status }),
                Routed::Continue(data) => match (sasl_failure_reply, &challenge) {
                    // RFC 7628 §3.2.3 (and Google's XOAUTH2): a refused token comes back
                    // as a `+` with the server's JSON error; the client answers with a
                    // dummy response and the server then fails the command.
                    (Some(reply), None) => {
                        *challenge = Some(data);
                        self.write(reply).await?;
                        self.write(b"\r\n").await?;
                        self.flush().await?;
                    }
                    _ => {
                        return Err(ImapError::Protocol(format!(
                            "unexpected continuation request during {command}"
                        )));
                    }
                },
                Routed::More => {}
            }
        }
    }

    /// Sends several commands at once and reads until every one has completed: one
    /// round trip instead of one per command. The commands must not wait for
    /// continuations. Untagged data of all of them comes back together (the server may
    /// interleave it); the statuses come back in the order of `commands`. The limits on
    /// data received apply to the commands together.
    pub(crate) async fn execute_pipelined(
        &mut self,
        command: &'static str,
        commands: Vec<(String, Vec<Out<'_>>)>,
    ) -> Result<(Vec<Untagged>, Vec<StatusLine>), ImapError> {
        let done = self.execute_all(command, commands, false).await?;
        let mut untagged = Vec::new();
        let mut statuses = Vec::with_capacity(done.len());
        for d in done {
            untagged.extend(d.untagged);
            statuses.push(d.status);
        }
        Ok((untagged, statuses))
    }

    /// [`Self::execute_pipelined`], with each command's own untagged data: what arrived
    /// after the completion before it and up to its own. That is the command's data when
    /// the server runs the commands one after the other, which IMAP requires of a command
    /// that changes the selected mailbox (EXAMINE) and of every command after it (RFC 3501
    /// section 5.5): an `EXAMINE a`, `UID FETCH`, `EXAMINE b`, `UID FETCH` sequence comes
    /// back folder by folder. Completions out of order make it an error. The limits on
    /// data received apply to each command.
    pub(crate) async fn execute_each(
        &mut self,
        command: &'static str,
        commands: Vec<(String, Vec<Out<'_>>)>,
    ) -> Result<Vec<Completion>, ImapError> {
        self.execute_all(command, commands, true).await
    }

    /// Pipelines `commands`; `ordered`: a completion out of order fails it (the data
    /// could not be told apart by command).
    async fn execute_all(
        &mut self,
        command: &'static str,
        commands: Vec<(String, Vec<Out<'_>>)>,
        ordered: bool,
    ) -> Result<Vec<Completion>, ImapError> {
        let waits = commands
            .iter()
            .flat_map(|(_, parts)| parts)
            .any(|p| !matches!(p, Out::Bytes(_)));
        if waits {
            return Err(ImapError::InvalidArgument(format!(
                "{command} cannot be pipelined: it waits for a continuation"
            )));
        }
        self.begin(command)?;
        let result = self
            .execute_pipelined_inner(command, commands, ordered)
            .await;
        self.end(result)
    }

    async fn execute_pipelined_inner(
        &mut self,
        command: &'static str,
        commands: Vec<(String, Vec<Out<'_>>)>,
        ordered: bool,
    ) -> Result<Vec<Completion>, ImapError> {
        // A sample of the round trip, as `execute` takes one: a server busy with other
        // connections (its login process, on two cores) answers a login slowly, and a
        // round trip taken from the login alone once put a loopback server 26 ms away.
        let started = std::time::Instant::now();
        let mut first_done = true;
        let mut tags = Vec::with_capacity(commands.len());
        for (tag, parts) in commands {
            for part in parts {
                if let Out::Bytes(bytes) = part {
                    self.write(&bytes).await?;
                }
            }
            tags.push(tag);
        }
        debug!(command, count = tags.len(), first = ?tags.first(), "C: pipelined");
        self.flush().await?;
        let mut untagged = Vec::new();
        let mut bye = None;
        let mut done: Vec<Option<Completion>> = tags.iter().map(|_| None).collect();
        let mut pending = tags.len();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        while pending > 0 {
            match self.route(&tags, &mut untagged, &mut bye).await? {
                Routed::Done(i, status) => {
                    if std::mem::take(&mut first_done) {
                        self.took_round_trip(started.elapsed());
                    }
                    if done[i].is_none() {
                        if ordered && done[i + 1..].iter().any(Option::is_some) {
                            return Err(ImapError::Protocol(format!(
                                "{command}: the server completed pipelined commands out of order"
                            )));
                        }
                        done[i] = Some(Completion {
                            untagged: std::mem::take(&mut untagged),
                            status,
                        });
                        pending -= 1;
                        if ordered {
                            // Each command's data is its own: so are the limits on it.
                            self.received = 0;
                            self.responses = 0;
                        }
                    }
                }
                Routed::Continue(_) => {
                    return Err(ImapError::Protocol(format!(
                        "unexpected continuation request during {command}"
                    )));
                }
                Routed::More => {}
            }
        }
        Ok(done.into_iter().flatten().collect())
    }

    async fn route(
        &mut self,
        tags: &[&str],
        untagged: &mut Vec<Untagged>,
        bye: &mut Option<String>,
    ) -> Result<Routed, ImapError> {
        let resp = match self.read_response().await {
            Ok(resp) => resp,
            Err(ImapError::ConnectionClosed) if bye.is_some() => {
                return Err(ImapError::Bye {
                    text: bye.take().unwrap_or_default(),
                });
            }
            Err(e) => return Err(e),
        };
        Ok(match resp {
            Resp::Continue(data) => Routed::Continue(data),
            Resp::Tagged { tag: t, status } => match tags.iter().position(|&x| x == t) {
                Some(i) => Routed::Done(i, status),
                None => {
                    warn!(tag = t, "completion for a command we did not send; ignored");
                    Routed::More
                }
            },
            // A BYE is fatal unless the command completes anyway (LOGOUT).
            Resp::Bye(text) => {
                *bye = Some(text);
                Routed::More
            }
            // Nothing we act on: counted, not kept.
            Resp::Untagged(Untagged::Other(_)) => Routed::More,
            Resp::Untagged(u) => {
                untagged.push(u);
                Routed::More
            }
            Resp::Undecodable {
                tag: Some(t),
                status: Some(status),
                ..
            } if tags.contains(&t.as_str()) => Routed::Done(
                tags.iter().position(|&x| x == t).unwrap_or_default(),
                status,
            ),
            Resp::Undecodable {
                fetch_uid,
                too_long,
                first_line,
                ..
            } => {
                let is_fetch = first_line.starts_with("* ")
                    && first_line
                        .split(' ')
                        .nth(2)
                        .is_some_and(|w| w.eq_ignore_ascii_case("FETCH"));
                if is_fetch {
                    // One message's problem: the stream is in step, the others arrive.
                    untagged.push(Untagged::FetchFailed {
                        uid: fetch_uid,
                        reason: if too_long {
                            let limit = Limit::ResponseSize;
                            format!(
                                "{} (limit: {limit}; raise {} if the server is right)",
                                limit.what(self.limits.value(limit)),
                                limit.env()
                            )
                        } else {
                            "FETCH response could not be parsed".into()
                        },
                    });
                } else if too_long {
                    // Data of the command we could not keep: failing beats losing it.
                    return Err(self.limit_error(Limit::ResponseSize));
                }
                Routed::More
            }
        })
    }
}

enum Routed {
    Continue(Vec<u8>),
    /// The command at this index of the pending tags completed.
    Done(usize, StatusLine),
    More,
}
