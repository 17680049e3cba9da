//! A private Dovecot instance per test, rendered from `fixtures/dovecot/dovecot.conf.in`.
//!
//! Everything the fixture knows about mail it learns from `doveadm` or writes as maildir
//! files itself, never over IMAP, so tests of our IMAP code do not check themselves.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::maildir;
use super::{MailboxSnapshot, StoredMessage};

const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/dovecot/dovecot.conf.in"
));
const OAUTH2_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/dovecot/dovecot-oauth2.conf.ext.in"
));
/// The passdb that takes bearer tokens, after the password ones (a token is no
/// password there, so those fail and this one is asked).
const OAUTH2_PASSDB: &str = "\
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {
  driver = oauth2
  args = @OAUTH2_CONF@
}
";
const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVEADM: &str = "/usr/bin/doveadm";
pub(super) const MAIL_USER: &str = "cutover-mail";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// `extra_config` for a server that refuses messages over 1 MiB (Dovecot's quota plugin,
/// `quota_max_mail_size`): APPEND answers NO [LIMIT]. The corpus's ordinary messages are far
/// smaller; its "big" one is 3 MB or more.
pub const REFUSE_OVER_1_MIB: &str = "\
mail_plugins = $mail_plugins quota
protocol imap {
  mail_plugins = $mail_plugins quota
}
plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_max_mail_size = 1M
}
";

pub struct DovecotOptions {
    /// Hierarchy separator of the one namespace. Folder names in this API always use '/'.
    pub separator: char,
    /// The personal namespace's prefix: "" (Dovecot's usual) or e.g. "INBOX." (Courier and
    /// Cyrus style). Folder names in this API never carry it.
    pub prefix: String,
    /// Full addresses, e.g. "alice@contoso.test"; each has password "pass".
    pub users: Vec<String>,
    pub master_user: String,
    pub master_password: String,
    /// `imap_capability`: "" keeps Dovecot's list, "+X" adds to it, a full list replaces it.
    pub imap_capability: String,
    /// RFC 6154 attributes the server lists folders with: (folder, e.g. "\\Sent"). The
    /// folders still have to be created.
    pub special_use: Vec<(String, String)>,
    /// Lines appended to the rendered config (plugins, limits), for tests that need a
    /// server that behaves differently; later settings override earlier ones.
    pub extra_config: String,
    /// A certificate and key (PEM) to serve IMAPS and STARTTLS with.
    pub tls: Option<super::tls::TlsFiles>,
    /// Also take OAuth 2.0 bearer tokens (XOAUTH2, OAUTHBEARER): Dovecot's `oauth2`
    /// passdb, which POSTs each token to this introspection URL and wants the answer's
    /// `email` to be the mailbox (see `fixtures/dovecot/dovecot-oauth2.conf.ext.in`).
    pub oauth2_introspection_url: Option<String>,
    /// Also users of an LDAP directory: Dovecot's `ldap` passdb with `auth_bind = yes`
    /// (the password is checked by binding as the user's entry, so the directory's
    /// password policy decides who logs in) and its `ldap` userdb, after the password
    /// file's users (see [`LdapUsers`]).
    pub ldap: Option<LdapUsers>,
}

/// Where a Dovecot finds its LDAP users: entries of `objectClass=inetOrgPerson` under
/// `base` whose `uid` is the login, searched as `bind_dn`.
#[derive(Clone)]
pub struct LdapUsers {
    pub url: String,
    pub base: String,
    pub bind_dn: String,
    pub bind_password: String,
}

/// The passdb and userdb of [`LdapUsers`], after the password file's (a user the file
/// does not know is looked up in the next one). The master user's logins look the
/// user up without a password (`result_success = continue` above), which `auth_bind`
/// answers with a search.
const LDAP_DBS: &str = "\
passdb {
  driver = ldap
  args = @LDAP_CONF@
}
userdb {
  driver = ldap
  args = @LDAP_CONF@
}
";

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            separator: '/',
            prefix: String::new(),
            users: vec!["alice@contoso.test".into(), "bob@contoso.test".into()],
            master_user: "admin".into(),
            master_password: "adminpass".into(),
            imap_capability: String::new(),
            special_use: Vec::new(),
            extra_config: String::new(),
            tls: None,
            oauth2_introspection_url: None,
            ldap: None,
        }
    }
}

