//! A cutover whose state lives in PostgreSQL (`--state postgres://...` with `--key-file`)
//! between two real Dovecot servers: the same commands, the same result as on SQLite, and
//! the database's password never shown.

use std::os::unix::fs::PermissionsExt;

use crate::support::postgres::PASSWORD;
use crate::support::{
    Cutover, assert_same_mailbox, field, fill_realistic_mailbox, pair, verify_independently,
};
use crate::workers::three_workers_one_killed;

#[test]
fn a_cutover_with_its_state_in_postgres_moves_every_mailbox() {
    let users = ["alice@contoso.test", "bob@contoso.test"];
    let (src, dst) = pair(&users, '/');
    fill_realistic_mailbox(&src, users[0], 40, 11, true);
    fill_realistic_mailbox(&src, users[1], 25, 12, false);
    for u in users {
        src.index(u);
    }
    let total: usize = users.iter().map(|u| src.mailbox(u).message_count()).sum();

    let cutover = Cutover::on_postgres();
    let url = cutover.postgres.clone().unwrap();
    assert!(url.contains(PASSWORD), "the test URL carries a password");
    // `endpoint new` (and `target set`), `batch new`, then one pass: `run` checks the
    // state afterwards with `cutover state check`.
    cutover.connect(&src, &dst, "authzid", users[0]);
    let created = cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    assert_eq!(field(&created, "Status"), "Syncing");
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "ItemsCopied"), total as u64);
    for u in users {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &users);
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "SyncedCount"), 2);
    assert_eq!(field(&batch, "ItemsSynced"), total as u64);
    assert_eq!(
        cutover.ok(&["state", "check"]).trim(),
        "state is consistent"
    );
    let dump = cutover.ok(&["state", "dump"]);
    assert!(dump.contains("users (2)"), "{dump}");
    assert!(
        !dump.contains("adminpass") && !dump.contains(PASSWORD),
        "{dump}"
    );

    // The key file was made beside nothing of the database: where --key-file said, 0600.
    let mode = std::fs::metadata(cutover.key_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second pass copies nothing twice.
    let before: Vec<_> = users.iter().map(|u| dst.mailbox(u)).collect();
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
    for (u, b) in users.iter().zip(&before) {
        assert_eq!(
            &dst.mailbox(u),
            b,
            "{u}: the second pass changed the target"
        );
    }
}

#[test]
fn a_postgres_state_needs_a_key_file_and_never_shows_its_password() {
    let cutover = Cutover::on_postgres();
    let url = cutover.postgres.clone().unwrap();
    // No key file: refused, naming the option, before anything is opened.
    let out = cutover
        .command(&["batch", "get"])
        .env_remove("CUTOVER_KEY_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--key-file") && stderr.contains("CUTOVER_KEY_FILE"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(PASSWORD) && stderr.contains("postgres:<redacted>@127.0.0.1"),
        "{stderr}"
    );
    // A database that does not exist: the error names the URL, without its password.
    let missing = url.rsplit_once('/').unwrap().0.to_string() + "/no_such_database";
    let out = cutover
        .command(&["batch", "get"])
        .env("CUTOVER_STATE", &missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no_such_database") && !stderr.contains(PASSWORD),
        "{stderr}"
    );
    // A wrong password is refused, and not shown either.
    let wrong = url.replace(PASSWORD, "not-the-password");
    let out = cutover
        .command(&["endpoint", "get"])
        .env("CUTOVER_STATE", &wrong)
        .arg("-vv")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    // The right one opens it, in the URL or (better) in PGPASSWORD.
    cutover.ok(&["endpoint", "get"]);
    let out = cutover
        .command(&["endpoint", "get"])
        .env("CUTOVER_STATE", url.replace(&format!(":{PASSWORD}@"), "@"))
        .env("PGPASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nor does `--help` show it (clap would print the environment's value).
    let help = cutover.command(&["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("CUTOVER_STATE") && !help.contains(PASSWORD),
        "{help}"
    );
}

/// `cutover worker` on three processes sharing a PostgreSQL state: the batch's limit holds
/// across them (claims under the batch's advisory lock), a worker killed mid-mailbox loses
/// its job to another once its lease expired, nothing is saved twice on the target.
#[test]
fn three_workers_on_a_postgres_state_share_a_batch_and_one_killed_is_taken_over() {
    three_workers_one_killed(&Cutover::on_postgres());
}
