//! A private Cyrus IMAP 3.6 instance per test: Debian's `cyrus-imapd` unpacked by
//! `fixtures/cyrus/install.sh` (the package conflicts with dovecot-imapd, so it is not
//! installed), configured from `fixtures/cyrus/imapd.conf.in` and `cyrus.conf.in` in a temp
//! dir, listening on a free 127.0.0.1 port.
//!
//! Everything the fixture does to mail it does over IMAP with Python's imaplib
//! (`fixtures/cyrus/imap_helper.py`, one process per instance, acting as the admin with
//! `AUTHENTICATE PLAIN` and the user as authorization identity), never with cutover's IMAP
//! code, so tests of our IMAP code do not check themselves. Cyrus logs to syslog, which a
//! test machine need not run; [`Cyrus::log`] has master's own output, the helper's, and
//! the protocol telemetry of the admin's and every user's sessions.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::dovecot::{
    MAIL_USER, children_of, free_port, mail_identity, path_str, wait_gone, write_file,
};
use super::{MailboxSnapshot, StoredMessage};

const IMAPD_CONF: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/cyrus/imapd.conf.in"
));
const CYRUS_CONF: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/cyrus/cyrus.conf.in"
));
const HELPER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/cyrus/imap_helper.py"
);
const SASLPASSWD2: &str = "/usr/sbin/saslpasswd2";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// Where `fixtures/cyrus/install.sh` unpacked Cyrus (`CUTOVER_CYRUS_DIR` moves both).
pub fn install_dir() -> PathBuf {
    std::env::var_os("CUTOVER_CYRUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/cutover-cyrus"))
}

pub struct CyrusOptions {
    /// Full addresses, e.g. "alice@contoso.test" (user alice of the virtual domain
    /// contoso.test); each has password "pass" and an INBOX from the start.
    pub users: Vec<String>,
    /// In `admins:`: may open any user's mailbox with `AUTHENTICATE PLAIN` and the user as
    /// authorization identity (no `proxyservers:` needed).
    pub admin: String,
    pub admin_password: String,
    /// `altnamespace`: true puts a user's folders beside INBOX ("Sent", personal namespace
    /// prefix ""), false under it ("INBOX.Sent", prefix "INBOX.").
    pub altnamespace: bool,
    /// `unixhierarchysep`: '/' as hierarchy separator when true, '.' when false.
    pub unixhierarchysep: bool,
    /// `munge8bit`: Cyrus's default (true) stores 8-bit bytes in the header of an APPENDed
    /// message as 'X'; false keeps them.
    pub munge8bit: bool,
    /// imapd.conf lines (`option: value`) added to the rendered config; one the template
    /// sets replaces the template's line (Cyrus refuses a config with an option twice).
    pub extra_config: String,
}

impl Default for CyrusOptions {
    /// Cyrus 3's built-in namespace: `altnamespace: yes`, `unixhierarchysep: yes`.
    fn default() -> Self {
        CyrusOptions {
            users: vec!["alice@contoso.test".into(), "bob@contoso.test".into()],
            admin: "admin".into(),
            admin_password: "adminpass".into(),
            altnamespace: true,
            unixhierarchysep: true,
            munge8bit: true,
            extra_config: String::new(),
        }
    }
}

impl CyrusOptions {
    /// The namespace of Debian's shipped /etc/imapd.conf and of older Cyrus:
    /// `altnamespace: no`, `unixhierarchysep: no`, so folders are `INBOX.Sent`,
    /// `INBOX.Archive.2024` under the personal namespace prefix `INBOX.`.
    pub fn inbox_namespace() -> Self {
        CyrusOptions {
            altnamespace: false,
            unixhierarchysep: false,
            ..CyrusOptions::default()
        }
    }
}

pub struct Cyrus {
    dir: tempfile::TempDir,
    port: u16,
    separator: char,
    altnamespace: bool,
    servername: String,
    owner: (u32, u32),
    master: Option<Child>,
    helper: Mutex<Option<Helper>>,
    /// (user, folder) known to exist, so writing many messages creates each folder once.
    folders: Mutex<HashSet<(String, String)>>,
}

struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

enum Startup {
    Up,
    Exited(ExitStatus),
    /// Something else answers on the port (taken between our check and master's bind).
    NotOurs(String),
    /// No greeting: master could not bind (it says so only to syslog) or is stuck.
    Silent,
}

