//! The batch's reports (MigrationStatistics.csv, MigrationErrors.csv) and a user's
//! report, from the CLI and the API, after a real migration with a skipped item: the
//! target (Dovecot with `quota_max_mail_size`) refuses alice's large message, which sits
//! in a folder whose name has a comma and has a subject a spreadsheet would run as a
//! formula; over LargeItemLimit 0, alice fails; bob syncs.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::bad_items::{LIMIT_BYTES, large_message};
use crate::support::{
    Cutover, Dovecot, field, fill_realistic_mailbox, pair_refusing_large, request,
};

const ALICE: &str = "alice@contoso.test";
const BOB: &str = "bob@contoso.test";
const FOLDER: &str = "Reports, 2025";
/// A subject with a formula, a comma, quotes and an accent.
const SUBJECT: &str = "=SUM(1+1), \"été\"";

const STATISTICS_COLUMNS: [&str; 12] = [
    "EmailAddress",
    "Status",
    "TotalItemsInSourceMailboxCount",
    "TotalBytesInSourceMailbox",
    "ItemsSynced",
    "ItemsSkipped",
    "BadItemCount",
    "LargeItemCount",
    "BytesTransferred",
    "LastSuccessfulSyncTimestamp",
    "DataConsistencyScore",
    "ErrorSummary",
];
const ERRORS_COLUMNS: [&str; 10] = [
    "EmailAddress",
    "Status",
    "Kind",
    "Folder",
    "Subject",
    "SourceUid",
    "Size",
    "Reason",
    "DateSkipped",
    "ApprovedDateTime",
];

/// Both servers (kept alive by the caller) and the installation, after one pass.
struct Migrated {
    src: Dovecot,
    _dst: Dovecot,
    cutover: Cutover,
}

fn migrated_with_a_skipped_item() -> Migrated {
    let (src, dst) = pair_refusing_large(&[ALICE, BOB]);
    fill_realistic_mailbox(&src, ALICE, 20, 31, false);
    fill_realistic_mailbox(&src, BOB, 15, 32, false);
    src.create_folder(ALICE, FOLDER);
    let subject = base64::engine::general_purpose::STANDARD.encode(SUBJECT);
    src.write_message(
        ALICE,
        FOLDER,
        &large_message(&subject),
        &["\\Seen"],
        1_750_000_000,
    );
    src.index(ALICE);
    src.index(BOB);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", ALICE);
    cutover.start_batch(&[(ALICE, "", ""), (BOB, "", "")], &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "UsersFailed"), 1, "{run:#}");
    Migrated {
        src,
        _dst: dst,
        cutover,
    }
}

/// A CSV report read back with the `csv` crate: its header, and its rows as maps.
fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<(String, String)>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.expect("a CSV record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

fn col<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    row.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {row:?}"))
}

fn number(row: &[(String, String)], name: &str) -> u64 {
    col(row, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}: {row:?}"))
}

