//! Leases between workers: a mailbox leased by a live worker of another machine is left
//! alone, and taken over once that worker's lease has expired (it died, or lost touch).

use crate::support::{Cutover, assert_same_mailbox, field, fill_realistic_mailbox, pair};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

#[test]
fn a_mailbox_leased_elsewhere_waits_for_the_lease_to_expire_then_is_taken_over() {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 30, 81, false);
    fill_realistic_mailbox(&src, USERS[1], 30, 82, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    cutover.accept_domains(&USERS);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);

    // A worker of another machine holds alice's mailbox for a few seconds more (as one
    // that died a moment ago would: it renews no more).
    let expires = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 4000)
        .to_string();
    // Its round is open: alice's job is held, bob's is free.
    cutover.state_sql(
        "INSERT INTO rounds (batch, incremental, started_at) \
         VALUES ('CutoverBatch', 0, '2026-01-01T00:00:00Z')",
        &[],
    );
    cutover.state_sql(
        "INSERT INTO jobs (kind, batch, subject, position, run_at, lease_owner, leased_at, \
         heartbeat_at, lease_expires_at) \
         VALUES ('mailbox-pass', 'CutoverBatch', 'alice@contoso.test', 0, 0, \
         'serve@elsewhere.invalid/4242/1', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?)",
        &[&expires],
    );
    cutover.state_sql(
        "INSERT INTO jobs (kind, batch, subject, position, run_at) \
         VALUES ('mailbox-pass', 'CutoverBatch', 'bob@contoso.test', 1, 0)",
        &[],
    );

    // Bob's mailbox is done; alice's is left to its holder, so the pass stays open.
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "UsersProcessed"), 1, "{run:#}");
    assert_same_mailbox(&src, &dst, USERS[1]);
    assert_eq!(dst.mailbox(USERS[0]).message_count(), 0);
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Syncing", "{batch:#}");
    assert_eq!(cutover.leases(), 1, "the other worker's lease stays");

    // Once it has expired, the next run takes the mailbox and closes the pass (bob, done
    // this round already, is not run again).
    while cutover.state_sql(
        "SELECT lease_expires_at <= CAST(strftime('%s','now') AS INTEGER) * 1000 - 1000 \
         FROM jobs WHERE lease_owner IS NOT NULL",
        &[],
    ) != "1"
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "UsersProcessed"), 1, "{run:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    assert_eq!(cutover.leases(), 0);
}

#[test]
fn a_batch_whose_worker_was_killed_stops_at_once_and_resumes_without_loss() {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 120, 83, true);
    fill_realistic_mailbox(&src, USERS[1], 80, 84, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    cutover.accept_domains(&USERS);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    crate::crash::kill_at(&cutover, "after-record", 3);
    // The killed run left its users saying they sync, and its leases behind.
    let users = cutover.json(&["user", "get"]);
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["Status"] == "Syncing"),
        "{users:#}"
    );
    assert!(cutover.leases() > 0);

    // No live worker holds them: the stop is immediate, not Stopping for ever.
    let stopped = cutover.json(&["batch", "stop", "CutoverBatch"]);
    assert_eq!(field(&stopped, "Status"), "Stopped", "{stopped:#}");
    for u in cutover.json(&["user", "get"]).as_array().unwrap() {
        assert_eq!(field(u, "Status"), "Stopped", "{u:#}");
    }

    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    assert_eq!(cutover.leases(), 0);
    // Removed (the MX switch is not part of this test), with nothing left running.
    cutover.ok(&["batch", "remove", "CutoverBatch", "--force"]);
}