pub struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    imaps_port: Option<u16>,
    separator: char,
    prefix: String,
    owner: (u32, u32),
    master_pid: Option<u32>,
    /// (user, folder) -> maildir directory, so writing many messages costs no doveadm calls.
    folder_dirs: Mutex<HashMap<(String, String), PathBuf>>,
}

impl Dovecot {
    /// Starts a private Dovecot on a free 127.0.0.1 port and waits for its greeting.
    pub fn start(name: &str, opts: DovecotOptions) -> Dovecot {
        assert!(
            Path::new(DOVECOT).exists() && Path::new(DOVEADM).exists(),
            "dovecot-imapd is not installed: apt-get install dovecot-core dovecot-imapd"
        );
        assert!(
            opts.separator == '/' || opts.separator == '.',
            "separator must be '/' or '.'"
        );
        let (owner, internal_user, login_user) = mail_identity();
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("cutover-dovecot-{safe}-"))
            .tempdir()
            .expect("create temp dir for dovecot");
        // Dovecot's unprivileged processes must reach their files inside.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().to_path_buf();
        let root = root.as_path();
        for sub in ["run", "state", "log", "mail"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        chown(root.join("mail"), Some(owner.0), Some(owner.1)).unwrap();
        let passwd: String = opts
            .users
            .iter()
            .map(|u| format!("{u}:{{PLAIN}}pass::::::\n"))
            .collect();
        write_file(&root.join("users.passwd"), &passwd);
        write_file(
            &root.join("master-users"),
            &format!("{}:{{PLAIN}}{}\n", opts.master_user, opts.master_password),
        );
        let instance = format!(
            "cutover-{safe}-{}-{}",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        );

        let mut extra_config = opts.extra_config.clone();
        if let Some(url) = &opts.oauth2_introspection_url {
            let oauth2_conf = root.join("dovecot-oauth2.conf.ext");
            write_file(
                &oauth2_conf,
                &render_with(OAUTH2_TEMPLATE, &[("INTROSPECTION_URL", url.as_str())]),
            );
            extra_config = render_with(OAUTH2_PASSDB, &[("OAUTH2_CONF", &path_str(&oauth2_conf))])
                + &extra_config;
        }
        if let Some(ldap) = &opts.ldap {
            let ldap_conf = root.join("dovecot-ldap.conf.ext");
            write_file(
                &ldap_conf,
                &format!(
                    "uris = {url}\n\
                     dn = {bind_dn}\n\
                     dnpass = {bind_password}\n\
                     auth_bind = yes\n\
                     ldap_version = 3\n\
                     base = {base}\n\
                     scope = subtree\n\
                     pass_filter = (&(objectClass=inetOrgPerson)(uid=%u))\n\
                     pass_attrs = uid=user\n\
                     user_filter = (&(objectClass=inetOrgPerson)(uid=%u))\n\
                     user_attrs = =home={mail}/%d/%n, =uid={uid}, =gid={gid}\n\
                     iterate_attrs = uid=user\n\
                     iterate_filter = (&(objectClass=inetOrgPerson)(uid=*))\n",
                    url = ldap.url,
                    bind_dn = ldap.bind_dn,
                    bind_password = ldap.bind_password,
                    base = ldap.base,
                    mail = path_str(&root.join("mail")),
                    uid = owner.0,
                    gid = owner.1,
                ),
            );
            // Dovecot reads the file as root; it holds the search password.
            fs::set_permissions(&ldap_conf, fs::Permissions::from_mode(0o600)).unwrap();
            extra_config =
                render_with(LDAP_DBS, &[("LDAP_CONF", &path_str(&ldap_conf))]) + &extra_config;
        }
        let mailboxes: String = opts
            .special_use
            .iter()
            .map(|(folder, attribute)| {
                let name = folder.replace('/', &opts.separator.to_string());
                format!("mailbox \"{name}\" {{\n    special_use = {attribute}\n  }}\n  ")
            })
            .collect();

        let mut dovecot = Dovecot {
            dir,
            port: 0,
            imaps_port: None,
            separator: opts.separator,
            prefix: opts.prefix.clone(),
            owner,
            master_pid: None,
            folder_dirs: Mutex::new(HashMap::new()),
        };
        // A port found free can be taken before Dovecot binds it: try again with another.
        for attempt in 1..=5 {
            let port = free_port();
            let imaps_port = opts.tls.as_ref().map(|_| free_port());
            let (ssl, imaps, cert, key) = match &opts.tls {
                Some(t) => ("yes", "", path_str(&t.cert), path_str(&t.key)),
                None => ("no", "#", String::new(), String::new()),
            };
            let imaps_port_text = imaps_port.unwrap_or(0).to_string();
            let conf = render(&[
                ("INSTANCE", instance.as_str()),
                ("BASE_DIR", &path_str(&root.join("run"))),
                ("STATE_DIR", &path_str(&root.join("state"))),
                ("LOG_PATH", &path_str(&root.join("log/dovecot.log"))),
                ("MAIL_ROOT", &path_str(&root.join("mail"))),
                ("PASSWD_FILE", &path_str(&root.join("users.passwd"))),
                ("MASTER_USERS", &path_str(&root.join("master-users"))),
                ("UID", &owner.0.to_string()),
                ("GID", &owner.1.to_string()),
                ("INTERNAL_USER", &internal_user),
                ("LOGIN_USER", &login_user),
                ("SEPARATOR", &opts.separator.to_string()),
                ("PREFIX", &opts.prefix),
                ("IMAP_PORT", &port.to_string()),
                ("SSL", ssl),
                ("IMAPS", imaps),
                ("IMAPS_PORT", &imaps_port_text),
                ("SSL_CERT", &cert),
                ("SSL_KEY", &key),
                ("IMAP_CAPABILITY", &opts.imap_capability),
                ("MAILBOXES", &mailboxes),
            ]) + "\n"
                + &extra_config
                + "\n";
            write_file(&dovecot.conf(), &conf);
            let startup_log = fs::File::create(root.join("log/startup.log")).unwrap();
            let status = Command::new(DOVECOT)
                .arg("-c")
                .arg(dovecot.conf())
                .stdin(Stdio::null())
                .stdout(startup_log.try_clone().unwrap())
                .stderr(startup_log)
                .status()
                .expect("run /usr/sbin/dovecot");
            if status.success() {
                dovecot.port = port;
                dovecot.imaps_port = imaps_port;
                dovecot.master_pid = Some(dovecot.read_master_pid());
                if dovecot.wait_for_greeting(Duration::from_secs(20)) {
                    return dovecot;
                }
                panic!(
                    "dovecot {name} did not greet on 127.0.0.1:{port}:\n{}",
                    dovecot.log()
                );
            }
            let log = dovecot.log();
            if attempt < 5 && log.contains("Address already in use") {
                let _ = fs::remove_file(root.join("log/dovecot.log"));
                continue;
            }
            panic!("dovecot {name} failed to start ({status}):\n{log}");
        }
        unreachable!()
    }

