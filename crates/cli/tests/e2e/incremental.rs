//! Incremental sync: after the initial copy, the source changes (new mail in several
//! folders, flag changes, expunges, folders created, renamed and deleted, a folder
//! recreated with a new UIDVALIDITY) and one pass brings the target along, with and
//! without CONDSTORE/QRESYNC on the source; subscriptions move as changes, as flags do.
//! Checked from the target side by doveadm.

use crate::support::{
    Cutover, Dovecot, assert_same_mailbox, assert_same_subscriptions, diff, field,
    fill_realistic_mailbox, pair_with_source_capability, verify_independently,
};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

/// Dovecot 2.3's post-login capabilities without CONDSTORE and QRESYNC.
const NO_CONDSTORE: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT MULTIAPPEND \
    UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH SEARCHRES WITHIN \
    LIST-STATUS BINARY MOVE LITERAL+ SPECIAL-USE";

/// Dovecot 2.3's post-login capabilities without LIST-STATUS: the folders' STATUS is asked
/// after the listing.
const NO_LIST_STATUS: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT MULTIAPPEND \
    UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH \
    SEARCHRES WITHIN BINARY MOVE LITERAL+ SPECIAL-USE";

fn synced_pair(capability: &str) -> (Dovecot, Dovecot, Cutover) {
    let (src, dst) = pair_with_source_capability(&USERS, '/', capability);
    fill_realistic_mailbox(&src, USERS[0], 50, 41, false);
    fill_realistic_mailbox(&src, USERS[1], 30, 42, false);
    for u in USERS {
        src.index(u);
    }
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USERS[0]);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    (src, dst, cutover)
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Zoe <zoe@partner.test>\r\nTo: alice@contoso.test\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@partner.test>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\n\
         Body of {subject}, d\u{e9}j\u{e0} vu.\r\n"
    )
    .into_bytes()
}

fn mutate(src: &Dovecot) {
    let a = USERS[0];
    // New mail in several folders, and a new folder with mail.
    src.write_message(
        a,
        "INBOX",
        &message("new-in-inbox"),
        &["$Label2"],
        1_790_000_000,
    );
    src.write_message(
        a,
        "Archive/2024",
        &message("new-in-archive"),
        &["\\Seen"],
        1_720_000_000,
    );
    src.write_message(
        a,
        "Brand New/Sub",
        &message("new-folder"),
        &[],
        1_790_000_100,
    );
    src.subscribe(a, "Brand New/Sub");
    src.write_message(
        USERS[1],
        "Sent",
        &message("bob-sent"),
        &["\\Seen"],
        1_790_000_200,
    );
    src.index(a);
    src.index(USERS[1]);
    // Flags changed both ways.
    let inbox = src.uids(a, "INBOX");
    src.change_flags(a, "INBOX", inbox[0], true, &["\\Flagged", "$Label1"]);
    src.change_flags(a, "INBOX", inbox[1], false, &["\\Seen"]);
    src.change_flags(a, "Sent", src.uids(a, "Sent")[0], true, &["\\Answered"]);
    // Expunges.
    src.expunge(a, "INBOX", inbox[2]);
    src.expunge(a, "Sent", src.uids(a, "Sent")[1]);
    // A rename of a folder with mail, of a nested one, and a deletion.
    src.rename_folder(a, "R&D", "Research");
    src.rename_folder(a, "Projects/a/b", "Projects/b");
    src.delete_folder(a, "Archive/2025");
}

