//! Folder mapping end to end: special folders land in the target's own (by RFC 6154
//! attribute or by localized name), subfolders follow, names with the other side's
//! separator, \Noselect parents, empty and unsubscribed folders, the batch's folder map,
//! and Gmail-style \All left out. Checked from the target side through doveadm.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{
    Cutover, Dovecot, DovecotOptions, MailboxSnapshot, StoredMessage, start_pair,
};

const USER: &str = "alice@contoso.test";

/// (source folder, where it must land on the target, messages in it).
const EXPECTED: &[(&str, &str, usize)] = &[
    ("INBOX", "INBOX", 3),
    // The target flags Sent, Trash and Junk (RFC 6154); the source has only names.
    ("Sent Items", "Sent", 2),
    ("Sent Items/2019", "Sent/2019", 2),
    ("Deleted Items", "Trash", 1),
    ("Junk E-mail", "Junk", 1),
    // French Drafts to the target's unflagged "Drafts": by name on both sides.
    ("Brouillons", "Drafts", 1),
    // Trash is already "Deleted Items"'s: this one keeps its name, never merged.
    ("Éléments supprimés", "Éléments supprimés", 1),
    // German Archive, and the target has no archive folder: the name is kept.
    ("Archiv", "Archiv", 1),
    // '.' is the target's separator: inside a name it must not make a level.
    ("Reports.2024", "Reports_2024", 1),
    // "Projects" itself is \Noselect on the source.
    ("Projects/Alpha", "Projects/Alpha", 1),
    ("Empty", "Empty", 0),
    ("Unsubscribed", "Unsubscribed", 1),
    // --folder-map 'Old Stuff=Legacy'; its subfolder follows.
    ("Old Stuff", "Legacy", 1),
    ("Old Stuff/2010", "Legacy/2010", 1),
];

fn message(folder: &str, n: usize) -> Vec<u8> {
    format!(
        "From: Bob <bob@contoso.test>\r\n\
         To: Alice <{USER}>\r\n\
         Subject: {folder} #{n}\r\n\
         Message-ID: <{n}.{}@contoso.test>\r\n\
         Date: Tue, 1 Oct 2024 10:{n:02}:00 +0200\r\n\
         \r\n\
         Message {n} filed in {folder}.\r\n",
        folder.len()
    )
    .into_bytes()
}

const FLAGS: &[&[&str]] = &[&["\\Seen"], &["\\Seen", "\\Flagged"], &["$Label1"], &[]];

type Key = (String, Vec<String>, i64);

fn keys(messages: &[StoredMessage]) -> Vec<Key> {
    let mut k: Vec<Key> = messages
        .iter()
        .map(|m| (m.sha256(), m.flags.clone(), m.internal_date))
        .collect();
    k.sort();
    k
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or_else(|| panic!("no {name} in {v:#}"))
}

fn folder<'a>(snap: &'a MailboxSnapshot, name: &str, server: &Dovecot) -> &'a [StoredMessage] {
    snap.folders.get(name).unwrap_or_else(|| {
        panic!(
            "no folder {name:?} on the target: {:?}\nlog:\n{}",
            snap.folders.keys(),
            server.log()
        )
    })
}

