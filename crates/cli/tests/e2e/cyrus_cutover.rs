//! cutover between Dovecot and Cyrus, both ways, with Cyrus in its built-in namespace
//! (`altnamespace`, '/' separator: folders beside INBOX, as on Dovecot). Checked from each
//! side by the fixtures (doveadm; imaplib for Cyrus), not by our IMAP code.

use std::thread;

use crate::support::{
    Cutover, Cyrus, CyrusOptions, Dovecot, DovecotOptions, MailServer, applied_steps,
    assert_same_mailbox, assert_same_subscriptions, field, fill_realistic_mailbox, planned_steps,
};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

/// Cyrus's default `munge8bit: yes` would store the corpus's raw UTF-8 header bytes as 'X'
/// on APPEND, so no copy to it could be exact; this Cyrus keeps them.
fn cyrus() -> Cyrus {
    Cyrus::start(
        "cyrus",
        CyrusOptions {
            munge8bit: false,
            ..CyrusOptions::default()
        },
    )
}

/// Fills the source, runs the batch once, checks both users, then an incremental pass
/// that must copy nothing and leave the target as it was.
fn cutover_moves_everything(src: &impl MailServer, dst: &impl MailServer) {
    fill_realistic_mailbox(src, USERS[0], 40, 21, true);
    fill_realistic_mailbox(src, USERS[1], 20, 22, false);
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), dst.port(), "authzid", USERS[0]);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);

    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "ItemsCopied"), 60);
    for u in USERS {
        assert_same_mailbox(src, dst, u);
    }

    let before: Vec<_> = USERS.iter().map(|u| dst.mailbox(u)).collect();
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
    assert_eq!(field(&again[0], "Status"), "Synced");
    for (u, b) in USERS.iter().zip(&before) {
        assert_eq!(
            &dst.mailbox(u),
            b,
            "{u}: the second pass changed the target"
        );
        shape_changes_are_reported(src, dst, &cutover, u);
    }
}

/// A source parent that holds only subfolders and is a folder of its own on the target
/// is named in the user's ErrorSummary; a user whose shape was kept has none.
fn shape_changes_are_reported(
    src: &impl MailServer,
    dst: &impl MailServer,
    cutover: &Cutover,
    user: &str,
) {
    let (s, d) = (src.mailbox(user), dst.mailbox(user));
    let reshaped = s
        .folders
        .keys()
        .filter(|f| !s.selectable.contains(*f) && d.selectable.contains(*f))
        .count();
    let got = cutover.json(&["user", "get", user]);
    let summary = got["ErrorSummary"].as_str().unwrap_or_default();
    assert_eq!(
        summary.matches("only holds subfolders").count(),
        reshaped,
        "{user}: {got:#}\nsource {:?}\ntarget {:?}",
        s.selectable,
        d.selectable
    );
}

#[test]
fn dovecot_to_cyrus_moves_byte_exact_and_a_second_pass_copies_nothing() {
    let dst = thread::spawn(cyrus);
    let src = Dovecot::start("src", DovecotOptions::default());
    cutover_moves_everything(&src, &dst.join().unwrap());
}

#[test]
fn cyrus_to_dovecot_moves_byte_exact_and_a_second_pass_copies_nothing() {
    let src = thread::spawn(cyrus);
    let dst = Dovecot::start("dst", DovecotOptions::default());
    cutover_moves_everything(&src.join().unwrap(), &dst);
}

/// Cyrus as Debian ships it (and as older Cyrus, Courier and many Dovecot set-ups run):
/// personal folders under the namespace prefix `INBOX.`, '.' between levels.
fn cyrus_inbox_namespace() -> Cyrus {
    Cyrus::start(
        "cyrus",
        CyrusOptions {
            munge8bit: false,
            ..CyrusOptions::inbox_namespace()
        },
    )
}

#[test]
fn dovecot_to_cyrus_with_the_inbox_namespace_puts_folders_under_its_prefix() {
    let dst = thread::spawn(cyrus_inbox_namespace);
    let src = Dovecot::start("src", DovecotOptions::default());
    cutover_moves_everything(&src, &dst.join().unwrap());
}

#[test]
fn cyrus_with_the_inbox_namespace_to_dovecot_takes_folders_out_of_its_prefix() {
    let src = thread::spawn(cyrus_inbox_namespace);
    let dst = Dovecot::start("dst", DovecotOptions::default());
    let src = src.join().unwrap();
    cutover_moves_everything(&src, &dst);
    // At the top of the target, not under INBOX/.
    let target = dst.mailbox(USERS[0]);
    assert!(
        target.selectable.contains("Sent"),
        "{:?}",
        target.selectable
    );
    assert!(
        !target.selectable.iter().any(|f| f.starts_with("INBOX/")),
        "{:?}",
        target.selectable
    );
}

#[test]
fn dovecot_with_an_inbox_prefix_to_dovecot_without_one() {
    let users: Vec<String> = USERS.iter().map(|u| u.to_string()).collect();
    let (src, dst) = crate::support::start_pair(
        DovecotOptions {
            users: users.clone(),
            separator: '.',
            prefix: "INBOX.".into(),
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users,
            ..DovecotOptions::default()
        },
    );
    cutover_moves_everything(&src, &dst);
    let target = dst.mailbox(USERS[0]);
    assert!(
        !target.selectable.iter().any(|f| f.starts_with("INBOX/")),
        "{:?}",
        target.selectable
    );
}

