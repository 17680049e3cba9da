//! No loss, no duplicate, whatever happens: the process killed with SIGKILL at named
//! points inside a mailbox's pass (not only between mailboxes), and connections cut in
//! the middle of a literal. After a restart the target must hold exactly the source.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{
    Cut, Cutover, CuttingProxy, Direction, Dovecot, assert_same_mailbox, field,
    fill_realistic_mailbox, pair, verify_independently,
};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

/// A source with two realistic mailboxes (one with a multi-megabyte message), an empty
/// target, and a started cutover batch.
fn started_batch(src_port: Option<u16>, dst_port: Option<u16>) -> (Dovecot, Dovecot, Cutover) {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 120, 11, true);
    fill_realistic_mailbox(&src, USERS[1], 80, 12, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect_ports(
        src_port.unwrap_or(src.port()),
        dst_port.unwrap_or(dst.port()),
        "authzid",
        USERS[0],
    );
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    (src, dst, cutover)
}

/// Runs `run --once` until the pass reaches `point` for the `nth` time, then kills it
/// with SIGKILL. Returns what the killed process had written to stderr.
pub(crate) fn kill_at(cutover: &Cutover, point: &str, nth: u32) -> String {
    let marker = cutover.dir.path().join("paused");
    let log = cutover.dir.path().join("killed.log");
    let mut child = cutover
        .command(&["run", "--once"])
        .env("CUTOVER_TEST_PAUSE_AT", format!("{point}:{nth}"))
        .env("CUTOVER_TEST_PAUSE_FILE", &marker)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn cutover");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !Path::new(&marker).exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "cutover ended ({status}) before reaching {point}:{nth}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{point}:{nth} never reached");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // Killed anywhere, the state still keeps its invariants.
    cutover.check_state();
    std::fs::read_to_string(&log).unwrap_or_default()
}

