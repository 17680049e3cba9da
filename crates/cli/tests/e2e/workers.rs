//! Several `cutover worker` processes on one state: the batch's limit of mailboxes at
//! once holds across all of them, a worker killed with SIGKILL in the middle of a
//! mailbox loses its job to another once its lease expired, and the batch ends exact,
//! with no message appended twice (the target's own log counts every save).

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Cutover, Dovecot, assert_same_mailbox, field, fill_realistic_mailbox, pair, terminate,
};

/// One `cutover worker` process and its log.
struct WorkerProcess {
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    fn start(cutover: &Cutover, name: &str, env: &[(&str, &str)]) -> Self {
        let log = cutover.write(&format!("{name}.log"), "");
        let mut cmd = cutover.command(&["worker"]);
        cmd.env("CUTOVER_LOG", "debug,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn cutover worker");
        Self {
            child,
            log: log.into(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then its exit status within `limit`.
    fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let log = self.log.clone();
        terminate(&mut self.child, limit, "the worker", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        })
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Messages saved on the target, by its own log (one `save:` line per message).
fn saves_on(dst: &Dovecot) -> usize {
    dst.log()
        .lines()
        .filter(|l| l.contains(" save: box="))
        .count()
}

/// Runs a batch with three workers, killing one mid-mailbox, on the state `cutover`
/// opens; returns nothing, asserts everything.
pub fn three_workers_one_killed(cutover: &Cutover) {
    let users: Vec<String> = (1..=6).map(|i| format!("worker{i}@contoso.test")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let (src, dst) = pair(&names, '/');
    for (i, u) in names.iter().enumerate() {
        fill_realistic_mailbox(&src, u, 80, 300 + i as u64, i % 2 == 0);
        src.index(u);
    }
    let total: usize = names.iter().map(|u| src.mailbox(u).message_count()).sum();
    cutover.connect(&src, &dst, "authzid", names[0]);
    cutover.at_once(2);
    let rows: Vec<(&str, &str, &str)> = names.iter().map(|u| (*u, "", "")).collect();
    cutover.start_batch(&rows, &[]);
    assert_eq!(saves_on(&dst), 0);

    // Slow chunks, so that the kill lands mid-mailbox; short leases, so that the
    // takeover comes within seconds.
    let env = [
        ("CUTOVER_TEST_CHUNK_DELAY_MS", "250"),
        ("CUTOVER_LEASE_TTL_SECS", "3"),
    ];
    let mut workers: Vec<WorkerProcess> = (1..=3)
        .map(|i| WorkerProcess::start(cutover, &format!("worker{i}"), &env))
        .collect();

    // The first worker that holds a mailbox with mail already copied is killed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (victim, job) = loop {
        let holder = cutover.state_sql(
            "SELECT j.lease_owner || ' ' || j.subject FROM jobs j JOIN users u ON u.email = j.subject \
             WHERE j.lease_owner IS NOT NULL AND u.items_synced > 0 ORDER BY j.id LIMIT 1",
            &[],
        );
        if let Some((owner, subject)) = holder.split_once(' ')
            && let Some(i) = workers
                .iter()
                .position(|w| owner.contains(&format!("/{}/", w.pid())))
        {
            break (i, subject.to_string());
        }
        let status = cutover.json(&["batch", "get", "CutoverBatch"]);
        assert!(
            Instant::now() < deadline && field(&status, "Status") == "Syncing",
            "no worker was seen holding a mailbox mid-copy before the batch ended: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // `job get` shows who runs what: never more than the limit Running.
    let jobs = cutover.json(&["job", "get"]);
    let running: Vec<&serde_json::Value> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["Status"] == "Running")
        .collect();
    assert!(!running.is_empty() && running.len() <= 2, "{jobs:#}");
    for j in &running {
        let worker = j["Worker"].as_str().unwrap();
        assert!(
            workers
                .iter()
                .any(|w| worker.contains(&format!("/{}/", w.pid()))),
            "{j:#}"
        );
    }
    let killed = workers.remove(victim);
    let killed_pid = killed.pid();
    let mut child = killed;
    child.child.kill().unwrap();
    child.child.wait().unwrap();

    // The batch ends, the limit of two at once held across the workers meanwhile, and
    // the killed worker's mailbox is taken by another.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut taken_over_by = None;
    loop {
        // (Now, in whole seconds, plus one: the same SQL on SQLite and PostgreSQL.)
        let soon = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            * 1000
            + 1000;
        let held: u64 = cutover
            .state_sql(
                &format!(
                    "SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL \
                     AND lease_expires_at > {soon}"
                ),
                &[],
            )
            .parse()
            .unwrap();
        assert!(held <= 2, "{held} mailboxes held at once with a limit of 2");
        let owner = cutover.state_sql("SELECT lease_owner FROM jobs WHERE subject = ?", &[&job]);
        if !owner.is_empty() && !owner.contains(&format!("/{killed_pid}/")) {
            taken_over_by.get_or_insert(owner);
        }
        let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
        if field(&batch, "Status") == "Synced" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never ended: {batch:#}\n{}",
            workers
                .iter()
                .map(WorkerProcess::log)
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let taken_over_by = taken_over_by.expect("another worker took the killed worker's mailbox");
    assert!(
        workers
            .iter()
            .any(|w| taken_over_by.contains(&format!("/{}/", w.pid()))),
        "{taken_over_by}"
    );
    for w in workers {
        let log = w.log();
        assert!(w.terminate(Duration::from_secs(30)).success(), "{log}");
    }
    cutover.check_state();

    for u in &names {
        assert_same_mailbox(&src, &dst, u);
    }
    assert_eq!(
        saves_on(&dst),
        total,
        "the target saved a message more than once (or missed one)"
    );
    let users = cutover.json(&["user", "get"]);
    for u in users.as_array().unwrap() {
        assert_eq!(field(u, "Status"), "Synced", "{u:#}");
    }
}

#[test]
fn three_workers_share_a_batch_and_one_killed_mid_mailbox_is_taken_over() {
    three_workers_one_killed(&Cutover::new());
}
