//! A distant source (a proxy that delays every byte, in front of a real Dovecot): one
//! mailbox's copy runs on several connections per side, its folders shared out among
//! them, and the target still holds exactly the source; a connection the server turns
//! away leaves its share to the others; SIGKILL in the middle of a copy on several
//! connections and a re-run copy nothing twice.

use std::time::Duration;

use crate::crash::kill_at;
use crate::support::{
    Cutover, DelayingProxy, Dovecot, assert_same_mailbox, attachment_message, field,
    fill_realistic_mailbox, pair, verify_independently,
};

const USER: &str = "alice@contoso.test";

/// A realistic mailbox plus 40 MB of attachments over four folders: big enough for the
/// copy to take more than one connection on a distant link.
fn source_with_a_big_mailbox() -> (Dovecot, Dovecot) {
    let (src, dst) = pair(&[USER], '/');
    fill_realistic_mailbox(&src, USER, 80, 41, false);
    for n in 0..16u64 {
        let folder = ["INBOX", "Sent", "Archive/2024", "Projects"][n as usize % 4];
        src.write_message(
            USER,
            folder,
            &attachment_message(USER, n, 2_500_000),
            &["\\Seen"],
            1_717_400_000 + n as i64,
        );
    }
    src.index(USER);
    (src, dst)
}

fn batch_through(proxy: &DelayingProxy, dst: &Dovecot) -> Cutover {
    let cutover = Cutover::new();
    cutover.connect_ports(proxy.port(), dst.port(), "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &[]);
    cutover
}

fn run_once(cutover: &Cutover) -> String {
    let out = cutover
        .command(&["run", "--once", "--format", "json"])
        .env("CUTOVER_LOG", "cutover_sync=debug,info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    log
}

/// The number of connections the copy of `USER` ran on, from its log line.
fn lanes_in(log: &str) -> Option<usize> {
    let line = log
        .lines()
        .find(|l| l.contains("copying on several connections"))?;
    let lanes = line.split("lanes=").nth(1)?.split_whitespace().next()?;
    lanes.parse().ok()
}

#[test]
fn a_distant_mailbox_is_copied_on_several_connections_and_is_exact() {
    let (src, dst) = source_with_a_big_mailbox();
    // 20 ms each way: a 40 ms round trip.
    let proxy = DelayingProxy::start(src.port(), Duration::from_millis(20), None);
    let cutover = batch_through(&proxy, &dst);
    let log = run_once(&cutover);
    cutover.check_state();
    let lanes = lanes_in(&log).unwrap_or_else(|| panic!("the copy used one connection:\n{log}"));
    assert!(lanes >= 2, "{log}");
    // The server saw them: the pass's own connection and the lanes', at once.
    assert!(
        proxy.most_at_once() >= lanes,
        "{} at once",
        proxy.most_at_once()
    );
    assert_eq!(log.matches("copy lane done").count(), lanes, "{log}");
    assert_same_mailbox(&src, &dst, USER);
    verify_independently(&src, &dst, &[USER]);
    // Nothing left: a further pass copies nothing.
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
    assert_same_mailbox(&src, &dst, USER);
}

#[test]
fn a_connection_the_server_turns_away_leaves_its_share_to_the_others() {
    let (src, dst) = source_with_a_big_mailbox();
    // One connection at once: the pass's own; the lane's is refused.
    let proxy = DelayingProxy::start(src.port(), Duration::from_millis(20), Some(1));
    let cutover = batch_through(&proxy, &dst);
    let log = run_once(&cutover);
    cutover.check_state();
    assert!(
        proxy.refused() >= 1,
        "no connection was turned away:\n{log}"
    );
    assert!(
        log.contains("cannot open one more connection for this mailbox"),
        "{log}"
    );
    assert_eq!(lanes_in(&log), None, "{log}");
    assert_eq!(proxy.most_at_once(), 1);
    assert_same_mailbox(&src, &dst, USER);
    verify_independently(&src, &dst, &[USER]);
}

#[test]
fn killed_while_several_connections_copy_and_run_again_copies_nothing_twice() {
    let (src, dst) = source_with_a_big_mailbox();
    let proxy = DelayingProxy::start(src.port(), Duration::from_millis(20), None);
    let cutover = batch_through(&proxy, &dst);
    // The third chunk appended of the mailbox, by whichever lane: the others are mid-way.
    let killed = kill_at(&cutover, "after-append", 3);
    assert!(
        killed.contains("copying on several connections"),
        "the killed pass used one connection:\n{killed}"
    );
    let log = run_once(&cutover);
    cutover.check_state();
    assert_same_mailbox(&src, &dst, USER);
    verify_independently(&src, &dst, &[USER]);
    // The target's own log: every message saved once (Dovecot's mail_log).
    let saves = dst
        .log()
        .lines()
        .filter(|l| l.contains(" save: box="))
        .count();
    assert_eq!(
        saves,
        src.mailbox(USER).message_count(),
        "the target saved a message more than once (or missed one)\n{log}"
    );
}