    /// The IMAPS (TLS from the first byte) port, when started with `tls`.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port.expect("started without tls")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The rendered config, for `doveadm -c` by hand while debugging.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// Startup output and the Dovecot log, for failure messages.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for f in ["log/startup.log", "log/dovecot.log"] {
            if let Ok(text) = fs::read(self.dir.path().join(f)) {
                out.push_str(&String::from_utf8_lossy(&text));
            }
        }
        out
    }

    /// Creates a folder (UTF-8 display name, '/' hierarchy); an existing one is fine.
    pub fn create_folder(&self, user: &str, folder: &str) {
        let name = self.native(folder);
        let out = self.doveadm_raw(&["mailbox", "create", "-u", user, &name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !stderr.contains("already exists") {
            panic!("doveadm mailbox create {user} {folder:?} failed: {stderr}");
        }
    }

    pub fn subscribe(&self, user: &str, folder: &str) {
        self.doveadm(&["mailbox", "subscribe", "-u", user, &self.native(folder)]);
    }

    pub fn unsubscribe(&self, user: &str, folder: &str) {
        self.doveadm(&["mailbox", "unsubscribe", "-u", user, &self.native(folder)]);
    }

    /// Puts one message into a folder as a maildir file (not through IMAP): `body` may use
    /// CRLF or LF; it is stored with LF as Dovecot would store an APPEND. Creates the folder
    /// if needed. Call [`Dovecot::index`] before reading the folder over IMAP.
    pub fn write_message(
        &self,
        user: &str,
        folder: &str,
        body: &[u8],
        flags: &[&str],
        internal_date: i64,
    ) {
        let dir = self.folder_dir(user, folder);
        let mut letters = String::new();
        let mut keywords = Vec::new();
        for flag in flags {
            match maildir::system_flag_letter(flag) {
                Some(c) => letters.push(c),
                None => keywords.push(maildir::keyword_letter(&dir, flag, self.owner)),
            }
        }
        letters.extend(keywords);
        let mut letters: Vec<char> = letters.chars().collect();
        letters.sort_unstable();
        letters.dedup();
        let letters: String = letters.into_iter().collect();
        let unique = UNIQUE.fetch_add(1, Ordering::Relaxed);
        maildir::deliver(
            &dir,
            &maildir::to_disk_form(body),
            &letters,
            internal_date,
            unique,
            self.owner,
        );
    }

    /// Makes Dovecot index everything written so far. A rescan is forced: files added
    /// to `cur/` within the second of an earlier scan would otherwise go unseen
    /// (`maildir_very_dirty_syncs`, mtime granularity).
    pub fn index(&self, user: &str) {
        self.doveadm(&["force-resync", "-u", user, "*"]);
        self.doveadm(&["mailbox", "status", "-u", user, "messages", "*"]);
    }

    /// Everything the server holds for `user`, read through doveadm, bodies as IMAP serves them.
    pub fn mailbox(&self, user: &str) -> MailboxSnapshot {
        let lines = |args: &[&str]| -> Vec<String> {
            String::from_utf8(self.doveadm(args))
                .expect("doveadm prints UTF-8 names")
                .lines()
                .map(|l| self.display(l))
                .collect()
        };
        let mut snapshot = MailboxSnapshot::default();
        for folder in lines(&["mailbox", "list", "-u", user]) {
            snapshot.folders.insert(folder, Vec::new());
        }
        snapshot.subscribed = lines(&["mailbox", "list", "-s", "-u", user])
            .into_iter()
            .collect();
        // Under a personal prefix ("INBOX."), Dovecot's doveadm matches nothing with
        // "*": the masks name the prefix (and INBOX, outside it).
        let everything = format!("{}*", self.prefix);
        let mut status = vec!["mailbox", "status", "-u", user, "messages", &everything];
        if !self.prefix.is_empty() {
            status.push("INBOX");
        }
        for line in lines(&status) {
            let (name, _) = line
                .rsplit_once(" messages=")
                .unwrap_or_else(|| panic!("unexpected doveadm status line {line:?}"));
            snapshot.selectable.insert(name.to_string());
            snapshot.folders.entry(name.to_string()).or_default();
        }
        let out = self.doveadm(&[
            "-f",
            "pager",
            "fetch",
            "-u",
            user,
            "mailbox uid flags date.received.unixtime size.physical text",
            "ALL",
        ]);
        for (folder, message) in parse_pager_fetch(&out) {
            let folder = self.display(&folder);
            snapshot.folders.entry(folder).or_default().push(message);
        }
        snapshot
    }

    /// Keeps this server for the rest of the test process (a server tests share, held in
    /// a static that is never dropped): a watchdog stops it and removes its directory
    /// when the process ends.
    pub fn keep_until_tests_end(self) -> Dovecot {
        let pid = self.master_pid.expect("a running dovecot");
        let dir = self.dir.path().to_path_buf();
        super::watchdog::stop_when_tests_end(pid, &[&dir]);
        self
    }

    /// Whether `user` logs in over IMAP with `password` (LOGIN on the plain port): what
    /// a mail client of the target does.
    pub fn can_log_in(&self, user: &str, password: &str) -> bool {
        use std::io::{BufRead, BufReader, Write};
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to dovecot");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).expect("dovecot's greeting");
        assert!(line.starts_with("* OK"), "greeting: {line}");
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut writer = stream;
        write!(writer, "a1 LOGIN {} {}\r\n", quote(user), quote(password)).unwrap();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).expect("dovecot's LOGIN answer");
            assert!(n > 0, "dovecot closed the connection during LOGIN");
            if let Some(status) = line.strip_prefix("a1 ") {
                let ok = status.starts_with("OK");
                let _ = write!(writer, "a2 LOGOUT\r\n");
                return ok;
            }
        }
    }

    /// TERMs the master, waits for it and its children; also done on drop.
    pub fn stop(&mut self) {
        let Some(pid) = self.master_pid.take() else {
            return;
        };
        let children = children_of(pid);
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        if !wait_gone(&[pid], Duration::from_secs(10)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            wait_gone(&[pid], Duration::from_secs(5));
        }
        if !wait_gone(&children, Duration::from_secs(5)) {
            for child in children {
                let _ = Command::new("kill")
                    .args(["-KILL", &child.to_string()])
                    .status();
            }
        }
    }

    fn read_master_pid(&self) -> u32 {
        let file = self.dir.path().join("run/master.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = fs::read_to_string(&file)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no {} after start:\n{}",
                file.display(),
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }

    fn wait_for_greeting(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 5];
                if s.read_exact(&mut buf).is_ok() && &buf == b"* OK " {
                    return true;
                }
            }
            sleep(Duration::from_millis(50));
        }
        false
    }

    /// The maildir directory of a folder, creating the folder on first use.
    fn folder_dir(&self, user: &str, folder: &str) -> PathBuf {
        let key = (user.to_string(), folder.to_string());
        if let Some(dir) = self.folder_dirs.lock().unwrap().get(&key) {
            return dir.clone();
        }
        if folder.eq_ignore_ascii_case("INBOX") {
            // opening INBOX makes Dovecot create the home and Maildir as the mail user
            self.doveadm(&["mailbox", "status", "-u", user, "messages", "INBOX"]);
        } else {
            self.create_folder(user, folder);
        }
        let out = self.doveadm(&["mailbox", "path", "-u", user, &self.native(folder)]);
        let dir = PathBuf::from(String::from_utf8(out).unwrap().trim());
        maildir::ensure_maildir(&dir, self.owner);
        self.folder_dirs.lock().unwrap().insert(key, dir.clone());
        dir
    }

    fn native(&self, folder: &str) -> String {
        if folder.eq_ignore_ascii_case("INBOX") {
            return folder.to_string();
        }
        format!(
            "{}{}",
            self.prefix,
            folder.replace('/', &self.separator.to_string())
        )
    }

    fn display(&self, folder: &str) -> String {
        let relative = folder.strip_prefix(self.prefix.as_str()).unwrap_or(folder);
        relative.replace(self.separator, "/")
    }

    /// Adds or removes flags of one message, as a mail client on the server would.
    pub fn change_flags(&self, user: &str, folder: &str, uid: u32, add: bool, flags: &[&str]) {
        let op = if add { "add" } else { "remove" };
        let (folder, uid) = (self.native(folder), uid.to_string());
        self.doveadm(&[
            "flags",
            op,
            "-u",
            user,
            &flags.join(" "),
            "mailbox",
            &folder,
            "uid",
            &uid,
        ]);
    }

    /// Expunges one message.
    pub fn expunge(&self, user: &str, folder: &str, uid: u32) {
        let (folder, uid) = (self.native(folder), uid.to_string());
        self.doveadm(&["expunge", "-u", user, "mailbox", &folder, "uid", &uid]);
    }

    /// The UIDs of a folder, ascending.
    pub fn uids(&self, user: &str, folder: &str) -> Vec<u32> {
        let folder = self.native(folder);
        let out = self.doveadm(&["search", "-u", user, "mailbox", &folder, "all"]);
        let mut uids: Vec<u32> = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect();
        uids.sort_unstable();
        uids
    }

    pub fn rename_folder(&self, user: &str, from: &str, to: &str) {
        let (from, to) = (self.native(from), self.native(to));
        self.doveadm(&["mailbox", "rename", "-u", user, &from, &to]);
    }

    /// Deletes a folder with its messages.
    pub fn delete_folder(&self, user: &str, folder: &str) {
        let folder = self.native(folder);
        self.doveadm(&["mailbox", "delete", "-u", user, &folder]);
    }

    fn doveadm_raw(&self, args: &[&str]) -> Output {
        Command::new(DOVEADM)
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run doveadm")
    }

    fn doveadm(&self, args: &[&str]) -> Vec<u8> {
        let out = self.doveadm_raw(args);
        assert!(
            out.status.success(),
            "doveadm {args:?} failed ({}): {}\n--- log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out.stdout
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses `doveadm -f pager fetch "mailbox uid flags date.received.unixtime size.physical text"`:
/// records separated by "\f\n", one `name: value` line per field, then "text:\n" and the raw
/// stored bytes. The text is cut by `size.physical` (exact for maildir: the `S=` we wrote) and
/// the cut is checked against the next record separator.
fn parse_pager_fetch(out: &[u8]) -> Vec<(String, StoredMessage)> {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < out.len() {
        let mut field = |name: &str| -> String {
            let end = pos
                + out[pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .expect("field line");
            let line = std::str::from_utf8(&out[pos..end]).expect("UTF-8 field line");
            let value = line
                .strip_prefix(name)
                .and_then(|v| v.strip_prefix(':'))
                .unwrap_or_else(|| panic!("doveadm fetch: expected {name:?}, got {line:?}"));
            pos = end + 1;
            value.strip_prefix(' ').unwrap_or(value).to_string()
        };
        let folder = field("mailbox");
        let _uid = field("uid");
        let flags = field("flags");
        let date = field("date.received.unixtime");
        let size: usize = field("size.physical").parse().expect("size.physical");
        let text = field("text");
        assert!(text.is_empty(), "doveadm fetch: text not on its own line");
        let end = pos + size;
        assert!(
            end == out.len() || out[end..].starts_with(b"\x0c\nmailbox: "),
            "doveadm fetch: size.physical {size} of a message in {folder} does not match its text"
        );
        let mut flags: Vec<String> = flags
            .split_whitespace()
            .map(str::to_lowercase)
            .filter(|f| f != "\\recent")
            .collect();
        flags.sort();
        records.push((
            folder,
            StoredMessage {
                body: maildir::to_wire_form(&out[pos..end]),
                flags,
                internal_date: date.parse().expect("date.received.unixtime"),
            },
        ));
        pos = (end + 2).min(out.len());
    }
    records
}

/// uid/gid for mail and the internal/login users: a system user as root, else ourselves.
pub(super) fn mail_identity() -> ((u32, u32), String, String) {
    static IDENTITY: OnceLock<((u32, u32), String, String)> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let me = fs::metadata("/proc/self").expect("/proc/self").uid();
            if me == 0 {
                if !id_ok(MAIL_USER) {
                    let _ = Command::new("useradd")
                        .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
                        .args(["--shell", "/usr/sbin/nologin", MAIL_USER])
                        .status();
                    assert!(id_ok(MAIL_USER), "could not create system user {MAIL_USER}");
                }
                let uid = id_of(&["-u", MAIL_USER]).parse().unwrap();
                let gid = id_of(&["-g", MAIL_USER]).parse().unwrap();
                ((uid, gid), "dovecot".into(), "dovenull".into())
            } else {
                let uid = id_of(&["-u"]).parse().unwrap();
                let gid = id_of(&["-g"]).parse().unwrap();
                let name = id_of(&["-un"]);
                ((uid, gid), name.clone(), name)
            }
        })
        .clone()
}

fn id_ok(user: &str) -> bool {
    Command::new("id")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn id_of(args: &[&str]) -> String {
    let out = Command::new("id").args(args).output().expect("run id");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn render(values: &[(&str, &str)]) -> String {
    render_with(TEMPLATE, values)
}

fn render_with(template: &str, values: &[(&str, &str)]) -> String {
    let mut conf = template.to_string();
    for (key, value) in values {
        conf = conf.replace(&format!("@{key}@"), value);
    }
    for line in conf.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut parts = line.split('@');
        parts.next();
        for word in parts {
            assert!(
                word.is_empty() || !word.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "dovecot.conf.in: placeholder @{word}@ left unrendered"
            );
        }
    }
    conf
}

pub(super) fn write_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
}

pub(super) fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_string()
}

pub(super) fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so cut at ')'.
        if let Ok(stat) = fs::read_to_string(entry.path().join("stat"))
            && let Some((_, rest)) = stat.rsplit_once(')')
            && rest.split_whitespace().nth(1) == Some(&pid.to_string())
        {
            out.push(child);
        }
    }
    out
}

pub(super) fn wait_gone(pids: &[u32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if pids
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}