fn follows_the_source(capability: &str) -> String {
    let (src, dst, cutover) = synced_pair(capability);
    mutate(&src);
    let (run, log) = cutover.pass("debug,sqlx=warn");
    assert!(log.contains("folder renamed on the source"), "{log}");
    assert_eq!(field(&run[0], "ItemsCopied"), 4, "{run:#}\n{log}");
    // A whole folder with mail went: the brake holds every removal of alice's pass until
    // the admin approves; the copies, flags and renames went ahead.
    assert_eq!(
        field(&run[0], "Status"),
        "SyncedWithErrors",
        "{run:#}\n{log}"
    );
    let alice = cutover.json(&["user", "get", USERS[0]]);
    assert_eq!(field(&alice, "RemovalsHeld"), 4, "{alice:#}");
    let detail = alice["RemovalsHeldDetail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the folder 'Archive/2025' with 2 messages"),
        "{alice:#}"
    );
    let held = dst.mailbox(USERS[0]);
    assert!(
        held.selectable.contains("Archive/2025"),
        "deleted before approval"
    );
    assert_eq!(
        held.folders["INBOX"].len(),
        src.mailbox(USERS[0]).folders["INBOX"].len() + 1,
        "the INBOX expunge was applied before approval"
    );
    assert_same_mailbox(&src, &dst, USERS[1]);
    cutover.ok(&[
        "batch",
        "approve-removals",
        "CutoverBatch",
        "--user",
        USERS[0],
    ]);
    let (run, log) = cutover.pass("debug,sqlx=warn");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(field(&run[0], "ItemsCopied"), 0, "{run:#}\n{log}");
    let alice = cutover.json(&["user", "get", USERS[0]]);
    assert_eq!(field(&alice, "RemovalsHeld"), 0, "{alice:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    let target = dst.mailbox(USERS[0]);
    for gone in ["R&D", "Projects/a/b", "Archive/2025"] {
        assert!(
            !target.selectable.contains(gone),
            "{gone} is still on the target"
        );
    }
    assert!(target.subscribed.contains("Brand New/Sub"));
    verify_independently(&src, &dst, &USERS);

    // Nothing changed since: the passes copy nothing and leave the target as it is. The
    // first looks at both servers (the last one deleted target folders); the second may
    // end at a glance at the source.
    let before: Vec<_> = USERS.iter().map(|u| dst.mailbox(u)).collect();
    let mut quiet_log = String::new();
    for _ in 0..2 {
        let (again, log) = cutover.pass("debug,sqlx=warn");
        assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
        for (u, b) in USERS.iter().zip(&before) {
            assert_eq!(
                &dst.mailbox(u),
                b,
                "{u}: a no-change pass changed the target"
            );
        }
        quiet_log = log;
    }
    quiet_log
}

fn commands_sent(log: &str, command: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("C: ") && l.contains(&format!(" {command} ")))
        .count()
}

#[test]
fn a_pass_follows_every_change_with_condstore_and_qresync() {
    let log = follows_the_source("");
    // With CONDSTORE a mailbox where nothing changed costs a glance at the source: LIST,
    // LSUB and NAMESPACE in one round trip, the LIST bringing every folder's STATUS
    // (Dovecot has LIST-STATUS); no STATUS of its own, no EXAMINE, no FETCH, no target.
    assert_eq!(commands_sent(&log, "EXAMINE"), 0, "{log}");
    assert_eq!(commands_sent(&log, "UID FETCH"), 0, "{log}");
    assert!(
        log.contains("C: pipelined command=\"LIST/LSUB/NAMESPACE\""),
        "{log}"
    );
    assert!(!log.contains("command=\"STATUS\""), "{log}");
    for u in USERS {
        assert!(
            log.lines()
                .any(|l| l.contains("nothing changed on the source") && l.contains(u)),
            "{u}: {log}"
        );
    }
}

#[test]
fn a_pass_follows_every_change_without_list_status() {
    let log = follows_the_source(NO_LIST_STATUS);
    // The glance asks every folder's STATUS after the listing, in one pipelined round trip.
    assert_eq!(commands_sent(&log, "EXAMINE"), 0, "{log}");
    assert_eq!(commands_sent(&log, "UID FETCH"), 0, "{log}");
    assert!(log.contains("C: pipelined command=\"STATUS\""), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("nothing changed on the source") && l.contains(USERS[0])),
        "{log}"
    );
}

