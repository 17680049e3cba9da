//! A missing answer is never taken for a deletion. The source sits behind a proxy that
//! loses chosen reply lines (LIST, metadata FETCH, VANISHED, SEARCH, EXISTS, a message's
//! body) during an incremental pass: the pass removes nothing from the target, and the
//! next clean pass brings the target to exactly the source, the messages whose lines were
//! lost included. And a pass that would remove much of a mailbox waits for the admin.

use crate::support::{
    Cutover, Dovecot, RewritingProxy, Rule, assert_same_mailbox, field, fill_realistic_mailbox,
    pair_with_source_capability, verify_independently,
};

const USER: &str = "alice@contoso.test";

/// Dovecot 2.3's post-login capabilities without QRESYNC (CONDSTORE kept).
const NO_QRESYNC: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT MULTIAPPEND \
    UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE ESEARCH SEARCHRES \
    WITHIN LIST-STATUS BINARY MOVE LITERAL+ SPECIAL-USE";
/// ... and without CONDSTORE either: every pass lists every folder whole.
const NO_CONDSTORE: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT MULTIAPPEND \
    UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH SEARCHRES WITHIN \
    LIST-STATUS BINARY MOVE LITERAL+ SPECIAL-USE";

struct Setup {
    src: Dovecot,
    dst: Dovecot,
    proxy: RewritingProxy,
    cutover: Cutover,
}

