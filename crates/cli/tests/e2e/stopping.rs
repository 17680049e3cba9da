//! Stopping a running pass: `batch stop` (users end Stopped, `batch start` resumes) and
//! SIGTERM (the process exits, the next run resumes). Either way the chunk in flight is
//! recorded, nothing is lost and nothing is copied twice.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Cutover, Dovecot, DovecotOptions, REFUSE_OVER_1_MIB, RewritingProxy, Rule, assert_same_mailbox,
    diff, field, fill_realistic_mailbox, pair, start_pair,
};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

fn started() -> (Dovecot, Dovecot, Cutover) {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 120, 61, true);
    fill_realistic_mailbox(&src, USERS[1], 80, 62, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    (src, dst, cutover)
}

/// `run --once`, slowed down to 300 ms a chunk, until it copies.
fn slow_run(cutover: &Cutover) -> (Child, std::path::PathBuf) {
    let log = cutover.dir.path().join("run.log");
    let child = cutover
        .command(&["run", "--once"])
        .env("CUTOVER_TEST_CHUNK_DELAY_MS", "300")
        .env("CUTOVER_LOG", "debug,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("copying")
    {
        assert!(Instant::now() < deadline, "the pass never started copying");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, log)
}

fn wait_exit(mut child: Child, log: &Path, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the run did not stop within {within:?}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The target holds part of the source and nothing else.
fn assert_partial(src: &Dovecot, dst: &Dovecot) {
    let mut copied = 0;
    for u in USERS {
        let (s, d) = (src.mailbox(u), dst.mailbox(u));
        copied += d.message_count();
        let wrong: Vec<String> = diff(&s, &d)
            .into_iter()
            .filter(|l| l.contains("extra") || l.contains("duplicate"))
            .collect();
        assert!(wrong.is_empty(), "{u}: {wrong:#?}");
    }
    let total: usize = USERS.iter().map(|u| src.mailbox(u).message_count()).sum();
    assert!(
        copied < total,
        "the pass was not stopped: all {total} messages were copied"
    );
}

#[test]
fn batch_stop_stops_a_running_pass_and_batch_start_resumes_it() {
    let (src, dst, cutover) = started();
    let (child, log) = slow_run(&cutover);
    let stopping = cutover.json(&["batch", "stop", "CutoverBatch"]);
    assert_eq!(field(&stopping, "Status"), "Stopping", "{stopping:#}");
    let status = wait_exit(child, &log, Duration::from_secs(20));
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    cutover.check_state();

    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Stopped", "{batch:#}");
    let users = cutover.json(&["user", "get"]);
    for u in users.as_array().unwrap() {
        assert_eq!(field(u, "Status"), "Stopped", "{u:#}");
    }
    assert_partial(&src, &dst);
    // The counters say what is on the target, also after an interrupted pass.
    for u in USERS {
        let stats = cutover.json(&["user", "stats", u]);
        assert_eq!(
            field(&stats, "SyncedItemCount"),
            dst.mailbox(u).message_count() as u64,
            "{stats:#}"
        );
    }

    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
}

#[test]
fn sigterm_stops_a_running_pass_and_the_next_run_resumes_it() {
    let (src, dst, cutover) = started();
    let (child, log) = slow_run(&cutover);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(child, &log, Duration::from_secs(20));
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    cutover.check_state();

    // Not stopped by the admin: the batch is still in its initial sync, users queued.
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Syncing", "{batch:#}");
    let users = cutover.json(&["user", "get"]);
    for u in users.as_array().unwrap() {
        assert_eq!(field(u, "Status"), "Queued", "{u:#}");
    }
    assert_partial(&src, &dst);

    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
}

#[test]
fn batch_remove_during_a_pass_stops_it_first() {
    let (src, dst, cutover) = started();
    let (child, log) = slow_run(&cutover);
    // In its initial sync, so --force; the running pass still stops before the rows go.
    cutover.ok(&["batch", "remove", "CutoverBatch", "--force"]);
    let status = wait_exit(child, &log, Duration::from_secs(20));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    cutover.check_state();
    assert!(!text.contains("FOREIGN KEY"), "{text}");
    assert_eq!(
        cutover.json(&["batch", "get"]),
        serde_json::Value::Array(vec![])
    );
    assert_partial(&src, &dst);
}

/// The source stops answering in the middle of a FETCH (the proxy passes one body on,
/// then nothing, with the connection open): `batch stop` still takes effect within 5
/// seconds, and `batch start` then finishes the copy exactly.
#[test]
fn batch_stop_interrupts_a_pass_stuck_on_a_silent_server() {
    let (src, dst) = pair(&USERS[..1], '/');
    fill_realistic_mailbox(&src, USERS[0], 60, 63, false);
    src.index(USERS[0]);
    let proxy = RewritingProxy::start(src.port());
    let cutover = Cutover::new();
    cutover.connect_ports(proxy.port(), dst.port(), "authzid", USERS[0]);
    cutover.start_batch(&[(USERS[0], "", "")], &[]);
    proxy.set_rules(vec![Rule::stall_after_containing(&[" FETCH (", "BODY[]"])]);
    let log = cutover.dir.path().join("stall.log");
    let child = cutover
        .command(&["run", "--once"])
        .env("CUTOVER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.stalled() == 0 {
        assert!(Instant::now() < deadline, "the source never stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stuck for a moment in the FETCH, then stopped.
    std::thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    cutover.ok(&["batch", "stop", "CutoverBatch"]);
    let status = wait_exit(child, &log, Duration::from_secs(5));
    let took = asked.elapsed();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    cutover.check_state();
    assert!(took < Duration::from_secs(5), "stop took {took:?}:\n{text}");
    let user = cutover.json(&["user", "get", USERS[0]]);
    assert_eq!(field(&user, "Status"), "Stopped", "{user:#}\n{text}");

    proxy.set_rules(Vec::new());
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_same_mailbox(&src, &dst, USERS[0]);
}

/// A source that goes silent in the middle of a FETCH, and stays silent on every retry:
/// each attempt times out after the idle timeout (2 s here), and after the retries the
/// user fails saying which command the server stopped answering, instead of holding its
/// worker and lease forever. The next pass, with the server well again, finishes exactly.
#[test]
fn a_server_that_stops_answering_fails_the_user_within_the_timeout() {
    let (src, dst) = pair(&USERS[..1], '/');
    fill_realistic_mailbox(&src, USERS[0], 30, 64, false);
    src.index(USERS[0]);
    let proxy = RewritingProxy::start(src.port());
    let cutover = Cutover::new();
    cutover.connect_ports(proxy.port(), dst.port(), "authzid", USERS[0]);
    cutover.start_batch(&[(USERS[0], "", "")], &[]);
    proxy.set_rules(vec![Rule::stall_after_containing(&[" FETCH (", "BODY[]"])]);
    let started = Instant::now();
    let out = cutover
        .command(&["run", "--once", "--format", "json"])
        .env("CUTOVER_IMAP_TIMEOUT_SECS", "2")
        .env("CUTOVER_LOG", "info")
        .output()
        .unwrap();
    let took = started.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    cutover.check_state();
    // Three attempts of 2 s each, with 2 s and 4 s of backoff between them.
    assert!(took < Duration::from_secs(45), "took {took:?}:\n{log}");
    assert!(proxy.stalled() >= 3, "{log}");
    let user = cutover.json(&["user", "get", USERS[0]]);
    assert_eq!(field(&user, "Status"), "Failed", "{user:#}");
    let error = field(&user, "ErrorSummary").as_str().unwrap_or_default();
    // The folder's EXAMINE and UID FETCH go in one round trip.
    assert!(
        error.contains("stopped answering during EXAMINE/UID FETCH after 2 s"),
        "{error}"
    );

    proxy.set_rules(Vec::new());
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_same_mailbox(&src, &dst, USERS[0]);
}

/// A pass stopped after the target refused a message: the user is Stopped with the skip
/// counted (ItemsSkipped is the skipped items the state holds, as after a finished pass),
/// and the next pass finishes with the same single skip.
#[test]
fn a_pass_stopped_after_a_skip_counts_it() {
    let user = USERS[0];
    let (src, dst) = start_pair(
        DovecotOptions {
            users: vec![user.to_string()],
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users: vec![user.to_string()],
            extra_config: REFUSE_OVER_1_MIB.to_string(),
            ..DovecotOptions::default()
        },
    );
    // Six chunks of small messages, and the newest (copied first) over the target's limit.
    for i in 0..300 {
        let m = format!(
            "From: <z@partner.test>\r\nSubject: small {i}\r\nMessage-ID: <s{i}@partner.test>\r\n\r\nbody {i}\r\n"
        );
        src.write_message(user, "INBOX", m.as_bytes(), &[], 1_700_000_000 + i);
    }
    let mut large = b"From: <z@partner.test>\r\nSubject: large\r\n\r\n".to_vec();
    large.resize(2 * 1024 * 1024, b'x');
    src.write_message(user, "INBOX", &large, &[], 1_700_001_000);
    src.index(user);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", user);
    cutover.start_batch(&[(user, "", "")], &["--large-item-limit", "1"]);

    let log = cutover.dir.path().join("run.log");
    let child = cutover
        .command(&["run", "--once"])
        .env("CUTOVER_TEST_CHUNK_DELAY_MS", "1000")
        .env("CUTOVER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("message skipped")
    {
        assert!(Instant::now() < deadline, "nothing was skipped");
        std::thread::sleep(Duration::from_millis(20));
    }
    cutover.ok(&["batch", "stop", "CutoverBatch"]);
    let status = wait_exit(child, &log, Duration::from_secs(20));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    cutover.check_state();
    let stats = cutover.json(&["user", "stats", user]);
    assert_eq!(field(&stats, "Status"), "Stopped", "{stats:#}\n{text}");
    assert!(
        field(&stats, "SyncedItemCount").as_u64().unwrap() < 300,
        "the pass was not stopped midway: {stats:#}"
    );
    assert_eq!(field(&stats, "SkippedItemCount"), 1, "{stats:#}");
    assert_eq!(field(&stats, "LargeItemCount"), 1, "{stats:#}");

    cutover.ok(&["batch", "start", "CutoverBatch"]);
    cutover.ok(&["run", "--once"]);
    let stats = cutover.json(&["user", "stats", user]);
    assert_eq!(field(&stats, "Status"), "Synced", "{stats:#}");
    assert_eq!(field(&stats, "SyncedItemCount"), 300, "{stats:#}");
    assert_eq!(field(&stats, "SkippedItemCount"), 1, "{stats:#}");
}
