//! The tests' SMTP relay (`fixtures/smtp/relay.py`, aiosmtpd from Debian's
//! python3-aiosmtpd) on a free 127.0.0.1 port: STARTTLS required, then AUTH PLAIN or LOGIN
//! with one user and password, and every message it takes delivered into a Dovecot over
//! LMTP (a target started with [`LMTP`] in its `extra_config`). And the reading side: a
//! mailbox's INBOX over IMAP with Python's imaplib (`fixtures/smtp/fetch_inbox.py`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;

use super::dovecot::free_port;
use super::{Dovecot, TlsFiles};

/// Debian's Python, where python3-aiosmtpd is installed (not a pyenv one on the PATH).
const PYTHON: &str = "/usr/bin/python3";
const RELAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/smtp/relay.py");
const FETCH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/smtp/fetch_inbox.py"
);
const LMTP_SERVER: &str = "/usr/lib/dovecot/lmtp";

/// `extra_config` for a Dovecot that also delivers over LMTP, on the unix socket
/// `lmtp` in its private run directory ([`Dovecot::lmtp_socket`]); the socket itself is
/// in the fixture's template.
pub const LMTP: &str = "protocols = imap lmtp\n";

impl Dovecot {
    /// Where a Dovecot started with [`LMTP`] takes mail over LMTP.
    pub fn lmtp_socket(&self) -> PathBuf {
        assert!(
            Path::new(LMTP_SERVER).exists(),
            "dovecot-lmtpd is not installed: apt-get install dovecot-lmtpd"
        );
        self.conf().with_file_name("run").join("lmtp")
    }

    /// The messages in `user`'s INBOX (password "pass"), read over IMAP by imaplib.
    pub fn inbox_over_imap(&self, user: &str) -> Vec<Vec<u8>> {
        let out = Command::new(PYTHON)
            .args([FETCH, &self.port().to_string(), user, "pass"])
            .output()
            .expect("run /usr/bin/python3 fixtures/smtp/fetch_inbox.py (apt-get install python3)");
        assert!(
            out.status.success(),
            "fetch_inbox.py {user} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        let list: Vec<String> = serde_json::from_slice(&out.stdout).expect("a JSON list");
        list.iter()
            .map(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .expect("base64")
            })
            .collect()
    }
}

/// A running relay; killed on drop.
pub struct SmtpRelay {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpRelay {
    /// Starts the relay with this certificate, taking only `user`/`password`, delivering
    /// into the Dovecot behind `lmtp_socket`. Fails loudly when it cannot start.
    pub fn start(tls: &TlsFiles, user: &str, password: &str, lmtp_socket: &Path) -> SmtpRelay {
        let dir = tempfile::tempdir().expect("temp dir");
        let password_file = dir.path().join("relay-password");
        std::fs::write(&password_file, format!("{password}\n")).unwrap();
        let log = dir.path().join("relay.log");
        // A port found free can be taken before the relay binds it: try again with another.
        for attempt in 1..=5 {
            let port = free_port();
            let mut child = Command::new(PYTHON)
                .arg(RELAY)
                .args(["--port", &port.to_string()])
                .arg("--cert")
                .arg(&tls.cert)
                .arg("--key")
                .arg(&tls.key)
                .args(["--user", user])
                .arg("--password-file")
                .arg(&password_file)
                .arg("--lmtp")
                .arg(lmtp_socket)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("run /usr/bin/python3 fixtures/smtp/relay.py (apt-get install python3 python3-aiosmtpd)");
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
            let ready = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
            if ready.trim() == "ready" {
                return SmtpRelay {
                    child,
                    port,
                    log,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if attempt < 5 && text.contains("Address already in use") {
                continue;
            }
            panic!(
                "the SMTP relay (fixtures/smtp/relay.py) did not start on 127.0.0.1:{port}:\n{text}"
            );
        }
        unreachable!()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the relay logged (logins, deliveries), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SmtpRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
