//! The biggest mailboxes first: with more mailboxes than run at once, the initial sync
//! sizes every source mailbox (one login, one pipelined STATUS with SIZE) and starts the
//! largest first, so the batch does not wait on a big mailbox that started last. The
//! sizes show as each user's source counts before its first pass.

use crate::support::{Cutover, diff, fill_realistic_mailbox, pair};

const SMALL: &str = "small@contoso.test";
const BIG: &str = "big@contoso.test";
const MEDIUM: &str = "medium@contoso.test";

#[test]
fn the_initial_sync_starts_the_biggest_mailbox_first() {
    let users = [SMALL, BIG, MEDIUM];
    let (src, dst) = pair(&users, '/');
    fill_realistic_mailbox(&src, SMALL, 4, 71, false);
    fill_realistic_mailbox(&src, BIG, 60, 72, false);
    fill_realistic_mailbox(&src, MEDIUM, 20, 73, false);
    for u in users {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", SMALL);
    // One mailbox at a time: the order is the order of the passes.
    cutover.at_once(1);
    cutover.start_batch(&users.map(|u| (u, "", "")), &[]);
    let out = cutover.run(&["run", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("source mailboxes sized"), "{log}");

    // Each user's first applied step, in the order of the log.
    let mut order: Vec<&str> = Vec::new();
    for line in log.lines().filter(|l| l.contains("step applied")) {
        for u in users {
            if line.contains(u) && !order.contains(&u) {
                order.push(u);
            }
        }
    }
    assert_eq!(order, [BIG, MEDIUM, SMALL], "{log}");

    for u in users {
        let lines = diff(&src.mailbox(u), &dst.mailbox(u));
        assert!(lines.is_empty(), "{u}:\n{}", lines.join("\n"));
        let stats = cutover.json(&["user", "stats", u]);
        let bytes: usize = src
            .mailbox(u)
            .folders
            .values()
            .flatten()
            .map(|m| m.body.len())
            .sum();
        assert_eq!(
            stats["TotalBytesInSourceMailbox"], bytes as u64,
            "{stats:#}"
        );
        assert_eq!(stats["PercentageComplete"], 100, "{stats:#}");
    }
}