impl Cyrus {
    /// Starts a private Cyrus on a free 127.0.0.1 port, waits for its greeting and creates
    /// the users' mailboxes.
    pub fn start(name: &str, opts: CyrusOptions) -> Cyrus {
        let root_dir = install_dir();
        let bin = root_dir.join("usr/lib/cyrus/bin");
        assert!(
            root_dir.join(".complete").exists() && bin.join("master").exists(),
            "Cyrus IMAP is not unpacked in {}: run fixtures/cyrus/install.sh as root \
             (./test.sh does; it needs the library packages of .ci/packages)",
            root_dir.display()
        );
        assert!(
            Path::new(SASLPASSWD2).exists(),
            "{SASLPASSWD2} is missing: apt-get install sasl2-bin"
        );
        let (owner, run_as) = identity();
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("cutover-cyrus-{safe}-"))
            .tempdir()
            .expect("create temp dir for cyrus");
        // the server runs as `owner` and must reach its files inside
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().to_path_buf();
        for sub in [
            "config",
            "config/log",
            "spool",
            "run",
            "run/proc",
            "run/lock",
            "run/socket",
            "sieve",
            "log",
        ] {
            let path = root.join(sub);
            fs::create_dir_all(&path).unwrap();
            chown(&path, Some(owner.0), Some(owner.1)).unwrap();
        }
        let servername = format!(
            "cutover-{safe}-{}-{}.test",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        );

        let mut cyrus = Cyrus {
            dir,
            port: 0,
            separator: if opts.unixhierarchysep { '/' } else { '.' },
            altnamespace: opts.altnamespace,
            servername: servername.clone(),
            owner,
            master: None,
            helper: Mutex::new(None),
            folders: Mutex::new(HashSet::new()),
        };
        cyrus.set_password(&opts.admin, &opts.admin_password);
        for user in &opts.users {
            cyrus.set_password(user, "pass");
        }

        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let root_text = path_str(&root);
        let imapd_conf = render(
            IMAPD_CONF,
            &[
                ("ROOT", root_text.as_str()),
                ("SERVERNAME", &servername),
                ("CYRUS_USER", &run_as),
                ("ADMIN", &opts.admin),
                ("ALTNAMESPACE", yes_no(opts.altnamespace)),
                ("UNIXHIERARCHYSEP", yes_no(opts.unixhierarchysep)),
                ("MUNGE8BIT", yes_no(opts.munge8bit)),
            ],
        );
        write_file(&cyrus.conf(), &with_extra(&imapd_conf, &opts.extra_config));

        // A port found free can be taken before master binds it: try again with another.
        for attempt in 1..=5 {
            let port = free_port();
            let cyrus_conf = render(
                CYRUS_CONF,
                &[
                    ("BIN", &path_str(&bin)),
                    ("ROOT", &root_text),
                    ("PORT", &port.to_string()),
                ],
            );
            write_file(&root.join("cyrus.conf"), &cyrus_conf);
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(root.join("log/master.log"))
                .unwrap();
            let master = Command::new(bin.join("master"))
                .arg("-C")
                .arg(cyrus.conf())
                .arg("-M")
                .arg(root.join("cyrus.conf"))
                .arg("-p")
                .arg(root.join("run/master.pid"))
                .env("LD_LIBRARY_PATH", root_dir.join("usr/lib/x86_64-linux-gnu"))
                // its own process group: on TERM master signals its whole group, which
                // would otherwise be the test binary's, with every other test's servers
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("run cyrus master");
            cyrus.master = Some(master);
            cyrus.port = port;
            match cyrus.wait_for_greeting(Duration::from_secs(20)) {
                Startup::Up => break,
                Startup::Exited(status) => {
                    cyrus.master = None;
                    panic!("cyrus {name}: master exited ({status}):\n{}", cyrus.log());
                }
                outcome @ (Startup::NotOurs(_) | Startup::Silent) => {
                    cyrus.stop();
                    if attempt == 5 {
                        let why = match outcome {
                            Startup::NotOurs(greeting) => format!("another server: {greeting}"),
                            _ => "no greeting".to_string(),
                        };
                        panic!(
                            "cyrus {name} did not start on 127.0.0.1:{port} ({why}):\n{}",
                            cyrus.log()
                        );
                    }
                }
            }
        }

