//! Cyrus's own CalDAV/CardDAV server for the DAV tests: Debian's `cyrus-caldav` (httpd)
//! beside `cyrus-imapd`, unpacked by `fixtures/cyrus/install.sh` (the packages conflict
//! with Dovecot's, so they are not installed), started unprivileged on free loopback
//! ports from the same templates as the IMAP tests' Cyrus (`fixtures/cyrus/`). Users sign
//! in with their passwords in the instance's sasldb; their INBOX is created over IMAP by
//! the admin first, since their calendar and address book homes hang from it.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const IMAPD_CONF: &str = include_str!("../../../../fixtures/cyrus/imapd.conf.in");
const CYRUS_CONF: &str = include_str!("../../../../fixtures/cyrus/cyrus-dav.conf.in");
const SASLPASSWD2: &str = "/usr/sbin/saslpasswd2";
/// The user the server runs as when the tests run as root (master refuses root).
const MAIL_USER: &str = "cutover-mail";

/// What the DAV server needs besides the IMAP test template: the CalDAV and CardDAV
/// modules, and no compression (the engine asks for none).
const DAV_CONFIG: &str = "\
httpmodules: caldav carddav
httpallowcompress: no
";

/// A running Cyrus with its HTTP (DAV) port; stopped when dropped, or by its watcher
/// when the test process ends.
pub struct CyrusDav {
    _dir: tempfile::TempDir,
    master: Child,
    pub http: u16,
}

fn install_dir() -> PathBuf {
    std::env::var_os("CUTOVER_CYRUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/cutover-cyrus"))
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn id(args: &[&str]) -> Option<String> {
    let out = Command::new("id").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Who owns the instance's files and runs the server: `cutover-mail` (created if
/// missing) when the tests run as root, else the caller.
fn identity() -> ((u32, u32), String) {
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    if me == 0 {
        if id(&[MAIL_USER]).is_none() {
            let _ = Command::new("useradd")
                .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
                .args(["--shell", "/usr/sbin/nologin", MAIL_USER])
                .status();
        }
        let uid = id(&["-u", MAIL_USER]).expect("the system user cutover-mail");
        let gid = id(&["-g", MAIL_USER]).expect("the system user cutover-mail");
        (
            (uid.parse().unwrap(), gid.parse().unwrap()),
            MAIL_USER.into(),
        )
    } else {
        let uid = id(&["-u"]).unwrap().parse().unwrap();
        let gid = id(&["-g"]).unwrap().parse().unwrap();
        ((uid, gid), id(&["-un"]).unwrap())
    }
}

fn render(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_string(), |text, (k, v)| {
        text.replace(&format!("@{k}@"), v)
    })
}

impl CyrusDav {
    /// Starts Cyrus with these users (`ann@contoso.test` is ann of domain contoso.test)
    /// and their passwords, and creates their mailboxes.
    pub fn start(users: &[(&str, &str)]) -> CyrusDav {
        let root_dir = install_dir();
        let bin = root_dir.join("usr/lib/cyrus/bin");
        assert!(
            bin.join("httpd").exists() && bin.join("master").exists(),
            "Cyrus's CalDAV/CardDAV server (httpd, Debian package cyrus-caldav) is not unpacked in {}: \
             run fixtures/cyrus/install.sh as root (it needs the library packages of .ci/packages)",
            root_dir.display()
        );
        assert!(
            Path::new(SASLPASSWD2).exists(),
            "{SASLPASSWD2} is missing: install the Debian package sasl2-bin (.ci/packages)"
        );
        let (owner, run_as) = identity();
        let dir = tempfile::Builder::new()
            .prefix("cutover-cyrus-dav-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path();
        for sub in [
            "config",
            "spool",
            "run",
            "run/proc",
            "run/lock",
            "run/socket",
            "sieve",
            "log",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
            chown(root.join(sub), Some(owner.0), Some(owner.1)).unwrap();
        }
        let servername = format!("cutover-dav-{}.test", std::process::id());
        let root_text = root.display().to_string();
        let imapd = render(
            IMAPD_CONF,
            &[
                ("ROOT", &root_text),
                ("SERVERNAME", &servername),
                ("CYRUS_USER", &run_as),
                ("ADMIN", "admin"),
                ("ALTNAMESPACE", "yes"),
                ("UNIXHIERARCHYSEP", "yes"),
                ("MUNGE8BIT", "no"),
            ],
        );
        std::fs::write(root.join("imapd.conf"), format!("{imapd}\n{DAV_CONFIG}")).unwrap();
        let db = root.join("sasldb2");
        let mut accounts = vec![("admin".to_string(), servername.clone(), "adminpass")];
        for (user, password) in users {
            let (local, realm) = user.rsplit_once('@').unwrap_or((user, &servername));
            accounts.push((local.to_string(), realm.to_string(), password));
        }
        for (local, realm, password) in &accounts {
            let mut child = Command::new(SASLPASSWD2)
                .args(["-p", "-c", "-f"])
                .arg(&db)
                .args(["-u", realm, local])
                .stdin(Stdio::piped())
                .spawn()
                .expect("saslpasswd2 runs");
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), password.as_bytes())
                .unwrap();
            assert!(
                child.wait().unwrap().success(),
                "saslpasswd2 {local}@{realm}"
            );
        }
        chown(&db, Some(owner.0), Some(owner.1)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();

        let (imap, http) = (free_port(), free_port());
        std::fs::write(
            root.join("cyrus.conf"),
            render(
                CYRUS_CONF,
                &[
                    ("BIN", &bin.display().to_string()),
                    ("ROOT", &root_text),
                    ("IMAP_PORT", &imap.to_string()),
                    ("HTTP_PORT", &http.to_string()),
                ],
            ),
        )
        .unwrap();
        let log = std::fs::File::create(root.join("log/master.log")).unwrap();
        let master = Command::new(bin.join("master"))
            .arg("-C")
            .arg(root.join("imapd.conf"))
            .arg("-M")
            .arg(root.join("cyrus.conf"))
            .arg("-p")
            .arg(root.join("run/master.pid"))
            .env("LD_LIBRARY_PATH", root_dir.join("usr/lib/x86_64-linux-gnu"))
            // its own process group: on TERM master signals its whole group
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cyrus master runs");
        // should the test process die first, this shell stops master once it is gone
        let watcher = Command::new("/bin/sh")
            .args([
                "-c",
                &format!(
                    "while kill -0 {parent} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill -TERM -- -{pid} 2>/dev/null",
                    parent = std::process::id(),
                    pid = master.id()
                ),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/bin/sh starts");
        // never waited for: it outlives this process on purpose
        std::mem::forget(watcher);
        let cyrus = CyrusDav {
            _dir: dir,
            master,
            http,
        };
        for port in [imap, http] {
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "Cyrus did not listen on 127.0.0.1:{port}; master's log:\n{}",
                    std::fs::read_to_string(cyrus._dir.path().join("log/master.log"))
                        .unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // the users' mailboxes, by the admin over IMAP (Python's imaplib, not our code)
        for (user, _) in users {
            let out = Command::new("/usr/bin/python3")
                .args([
                    "-c",
                    "import imaplib, sys\n\
                     m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))\n\
                     m.login('admin', 'adminpass')\n\
                     typ, data = m.create('user/' + sys.argv[2])\n\
                     assert typ == 'OK', data\n",
                    &imap.to_string(),
                    user,
                ])
                .output()
                .expect("python3 runs");
            assert!(
                out.status.success(),
                "creating {user}'s mailbox: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cyrus
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http)
    }
}

impl Drop for CyrusDav {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.master.id())])
            .status();
        let _ = self.master.wait();
    }
}
