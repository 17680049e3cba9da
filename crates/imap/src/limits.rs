//! How much a server may make us hold, and how long it may keep us waiting.
//!
//! Memory follows what we asked for, never what a server chooses to send: every line,
//! response, command's worth of data and inflated byte is counted against a limit,
//! and silence is an idle timeout. Past a limit the command fails with
//! [`ImapError::LimitExceeded`](crate::ImapError::LimitExceeded) and the connection is
//! dropped; a wrong limit is raised with the environment variable the error names.

use std::{fmt, time::Duration};

use crate::error::ImapError;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Limits and timeouts of one connection. [`Limits::default`] suits every server we
/// know; [`Limits::from_env`] lets an operator move them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest line (literals excluded) the framer holds while looking for its end.
    /// Default 8 MiB: the longest lines real servers send are SEARCH results (a plain
    /// `* SEARCH` for a folder of a million messages is about 8 MB), then LIST and
    /// FETCH FLAGS lines of a few KB. `CUTOVER_IMAP_MAX_LINE`.
    pub max_line: usize,
    /// Largest response, literals included, held in memory. Default 64 MiB: bodies over
    /// 1 MiB go into temporary files as they arrive, so only a server whose RFC822.SIZE
    /// is far off sends more. A FETCH response over it is read past and reported for its message
    /// alone (the stream stays in sync); any other response fails the command.
    /// `CUTOVER_IMAP_MAX_LITERAL`.
    pub max_literal: usize,
    /// Bytes of responses received during one command. Default 256 MiB: listing a
    /// folder of a million messages is 100-150 MB. `CUTOVER_IMAP_MAX_UNTAGGED`.
    pub max_untagged_bytes: u64,
    /// Responses received during one command. Default 2 000 000: a folder of a million
    /// messages, twice over for servers that split a message's items.
    /// `CUTOVER_IMAP_MAX_RESPONSES`.
    pub max_untagged_responses: u64,
    /// With COMPRESS=DEFLATE, the inflated bytes of a connection may not exceed this
    /// many times the compressed bytes, plus [`Limits::INFLATE_ALLOWANCE`]. Default
    /// 100: mail compresses 3-10:1; a deflate bomb is 1000:1.
    /// `CUTOVER_IMAP_MAX_INFLATE_RATIO`.
    pub max_inflate_ratio: u32,
    /// Silence that fails a command: nothing read and nothing written for this long
    /// (a slow but moving transfer never times out). Also bounds the TLS handshake and
    /// the greeting as a whole. Default 120 s. `CUTOVER_IMAP_TIMEOUT_SECS`.
    pub timeout: Duration,
    /// TCP connect. Default 10 s. `CUTOVER_IMAP_CONNECT_TIMEOUT_SECS`.
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: (8 * MIB) as usize,
            max_literal: (64 * MIB) as usize,
            max_untagged_bytes: 256 * MIB,
            max_untagged_responses: 2_000_000,
            max_inflate_ratio: 100,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// Inflated bytes allowed beyond the ratio, so that one very compressible message
    /// at the start of a connection (a zero-filled attachment) passes.
    pub const INFLATE_ALLOWANCE: u64 = 8 * MIB;

    /// The defaults, with every `CUTOVER_IMAP_*` variable that is set applied. Sizes
    /// take a `K`, `M` or `G` suffix (`16M`, `16MiB`); timeouts are whole seconds. A
    /// value that cannot be read is an error naming the variable.
    pub fn from_env() -> Result<Limits, ImapError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Limits, ImapError> {
        let mut limits = Limits::default();
        let get = |var: &str, parse: fn(&str) -> Option<u64>, what: &str| {
            let Some(value) = lookup(var) else {
                return Ok(None);
            };
            match parse(value.trim()) {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(ImapError::InvalidArgument(format!(
                    "{var}={value:?} is not a positive {what}"
                ))),
            }
        };
        const SIZE: &str = "size (bytes, or with a K, M or G suffix)";
        const NUMBER: &str = "whole number";
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(n) = get(Limit::LineLength.env(), parse_size, SIZE)? {
            limits.max_line = size(n);
        }
        if let Some(n) = get(Limit::ResponseSize.env(), parse_size, SIZE)? {
            limits.max_literal = size(n);
        }
        if let Some(n) = get(Limit::UntaggedBytes.env(), parse_size, SIZE)? {
            limits.max_untagged_bytes = n;
        }
        if let Some(n) = get(Limit::UntaggedResponses.env(), parse_count, NUMBER)? {
            limits.max_untagged_responses = n;
        }
        if let Some(n) = get(Limit::InflateRatio.env(), parse_count, NUMBER)? {
            limits.max_inflate_ratio = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = get(TIMEOUT_ENV, parse_count, "number of seconds")? {
            limits.timeout = Duration::from_secs(n);
        }
        if let Some(n) = get(CONNECT_TIMEOUT_ENV, parse_count, "number of seconds")? {
            limits.connect_timeout = Duration::from_secs(n);
        }
        Ok(limits)
    }

    /// The configured value of `limit`.
    pub fn value(&self, limit: Limit) -> u64 {
        match limit {
            Limit::LineLength => self.max_line as u64,
            Limit::ResponseSize => self.max_literal as u64,
            Limit::UntaggedBytes => self.max_untagged_bytes,
            Limit::UntaggedResponses => self.max_untagged_responses,
            Limit::InflateRatio => u64::from(self.max_inflate_ratio),
        }
    }
}

