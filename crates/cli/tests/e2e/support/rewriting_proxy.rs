//! A proxy on loopback in front of a real IMAP server that loses, on purpose, the reply
//! lines a rule names (as a broken middlebox, a server bug or a cut that a retry papered
//! over would), or stalls the server's replies: the fixture of the tests that check a
//! missing answer is never taken for a deletion, and that a silent server is noticed.
//!
//! The server's stream is read as IMAP: a line that announces a literal (`{n}`) is
//! passed on with its literal and the rest of its response untouched; rules look only at
//! the first line of each response, so the framing the client sees stays valid.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Whether a response's first line matches.
type Matches = Arc<dyn Fn(&str) -> bool + Send + Sync>;
/// A response's first line rewritten, or `None` to leave it.
type Rewriter = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What to do with a server response whose first line matches.
#[derive(Clone)]
pub enum Rule {
    /// Leave the whole response out.
    Drop(Matches),
    /// Pass it on, then send the client nothing more on that connection (the server
    /// "hangs"; the connection stays open).
    StallAfter(Matches),
    /// Replace the first line of a one-line response with what the function returns
    /// (`None`: leave it), e.g. to make a server send huge numbers.
    Rewrite(Rewriter),
    /// Answer `NO [CANNOT]` to a CREATE whose command line contains this text (the
    /// server's own answer is replaced), as a target that refuses a folder name would.
    RefuseCreate(String),
    /// The same, to the first such CREATE of each connection only (a server that wants
    /// a parent created first, and then takes the subfolder).
    RefuseCreateOnce(String),
}

impl Rule {
    /// Drops responses whose first line contains every one of `parts` (case-insensitive).
    pub fn drop_containing(parts: &[&str]) -> Rule {
        let parts: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
        Rule::Drop(Arc::new(move |line: &str| {
            let line = line.to_ascii_lowercase();
            parts.iter().all(|p| line.contains(p.as_str()))
        }))
    }

    /// Rewrites one-line responses that start with `prefix` (case-insensitive) with
    /// `rewrite` (the line without CRLF in, the new line without CRLF out).
    pub fn rewrite_starting(
        prefix: &str,
        rewrite: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Rule {
        let prefix = prefix.to_ascii_lowercase();
        Rule::Rewrite(Arc::new(move |line: &str| {
            line.to_ascii_lowercase()
                .starts_with(&prefix)
                .then(|| rewrite(line.trim_end_matches(['\r', '\n'])))
        }))
    }

    /// Stalls after the response whose first line contains every one of `parts`.
    pub fn stall_after_containing(parts: &[&str]) -> Rule {
        let parts: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
        Rule::StallAfter(Arc::new(move |line: &str| {
            let line = line.to_ascii_lowercase();
            parts.iter().all(|p| line.contains(p.as_str()))
        }))
    }
}

pub struct RewritingProxy {
    port: u16,
    rules: Arc<Mutex<Vec<Rule>>>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicUsize>,
    stalled: Arc<AtomicUsize>,
    rewritten: Arc<AtomicUsize>,
}

impl RewritingProxy {
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicUsize::new(0));
        let stalled = Arc::new(AtomicUsize::new(0));
        let rewritten = Arc::new(AtomicUsize::new(0));
        let (rules2, stop2, dropped2, stalled2, rewritten2) = (
            rules.clone(),
            stop.clone(),
            dropped.clone(),
            stalled.clone(),
            rewritten.clone(),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (rules, stop, dropped, stalled, rewritten) = (
                    rules2.clone(),
                    stop2.clone(),
                    dropped2.clone(),
                    stalled2.clone(),
                    rewritten2.clone(),
                );
                thread::spawn(move || {
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let client_gone = Arc::new(AtomicBool::new(false));
                    let gone = client_gone.clone();
                    let refused_tags: Arc<Mutex<HashSet<String>>> = Arc::default();
                    let (tags, client_rules) = (refused_tags.clone(), rules.clone());
                    let up = thread::spawn(move || {
                        command_pump(c2, s2, &client_rules, &tags);
                        gone.store(true, Ordering::SeqCst);
                    });
                    let flags = Flags {
                        stop: &stop,
                        client_gone: &client_gone,
                        dropped: &dropped,
                        stalled: &stalled,
                        rewritten: &rewritten,
                    };
                    filter_pump(server, client, &rules, &refused_tags, flags);
                    let _ = up.join();
                });
            }
        });
        Self {
            port,
            rules,
            stop,
            dropped,
            stalled,
            rewritten,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Rules for the responses read from now on (every connection).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.rules.lock().unwrap() = rules;
    }

    /// How many responses were left out so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// How many responses were rewritten so far.
    pub fn rewritten(&self) -> usize {
        self.rewritten.load(Ordering::SeqCst)
    }

    /// How many connections were stalled so far.
    pub fn stalled(&self) -> usize {
        self.stalled.load(Ordering::SeqCst)
    }
}