#[test]
fn special_folders_land_in_the_targets_own_and_nothing_merges() {
    let (src, dst) = start_pair(
        DovecotOptions {
            users: vec![USER.into()],
            // Gmail's "All Mail" holds a copy of every message.
            special_use: vec![("All Mail".into(), "\\All".into())],
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users: vec![USER.into()],
            separator: '.',
            special_use: vec![
                ("Sent".into(), "\\Sent".into()),
                ("Trash".into(), "\\Trash".into()),
                ("Junk".into(), "\\Junk".into()),
            ],
            ..DovecotOptions::default()
        },
    );

    let mut n = 0;
    for (folder, _, count) in EXPECTED {
        if *count == 0 {
            src.create_folder(USER, folder);
        }
        for _ in 0..*count {
            n += 1;
            let body = message(folder, n);
            src.write_message(
                USER,
                folder,
                &body,
                FLAGS[n % FLAGS.len()],
                1_700_000_000 + n as i64 * 3600,
            );
            if *folder == "INBOX" {
                src.write_message(USER, "All Mail", &body, &[], 1_700_000_000);
            }
        }
        if *folder != "Unsubscribed" {
            src.subscribe(USER, folder);
        }
    }
    src.index(USER);
    for f in ["Sent", "Trash", "Junk", "Drafts"] {
        dst.create_folder(USER, f);
        dst.subscribe(USER, f);
    }
    // Same name as the source's junk folder but not flagged: the attribute must win.
    dst.create_folder(USER, "Junk E-mail");
    // Mail the target already holds stays, next to what is copied.
    dst.write_message(
        USER,
        "Sent",
        &message("target Sent", 99),
        &["\\Seen"],
        1_600_000_000,
    );
    dst.index(USER);

    let source = src.mailbox(USER);
    assert!(
        !source.selectable.contains("Projects") && source.folders.contains_key("Projects"),
        "the fixture should make Projects a \\Noselect parent: {:?}",
        source.selectable
    );
    let target_before = dst.mailbox(USER);

    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &["--folder-map", "Old Stuff=Legacy"]);
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(
        field(&batch, "FolderMap"),
        &serde_json::json!(["Old Stuff=Legacy"])
    );

    let run = cutover.json(&["run", "--once"]);
    assert_eq!(
        field(&run[0], "Status"),
        "Synced",
        "{run:#}\nlog:\n{}",
        dst.log()
    );
    let copied: usize = EXPECTED.iter().map(|e| e.2).sum();
    assert_eq!(field(&run[0], "ItemsCopied"), copied as u64, "{run:#}");

    let target = dst.mailbox(USER);
    for (from, to, count) in EXPECTED {
        let want = keys(&source.folders[*from]);
        assert_eq!(want.len(), *count, "{from}");
        let mut got = keys(folder(&target, to, &dst));
        if *to == "Sent" {
            // The target's own message is still there.
            let own = keys(&target_before.folders["Sent"]);
            got.retain(|k| !own.contains(k));
        }
        assert_eq!(
            got, want,
            "{from:?} -> {to:?}: messages differ (body, flags, date)"
        );
        assert!(target.selectable.contains(*to), "{to} not selectable");
    }
    // A parent that only holds subfolders on the source stays one on the target.
    assert!(
        target.folders.contains_key("Projects") && !target.selectable.contains("Projects"),
        "Projects became a folder of its own: {:?}",
        target.selectable
    );
    for gone in [
        "Sent Items",
        "Deleted Items",
        "Brouillons",
        "Old Stuff",
        "All Mail",
    ] {
        assert!(
            !target.folders.contains_key(gone),
            "{gone:?} should not exist on the target: {:?}",
            target.folders.keys()
        );
    }
    assert!(
        target.folders["Junk E-mail"].is_empty(),
        "\\Junk is the target's Junk"
    );
    assert!(target.folders.contains_key("Projects"));
    assert_eq!(
        target.message_count(),
        copied + 1,
        "All Mail must not be copied"
    );

    // Subscriptions follow the folders, under their new names.
    let subscribed: BTreeSet<&str> = target.subscribed.iter().map(String::as_str).collect();
    for (from, to, _) in EXPECTED {
        assert_eq!(
            subscribed.contains(to),
            *from != "Unsubscribed",
            "{to}: subscription on the target ({from} on the source): {subscribed:?}"
        );
    }

    // A second pass maps the same way and copies nothing.
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
    assert_eq!(field(&again[0], "Status"), "Synced");
    assert_eq!(
        dst.mailbox(USER),
        target,
        "the second pass changed the target"
    );
}