#[test]
fn a_pass_follows_every_change_without_condstore() {
    let log = follows_the_source(NO_CONDSTORE);
    assert!(!log.contains("CHANGEDSINCE"), "{log}");
    // Without CONDSTORE nothing vouches for the flags: every pass is a full one.
    assert!(!log.contains("nothing changed on the source"), "{log}");
}

/// A pass over mailboxes where nothing changed needs no target at all: it ends Synced with
/// the target down. The first change on the source makes it look at the target again.
#[test]
fn a_pass_where_nothing_changed_needs_no_target() {
    let (src, mut dst, cutover) = synced_pair("");
    // The initial pass created the target's folders: the next one looks at both servers
    // once more (what did the target make of them?), and keeps the source's listing.
    let (_, log) = cutover.pass("info");
    assert!(!log.contains("nothing changed on the source"), "{log}");
    let warnings_before = cutover.json(&["user", "get", USERS[0]]);
    dst.stop();
    let (run, log) = cutover.pass("info");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(field(&run[0], "ItemsCopied"), 0, "{run:#}");
    for u in USERS {
        let user = cutover.json(&["user", "get", u]);
        assert_eq!(field(&user, "Status"), "Synced", "{user:#}");
        assert!(user["LastSyncedDateTime"].is_string(), "{user:#}");
    }
    let alice = cutover.json(&["user", "get", USERS[0]]);
    assert_eq!(alice["ErrorSummary"], warnings_before["ErrorSummary"]);
    assert_eq!(alice["TotalItemsInSourceMailboxCount"], 50, "{alice:#}");

    // A new message on the source: the pass must reach the target, and cannot.
    src.write_message(
        USERS[0],
        "INBOX",
        &message("after-the-glance"),
        &[],
        1_790_000_500,
    );
    src.index(USERS[0]);
    let (run, log) = cutover.pass("info");
    let alice = cutover.json(&["user", "get", USERS[0]]);
    assert_eq!(field(&alice, "Status"), "Failed", "{alice:#}\n{log}");
    let error = alice["ErrorSummary"].as_str().unwrap_or_default();
    assert!(error.contains("target"), "{error}");
    let bob = cutover.json(&["user", "get", USERS[1]]);
    assert_eq!(field(&bob, "Status"), "Synced", "{bob:#}\n{run:#}");
}

#[test]
fn a_folder_deleted_on_the_source_stays_on_the_target_while_it_holds_other_mail() {
    let (src, dst, cutover) = synced_pair("");
    let a = USERS[0];
    // Mail that reached the target's copy of the folder from elsewhere.
    dst.write_message(
        a,
        "Archive/2025",
        &message("delivered-to-target"),
        &[],
        1_790_000_400,
    );
    dst.index(a);
    src.delete_folder(a, "Archive/2025");
    // A whole folder with mail: the brake holds it until the admin approves.
    let (run, log) = cutover.pass("info");
    assert_eq!(
        field(&run[0], "Status"),
        "SyncedWithErrors",
        "{run:#}\n{log}"
    );
    cutover.ok(&["batch", "approve-removals", "CutoverBatch"]);
    let (run, log) = cutover.pass("debug,sqlx=warn");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert!(
        dst.mailbox(a).selectable.contains("Archive/2025"),
        "the folder was deleted with mail that did not come from the source\n{log}"
    );
    assert!(log.contains("did not come from the source"), "{log}");
    // The target's UIDs came back as ranges (ESEARCH), from Dovecot itself.
    assert!(log.contains("UID SEARCH RETURN (ALL) ALL"), "{log}");
}

