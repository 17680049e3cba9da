//! Bad and large items: a target that refuses messages over a size (Dovecot's quota
//! plugin, `quota_max_mail_size`), the limits that fail a user, the data consistency
//! grade, and the admin's approval of skipped items.

use std::process::Command;

use serde_json::Value;

use crate::support::{
    Cutover, Dovecot, MailboxSnapshot, diff, fill_realistic_mailbox, pair_refusing_large,
};

/// What the target (REFUSE_OVER_1_MIB) refuses.
pub(crate) const LIMIT_BYTES: usize = 1024 * 1024;

const ALICE: &str = "alice@contoso.test";
const BOB: &str = "bob@contoso.test";

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or_else(|| panic!("no {name} in {v:#}"))
}

fn status(cutover: &Cutover, args: &[&str]) -> String {
    field(&cutover.json(args), "Status")
        .as_str()
        .unwrap()
        .to_string()
}

/// A message over the limit, with an RFC 2047 subject (UTF-8, base64).
pub(crate) fn large_message(subject_b64: &str) -> Vec<u8> {
    let mut m = format!(
        "From: <carol@partner.example>\r\nTo: <{ALICE}>\r\nSubject: =?utf-8?B?{subject_b64}?=\r\n\
         Date: Mon, 2 Jun 2025 10:00:00 +0000\r\nMessage-ID: <large.1@partner.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();
    while m.len() < 2 * LIMIT_BYTES {
        m.extend_from_slice(
            b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n",
        );
    }
    m
}

/// The source without the messages the target refuses.
fn without_large(mut snapshot: MailboxSnapshot) -> MailboxSnapshot {
    for msgs in snapshot.folders.values_mut() {
        msgs.retain(|m| m.body.len() <= LIMIT_BYTES);
    }
    snapshot
}

fn assert_same_except_large(src: &Dovecot, dst: &Dovecot, user: &str) {
    let lines = diff(&without_large(src.mailbox(user)), &dst.mailbox(user));
    assert!(
        lines.is_empty(),
        "{user}: target differs from source (large items aside):\n{}\ntarget log:\n{}",
        lines.join("\n"),
        dst.log()
    );
}

fn skipped_items(cutover: &Cutover, user: &str) -> (Value, Vec<Value>) {
    let stats = cutover.json(&["user", "stats", user, "--include-skipped-items"]);
    let items = field(&stats, "SkippedItems").as_array().unwrap().clone();
    (stats, items)
}

#[test]
fn large_items_are_skipped_limited_graded_and_approved() {
    let (src, dst) = pair_refusing_large(&[ALICE, BOB]);

    // alice: one big corpus message and one of ours (2 large items); bob: one.
    fill_realistic_mailbox(&src, ALICE, 30, 11, true);
    // "Rapport annuel été" in UTF-8, base64
    src.write_message(
        ALICE,
        "INBOX",
        &large_message("UmFwcG9ydCBhbm51ZWwgw6l0w6k="),
        &["\\Seen"],
        1_750_000_000,
    );
    fill_realistic_mailbox(&src, BOB, 20, 12, true);
    src.index(ALICE);
    src.index(BOB);
    let alice_total = src.mailbox(ALICE).message_count();

    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", ALICE);
    let created = cutover.start_batch(
        &[(ALICE, "", ""), (BOB, "", "")],
        &["--large-item-limit", "1"],
    );
    assert_eq!(field(&created, "LargeItemLimit"), 1);
    assert_eq!(field(&created, "DataConsistencyScore"), "Perfect");
    assert_eq!(field(&created, "SkippedItemApprovalTime"), &Value::Null);

    // First pass: alice is over LargeItemLimit 1, bob within it.
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "SyncedWithErrors", "{run:#}");
    assert_eq!(field(&run[0], "UsersFailed"), 1, "{run:#}");
    assert_same_except_large(&src, &dst, ALICE);
    assert_same_except_large(&src, &dst, BOB);

    let alice = cutover.json(&["user", "get", ALICE]);
    assert_eq!(field(&alice, "Status"), "Failed");
    assert_eq!(field(&alice, "ItemsSkipped"), 2);
    let error = field(&alice, "ErrorSummary").as_str().unwrap();
    for part in [
        "2 large item(s) skipped, over LargeItemLimit 1",
        "--large-item-limit",
        "`cutover batch set CutoverBatch`",
        "`cutover batch approve-skipped-items CutoverBatch`",
    ] {
        assert!(error.contains(part), "{part:?} not in {error}");
    }
    assert_eq!(status(&cutover, &["user", "get", BOB]), "Synced");

    let (stats, items) = skipped_items(&cutover, ALICE);
    assert_eq!(field(&stats, "SkippedItemCount"), 2);
    assert_eq!(field(&stats, "LargeItemCount"), 2);
    assert_eq!(field(&stats, "BadItemCount"), 0);
    assert_eq!(
        field(&stats, "SyncedItemCount").as_u64().unwrap(),
        alice_total as u64 - 2
    );
    // 2 of 31 messages: over 5 %.
    assert_eq!(field(&stats, "DataConsistencyScore"), "Poor");
    assert_eq!(items.len(), 2, "{items:#?}");
    for item in &items {
        assert_eq!(field(item, "Kind"), "LargeItem", "{item:#}");
        assert!(
            field(item, "Size").as_u64().unwrap() > LIMIT_BYTES as u64,
            "{item:#}"
        );
        let reason = field(item, "Reason").as_str().unwrap();
        assert!(
            reason.contains("the target refused it") && reason.contains("maximum size"),
            "the server's answer is not in {reason}"
        );
        assert!(
            !field(item, "Subject").as_str().unwrap().is_empty(),
            "{item:#}"
        );
        assert!(field(item, "DateSkipped").is_string());
        assert_eq!(field(item, "ApprovedDateTime"), &Value::Null);
    }
    assert!(
        items
            .iter()
            .any(|i| field(i, "Subject") == "Rapport annuel été" && field(i, "Folder") == "INBOX"),
        "{items:#?}"
    );
    let first_skipped: Vec<Value> = items
        .iter()
        .map(|i| field(i, "DateSkipped").clone())
        .collect();

    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "ItemsSkipped"), 3);
    assert_eq!(field(&batch, "DataConsistencyScore"), "Poor");

    // The admin raises the limit and syncs again: alice is Synced, the skips are the
    // same two items (not counted twice), and they still wait for approval.
    let err = cutover.fails(&["batch", "set", "CutoverBatch"]);
    assert!(err.contains("--large-item-limit"), "{err}");
    let set = cutover.json(&["batch", "set", "CutoverBatch", "--large-item-limit", "2"]);
    assert_eq!(field(&set, "LargeItemLimit"), 2);
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "SyncedWithErrors", "{run:#}");
    assert_eq!(field(&run[0], "UsersFailed"), 0, "{run:#}");
    assert_eq!(status(&cutover, &["user", "get", ALICE]), "Synced");
    let (stats, items) = skipped_items(&cutover, ALICE);
    assert_eq!(field(&stats, "SkippedItemCount"), 2);
    let again: Vec<Value> = items
        .iter()
        .map(|i| field(i, "DateSkipped").clone())
        .collect();
    assert_eq!(
        again, first_skipped,
        "a skip of the same message keeps its first time"
    );

    // Approval: the batch is Synced, with the approval time.
    cutover.ok(&["batch", "approve-skipped-items", "CutoverBatch"]);
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "Status"), "Synced");
    assert!(
        field(&batch, "SkippedItemApprovalTime").is_string(),
        "{batch:#}"
    );
    let (_, items) = skipped_items(&cutover, BOB);
    assert!(field(&items[0], "ApprovedDateTime").is_string());

    // A pass that skips the same items again stays Synced...
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    // ...a new skip after the approval needs a new one.
    let mut newer = large_message("TmV3ZXIgbGFyZ2Ugb25l"); // "Newer large one"
    newer.extend_from_slice(b"bob's copy\r\n");
    src.write_message(BOB, "INBOX", &newer, &[], 1_760_000_000);
    src.index(BOB);
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "SyncedWithErrors", "{run:#}");
    assert_eq!(status(&cutover, &["user", "get", BOB]), "Synced");
    let (_, items) = skipped_items(&cutover, BOB);
    let pending: Vec<&Value> = items
        .iter()
        .filter(|i| field(i, "ApprovedDateTime").is_null())
        .collect();
    assert_eq!(pending.len(), 1, "{items:#?}");
    assert_eq!(field(pending[0], "Subject"), "Newer large one");
    cutover.ok(&["batch", "approve-skipped-items", "CutoverBatch"]);
    assert_eq!(
        status(&cutover, &["batch", "get", "CutoverBatch"]),
        "Synced"
    );

    // The target takes large messages now: the next pass copies them, and they are no
    // longer skipped.
    let conf = std::fs::read_to_string(dst.conf()).unwrap();
    std::fs::write(
        dst.conf(),
        conf.replace("quota_max_mail_size = 1M", "quota_max_mail_size = 0"),
    )
    .unwrap();
    let reload = Command::new("/usr/bin/doveadm")
        .arg("-c")
        .arg(dst.conf())
        .arg("reload")
        .output()
        .unwrap();
    assert!(reload.status.success(), "{reload:?}");
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "ItemsCopied"), 4, "{run:#}");
    for user in [ALICE, BOB] {
        let lines = diff(&src.mailbox(user), &dst.mailbox(user));
        assert!(lines.is_empty(), "{user}:\n{}", lines.join("\n"));
        let (stats, items) = skipped_items(&cutover, user);
        assert!(items.is_empty(), "{items:#?}");
        assert_eq!(field(&stats, "DataConsistencyScore"), "Perfect");
    }
    let batch = cutover.json(&["batch", "get", "CutoverBatch"]);
    assert_eq!(field(&batch, "ItemsSkipped"), 0);
    assert_eq!(field(&batch, "DataConsistencyScore"), "Perfect");
}
