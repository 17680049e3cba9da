//! `cutover serve` under test: the process, and a small HTTP/1.1 client for its API
//! (one request per connection, `Connection: close`), plain or over TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cutover;

/// A running `cutover serve`.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    pub token: String,
    pub token_file: PathBuf,
    pub log: PathBuf,
}

/// An answer of the API.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Cutover {
    /// Starts `cutover serve --listen 127.0.0.1:0` with `args` and `env`, and waits until
    /// it listens.
    pub fn serve(&self, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let log = self.dir.path().join(format!("serve-{n}.log"));
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut cmd = self.command(&all);
        cmd.env("CUTOVER_LOG", "debug,sqlx=warn,hyper=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn cutover serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        let line = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("listening on http")) {
                break line.to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("cutover serve ended ({status}) before listening:\n{text}");
            }
            assert!(Instant::now() < deadline, "serve never listened:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        // "listening on http://127.0.0.1:PORT (...); API token in FILE"
        let url = line.split("listening on ").nth(1).unwrap();
        let addr = url
            .split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .parse()
            .unwrap();
        let token_file = PathBuf::from(
            line.split("API token in ")
                .nth(1)
                .unwrap()
                .trim_end_matches(" (new)"),
        );
        let token = std::fs::read_to_string(&token_file)
            .unwrap()
            .trim()
            .to_string();
        Serve {
            child,
            addr,
            token,
            token_file,
            log,
        }
    }
}

impl Serve {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A request with the service's token.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| b.to_string());
        request(self.addr, method, path, Some(&self.token), body.as_deref())
    }

    /// A GET that must answer 200 with JSON.
    pub fn get(&self, path: &str) -> Value {
        let reply = self.call("GET", path, None);
        assert_eq!(reply.status, 200, "GET {path}: {reply:?}");
        reply.json()
    }

    /// Polls `path` until `done` holds for its JSON, at most `limit`.
    pub fn wait_for(&self, path: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.get(path);
            if done(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} never got there: {v:#}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then the exit status (within `limit`, or the test fails).
    pub fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let log = self.log.clone();
        terminate(&mut self.child, limit, "serve", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        })
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request_text(method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    req
}

/// One request over plain HTTP.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(request_text(method, path, token, body).as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

/// One request over HTTPS, trusting `ca` (PEM).
pub fn request_tls(addr: SocketAddr, ca: &std::path::Path, path: &str, token: &str) -> Reply {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request_text("GET", path, Some(token), None).as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    // A peer that closes without close_notify is fine here: the body is complete.
    let _ = tls.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An open event stream (`GET /api/v1/events`).
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    pub fn open(serve: &Serve) -> Self {
        let mut stream = TcpStream::connect(serve.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream
            .write_all(request_text("GET", "/api/v1/events", Some(&serve.token), None).as_bytes())
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        // Skip the head; the body (chunked) follows.
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        Self { reader }
    }

    /// Reads until an event named `name` arrives; returns its JSON data.
    pub fn next_named(&mut self, name: &str) -> Value {
        let mut current = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "the event stream ended before a {name} event");
            let line = line.trim_end();
            if let Some(event) = line.strip_prefix("event: ") {
                current = event.to_string();
            } else if let Some(data) = line.strip_prefix("data: ")
                && current == name
            {
                return serde_json::from_str(data).unwrap();
            }
        }
    }
}

/// Sends SIGTERM to a `cutover` process and returns its exit status; kills it and fails
/// the test (with its log) unless it ends within `limit`.
pub fn terminate(
    child: &mut Child,
    limit: Duration,
    what: &str,
    log: impl Fn() -> String,
) -> std::process::ExitStatus {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not stop within {limit:?}:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