/// "Projects" and "projects" are two folders on Dovecot, which tells them apart: the
/// first pass finds that out (a probe, remembered for the target) and keeps both names.
/// A target the admin declares case-insensitive (as Exchange is) gets "projects (2)".
#[test]
fn case_twins_keep_their_names_on_a_target_that_tells_them_apart() {
    for (folder_case, expected_twin) in [("auto", "projects"), ("insensitive", "projects (2)")] {
        let (src, dst) = crate::support::pair(&[USER], '/');
        for (folder, subject) in [("Projects", "upper"), ("projects", "lower")] {
            src.create_folder(USER, folder);
            src.write_message(
                USER,
                folder,
                format!("From: a@contoso.test\r\nSubject: {subject}\r\n\r\n{subject}\r\n")
                    .as_bytes(),
                &[],
                1_790_000_000,
            );
        }
        src.index(USER);
        let cutover = Cutover::new();
        cutover.connect(&src, &dst, "authzid", USER);
        cutover.set_target(dst.port(), "authzid", USER, &["--folder-case", folder_case]);
        cutover.start_batch(&[(USER, "", "")], &[]);
        let run = cutover.json(&["run", "--once"]);
        assert_eq!(run[0]["Status"], "Synced", "{run:#}");
        let target = dst.mailbox(USER);
        let subject_in = |folder: &str| -> Vec<u8> {
            target
                .folders
                .get(folder)
                .unwrap_or_else(|| panic!("no {folder}: {:?}", target.folders.keys()))[0]
                .body
                .clone()
        };
        assert!(String::from_utf8_lossy(&subject_in("Projects")).contains("upper"));
        assert!(String::from_utf8_lossy(&subject_in(expected_twin)).contains("lower"));
        assert!(
            !target.folders.keys().any(|f| f.contains("case-probe")),
            "the probe folder stayed: {:?}",
            target.folders.keys()
        );
        let shown = cutover.json(&["target", "get"]);
        let case = shown["FolderNameCase"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let want = if folder_case == "auto" {
            "Sensitive"
        } else {
            "Insensitive"
        };
        assert_eq!(case, want, "{shown:#}");
    }
}

/// A target that refuses a folder's name (answers its CREATE with NO) costs that folder,
/// not the mailbox: the rest is copied, the user is Synced, and its ErrorSummary says which
/// folder did not make it and what to do.
#[test]
fn a_folder_name_the_target_refuses_is_reported_on_the_user_and_the_rest_moves() {
    use crate::support::{RewritingProxy, Rule};
    let (src, dst) = crate::support::pair(&[USER], '/');
    for (folder, subject) in [
        ("Projects", "kept"),
        ("Odd Name", "refused"),
        ("Odd Name/Sub", "refused too"),
    ] {
        src.create_folder(USER, folder);
        src.write_message(
            USER,
            folder,
            format!("From: a@contoso.test\r\nSubject: {subject}\r\n\r\n{subject}\r\n").as_bytes(),
            &[],
            1_790_000_000,
        );
    }
    src.index(USER);
    let proxy = RewritingProxy::start(dst.port());
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), proxy.port(), "authzid", USER);
    proxy.set_rules(vec![Rule::RefuseCreate("Odd Name".into())]);
    cutover.start_batch(&[(USER, "", "")], &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");
    assert_eq!(proxy.rewritten(), 2, "both CREATEs refused");
    let user = cutover.json(&["user", "get", USER]);
    let error = user["ErrorSummary"].as_str().unwrap_or_default();
    assert_eq!(user["Status"], "Synced", "{user:#}");
    assert!(
        error.contains("refused to create the folder 'Odd Name'")
            && error.contains("'Odd Name/Sub'")
            && error.contains("--folder-map"),
        "{user:#}"
    );
    let target = dst.mailbox(USER);
    assert_eq!(target.folders["Projects"].len(), 1);
    for refused in ["Odd Name", "Odd Name/Sub"] {
        assert!(
            target.folders.get(refused).is_none_or(|m| m.is_empty()),
            "mail went into {refused}"
        );
    }
}

/// A target that makes no missing parent on CREATE (it refuses "Projects/Alpha" while
/// "Projects" does not exist): the parent is then created by name, the subfolder again,
/// and its mail arrives. The parent is now a folder of its own on the target, which the
/// user's ErrorSummary says (the user is still Synced: nothing was lost).
#[test]
fn a_parent_the_target_wants_first_is_created_by_name() {
    use crate::support::{RewritingProxy, Rule};
    let (src, dst) = crate::support::pair(&[USER], '/');
    src.create_folder(USER, "Projects/Alpha");
    src.write_message(
        USER,
        "Projects/Alpha",
        b"From: a@contoso.test\r\nSubject: alpha\r\n\r\nalpha\r\n",
        &[],
        1_790_000_000,
    );
    src.index(USER);
    assert!(!src.mailbox(USER).selectable.contains("Projects"));
    let proxy = RewritingProxy::start(dst.port());
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), proxy.port(), "authzid", USER);
    proxy.set_rules(vec![Rule::RefuseCreateOnce("Projects/Alpha".into())]);
    cutover.start_batch(&[(USER, "", "")], &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");
    assert_eq!(proxy.rewritten(), 1, "the first CREATE was not refused");
    let user = cutover.json(&["user", "get", USER]);
    let summary = user["ErrorSummary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(
            "the source's 'Projects' only holds subfolders, but the target keeps it as a folder"
        ),
        "{user:#}"
    );
    assert_eq!(dst.mailbox(USER).folders["Projects/Alpha"].len(), 1);
    assert!(dst.mailbox(USER).selectable.contains("Projects"));
    // Found again by the next pass (from the target's LIST), so it stays reported.
    let (run, _) = cutover.pass("info");
    assert_eq!(run[0]["Status"], "Synced", "{run:#}");
    let user = cutover.json(&["user", "get", USER]);
    assert!(
        user["ErrorSummary"]
            .as_str()
            .unwrap_or_default()
            .contains("'Projects' only holds subfolders"),
        "{user:#}"
    );
}