/// MigrationStatistics.csv: a row per user, in the users CSV's order, agreeing with
/// `user stats` and with what the source holds.
fn check_statistics(m: &Migrated, text: &str) {
    assert!(text.starts_with('\u{feff}'), "no byte order mark: {text:?}");
    let (header, rows) = read_csv(text);
    assert_eq!(header, STATISTICS_COLUMNS);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let alice_total = m.src.mailbox(ALICE).message_count() as u64;
    let bob_total = m.src.mailbox(BOB).message_count() as u64;

    let (alice, bob) = (&rows[0], &rows[1]);
    assert_eq!(col(alice, "EmailAddress"), ALICE);
    assert_eq!(col(alice, "Status"), "Failed");
    assert_eq!(number(alice, "TotalItemsInSourceMailboxCount"), alice_total);
    assert_eq!(number(alice, "ItemsSynced"), alice_total - 1);
    assert_eq!(number(alice, "ItemsSkipped"), 1);
    assert_eq!(number(alice, "LargeItemCount"), 1);
    assert_eq!(number(alice, "BadItemCount"), 0);
    assert!(
        col(alice, "ErrorSummary").contains("over LargeItemLimit 0"),
        "{alice:?}"
    );
    assert_eq!(col(bob, "EmailAddress"), BOB);
    assert_eq!(col(bob, "Status"), "Synced");
    assert_eq!(number(bob, "TotalItemsInSourceMailboxCount"), bob_total);
    assert_eq!(number(bob, "ItemsSynced"), bob_total);
    assert_eq!(number(bob, "ItemsSkipped"), 0);
    assert_eq!(col(bob, "DataConsistencyScore"), "Perfect");
    assert_eq!(col(bob, "ErrorSummary"), "");
    // The source's bytes as the pass counted them: every message's size, the one the
    // target refused included.
    for (row, user) in [(alice, ALICE), (bob, BOB)] {
        let bytes: usize = m
            .src
            .mailbox(user)
            .folders
            .values()
            .flatten()
            .map(|msg| msg.body.len())
            .sum();
        assert_eq!(
            number(row, "TotalBytesInSourceMailbox"),
            bytes as u64,
            "{user}"
        );
    }
    assert_eq!(
        number(bob, "TotalBytesInSourceMailbox"),
        number(bob, "BytesTransferred")
    );
    for (row, user) in [(alice, ALICE), (bob, BOB)] {
        let stats = m.cutover.json(&["user", "stats", user]);
        assert_eq!(
            number(row, "BytesTransferred"),
            field(&stats, "BytesTransferred").as_u64().unwrap()
        );
        assert!(number(row, "BytesTransferred") > 0, "{row:?}");
        assert_eq!(
            Some(col(row, "DataConsistencyScore")),
            field(&stats, "DataConsistencyScore").as_str()
        );
        let last = field(&stats, "LastSyncedDateTime").as_str();
        assert!(last.is_some(), "{stats:#}");
        assert_eq!(Some(col(row, "LastSuccessfulSyncTimestamp")), last);
    }
}

/// MigrationErrors.csv: alice's error, then her skipped item with its folder (quoted, as
/// it holds a comma), its subject (made text: it starts with '='), kind and reason.
fn check_errors(text: &str) {
    assert!(text.contains("\"Reports, 2025\""), "{text}");
    let (header, rows) = read_csv(text);
    assert_eq!(header, ERRORS_COLUMNS);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let (error, item) = (&rows[0], &rows[1]);
    assert_eq!(col(error, "EmailAddress"), ALICE);
    assert_eq!(col(error, "Status"), "Failed");
    assert_eq!(col(error, "Kind"), "Error");
    assert!(
        col(error, "Reason").contains("over LargeItemLimit 0"),
        "{error:?}"
    );
    for empty in ["Folder", "Subject", "SourceUid", "Size", "DateSkipped"] {
        assert_eq!(col(error, empty), "", "{empty}: {error:?}");
    }
    assert_eq!(col(item, "EmailAddress"), ALICE);
    assert_eq!(col(item, "Kind"), "LargeItem");
    assert_eq!(col(item, "Folder"), FOLDER);
    assert_eq!(col(item, "Subject"), format!("'{SUBJECT}"));
    assert_eq!(number(item, "SourceUid"), 1);
    assert!(number(item, "Size") > LIMIT_BYTES as u64, "{item:?}");
    assert!(
        col(item, "Reason").contains("the target refused it"),
        "{item:?}"
    );
    assert!(!col(item, "DateSkipped").is_empty(), "{item:?}");
    assert_eq!(col(item, "ApprovedDateTime"), "");
}

/// `cutover user report ALICE --format json`: her rows, with every value exact.
fn check_user_report(report: &Value) {
    let stats = field(report, "Statistics");
    assert_eq!(field(stats, "EmailAddress"), ALICE);
    assert_eq!(field(stats, "Status"), "Failed");
    assert_eq!(field(stats, "ItemsSkipped"), 1);
    let errors = field(report, "Errors").as_array().unwrap();
    assert_eq!(errors.len(), 2, "{report:#}");
    assert_eq!(field(&errors[0], "Kind"), "Error");
    assert_eq!(field(&errors[1], "Kind"), "LargeItem");
    assert_eq!(field(&errors[1], "Folder"), FOLDER);
    assert_eq!(field(&errors[1], "Subject"), SUBJECT);
}

