//! A target that allows two connections at once while the endpoint asks for eight
//! mailboxes at a time: the refused mailboxes show `Throttled` and wait, fewer run at once,
//! nothing fails for it, and the batch ends exact.

use std::time::{Duration, Instant};

use crate::support::{Cutover, LimitingProxy, diff, fill_realistic_mailbox, pair};

#[test]
fn a_target_that_refuses_connections_throttles_the_batch_and_fails_nothing() {
    let users: Vec<String> = (1..=8).map(|i| format!("user{i}@contoso.test")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let (src, dst) = pair(&names, '/');
    for (i, u) in names.iter().enumerate() {
        fill_realistic_mailbox(&src, u, 25, 80 + i as u64, false);
        src.index(u);
    }
    let proxy = LimitingProxy::start(dst.port(), 2);
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), proxy.port(), "authzid", names[0]);
    cutover.at_once(8);
    let rows: Vec<(&str, &str, &str)> = names.iter().map(|u| (*u, "", "")).collect();
    cutover.start_batch(&rows, &[]);

    // The run in the background; meanwhile the users' statistics, as an admin reads them.
    let mut run = cutover
        .command(&["run", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut throttled_seen = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    while run.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run did not end");
        for u in &names {
            let out = cutover
                .command(&["user", "stats", u, "--format", "json"])
                .output()
                .unwrap();
            let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if throttled_seen.is_none() && stats["StatusDetail"] == "Throttled" {
                assert!(stats["ThrottledUntilDateTime"].is_string(), "{stats:#}");
                throttled_seen = Some(stats);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    cutover.check_state();
    assert!(
        proxy.refused() > 0,
        "the proxy never refused: the test proves nothing"
    );
    assert!(proxy.most_at_once() <= 2);
    assert!(log.contains("throttled by the server; waiting"), "{log}");
    let seen = throttled_seen.unwrap_or_else(|| panic!("no user ever showed Throttled:\n{log}"));
    assert!(seen["Status"] == "Syncing", "{seen:#}");

    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(batch["Status"], "Synced", "{batch:#}\n{log}");
    assert_eq!(batch["FailedCount"], 0, "{batch:#}");
    for u in &names {
        let stats = cutover.json(&["user", "stats", u]);
        assert_eq!(stats["Status"], "Synced", "{stats:#}");
        assert!(stats["StatusDetail"].is_null(), "{stats:#}");
        let lines = diff(&src.mailbox(u), &dst.mailbox(u));
        assert!(lines.is_empty(), "{u}:\n{}", lines.join("\n"));
    }
}