fn resume_and_check(src: &Dovecot, dst: &Dovecot, cutover: &Cutover) -> String {
    let out = cutover.run(&["run", "--once", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "resume failed:\n{stderr}");
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{stderr}");
    for u in USERS {
        assert_same_mailbox(src, dst, u);
    }
    verify_independently(src, dst, &USERS);
    // And nothing is left to do: a further pass copies nothing.
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
    for u in USERS {
        assert_same_mailbox(src, dst, u);
    }
    stderr
}

fn crash_case(point: &str, nth: u32) -> String {
    let (src, dst, cutover) = started_batch(None, None);
    kill_at(&cutover, point, nth);
    // The killed pass left users in Syncing; the store still says what was done.
    let user = cutover.json(&["user", "get", USERS[0]]);
    assert_ne!(field(&user, "Status"), "Synced");
    resume_and_check(&src, &dst, &cutover)
}

#[test]
fn killed_after_the_intents_are_written() {
    let log = crash_case("after-intents", 2);
    assert!(
        log.contains("to_copy_again"),
        "no intent was resolved:\n{log}"
    );
}

#[test]
fn killed_after_the_target_took_a_chunk_but_before_it_was_recorded() {
    let log = crash_case("after-append", 2);
    // The chunk is on the target: found there, not copied twice.
    assert!(
        log.lines()
            .any(|l| l.contains("messages left in flight") && !l.contains("found_on_target=0")),
        "nothing was found on the target:\n{log}"
    );
}

#[test]
fn killed_late_in_a_pass_after_a_record() {
    crash_case("after-record", 5);
}

#[test]
fn killed_twice_in_a_row() {
    let (src, dst, cutover) = started_batch(None, None);
    kill_at(&cutover, "after-append", 1);
    kill_at(&cutover, "after-append", 3);
    resume_and_check(&src, &dst, &cutover);
}

/// A migration through a proxy in front of the source or the target that cuts two of the
/// pass's connections, `after` bytes into each in `direction`. Connection 0 is the
/// `target set` / `endpoint new` test; 1 and 2 are the first pass's.
fn through_a_cutting_proxy(direction: Direction, after: [u64; 2], seed: u64) -> String {
    let (src, dst) = pair(&USERS, '/');
    fill_realistic_mailbox(&src, USERS[0], 60, seed, true);
    fill_realistic_mailbox(&src, USERS[1], 40, seed + 1, true);
    for u in USERS {
        src.index(u);
    }
    let upstream = match direction {
        Direction::ServerToClient => src.port(),
        Direction::ClientToServer => dst.port(),
    };
    let cuts = after
        .iter()
        .enumerate()
        .map(|(i, after_bytes)| Cut {
            connection: i + 1,
            direction,
            after_bytes: *after_bytes,
        })
        .collect();
    let proxy = CuttingProxy::start(upstream, cuts);
    let cutover = Cutover::new();
    match direction {
        Direction::ServerToClient => {
            cutover.connect_ports(proxy.port(), dst.port(), "authzid", USERS[0])
        }
        Direction::ClientToServer => {
            cutover.connect_ports(src.port(), proxy.port(), "authzid", USERS[0])
        }
    }
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    let log = resume_and_check(&src, &dst, &cutover);
    assert_eq!(proxy.cuts_done(), 2, "the proxy did not cut:\n{log}");
    assert!(log.contains("retrying"), "no retry logged:\n{log}");
    log
}

#[test]
fn a_source_connection_cut_mid_literal_is_retried_without_loss() {
    // 2.5 MB into a session is inside a message literal (the mailboxes hold 3-6 MB ones).
    through_a_cutting_proxy(Direction::ServerToClient, [2_500_000, 700_000], 21);
}

#[test]
fn a_target_connection_cut_mid_append_is_retried_without_loss() {
    through_a_cutting_proxy(Direction::ClientToServer, [3_000_000, 1_200_000], 31);
}

/// A folder recreated on the source (new UIDVALIDITY, same mail and one new message):
/// the pass records what it matched on the target, copies the new message, and is
/// killed before the folder's checkpoint. The next pass, seeing the old UIDVALIDITY
/// in the checkpoint again, must not copy the matched messages a second time.
#[test]
fn killed_after_a_rematch_is_applied_copies_nothing_twice() {
    let (src, dst, cutover) = started_batch(None, None);
    cutover.ok(&["run", "--once"]);
    let a = USERS[0];
    crate::support::recreate_folder(&src, a, "Sent");
    src.write_message(
        a,
        "Sent",
        &crate::support::simple_message(a, "after-recreate"),
        &[],
        1_790_000_300,
    );
    src.index(a);
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let killed = kill_at(&cutover, "after-record", 1);
    assert!(killed.contains("new UIDVALIDITY"), "{killed}");
    resume_and_check(&src, &dst, &cutover);
}

/// A link that drops the target connection again and again, each time after some mail
/// went through (as a server that ends sessions when their OAuth token expires): the pass
/// goes on past three failures in a row, since every attempt moved mail on, and ends
/// exact.
#[test]
fn a_pass_whose_connection_drops_again_and_again_goes_on_while_it_progresses() {
    let user = USERS[0];
    let (src, dst) = pair(&[user], '/');
    fill_realistic_mailbox(&src, user, 400, 41, false);
    src.index(user);
    // Connection 0 is `target set`'s test; 1 to 5, the pass's attempts, are cut.
    let cuts = (1..=5)
        .map(|connection| Cut {
            connection,
            direction: Direction::ClientToServer,
            after_bytes: 1_500_000,
        })
        .collect();
    let proxy = CuttingProxy::start(dst.port(), cuts);
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), proxy.port(), "authzid", user);
    cutover.start_batch(&[(user, "", "")], &[]);
    let out = cutover.run(&["run", "--once", "--format", "json"]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    // Three failed attempts in a row used to give the pass up.
    assert!(
        proxy.cuts_done() >= 3,
        "only {} cuts:\n{log}",
        proxy.cuts_done()
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_same_mailbox(&src, &dst, user);
}
