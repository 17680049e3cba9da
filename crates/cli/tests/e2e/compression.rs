//! COMPRESS=DEFLATE (RFC 4978) on both connections: the migration is still byte-exact.

use crate::support::{
    Cutover, assert_same_mailbox, field, fill_realistic_mailbox, pair, verify_independently,
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
    let out = cutover
        .command(&["run", "--once", "--format", "json"])
        .env("CUTOVER_LOG", "debug,sqlx=warn")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    cutover.check_state();
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    // Both sessions of both mailboxes.
    assert_eq!(log.matches("COMPRESS=DEFLATE active").count(), 4, "{log}");
    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &users);
}