#[test]
fn batch_report_writes_both_csvs_with_every_user_and_skipped_item() {
    let m = migrated_with_a_skipped_item();
    let cutover = &m.cutover;

    // Into --out DIR, created when missing; it says where the files went.
    let out = cutover.dir.path().join("reports/today");
    let out_text = out.display().to_string();
    let written = cutover.json(&["batch", "report", "CutoverBatch", "--out", &out_text]);
    let statistics = out.join("MigrationStatistics.csv");
    let errors = out.join("MigrationErrors.csv");
    assert_eq!(field(&written, "Identity"), "CutoverBatch");
    assert_eq!(
        field(&written, "StatisticsFile"),
        &statistics.display().to_string()
    );
    assert_eq!(field(&written, "ErrorsFile"), &errors.display().to_string());
    assert_eq!(field(&written, "UserCount"), 2);
    assert_eq!(field(&written, "ErrorCount"), 2);
    let statistics_text = std::fs::read_to_string(&statistics).unwrap();
    let errors_text = std::fs::read_to_string(&errors).unwrap();
    check_statistics(&m, &statistics_text);
    check_errors(&errors_text);

    // Without --out, into the current directory; the same reports.
    let here = tempfile::tempdir().unwrap();
    let out = cutover
        .command(&["batch", "report", "CutoverBatch"])
        .current_dir(here.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("MigrationStatistics.csv"), "{said}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("MigrationErrors.csv"),
        "{out:?}"
    );
    for (file, text) in [
        ("MigrationStatistics.csv", &statistics_text),
        ("MigrationErrors.csv", &errors_text),
    ] {
        let again = std::fs::read_to_string(here.path().join(file)).unwrap();
        assert_eq!(&again, text, "{file}");
    }

    // A user's report: JSON, and text for people.
    check_user_report(&cutover.json(&["user", "report", ALICE]));
    let text = cutover.ok(&["user", "report", ALICE]);
    for part in [
        "EmailAddress",
        "Failed",
        "Errors and skipped items: 2",
        "LargeItem",
        FOLDER,
        SUBJECT,
    ] {
        assert!(text.contains(part), "{part:?} not in:\n{text}");
    }
    let bob = cutover.ok(&["user", "report", BOB]);
    assert!(bob.contains("No errors and no skipped items."), "{bob}");

    // Errors name the input and what to do.
    let err = cutover.fails(&["batch", "report", "Nope"]);
    assert!(
        err.contains("batch 'Nope' was not found") && err.contains("`cutover batch get`"),
        "{err}"
    );
    let err = cutover.fails(&["user", "report", "nobody@contoso.test"]);
    assert!(
        err.contains("nobody@contoso.test") && err.contains("`cutover user get`"),
        "{err}"
    );
    let file = cutover.write("not-a-dir", "x");
    let err = cutover.fails(&["batch", "report", "CutoverBatch", "--out", &file]);
    assert!(err.contains("--out") && err.contains(&file), "{err}");
}

#[test]
fn the_api_serves_both_reports_and_a_users_report() {
    let m = migrated_with_a_skipped_item();
    let serve = m.cutover.serve(&[], &[]);

    for (path, file) in [
        (
            "/api/v1/batches/CutoverBatch/report/statistics.csv",
            "MigrationStatistics.csv",
        ),
        (
            "/api/v1/batches/CutoverBatch/report/errors.csv",
            "MigrationErrors.csv",
        ),
    ] {
        let reply = serve.call("GET", path, None);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/csv; charset=utf-8"),
            "{reply:?}"
        );
        assert_eq!(
            reply.header("content-disposition"),
            Some(format!("attachment; filename=\"{file}\"").as_str()),
            "{reply:?}"
        );
        if file == "MigrationStatistics.csv" {
            check_statistics(&m, &reply.body);
        } else {
            check_errors(&reply.body);
        }
        // The token is wanted here too.
        let anonymous = request(serve.addr, "GET", path, None, None);
        assert_eq!(anonymous.status, 401, "{anonymous:?}");
    }
    check_user_report(&serve.get(&format!("/api/v1/users/{ALICE}/report")));

    for path in [
        "/api/v1/batches/Nope/report/statistics.csv",
        "/api/v1/batches/Nope/report/errors.csv",
        "/api/v1/users/nobody@contoso.test/report",
    ] {
        let reply = serve.call("GET", path, None);
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.json()["Code"], "NotFound", "{reply:?}");
    }
    let doc = serve.get("/api/v1/openapi.json");
    for path in [
        "/api/v1/batches/{name}/report/statistics.csv",
        "/api/v1/batches/{name}/report/errors.csv",
        "/api/v1/users/{email}/report",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert!(serve.terminate(Duration::from_secs(30)).success());
}
