//! COMPRESS=DEFLATE (RFC 4978) on both connections: the migration is still byte-exact;
//! `auto` turns it on once a copy measured a slow link.

use std::time::Duration;

use crate::support::{
    Cutover, DelayingProxy, assert_same_mailbox, attachment_message, field, fill_realistic_mailbox,
    pair, verify_independently,
};

#[test]
fn a_migration_over_compress_deflate_is_byte_exact() {
    let users = ["alice@contoso.test", "bob@contoso.test"];
    let (src, dst) = pair(&users, '/');
    fill_realistic_mailbox(&src, users[0], 60, 51, true);
    fill_realistic_mailbox(&src, users[1], 30, 52, false);
    for u in users {
        src.index(u);
    }
    let cutover = Cutover::new();
    // On loopback `auto` would leave it off; ask for it.
    cutover.connect_with(
        src.port(),
        dst.port(),
        "authzid",
        users[0],
        &["--compression", "on"],
    );
    let endpoint = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert_eq!(field(&endpoint, "Compression"), "on");
    cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    let (run, log) = cutover.run_logged("debug,sqlx=warn", &[]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    // Both sessions of both mailboxes.
    assert_eq!(log.matches("COMPRESS=DEFLATE active").count(), 4, "{log}");
    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &users);
}

/// `--compression auto` on a slow link (a proxy pacing the source to 4 MB/s, loopback
/// taken for a network by `CUTOVER_LOOPBACK_IS_A_LINK`): the first mailbox is copied
/// plain and measures the link; the next ones ask for COMPRESS; every mailbox is exact.
#[test]
fn auto_turns_compress_on_once_a_copy_measured_a_slow_link() {
    let users = [
        "alice@contoso.test",
        "bob@contoso.test",
        "carol@contoso.test",
    ];
    let (src, dst) = pair(&users, '/');
    for (i, u) in users.iter().enumerate() {
        for n in 0..4u64 {
            let n = i as u64 * 10 + n;
            src.write_message(
                u,
                "INBOX",
                &attachment_message(u, n, 2_400_000),
                &["\\Seen"],
                1_717_400_000 + n as i64,
            );
        }
        src.index(u);
    }
    let link = DelayingProxy::start_paced(src.port(), Duration::from_millis(1), 4_000_000);
    let cutover = Cutover::new();
    cutover.connect_ports(link.port(), dst.port(), "authzid", users[0]);
    let endpoint = cutover.json(&["endpoint", "get", "CutoverEndpoint"]);
    assert_eq!(field(&endpoint, "Compression"), "auto");
    // One mailbox at a time: each copy is measured after the one before.
    cutover.at_once(1);
    cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    let out = cutover
        .command(&["run", "--once", "--format", "json"])
        .env("CUTOVER_LOG", "cutover_sync=debug,info")
        .env("CUTOVER_LOOPBACK_IS_A_LINK", "1")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for user in run.as_array().unwrap() {
        assert_eq!(field(user, "Status"), "Synced", "{run:#}");
    }
    let measured: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("a link measured") && l.contains("side=source"))
        .collect();
    assert_eq!(measured.len(), 3, "{log}");
    assert!(measured[0].contains("deflated=false"), "{log}");
    assert!(measured[1].contains("deflated=true"), "{log}");
    // The third copy runs in whichever mode moved mail faster (in a debug build our
    // own deflate is slow enough that plain often wins).
    let back_to_plain = log
        .lines()
        .any(|l| l.contains("side=source") && l.contains("the next connections stay uncompressed"));
    assert_eq!(
        measured[2].contains("deflated=false"),
        back_to_plain,
        "{log}"
    );
    let turned_on = log
        .lines()
        .filter(|l| l.contains("--compression auto: the next connections ask for COMPRESS=DEFLATE"))
        .count();
    // once for the source and once for the target (both behind loopback here)
    assert!(turned_on >= 1, "{log}");
    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &users);
}
