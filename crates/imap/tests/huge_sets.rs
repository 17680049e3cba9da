//! UID sets a server sends stay ranges: `1:4294967295` in a greeting, a VANISHED reply
//! and an APPENDUID code costs its text, not four billion UIDs. Alone in its binary so
//! that the peak memory it reads is its own.

mod support;

use std::time::{Duration, Instant};

use cutover_imap::{AppendMessage, MailboxName, Session, UidSet};
use support::{send, serve};

/// Peak resident memory of the process, in KiB (VmHWM), after resetting the peak to
/// the current size where the kernel allows it.
fn peak_kib(reset: bool) -> u64 {
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test]
async fn four_billion_uids_cost_a_few_bytes() {
    let script = "* OK [APPENDUID 1 1:4294967295] hi\r\n\
                  * CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS CONDSTORE QRESYNC\r\n\
                  C1 OK done\r\n\
                  * VANISHED (EARLIER) 1:4294967295\r\n\
                  * OK [COPYUID 9 1:4294967295 1:4294967295] unsolicited\r\n\
                  C2 OK done\r\n\
                  C3 OK [APPENDUID 7 1:4294967295] appended\r\n\
                  * SEARCH 4294967295 1 2 3 5\r\n\
                  C4 OK done\r\n";
    let before = peak_kib(true);
    let started = Instant::now();

    let mut s = Session::from_stream(serve(vec![send(script)]))
        .await
        .unwrap();
    assert!(s.capabilities().has("QRESYNC"));
    let changes = s.fetch_changed("1:10", 5, true).await.unwrap();
    assert_eq!(changes.vanished.count(), 4_294_967_295);
    assert_eq!(changes.vanished, "1:4294967295".parse::<UidSet>().unwrap());
    assert_eq!(
        changes.vanished.intersect(&[2, 40, 4_000_000_000]),
        [2, 40, 4_000_000_000]
    );
    let appended = s
        .append(
            &MailboxName::from_wire(b"INBOX".to_vec()),
            &[AppendMessage {
                flags: &[],
                internal_date: None,
                body: b"abc".into(),
            }],
        )
        .await
        .unwrap();
    // One message, four billion UIDs: the UID is unknown, not guessed.
    assert_eq!(appended.uid_validity, Some(7));
    assert_eq!(appended.uids, [None]);
    let all = s.search_all_uids().await.unwrap();
    assert_eq!(all.to_string(), "1:3,5,4294967295");
    assert_eq!(all.count(), 5);

    let elapsed = started.elapsed();
    let grown = peak_kib(false).saturating_sub(before);
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(grown < 16 * 1024, "peak memory grew by {grown} KiB");
}