#[test]
fn a_folder_recreated_with_a_new_uidvalidity_is_not_copied_twice() {
    let (src, dst, cutover) = synced_pair("");
    let a = USERS[0];
    crate::support::recreate_folder(&src, a, "Sent");
    src.write_message(
        a,
        "Sent",
        &message("after-recreate"),
        &["\\Seen"],
        1_790_000_300,
    );
    src.index(a);
    let (run, log) = cutover.pass("info");
    assert_eq!(field(&run[0], "ItemsCopied"), 1, "{run:#}\n{log}");
    assert!(log.contains("new UIDVALIDITY"), "{log}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    verify_independently(&src, &dst, &USERS);
}

#[test]
fn flags_a_user_set_on_the_target_survive_unless_the_source_changes_them() {
    let (src, dst, cutover) = synced_pair("");
    let a = USERS[0];
    // The same message on both sides (the initial copy went newest first, so UIDs differ).
    let src_uid = src.uids(a, "INBOX")[0];
    let body = src.mailbox(a).folders["INBOX"][0].body.clone();
    let dst_uids = dst.uids(a, "INBOX");
    let position = dst.mailbox(a).folders["INBOX"]
        .iter()
        .position(|m| m.body == body)
        .expect("the message is on the target");
    // After the MX switch the user works on the target...
    dst.change_flags(a, "INBOX", dst_uids[position], true, &["ProjectZ"]);
    // ...while the source still changes another flag of the same message.
    src.change_flags(a, "INBOX", src_uid, true, &["\\Flagged"]);
    let (_, log) = cutover.pass("info");
    let on_target = dst.mailbox(a).folders["INBOX"]
        .iter()
        .find(|m| m.body == body)
        .cloned()
        .expect("still on the target");
    assert!(
        on_target.flags.iter().any(|f| f == "projectz"),
        "the target lost the user's flag: {:?}\n{log}",
        on_target.flags
    );
    assert!(
        on_target.flags.iter().any(|f| f == "\\flagged"),
        "the source's change did not arrive: {:?}\n{log}",
        on_target.flags
    );
}

#[test]
fn subscriptions_move_as_changes_and_the_users_own_survive() {
    let (src, dst, cutover) = synced_pair("");
    let a = USERS[0];
    // The initial sync made every folder; the target subscribes exactly what the source does.
    assert_same_subscriptions(&src, &dst, a, &[]);
    // A folder the source does not subscribe: created on the target, not subscribed.
    src.write_message(a, "Lists", &message("list-mail"), &[], 1_790_000_500);
    src.index(a);
    let (_, log) = cutover.pass("info");
    let target = dst.mailbox(a);
    assert!(
        target.selectable.contains("Lists") && !target.subscribed.contains("Lists"),
        "{:?}\n{log}",
        target.subscribed
    );
    assert_same_subscriptions(&src, &dst, a, &[]);

    // The source unsubscribes one folder and subscribes another; after the MX switch the
    // user unsubscribes a third on the target.
    src.unsubscribe(a, "Projects");
    src.subscribe(a, "Lists");
    dst.unsubscribe(a, "Drafts");
    let (run, log) = cutover.pass("debug,sqlx=warn");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(log.matches("case=SourceChanged").count(), 2, "{log}");
    let target = dst.mailbox(a).subscribed;
    assert!(!target.contains("Projects"), "{target:?}\n{log}");
    assert!(target.contains("Lists"), "{target:?}\n{log}");
    assert!(
        !target.contains("Drafts"),
        "the user's change on the target was undone: {target:?}\n{log}"
    );
    assert_same_subscriptions(&src, &dst, a, &["Drafts"]);
    assert_same_subscriptions(&src, &dst, USERS[1], &[]);

    // Nothing changed since: the user's own choice still stands, nothing is sent.
    let (_, log) = cutover.pass("debug,sqlx=warn");
    assert!(!log.contains("CREATE/SUBSCRIBE"), "{log}");
    assert_same_subscriptions(&src, &dst, a, &["Drafts"]);
    // The mail is all there (assert_same_mailbox would also want Drafts subscribed).
    let lines = diff(&src.mailbox(a), &dst.mailbox(a));
    assert!(lines.is_empty(), "{}", lines.join("\n"));
    assert_same_mailbox(&src, &dst, USERS[1]);
}
