//! Running the real `cutover` binary against a private state directory.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

use super::{Dnsmasq, Dovecot, Zone};

/// One installation of cutover: its own state database and key file.
pub struct Cutover {
    pub dir: TempDir,
    /// A PostgreSQL state's URL (its key file is `DIR/state.key`); `None`: SQLite in DIR.
    pub postgres: Option<String>,
}

impl Cutover {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        }
    }

    /// An installation whose state is a fresh database on the test binary's PostgreSQL
    /// cluster (`--state postgres://...` with `--key-file`, given through the environment).
    pub fn on_postgres() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: Some(super::postgres::cluster().new_database()),
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("state.key")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.args(args);
        match &self.postgres {
            Some(url) => cmd
                .env("CUTOVER_STATE", url)
                .env("CUTOVER_KEY_FILE", self.key_file()),
            None => cmd
                .env(
                    "CUTOVER_STATE",
                    format!("sqlite://{}", self.state_path().display()),
                )
                .env_remove("CUTOVER_KEY_FILE"),
        };
        cmd.env_remove("CUTOVER_LOG")
            .env("SRC_ADMIN_PASSWORD", "adminpass")
            .env("DST_ADMIN_PASSWORD", "adminpass");
        cmd
    }

    /// Runs a command; after `cutover run`, checks that the engine left the state
    /// consistent ([`Cutover::check_state`]).
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run cutover");
        if args.first() == Some(&"run") {
            self.check_state();
        }
        out
    }

    /// An incremental pass now (`batch start CutoverBatch`, then `run --once` with
    /// `CUTOVER_LOG=log`): its JSON summary and its log; the state is checked after it.
    pub fn pass(&self, log: &str) -> (Value, String) {
        self.ok(&["batch", "start", "CutoverBatch"]);
        self.run_logged(log, &[])
    }

    /// `run --once` with `CUTOVER_LOG=log` and the variables `env`: its JSON summary and
    /// its log, after it succeeded; the state is checked after it.
    pub fn run_logged(&self, log: &str, env: &[(&str, &str)]) -> (Value, String) {
        let out = self
            .command(&["run", "--once", "--format", "json"])
            .env("CUTOVER_LOG", log)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "pass failed:\n{stderr}");
        self.check_state();
        (serde_json::from_slice(&out.stdout).unwrap(), stderr)
    }

    /// `cutover state check`: panics with every violation and the state's dump unless
    /// the state keeps its invariants. Called after every `run` made through
    /// [`Cutover::run`] (so [`Cutover::ok`], [`Cutover::json`], [`Cutover::fails`]);
    /// tests that spawn `run` themselves call it once the process has exited.
    pub fn check_state(&self) {
        let out = self
            .command(&["state", "check"])
            .output()
            .expect("run cutover state check");
        if !out.status.success() {
            let dump = self
                .command(&["state", "dump"])
                .output()
                .expect("run cutover state dump");
            panic!(
                "the state breaks its invariants ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&dump.stdout)
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "state is consistent"
        );
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cutover {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command that must fail with exit code 1; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "cutover {args:?} should fail with 1:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.display().to_string()
    }

    /// Writes a users CSV of `rows` (EmailAddress, UserName, Password) and creates the
    /// cutover batch `CutoverBatch` from it, started; `extra` are more `batch new` options.
    /// Returns `batch new`'s JSON.
    pub fn start_batch(&self, rows: &[(&str, &str, &str)], extra: &[&str]) -> Value {
        let emails: Vec<&str> = rows.iter().map(|r| r.0).collect();
        self.accept_domains(&emails);
        let csv = self.write("users.csv", &super::users_csv(rows));
        let mut args = vec![
            "batch",
            "new",
            "--name",
            "CutoverBatch",
            "--source-endpoint",
            "CutoverEndpoint",
            "--users-csv",
            &csv,
            "--auto-start",
        ];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    /// Makes the domains of these addresses accepted and verified the way an admin does
    /// (the seed's step 1): `domain add`, its TXT token published in a private DNS server
    /// (dnsmasq), `domain verify` against that server. Domains already verified are left.
    pub fn accept_domains(&self, emails: &[&str]) {
        let mut domains: Vec<String> = emails
            .iter()
            .filter_map(|e| e.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .collect();
        domains.sort();
        domains.dedup();
        let known = self.json(&["domain", "get"]);
        let verified = |d: &str| {
            known
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["DomainName"] == d && k["Status"] == "Verified")
        };
        domains.retain(|d| !verified(d));
        if domains.is_empty() {
            return;
        }
        let mut zone = Zone::new();
        for d in &domains {
            let added = self.json(&["domain", "add", d]);
            let token = added["TxtRecordValue"]
                .as_str()
                .expect("a token")
                .to_string();
            zone = zone.txt(d, &token);
        }
        let dns = Dnsmasq::start(&zone);
        for d in &domains {
            self.ok(&["domain", "verify", d, "--dns-server", &dns.addr()]);
        }
    }

    /// `target set` to `dst` and `endpoint new --name CutoverEndpoint` to `src`, both as the
    /// Dovecot master user `admin`, with the given impersonation.
    pub fn connect(&self, src: &Dovecot, dst: &Dovecot, impersonation: &str, test_mailbox: &str) {
        self.connect_ports(src.port(), dst.port(), impersonation, test_mailbox);
    }

    /// As [`Cutover::connect`], to any loopback ports (a proxy in front of a server).
    /// `endpoint set` so that `n` mailboxes move at once, in the initial copy and after.
    pub fn at_once(&self, n: u32) {
        let n = n.to_string();
        self.ok(&[
            "endpoint",
            "set",
            "CutoverEndpoint",
            "--max-concurrent-migrations",
            &n,
            "--max-concurrent-incremental-syncs",
            &n,
        ]);
    }

    pub fn connect_ports(&self, src: u16, dst: u16, impersonation: &str, test_mailbox: &str) {
        self.connect_with(src, dst, impersonation, test_mailbox, &[]);
    }

    /// `target set` to the loopback port `dst` as the Dovecot master user `admin`, with
    /// more options (e.g. `--folder-case sensitive`).
    pub fn set_target(&self, dst: u16, impersonation: &str, test_mailbox: &str, extra: &[&str]) {
        let dp = dst.to_string();
        let mut target = vec![
            "target",
            "set",
            "--server",
            "127.0.0.1",
            "--port",
            &dp,
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "DST_ADMIN_PASSWORD",
            "--impersonation",
            impersonation,
            "--test-mailbox",
            test_mailbox,
        ];
        target.extend_from_slice(extra);
        self.ok(&target);
    }

    /// As [`Cutover::connect_ports`], with more options for both `target set` and
    /// `endpoint new` (e.g. `--compression on`).
    pub fn connect_with(
        &self,
        src: u16,
        dst: u16,
        impersonation: &str,
        test_mailbox: &str,
        extra: &[&str],
    ) {
        self.set_target(dst, impersonation, test_mailbox, extra);
        self.new_endpoint(src, impersonation, test_mailbox, extra);
    }

    /// `endpoint new` for the loopback port `src` as the Dovecot master user `admin`
    /// (`SRC_ADMIN_PASSWORD`), tested with `test_mailbox`, with more options.
    pub fn new_endpoint(&self, src: u16, impersonation: &str, test_mailbox: &str, extra: &[&str]) {
        let sp = src.to_string();
        let mut endpoint = vec![
            "endpoint",
            "new",
            "--name",
            "CutoverEndpoint",
            "--server",
            "127.0.0.1",
            "--port",
            &sp,
            "--security",
            "none",
            "--admin",
            "admin",
            "--password-env",
            "SRC_ADMIN_PASSWORD",
            "--impersonation",
            impersonation,
            "--test-mailbox",
            test_mailbox,
        ];
        endpoint.extend_from_slice(extra);
        self.ok(&endpoint);
    }
}
