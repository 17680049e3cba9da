//! CalDAV/CardDAV servers for the end-to-end tests: Radicale (Debian `radicale`, users
//! in a plain htpasswd file) and Xandikos (Debian `xandikos`, one user, no sign-in),
//! each started by the test on a free loopback port and stopped when it is dropped (or,
//! should the test process die, by the watchdog). `fixtures/dav/davtool.py` fills and
//! checks them without the engine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::watchdog::{free_port, stop_when_tests_end, wait_for_port};

/// One DAV server and one user's homes on it, as davtool.py takes them.
pub struct DavServer {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub calendars: String,
    pub address_books: String,
}

fn davtool_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dav/davtool.py")
}

fn start(what: &str, program: &str, args: &[String], dir: &Path, port: u16) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).expect("the server's log");
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start ({program}): {e}"));
    stop_when_tests_end(child.id(), &[]);
    if let Err(e) = wait_for_port(&mut child, port, Duration::from_secs(30)) {
        panic!(
            "{what} {e}; its log:\n{}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }
    child
}

impl DavServer {
    /// Radicale with one user, `user`:`password` (the user's home is `/{user}/`).
    pub fn radicale(user: &str, password: &str) -> Self {
        assert!(
            Path::new("/usr/lib/python3/dist-packages/radicale").is_dir(),
            "Radicale is missing: install the Debian package `radicale` (listed in .ci/packages)"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        std::fs::write(dir.path().join("users"), format!("{user}:{password}\n")).unwrap();
        std::fs::write(
            dir.path().join("radicale.conf"),
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\n\
                 htpasswd_filename = {users}\nhtpasswd_encryption = plain\n\
                 [storage]\nfilesystem_folder = {storage}\n[rights]\ntype = owner_only\n",
                users = dir.path().join("users").display(),
                storage = dir.path().join("collections").display()
            ),
        )
        .unwrap();
        let conf = dir.path().join("radicale.conf").display().to_string();
        let child = start(
            "Radicale",
            "/usr/bin/python3",
            &["-m".into(), "radicale".into(), "--config".into(), conf],
            dir.path(),
            port,
        );
        DavServer {
            child,
            _dir: dir,
            port,
            user: user.into(),
            password: password.into(),
            calendars: format!("/{user}/"),
            address_books: format!("/{user}/"),
        }
    }

    /// Xandikos: one user, whom it does not ask to sign in (its homes are `/user/...`).
    pub fn xandikos() -> Self {
        assert!(
            Path::new("/usr/bin/xandikos").is_file(),
            "Xandikos is missing: install the Debian package `xandikos` (listed in .ci/packages)"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let data = dir.path().join("data").display().to_string();
        let child = start(
            "Xandikos",
            "/usr/bin/xandikos",
            &[
                "-d".into(),
                data,
                "--autocreate".into(),
                "-l".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
            ],
            dir.path(),
            port,
        );
        DavServer {
            child,
            _dir: dir,
            port,
            user: "user".into(),
            password: "unused-by-xandikos".into(),
            calendars: "/user/calendars/".into(),
            address_books: "/user/contacts/".into(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn args(&self) -> Vec<String> {
        vec![
            self.url(),
            self.user.clone(),
            self.password.clone(),
            self.calendars.clone(),
            self.address_books.clone(),
        ]
    }

    /// Runs `davtool.py COMMAND` on these servers (seed, mutate: one; compare: the
    /// source, then the target), and returns what it printed; panics if it fails.
    pub fn davtool(command: &str, servers: &[&DavServer], extra: &[&str]) -> String {
        let output = Command::new("/usr/bin/python3")
            .arg(davtool_path())
            .arg(command)
            .args(servers.iter().flat_map(|s| s.args()))
            .args(extra)
            .output()
            .expect("python3 runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "davtool.py {command}:\n{text}");
        text
    }
}

impl Drop for DavServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