        let helper_log = fs::File::create(root.join("log/helper.log")).unwrap();
        let mut child = Command::new("python3")
            .arg(HELPER)
            .arg(cyrus.port.to_string())
            .arg(&opts.admin)
            .arg(&opts.admin_password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(helper_log)
            .spawn()
            .expect("run python3 fixtures/cyrus/imap_helper.py (apt-get install python3)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        *cyrus.helper.lock().unwrap() = Some(Helper {
            child,
            stdin,
            stdout,
        });
        for user in &opts.users {
            cyrus.request(json!({"op": "create_user", "user": user}));
        }
        cyrus
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The hierarchy separator: '/' with `unixhierarchysep`, else '.'.
    pub fn separator(&self) -> char {
        self.separator
    }

    /// The personal namespace's prefix: "" with `altnamespace`, else "INBOX." (or "INBOX/").
    pub fn personal_prefix(&self) -> String {
        if self.altnamespace {
            String::new()
        } else {
            format!("INBOX{}", self.separator)
        }
    }

    /// Also the admin's SASL realm, and in the greeting.
    pub fn servername(&self) -> &str {
        &self.servername
    }

    /// The rendered imapd.conf, for `CUTOVER_CYRUS_DIR/usr/lib/cyrus/bin/... -C` by hand.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("imapd.conf")
    }

    /// master's output, the helper's, then the newest protocol telemetry (each session's
    /// last 8 KiB), for failure messages.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for f in ["log/master.log", "log/helper.log"] {
            if let Ok(text) = fs::read(self.dir.path().join(f))
                && !text.is_empty()
            {
                out.push_str(&format!("--- {f} ---\n{}", String::from_utf8_lossy(&text)));
            }
        }
        let mut sessions: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for user_dir in fs::read_dir(self.dir.path().join("config/log"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in fs::read_dir(user_dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(modified) = f.metadata().and_then(|m| m.modified()) {
                    sessions.push((modified, f.path()));
                }
            }
        }
        sessions.sort();
        // the last sessions tell what went wrong; older ones would drown them
        for (_, path) in sessions.iter().rev().take(6).rev() {
            let text = fs::read(path).unwrap_or_default();
            let tail = &text[text.len().saturating_sub(8192)..];
            out.push_str(&format!(
                "--- telemetry {} ---\n{}\n",
                path.strip_prefix(self.dir.path()).unwrap_or(path).display(),
                String::from_utf8_lossy(tail)
            ));
        }
        out
    }

    /// A new user with password `pass` and an INBOX (those of the options exist already).
    pub fn add_user(&self, user: &str) {
        self.set_password(user, "pass");
        self.request(json!({"op": "create_user", "user": user}));
    }

    /// Creates a folder (UTF-8 display name, '/' hierarchy); an existing one is fine.
    pub fn create_folder(&self, user: &str, folder: &str) {
        if let Err(e) = self.try_request(json!({"op": "create", "user": user, "folder": folder}))
            && !e.contains("already exists")
        {
            panic!("cyrus: create {user} {folder:?}: {e}\n{}", self.log());
        }
        self.known(user, folder);
    }

    pub fn subscribe(&self, user: &str, folder: &str) {
        self.request(json!({"op": "subscribe", "user": user, "folder": folder}));
    }

    /// Lets `with` see `user`'s folder (SETACL with these rights, e.g. "lr"): it then
    /// shows in `with`'s listing under the other users' namespace.
    pub fn share(&self, user: &str, folder: &str, with: &str, rights: &str) {
        self.request(
            json!({"op": "share", "user": user, "folder": folder, "with": with, "rights": rights}),
        );
    }

    pub fn unsubscribe(&self, user: &str, folder: &str) {
        self.request(json!({"op": "unsubscribe", "user": user, "folder": folder}));
    }

    /// Appends one message (IMAP APPEND as the user, with these flags and keywords and this
    /// INTERNALDATE) and returns its UID; creates the folder if needed. `body` may use CRLF
    /// or LF: a LF without CR before it is sent as CRLF, as Dovecot would serve it (Cyrus
    /// refuses bare LF, and NUL, with NO; a bare CR it keeps).
    pub fn append(
        &self,
        user: &str,
        folder: &str,
        body: &[u8],
        flags: &[&str],
        internal_date: i64,
    ) -> u32 {
        if !folder.eq_ignore_ascii_case("INBOX")
            && !self
                .folders
                .lock()
                .unwrap()
                .contains(&(user.to_string(), folder.to_string()))
        {
            self.create_folder(user, folder);
        }
        let answer = self.request(json!({
            "op": "append",
            "user": user,
            "folder": folder,
            "body": B64.encode(crlf(body)),
            "flags": flags,
            "date": internal_date,
        }));
        answer["uid"]
            .as_u64()
            .unwrap_or_else(|| panic!("cyrus: APPEND to {folder:?} gave no APPENDUID"))
            as u32
    }

    /// [`Cyrus::append`] without the UID, named as `Dovecot::write_message`.
    pub fn write_message(
        &self,
        user: &str,
        folder: &str,
        body: &[u8],
        flags: &[&str],
        internal_date: i64,
    ) {
        self.append(user, folder, body, flags, internal_date);
    }

    /// Nothing to do: Cyrus indexes each message as it is appended (here for symmetry with
    /// `Dovecot::index`).
    pub fn index(&self, _user: &str) {}

    /// Everything the server holds for `user`, read over IMAP by the helper: every folder of
    /// the personal namespace as LIST shows it (`\Noselect` ones without messages), LSUB,
    /// and each message's BODY[], FLAGS and INTERNALDATE. Names are display names relative
    /// to the personal namespace ("Sent", not "INBOX.Sent").
    pub fn mailbox(&self, user: &str) -> MailboxSnapshot {
        let answer = self.request(json!({"op": "snapshot", "user": user}));
        let mut snapshot = MailboxSnapshot::default();
        for folder in answer["folders"].as_array().expect("folders") {
            let name = folder["name"].as_str().expect("name").to_string();
            if folder["selectable"] == true {
                snapshot.selectable.insert(name.clone());
            }
            let messages = folder["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| {
                    let mut flags: Vec<String> = m["flags"]
                        .as_array()
                        .expect("flags")
                        .iter()
                        .map(|f| f.as_str().expect("flag").to_lowercase())
                        .filter(|f| f != "\\recent")
                        .collect();
                    flags.sort();
                    StoredMessage {
                        body: B64.decode(m["body"].as_str().expect("body")).unwrap(),
                        flags,
                        internal_date: m["date"].as_i64().expect("date"),
                    }
                })
                .collect();
            snapshot.folders.insert(name, messages);
        }
        snapshot.subscribed = answer["subscribed"]
            .as_array()
            .expect("subscribed")
            .iter()
            .map(|s| s.as_str().expect("subscribed name").to_string())
            .collect();
        snapshot
    }

    /// Adds or removes flags of one message, as a mail client would.
    pub fn change_flags(&self, user: &str, folder: &str, uid: u32, add: bool, flags: &[&str]) {
        self.request(json!({
            "op": "store", "user": user, "folder": folder, "uid": uid, "add": add, "flags": flags,
        }));
    }

    /// Expunges one message (UID EXPUNGE).
    pub fn expunge(&self, user: &str, folder: &str, uid: u32) {
        self.request(json!({"op": "expunge", "user": user, "folder": folder, "uid": uid}));
    }

    /// The UIDs of a folder, ascending.
    pub fn uids(&self, user: &str, folder: &str) -> Vec<u32> {
        let answer = self.request(json!({"op": "uids", "user": user, "folder": folder}));
        answer["uids"]
            .as_array()
            .expect("uids")
            .iter()
            .map(|u| u.as_u64().expect("uid") as u32)
            .collect()
    }

    pub fn rename_folder(&self, user: &str, from: &str, to: &str) {
        self.request(json!({"op": "rename", "user": user, "from": from, "to": to}));
        self.folders.lock().unwrap().clear();
    }

    /// Deletes a folder with its messages (Cyrus refuses one with subfolders).
    pub fn delete_folder(&self, user: &str, folder: &str) {
        self.request(json!({"op": "delete", "user": user, "folder": folder}));
        self.folders.lock().unwrap().clear();
    }

    /// Stops the helper, TERMs master, waits for it and its children; also done on drop.
    pub fn stop(&mut self) {
        // a failed request may have poisoned the lock; the helper is stopped all the same
        let helper = self.helper.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut helper) = helper {
            drop(helper.stdin);
            let _ = helper.child.kill();
            let _ = helper.child.wait();
        }
        let Some(mut master) = self.master.take() else {
            return;
        };
        let pid = master.id();
        let children = children_of(pid);
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while master.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = master.kill();
                let _ = master.wait();
                break;
            }
            sleep(Duration::from_millis(20));
        }
        if !wait_gone(&children, Duration::from_secs(5)) {
            for child in children {
                let _ = Command::new("kill")
                    .args(["-KILL", &child.to_string()])
                    .status();
            }
        }
    }

    fn known(&self, user: &str, folder: &str) {
        self.folders
            .lock()
            .unwrap()
            .insert((user.to_string(), folder.to_string()));
    }

    /// One request to the helper; panics with the server's answer and the log on failure.
    fn request(&self, req: Value) -> Value {
        let what = format!("{} {}", req["op"], req["user"]);
        self.try_request(req)
            .unwrap_or_else(|e| panic!("cyrus: {what}: {e}\n{}", self.log()))
    }

    fn try_request(&self, req: Value) -> Result<Value, String> {
        let mut guard = self.helper.lock().unwrap();
        let helper = guard.as_mut().expect("cyrus stopped");
        let mut line = serde_json::to_string(&req).unwrap();
        line.push('\n');
        helper
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| helper.stdin.flush())
            .unwrap_or_else(|e| panic!("cyrus: imap_helper.py gone ({e}):\n{}", self.log()));
        let mut answer = String::new();
        let n = helper.stdout.read_line(&mut answer).unwrap();
        if n == 0 {
            drop(guard);
            panic!("cyrus: imap_helper.py exited:\n{}", self.log());
        }
        let answer: Value = serde_json::from_str(&answer).expect("helper answers JSON");
        if answer["ok"] == true {
            Ok(answer)
        } else {
            Err(answer["error"].as_str().unwrap_or("?").to_string())
        }
    }

    /// A user's password in the instance's sasldb: "alice@contoso.test" is alice in realm
    /// contoso.test; a name without domain (the admin) is in the realm of the server name.
    /// Also switches on the user's protocol telemetry (see [`Cyrus::log`]).
    fn set_password(&self, user: &str, password: &str) {
        // protocol telemetry: imapd records each session of a user whose directory exists
        let telemetry = self.dir.path().join("config/log").join(user);
        fs::create_dir_all(&telemetry).unwrap();
        chown(&telemetry, Some(self.owner.0), Some(self.owner.1)).unwrap();
        let (local, realm) = user.rsplit_once('@').unwrap_or((user, &self.servername));
        let db = self.dir.path().join("sasldb2");
        let mut child = Command::new(SASLPASSWD2)
            .args(["-p", "-c", "-f"])
            .arg(&db)
            .args(["-u", realm, local])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run saslpasswd2");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "saslpasswd2 {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        chown(&db, Some(self.owner.0), Some(self.owner.1)).unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn wait_for_greeting(&mut self, limit: Duration) -> Startup {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self
                .master
                .as_mut()
                .and_then(|m| m.try_wait().ok().flatten())
            {
                return Startup::Exited(status);
            }
            if let Ok(s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut greeting = String::new();
                if BufReader::new(s).read_line(&mut greeting).is_ok() && !greeting.is_empty() {
                    if greeting.starts_with("* OK") && greeting.contains(&self.servername) {
                        return Startup::Up;
                    }
                    if !greeting.contains(&self.servername) {
                        return Startup::NotOurs(greeting);
                    }
                }
            }
            sleep(Duration::from_millis(20));
        }
        Startup::Silent
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The owner of the instance's files and the user it runs as: `cutover-mail` as root
/// (imapd will not serve as root), else ourselves.
fn identity() -> ((u32, u32), String) {
    let (owner, _, login_user) = mail_identity();
    let me = fs::metadata("/proc/self").expect("/proc/self").uid();
    let name = if me == 0 {
        MAIL_USER.to_string()
    } else {
        login_user
    };
    (owner, name)
}

/// Every LF without CR before it becomes CRLF; everything else stays.
fn crlf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 40);
    let mut prev = 0u8;
    for &b in body {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// `config` with the lines of `extra` added, each replacing the line of the same option.
fn with_extra(config: &str, extra: &str) -> String {
    let option = |line: &str| -> Option<String> {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        line.split_once(':').map(|(key, _)| key.trim().to_string())
    };
    let replaced: HashSet<String> = extra.lines().filter_map(option).collect();
    let mut out: String = config
        .lines()
        .filter(|l| option(l).is_none_or(|key| !replaced.contains(&key)))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(extra);
    out.push('\n');
    out
}

fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut conf = template.to_string();
    for (key, value) in values {
        conf = conf.replace(&format!("@{key}@"), value);
    }
    for line in conf.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(
            !line.contains('@')
                || line
                    .split('@')
                    .skip(1)
                    .all(|w| w.is_empty() || !w.chars().all(|c| c.is_ascii_uppercase() || c == '_')),
            "cyrus template: placeholder left unrendered in {line:?}"
        );
    }
    conf
}
