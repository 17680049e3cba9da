//! Memory follows the work, not the numbers a server sends. Proxies in front of real
//! Dovecot servers rewrite their replies with UID ranges of four billion: in the greeting
//! (an APPENDUID code nobody asked for), in QRESYNC's VANISHED, and in the APPENDUID of
//! each APPEND. The `cutover` process stays under 64 MB (its peak, VmHWM, read from
//! /proc while it runs), and the migration stays exact.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{
    Cutover, RewritingProxy, Rule, assert_same_mailbox, field, fill_realistic_mailbox, pair,
    verify_independently,
};

const USER: &str = "alice@contoso.test";
const LIMIT_KIB: u64 = 64 * 1024;

/// `run --once` (after `batch start` unless it is the first pass) with the process's
/// peak resident memory (KiB), read from /proc until it ends.
fn run_measured(cutover: &Cutover, first: bool) -> (serde_json::Value, String, u64) {
    if !first {
        cutover.ok(&["batch", "start", "CutoverBatch"]);
    }
    let log = cutover.dir.path().join("measured.log");
    let mut child = cutover
        .command(&["run", "--once", "--format", "json"])
        .env("CUTOVER_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    eprintln!("cutover run --once: peak RSS {peak} KiB");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(out.status.success(), "run failed:\n{text}");
    cutover.check_state();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    (json, text, peak)
}

/// The greeting with a four-billion APPENDUID range in place of its capabilities.
fn greeting_bomb() -> Rule {
    Rule::Rewrite(Arc::new(|line: &str| {
        (line.starts_with("* OK") && line.contains("ready"))
            .then(|| "* OK [APPENDUID 1 1:4294967295] Dovecot ready.".to_string())
    }))
}

#[test]
fn ranges_of_four_billion_uids_leave_the_process_small_and_the_copy_exact() {
    let (src, dst) = pair(&[USER], '/');
    fill_realistic_mailbox(&src, USER, 40, 21, false);
    src.index(USER);
    let (src_proxy, dst_proxy) = (
        RewritingProxy::start(src.port()),
        RewritingProxy::start(dst.port()),
    );
    let cutover = Cutover::new();
    cutover.connect_ports(src_proxy.port(), dst_proxy.port(), "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &[]);

    // The initial copy, both greetings bombed.
    src_proxy.set_rules(vec![greeting_bomb()]);
    dst_proxy.set_rules(vec![greeting_bomb()]);
    let (run, log, peak) = run_measured(&cutover, true);
    assert!(src_proxy.rewritten() > 0 && dst_proxy.rewritten() > 0);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert!(peak < LIMIT_KIB, "peak {peak} KiB:\n{log}");
    assert_same_mailbox(&src, &dst, USER);

    // Two expunges on the source, reported as "everything from 1 to 4294967295 vanished".
    let inbox = src.uids(USER, "INBOX");
    src.expunge(USER, "INBOX", inbox[0]);
    src.expunge(USER, "INBOX", inbox[1]);
    let seen = src_proxy.rewritten();
    src_proxy.set_rules(vec![Rule::rewrite_starting("* VANISHED", |_| {
        "* VANISHED (EARLIER) 1:4294967295".to_string()
    })]);
    let (run, log, peak) = run_measured(&cutover, false);
    assert!(
        src_proxy.rewritten() > seen,
        "no VANISHED was rewritten:\n{log}"
    );
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert!(peak < LIMIT_KIB, "peak {peak} KiB:\n{log}");
    // Not everything vanished: a complete listing proved which two did.
    assert_same_mailbox(&src, &dst, USER);

    // New mail, appended to a target that answers every APPEND with a huge APPENDUID.
    for i in 0..3 {
        let body = format!(
            "From: Zoe <zoe@partner.test>\r\nTo: {USER}\r\nSubject: after {i}\r\n\
             Message-ID: <after-{i}@partner.test>\r\n\r\nNew mail {i}.\r\n"
        );
        src.write_message(USER, "INBOX", body.as_bytes(), &[], 1_790_000_000 + i);
    }
    src.index(USER);
    src_proxy.set_rules(Vec::new());
    let seen = dst_proxy.rewritten();
    dst_proxy.set_rules(vec![Rule::Rewrite(Arc::new(|line: &str| {
        let at = line.find("[APPENDUID ")?;
        let validity = line[at + 11..].split(' ').next()?;
        Some(format!(
            "{}[APPENDUID {validity} 1:4294967295] Append completed.",
            &line[..at]
        ))
    }))]);
    let (run, log, peak) = run_measured(&cutover, false);
    assert!(
        dst_proxy.rewritten() > seen,
        "no APPENDUID was rewritten:\n{log}"
    );
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(field(&run[0], "ItemsCopied"), 3, "{run:#}\n{log}");
    assert!(peak < LIMIT_KIB, "peak {peak} KiB:\n{log}");
    assert_same_mailbox(&src, &dst, USER);
    verify_independently(&src, &dst, &[USER]);
}