impl Drop for RewritingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies the client's commands to the server unchanged, line by line and literal by
/// literal, noting the tags of the CREATEs a `RefuseCreate` rule names.
fn command_pump(
    from: TcpStream,
    mut to: TcpStream,
    rules: &Mutex<Vec<Rule>>,
    refused_tags: &Mutex<HashSet<String>>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, from.try_clone().unwrap());
    let mut refused_once: HashSet<String> = HashSet::new();
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let mut words = text.split_whitespace();
        if let (Some(tag), Some(command)) = (words.next(), words.next())
            && command.eq_ignore_ascii_case("CREATE")
        {
            let refuse = rules.lock().unwrap().iter().any(|r| match r {
                Rule::RefuseCreate(fragment) => text.contains(fragment.as_str()),
                Rule::RefuseCreateOnce(fragment) => {
                    text.contains(fragment.as_str()) && refused_once.insert(fragment.clone())
                }
                _ => false,
            });
            if refuse {
                refused_tags.lock().unwrap().insert(tag.to_string());
            }
        }
        if to.write_all(&line).is_err() {
            break;
        }
        if let Some(n) = literal_length(&line) {
            let mut literal = vec![0; n];
            if reader.read_exact(&mut literal).is_err() || to.write_all(&literal).is_err() {
                break;
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The length a line announces for the literal that follows it (`{n}`, `{n+}`, `~{n}`).
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

struct Flags<'a> {
    stop: &'a AtomicBool,
    client_gone: &'a AtomicBool,
    dropped: &'a AtomicUsize,
    stalled: &'a AtomicUsize,
    rewritten: &'a AtomicUsize,
}

/// Copies the server's responses to the client, one response at a time, applying the
/// rules to each response's first line.
fn filter_pump(
    server: TcpStream,
    mut client: TcpStream,
    rules: &Mutex<Vec<Rule>>,
    refused_tags: &Mutex<HashSet<String>>,
    f: Flags<'_>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, server.try_clone().unwrap());
    'responses: loop {
        // One response: its first line, then (while lines announce literals) the literal
        // and the line that continues it.
        let mut response = Vec::new();
        let mut first = String::new();
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break 'responses,
                Ok(_) => {}
            }
            if first.is_empty() {
                first = String::from_utf8_lossy(&line).into_owned();
            }
            response.extend_from_slice(&line);
            match literal_length(&line) {
                Some(n) => {
                    let mut literal = vec![0; n];
                    if reader.read_exact(&mut literal).is_err() {
                        break 'responses;
                    }
                    response.extend_from_slice(&literal);
                }
                None => break,
            }
        }
        if let Some(tag) = first.split_whitespace().next()
            && refused_tags.lock().unwrap().remove(tag)
        {
            f.rewritten.fetch_add(1, Ordering::SeqCst);
            response = format!("{tag} NO [CANNOT] Invalid mailbox name\r\n").into_bytes();
        }
        let rules = rules.lock().unwrap().clone();
        let mut stall = false;
        let mut drop_it = false;
        let one_line = response.len() == first.len();
        for rule in &rules {
            match rule {
                Rule::Drop(matches) if matches(&first) => drop_it = true,
                Rule::StallAfter(matches) if matches(&first) => stall = true,
                Rule::Rewrite(rewrite) if one_line => {
                    if let Some(line) = rewrite(&first) {
                        f.rewritten.fetch_add(1, Ordering::SeqCst);
                        response = format!("{line}\r\n").into_bytes();
                    }
                }
                _ => {}
            }
        }
        if drop_it {
            f.dropped.fetch_add(1, Ordering::SeqCst);
        } else if client.write_all(&response).is_err() {
            break;
        }
        if stall {
            f.stalled.fetch_add(1, Ordering::SeqCst);
            // Keep the connection open and say nothing until the client gives up (at most
            // two minutes, so that a test that failed does not leave it forever).
            for _ in 0..1200 {
                if f.stop.load(Ordering::SeqCst) || f.client_gone.load(Ordering::SeqCst) {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
}