/// bob shares a folder with alice: it shows in alice's listing under the other users'
/// namespace, but it is bob's mail. alice's migration leaves it out and says so in her
/// statistics; bob's own migration copies it.
#[test]
fn another_users_shared_folder_is_left_out_of_a_mailbox_and_said_so() {
    let src = thread::spawn(cyrus_inbox_namespace);
    let dst = Dovecot::start("dst", DovecotOptions::default());
    let src = src.join().unwrap();
    fill_realistic_mailbox(&src, USERS[0], 10, 31, false);
    src.create_folder(USERS[1], "Team");
    src.write_message(
        USERS[1],
        "Team",
        b"From: bob@contoso.test\r\nSubject: team notes\r\n\r\nShared.\r\n",
        &[],
        1_790_000_000,
    );
    src.share(USERS[1], "Team", USERS[0], "lr");
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), dst.port(), "authzid", USERS[0]);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    for u in USERS {
        assert_same_mailbox(&src, &dst, u);
    }
    let alice = dst.mailbox(USERS[0]);
    assert!(
        !alice
            .folders
            .keys()
            .any(|f| f.contains("Team") || f.contains("bob")),
        "bob's folder landed in alice's mailbox: {:?}",
        alice.folders.keys()
    );
    assert!(dst.mailbox(USERS[1]).selectable.contains("Team"));
    let stats = cutover.json(&["user", "stats", USERS[0]]);
    let left_out = field(&stats, "FoldersLeftOut").to_string();
    assert!(left_out.contains("Team"), "{stats:#}");
}

/// After the initial sync the source changes (new mail, a new folder it subscribes, flags
/// both ways, an expunge, an unsubscription, a rename and the deletion of an empty
/// folder); `batch plan` lists the steps, the pass takes exactly those, and the target
/// ends as the source, subscriptions included.
fn an_incremental_pass_follows(src: &impl MailServer, dst: &impl MailServer) {
    let user = USERS[0];
    fill_realistic_mailbox(src, user, 30, 51, false);
    src.create_folder(user, "Old");
    src.index(user);
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), dst.port(), "authzid", user);
    cutover.start_batch(&[(user, "", "")], &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_same_mailbox(src, dst, user);
    assert_same_subscriptions(src, dst, user, &[]);

    src.write_message(
        user,
        "INBOX",
        b"From: zoe@partner.test\r\nSubject: new\r\n\r\nnew mail\r\n",
        &["$Label2"],
        1_790_000_000,
    );
    src.write_message(
        user,
        "Lists/Rust",
        b"From: list@rust.test\r\nSubject: list\r\n\r\nlist mail\r\n",
        &["\\Seen"],
        1_790_000_100,
    );
    src.subscribe(user, "Lists/Rust");
    src.index(user);
    let inbox = src.uids(user, "INBOX");
    src.change_flags(user, "INBOX", inbox[0], true, &["\\Flagged", "$Label1"]);
    src.change_flags(user, "INBOX", inbox[1], false, &["\\Seen"]);
    src.expunge(user, "INBOX", inbox[2]);
    src.unsubscribe(user, "Drafts");
    src.rename_folder(user, "R&D", "Research");
    src.delete_folder(user, "Old");

    let plan = planned_steps(&cutover.json(&["batch", "plan", "CutoverBatch"]), user);
    // Source names as the source spells them, target names as the target does (a
    // Cyrus in its INBOX namespace says 'INBOX.R&D').
    for wanted in [
        ["follow the source's rename of '", "R&D' to '", "Research'"],
        ["unsubscribe from '", "Drafts' on the target", ""],
        ["remove 1 message from 'INBOX'", "", ""],
        ["copy 1 message", "", ""],
    ] {
        assert!(
            plan.iter()
                .any(|s| wanted.iter().all(|part| s.contains(part))),
            "{wanted:?}: {plan:#?}"
        );
    }
    // Followed, not taken for a deletion (the brake would hold it): on Cyrus by its
    // MAILBOXID.
    assert!(
        !plan.iter().any(|s| s.starts_with("hold removals")),
        "{plan:#?}"
    );
    assert!(
        plan.iter().any(|s| s.starts_with("delete the folder")),
        "{plan:#?}"
    );
    let (run, log) = cutover.pass("info,cutover_sync=debug,sqlx=warn");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(applied_steps(&log, user), plan, "{log}");
    assert_same_mailbox(src, dst, user);
    assert_same_subscriptions(src, dst, user, &[]);
    let target = dst.mailbox(user);
    assert!(
        target.selectable.contains("Research") && !target.folders.contains_key("R&D"),
        "{:?}",
        target.selectable
    );
    assert!(
        !target.folders.contains_key("Old"),
        "{:?}",
        target.selectable
    );
    assert_eq!(
        planned_steps(&cutover.json(&["batch", "plan", "CutoverBatch"]), user),
        Vec::<String>::new(),
        "a pass left work behind"
    );
}

#[test]
fn an_incremental_pass_follows_cyrus_in_its_inbox_namespace_to_dovecot() {
    let src = thread::spawn(cyrus_inbox_namespace);
    let dst = Dovecot::start("dst", DovecotOptions::default());
    an_incremental_pass_follows(&src.join().unwrap(), &dst);
}

#[test]
fn an_incremental_pass_follows_dovecot_to_cyrus_in_its_inbox_namespace() {
    let dst = thread::spawn(cyrus_inbox_namespace);
    let src = Dovecot::start("src", DovecotOptions::default());
    an_incremental_pass_follows(&src, &dst.join().unwrap());
}