/// A source (behind the proxy) and a target, alice's 50 messages copied by a first pass.
fn synced(capability: &str) -> Setup {
    let (src, dst) = pair_with_source_capability(&[USER], '/', capability);
    fill_realistic_mailbox(&src, USER, 50, 7, false);
    src.index(USER);
    let proxy = RewritingProxy::start(src.port());
    let cutover = Cutover::new();
    cutover.connect_ports(proxy.port(), dst.port(), "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_same_mailbox(&src, &dst, USER);
    Setup {
        src,
        dst,
        proxy,
        cutover,
    }
}

fn message(subject: &str) -> Vec<u8> {
    crate::support::simple_message(USER, subject)
}

/// Messages per folder on a server.
fn counts(server: &Dovecot) -> Vec<(String, usize)> {
    server
        .mailbox(USER)
        .folders
        .into_iter()
        .map(|(f, m)| (f, m.len()))
        .collect()
}

/// New mail in INBOX and in Archive/2024, and (with `expunge`) two INBOX messages
/// expunged: returns the UIDs of the new INBOX messages.
fn change_the_source(src: &Dovecot, expunge: bool) -> Vec<u32> {
    let before = src.uids(USER, "INBOX");
    for i in 0..3 {
        src.write_message(
            USER,
            "INBOX",
            &message(&format!("new-{i}")),
            &[],
            1_790_000_000 + i,
        );
    }
    src.write_message(
        USER,
        "Archive/2024",
        &message("new-archived"),
        &["\\Seen"],
        1_720_000_000,
    );
    src.index(USER);
    if expunge {
        src.expunge(USER, "INBOX", before[0]);
        src.expunge(USER, "INBOX", before[1]);
    }
    let after = src.uids(USER, "INBOX");
    after.into_iter().filter(|u| !before.contains(u)).collect()
}

/// The pass with lost lines removed nothing: every folder of the target holds at least
/// what it held before, and still every message it had.
fn nothing_removed(dst: &Dovecot, before: &crate::support::MailboxSnapshot) {
    let now = dst.mailbox(USER);
    for (folder, messages) in &before.folders {
        let there = now
            .folders
            .get(folder)
            .unwrap_or_else(|| panic!("{folder} was removed from the target on a lost reply line"));
        for m in messages {
            assert!(
                there.iter().any(|t| t.body == m.body),
                "a message of {folder} was removed from the target on a lost reply line"
            );
        }
    }
}

/// Then a clean pass: the target is exactly the source, checked twice (doveadm and the
/// benchmark kit's verifier).
fn a_clean_pass_makes_it_exact(s: &Setup) {
    s.proxy.set_rules(Vec::new());
    let (run, log) = s.cutover.pass("info");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_same_mailbox(&s.src, &s.dst, USER);
    verify_independently(&s.src, &s.dst, &[USER]);
}

#[test]
fn lost_list_fetch_and_vanished_lines_remove_nothing_with_qresync() {
    let s = synced("");
    let new = change_the_source(&s.src, true);
    let before = s.dst.mailbox(USER);
    s.proxy.set_rules(vec![
        // A folder missing from LIST (it holds only migrated mail, so it would go).
        Rule::drop_containing(&["* LIST", "Archive/2024"]),
        // Every VANISHED report, and the metadata line of a new message.
        Rule::drop_containing(&["* VANISHED"]),
        Rule::drop_containing(&[" FETCH (", &format!("UID {} ", new[0]), "RFC822.SIZE"]),
    ]);
    let (run, log) = s.cutover.pass("info");
    assert!(s.proxy.dropped() >= 3, "the proxy lost no line:\n{log}");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    nothing_removed(&s.dst, &before);
    assert!(
        log.contains("do not add up") || log.contains("fewer messages"),
        "{log}"
    );
    assert!(log.contains("not known to be gone"), "{log}");
    a_clean_pass_makes_it_exact(&s);
}

#[test]
fn a_lost_search_reply_and_an_unanswered_message_remove_and_lose_nothing_with_condstore() {
    let s = synced(NO_QRESYNC);
    // No real expunge: a lost SEARCH reply must not read as "everything is gone" (a
    // complete listing would prove real expunges, and they would rightly go).
    let new = change_the_source(&s.src, false);
    let before = s.dst.mailbox(USER);
    s.proxy.set_rules(vec![
        // UID SEARCH ALL answers nothing: read as "no message is there any more" by an
        // engine that trusts it.
        Rule::drop_containing(&["* SEARCH"]),
        Rule::drop_containing(&["* ESEARCH"]),
        // And a new message's body never comes.
        Rule::drop_containing(&[" FETCH (", &format!("UID {} ", new[1]), "BODY[]"]),
    ]);
    let (run, log) = s.cutover.pass("info");
    assert!(s.proxy.dropped() >= 1, "the proxy lost no line:\n{log}");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    nothing_removed(&s.dst, &before);
    a_clean_pass_makes_it_exact(&s);
}

#[test]
fn an_examine_without_exists_and_lost_fetch_lines_remove_nothing_without_condstore() {
    let s = synced(NO_CONDSTORE);
    change_the_source(&s.src, true);
    let before = s.dst.mailbox(USER);
    s.proxy.set_rules(vec![
        // The count of INBOX (50 messages or so) never arrives...
        Rule::drop_containing(&[" EXISTS"]),
        // ... and a few metadata lines of Sent are lost.
        Rule::drop_containing(&["* 1 FETCH (", "RFC822.SIZE"]),
        Rule::drop_containing(&["* 2 FETCH (", "RFC822.SIZE"]),
    ]);
    let (run, log) = s.cutover.pass("info");
    assert!(s.proxy.dropped() >= 3, "the proxy lost no line:\n{log}");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    nothing_removed(&s.dst, &before);
    a_clean_pass_makes_it_exact(&s);
}

#[test]
fn a_pass_that_would_remove_a_third_of_a_mailbox_waits_for_approval() {
    let s = synced("");
    let before = counts(&s.dst);
    // 15 of 50 messages go on the source, over several folders: a real removal, but a
    // large one (more than the default 10 %).
    let mut expunged = 0;
    for (folder, messages) in s.src.mailbox(USER).folders {
        if messages.is_empty() {
            continue; // \Noselect parents have no UIDs to ask for
        }
        for uid in s
            .src
            .uids(USER, &folder)
            .into_iter()
            .take(messages.len() / 2 + 1)
        {
            if expunged < 15 {
                s.src.expunge(USER, &folder, uid);
                expunged += 1;
            }
        }
    }
    assert_eq!(expunged, 15);
    let (run, log) = s.cutover.pass("info");
    assert_eq!(
        field(&run[0], "Status"),
        "SyncedWithErrors",
        "{run:#}\n{log}"
    );
    assert_eq!(counts(&s.dst), before, "removed before approval:\n{log}");
    let user = s.cutover.json(&["user", "get", USER]);
    assert_eq!(field(&user, "RemovalsHeld"), 15, "{user:#}");
    assert!(
        field(&user, "RemovalsHeldDetail")
            .as_str()
            .unwrap()
            .contains("15 of 50 migrated messages"),
        "{user:#}"
    );
    let batch = s.cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "RemovalsHeldCount"), 1, "{batch:#}");

    // Another pass without approval: still held, still nothing removed.
    let (run, _) = s.cutover.pass("info");
    assert_eq!(field(&run[0], "Status"), "SyncedWithErrors", "{run:#}");
    assert_eq!(counts(&s.dst), before);

    // A user outside the batch cannot be approved; alice can.
    let refused = s.cutover.fails(&[
        "batch",
        "approve-removals",
        "CutoverBatch",
        "--user",
        "nobody@contoso.test",
    ]);
    assert!(refused.contains("nobody@contoso.test"), "{refused}");
    s.cutover.ok(&["batch", "approve-removals", "CutoverBatch"]);
    let (run, log) = s.cutover.pass("info");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    let user = s.cutover.json(&["user", "get", USER]);
    assert_eq!(field(&user, "RemovalsHeld"), 0, "{user:#}");
    assert_same_mailbox(&s.src, &s.dst, USER);
    verify_independently(&s.src, &s.dst, &[USER]);

    // The approval was spent: the next large removal waits again.
    let mut again = 0;
    for (folder, messages) in s.src.mailbox(USER).folders {
        if messages.is_empty() {
            continue;
        }
        for uid in s.src.uids(USER, &folder) {
            if again < 12 {
                s.src.expunge(USER, &folder, uid);
                again += 1;
            }
        }
    }
    let (run, _) = s.cutover.pass("info");
    assert_eq!(field(&run[0], "Status"), "SyncedWithErrors", "{run:#}");
}