pub(crate) const TIMEOUT_ENV: &str = "CUTOVER_IMAP_TIMEOUT_SECS";
const CONNECT_TIMEOUT_ENV: &str = "CUTOVER_IMAP_CONNECT_TIMEOUT_SECS";

fn parse_count(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// `1048576`, `1024K`, `16M`, `16MiB`, `1G`, `1GB` (binary multiples).
fn parse_size(s: &str) -> Option<u64> {
    let upper = s.to_ascii_uppercase();
    let s = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, unit) = if let Some(d) = s.strip_suffix('K') {
        (d, KIB)
    } else if let Some(d) = s.strip_suffix('M') {
        (d, MIB)
    } else if let Some(d) = s.strip_suffix('G') {
        (d, 1024 * MIB)
    } else {
        (s, 1)
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(unit)
}

/// Which limit a server went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::max_line`].
    LineLength,
    /// [`Limits::max_literal`].
    ResponseSize,
    /// [`Limits::max_untagged_bytes`].
    UntaggedBytes,
    /// [`Limits::max_untagged_responses`].
    UntaggedResponses,
    /// [`Limits::max_inflate_ratio`].
    InflateRatio,
}

impl Limit {
    /// The environment variable that sets it.
    pub fn env(self) -> &'static str {
        match self {
            Limit::LineLength => "CUTOVER_IMAP_MAX_LINE",
            Limit::ResponseSize => "CUTOVER_IMAP_MAX_LITERAL",
            Limit::UntaggedBytes => "CUTOVER_IMAP_MAX_UNTAGGED",
            Limit::UntaggedResponses => "CUTOVER_IMAP_MAX_RESPONSES",
            Limit::InflateRatio => "CUTOVER_IMAP_MAX_INFLATE_RATIO",
        }
    }

    /// What the server sent, for an error message: "a line longer than 1048576 bytes".
    pub fn what(self, value: u64) -> String {
        match self {
            Limit::LineLength => format!("a line longer than {value} bytes"),
            Limit::ResponseSize => format!("a response longer than {value} bytes"),
            Limit::UntaggedBytes => format!("more than {value} bytes of responses"),
            Limit::UntaggedResponses => format!("more than {value} responses"),
            Limit::InflateRatio => {
                format!("compressed data that inflates more than {value}:1")
            }
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::LineLength => "line length",
            Limit::ResponseSize => "response size",
            Limit::UntaggedBytes => "response bytes per command",
            Limit::UntaggedResponses => "responses per command",
            Limit::InflateRatio => "inflation ratio",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Limits, ImapError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Limits::from_lookup(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn environment_overrides_defaults() {
        assert_eq!(with(&[]).unwrap(), Limits::default());
        let l = with(&[
            ("CUTOVER_IMAP_MAX_LINE", "16M"),
            ("CUTOVER_IMAP_MAX_LITERAL", "128MiB"),
            ("CUTOVER_IMAP_MAX_UNTAGGED", "1G"),
            ("CUTOVER_IMAP_MAX_RESPONSES", "5000000"),
            ("CUTOVER_IMAP_MAX_INFLATE_RATIO", "2000"),
            ("CUTOVER_IMAP_TIMEOUT_SECS", "600"),
            ("CUTOVER_IMAP_CONNECT_TIMEOUT_SECS", "30"),
        ])
        .unwrap();
        assert_eq!(l.max_line, 16 << 20);
        assert_eq!(l.max_literal, 128 << 20);
        assert_eq!(l.max_untagged_bytes, 1 << 30);
        assert_eq!(l.max_untagged_responses, 5_000_000);
        assert_eq!(l.max_inflate_ratio, 2000);
        assert_eq!(l.timeout, Duration::from_secs(600));
        assert_eq!(l.connect_timeout, Duration::from_secs(30));
        assert_eq!(
            with(&[("CUTOVER_IMAP_MAX_LINE", "1048576")])
                .unwrap()
                .max_line,
            1 << 20
        );
        assert_eq!(
            with(&[("CUTOVER_IMAP_MAX_LINE", "64k")]).unwrap().max_line,
            64 << 10
        );
    }

    #[test]
    fn unreadable_values_name_the_variable() {
        for (var, value) in [
            ("CUTOVER_IMAP_MAX_LINE", "lots"),
            ("CUTOVER_IMAP_MAX_LINE", "0"),
            ("CUTOVER_IMAP_MAX_LINE", "-1"),
            ("CUTOVER_IMAP_TIMEOUT_SECS", "2m"),
            ("CUTOVER_IMAP_MAX_RESPONSES", ""),
        ] {
            let err = with(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }
}
