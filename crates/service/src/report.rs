//! The batch's reports, as Exchange gives them: MigrationStatistics.csv (one row per
//! user) and MigrationErrors.csv (one row per user with an error and per skipped item),
//! and one user's report. Pure functions over the views ([`UserStatsView`] with its
//! skipped items): the CLI writes the text to files, the API serves it.
//!
//! Column names are Exchange's where Exchange has them (EmailAddress, Status,
//! ItemsSynced, ItemsSkipped, LastSuccessfulSyncTimestamp, DataConsistencyScore,
//! ErrorSummary), the views' names otherwise. Folder names, subjects and reasons come
//! from mail servers and end up in a spreadsheet: a cell that starts with `=`, `+`, `-`,
//! `@`, a tab or a carriage return is written with a `'` in front, so that no formula
//! runs when the file is opened (OWASP's advice against CSV injection). The JSON of a
//! user's report keeps every value exact. The CSV text starts with a UTF-8 byte order
//! mark, so that Excel reads accents as UTF-8 (CSV readers such as the `csv` crate or
//! Python's `utf-8-sig` skip it), and ends its lines with CRLF (RFC 4180).

use cutover_model::{SkippedKind, UserStatus};
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::UserStatsView;

/// The file names of the batch's reports, as Exchange names them.
pub const STATISTICS_FILE: &str = "MigrationStatistics.csv";
pub const ERRORS_FILE: &str = "MigrationErrors.csv";

/// The columns of MigrationStatistics.csv, in order.
pub const STATISTICS_COLUMNS: [&str; 12] = [
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

/// The columns of MigrationErrors.csv, in order.
pub const ERRORS_COLUMNS: [&str; 10] = [
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

/// One user's row of MigrationStatistics.csv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StatisticsRow {
    pub email_address: String,
    /// Queued, Provisioning, Syncing, Synced, IncrementalSyncing, Stopped, Failed.
    pub status: String,
    /// Messages in the source mailbox at the last pass (folders of the batch).
    pub total_items_in_source_mailbox_count: u64,
    /// Bytes of those messages, as the last pass counted them.
    pub total_bytes_in_source_mailbox: u64,
    pub items_synced: u64,
    pub items_skipped: u64,
    pub bad_item_count: u64,
    pub large_item_count: u64,
    pub bytes_transferred: u64,
    /// The end of the last pass that finished (RFC 3339, UTC).
    pub last_successful_sync_timestamp: Option<String>,
    /// Perfect, Good, Investigate or Poor.
    pub data_consistency_score: String,
    /// Why the user failed, or what of the mailbox did not fit the target.
    pub error_summary: Option<String>,
}

/// What a row of MigrationErrors.csv is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ErrorKind {
    /// The user failed; the reason is its ErrorSummary.
    Error,
    /// The user synced, but its ErrorSummary says what did not fit the target.
    Warning,
    BadItem,
    LargeItem,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Error => "Error",
            ErrorKind::Warning => "Warning",
            ErrorKind::BadItem => "BadItem",
            ErrorKind::LargeItem => "LargeItem",
        }
    }
}

/// One row of MigrationErrors.csv: a user's error (the item columns empty) or a skipped
/// item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorRow {
    pub email_address: String,
    /// The user's status.
    pub status: String,
    pub kind: ErrorKind,
    /// The skipped item's source folder.
    pub folder: Option<String>,
    pub subject: Option<String>,
    pub source_uid: Option<u32>,
    pub size: Option<u32>,
    /// The user's ErrorSummary, or why the item was skipped (with the server's answer).
    pub reason: String,
    pub date_skipped: Option<String>,
    pub approved_date_time: Option<String>,
}

/// One user's report: its statistics and its errors, the rows of the batch's two files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserReport {
    pub statistics: StatisticsRow,
    pub errors: Vec<ErrorRow>,
}

impl StatisticsRow {
    pub fn new(u: &UserStatsView) -> Self {
        Self {
            email_address: u.identity.clone(),
            status: u.status.clone(),
            total_items_in_source_mailbox_count: u.total_items_in_source_mailbox_count,
            total_bytes_in_source_mailbox: u.total_bytes_in_source_mailbox,
            items_synced: u.synced_item_count,
            items_skipped: u.skipped_item_count,
            bad_item_count: u.bad_item_count,
            large_item_count: u.large_item_count,
            bytes_transferred: u.bytes_transferred,
            last_successful_sync_timestamp: u.last_synced_date_time.clone(),
            data_consistency_score: u.data_consistency_score.clone(),
            error_summary: u.error.clone(),
        }
    }

    fn cells(&self) -> [String; STATISTICS_COLUMNS.len()] {
        [
            cell(&self.email_address),
            cell(&self.status),
            self.total_items_in_source_mailbox_count.to_string(),
            self.total_bytes_in_source_mailbox.to_string(),
            self.items_synced.to_string(),
            self.items_skipped.to_string(),
            self.bad_item_count.to_string(),
            self.large_item_count.to_string(),
            self.bytes_transferred.to_string(),
            optional_cell(&self.last_successful_sync_timestamp),
            cell(&self.data_consistency_score),
            optional_cell(&self.error_summary),
        ]
    }
}

impl ErrorRow {
    /// The user's own row (when it failed or has an ErrorSummary), then one per skipped
    /// item (the view's `SkippedItems`; none when they were not loaded).
    pub fn of_user(u: &UserStatsView) -> Vec<Self> {
        let failed = u.status == UserStatus::Failed.as_str();
        let mut rows = Vec::new();
        if failed || u.error.is_some() {
            rows.push(Self {
                email_address: u.identity.clone(),
                status: u.status.clone(),
                kind: if failed {
                    ErrorKind::Error
                } else {
                    ErrorKind::Warning
                },
                folder: None,
                subject: None,
                source_uid: None,
                size: None,
                reason: u
                    .error
                    .clone()
                    .unwrap_or_else(|| "the user failed; no error was recorded".into()),
                date_skipped: None,
                approved_date_time: None,
            });
        }
        for item in u.skipped_items.iter().flatten() {
            rows.push(Self {
                email_address: u.identity.clone(),
                status: u.status.clone(),
                kind: if item.kind == SkippedKind::LargeItem.as_str() {
                    ErrorKind::LargeItem
                } else {
                    ErrorKind::BadItem
                },
                folder: Some(item.folder.clone()),
                subject: Some(item.subject.clone()),
                source_uid: Some(item.source_uid),
                size: Some(item.size),
                reason: item.reason.clone(),
                date_skipped: item.date_skipped.clone(),
                approved_date_time: item.approved_date_time.clone(),
            });
        }
        rows
    }

    fn cells(&self) -> [String; ERRORS_COLUMNS.len()] {
        [
            cell(&self.email_address),
            cell(&self.status),
            self.kind.as_str().into(),
            optional_cell(&self.folder),
            optional_cell(&self.subject),
            self.source_uid.map(|n| n.to_string()).unwrap_or_default(),
            self.size.map(|n| n.to_string()).unwrap_or_default(),
            cell(&self.reason),
            optional_cell(&self.date_skipped),
            optional_cell(&self.approved_date_time),
        ]
    }
}

impl UserReport {
    pub fn new(u: &UserStatsView) -> Self {
        Self {
            statistics: StatisticsRow::new(u),
            errors: ErrorRow::of_user(u),
        }
    }
}

/// Text for a spreadsheet cell: unchanged, unless a spreadsheet would take it for a
/// formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return); then a `'`
/// in front makes it text.
pub fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

fn optional_cell(text: &Option<String>) -> String {
    text.as_deref().map(cell).unwrap_or_default()
}

/// CSV text with a byte order mark, the header and the rows; the `csv` crate quotes
/// what needs it (commas, quotes, line breaks).
fn csv_text<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xef\xbb\xbf".to_vec());
    // Writing to a Vec cannot fail, and every record has N fields.
    let _ = writer.write_record(header);
    for row in rows {
        let _ = writer.write_record(row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// MigrationStatistics.csv: one row per user, in the order given.
pub fn statistics_csv(users: &[UserStatsView]) -> String {
    csv_text(
        STATISTICS_COLUMNS,
        users.iter().map(|u| StatisticsRow::new(u).cells()),
    )
}

/// MigrationErrors.csv: per user, in the order given, its error row (a failed user, or
/// one with an ErrorSummary), then a row per skipped item. Only the header when
/// nothing went wrong.
pub fn errors_csv(users: &[UserStatsView]) -> String {
    csv_text(
        ERRORS_COLUMNS,
        users
            .iter()
            .flat_map(ErrorRow::of_user)
            .map(|row| row.cells()),
    )
}

/// How many rows [`errors_csv`] writes for these users.
pub fn error_count(users: &[UserStatsView]) -> usize {
    users.iter().map(|u| ErrorRow::of_user(u).len()).sum()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::views::SkippedItemView;

    fn user(email: &str, status: &str, error: Option<&str>) -> UserStatsView {
        UserStatsView {
            identity: email.into(),
            batch_id: "CutoverBatch".into(),
            recipient_type: "UserMailbox".into(),
            status: status.into(),
            source_login: email.into(),
            total_items_in_source_mailbox_count: 31,
            total_bytes_in_source_mailbox: 130_000,
            synced_item_count: 29,
            skipped_item_count: 2,
            bad_item_count: 1,
            large_item_count: 1,
            data_consistency_score: "Poor".into(),
            skipped_items_approved_date_time: None,
            bytes_transferred: 123_456,
            folder_count: 3,
            last_pass_item_count: 29,
            last_pass_duration: None,
            initial_sync_completed: true,
            last_synced_date_time: Some("2026-12-05T01:02:03Z".into()),
            error: error.map(Into::into),
            removals_held: 0,
            removals_held_detail: None,
            removals_approved_date_time: None,
            folders_left_out: vec![],
            percentage_complete: Some(93),
            bytes_percentage_complete: Some(94),
            estimated_seconds_left: None,
            estimated_time_left: None,
            status_detail: None,
            throttled_until_date_time: None,
            calendar_items_synced: None,
            task_items_synced: None,
            contact_items_synced: None,
            dav_items_skipped: None,
            dav_last_synced_date_time: None,
            dav_error: None,
            skipped_items: Some(vec![]),
        }
    }

    fn item(kind: &str, folder: &str, subject: &str, reason: &str) -> SkippedItemView {
        SkippedItemView {
            kind: kind.into(),
            folder: folder.into(),
            source_uid: 7,
            subject: subject.into(),
            size: 2_097_152,
            reason: reason.into(),
            date_skipped: Some("2026-12-05T01:00:00Z".into()),
            approved_date_time: None,
        }
    }

    /// The CSV read back with the `csv` crate: the header, then the rows.
    fn read(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    }

    #[test]
    fn statistics_have_exchanges_columns_and_one_row_per_user() {
        let users = [
            user(
                "alice@contoso.test",
                "Failed",
                Some("2 large item(s) skipped"),
            ),
            user("bob@contoso.test", "Synced", None),
        ];
        let text = statistics_csv(&users);
        assert!(text.starts_with("\u{feff}EmailAddress,Status,"), "{text}");
        assert!(text.ends_with("\r\n"), "{text:?}");
        let (header, rows) = read(&text);
        assert_eq!(header, STATISTICS_COLUMNS);
        assert_eq!(
            rows,
            [
                [
                    "alice@contoso.test",
                    "Failed",
                    "31",
                    "130000",
                    "29",
                    "2",
                    "1",
                    "1",
                    "123456",
                    "2026-12-05T01:02:03Z",
                    "Poor",
                    "2 large item(s) skipped"
                ],
                [
                    "bob@contoso.test",
                    "Synced",
                    "31",
                    "130000",
                    "29",
                    "2",
                    "1",
                    "1",
                    "123456",
                    "2026-12-05T01:02:03Z",
                    "Poor",
                    ""
                ]
            ]
        );
    }

    #[test]
    fn errors_list_failed_users_and_every_skipped_item() {
        let mut alice = user(
            "alice@contoso.test",
            "Failed",
            Some("over LargeItemLimit 0"),
        );
        alice.skipped_items = Some(vec![
            item("LargeItem", "INBOX", "Rapport annuel été", "too big"),
            item("BadItem", "Sent", "", "the target refused it: NO bad"),
        ]);
        let mut carol = user("carol@contoso.test", "Synced", Some("folder 'A*B' refused"));
        carol.skipped_items = None;
        let bob = user("bob@contoso.test", "Synced", None);
        let users = [alice, bob, carol];
        let (header, rows) = read(&errors_csv(&users));
        assert_eq!(header, ERRORS_COLUMNS);
        let kinds: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r[0].as_str(), r[2].as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("alice@contoso.test", "Error"),
                ("alice@contoso.test", "LargeItem"),
                ("alice@contoso.test", "BadItem"),
                ("carol@contoso.test", "Warning"),
            ]
        );
        assert_eq!(error_count(&users), 4);
        // A user's row leaves the item columns empty; an item's row fills them.
        assert_eq!(
            rows[0],
            [
                "alice@contoso.test",
                "Failed",
                "Error",
                "",
                "",
                "",
                "",
                "over LargeItemLimit 0",
                "",
                ""
            ]
        );
        assert_eq!(
            rows[1],
            [
                "alice@contoso.test",
                "Failed",
                "LargeItem",
                "INBOX",
                "Rapport annuel été",
                "7",
                "2097152",
                "too big",
                "2026-12-05T01:00:00Z",
                ""
            ]
        );
    }

    #[test]
    fn nothing_wrong_is_a_header_alone() {
        let users = [user("bob@contoso.test", "Synced", None)];
        assert_eq!(
            errors_csv(&users),
            format!("\u{feff}{}\r\n", ERRORS_COLUMNS.join(","))
        );
        assert_eq!(error_count(&users), 0);
        assert_eq!(read(&statistics_csv(&[])).1.len(), 0);
    }

    #[test]
    fn a_failed_user_without_an_error_still_has_its_row() {
        let (_, rows) = read(&errors_csv(&[user("a@contoso.test", "Failed", None)]));
        assert_eq!(rows.len(), 1);
        assert!(rows[0][7].contains("no error was recorded"), "{rows:?}");
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted_and_read_back_whole() {
        let mut u = user("a@contoso.test", "Failed", Some("line one\r\nline \"two\""));
        u.skipped_items = Some(vec![item(
            "BadItem",
            "Reports, 2025",
            "He said \"hi\", then\nleft",
            "NO [LIMIT], \"quota\"",
        )]);
        let text = errors_csv(std::slice::from_ref(&u));
        assert!(text.contains("\"Reports, 2025\""), "{text}");
        assert!(
            text.contains("\"He said \"\"hi\"\", then\nleft\""),
            "{text}"
        );
        let (_, rows) = read(&text);
        assert_eq!(rows[0][7], "line one\r\nline \"two\"");
        assert_eq!(rows[1][3], "Reports, 2025");
        assert_eq!(rows[1][4], "He said \"hi\", then\nleft");
        assert_eq!(rows[1][7], "NO [LIMIT], \"quota\"");
        let (_, stats) = read(&statistics_csv(&[u]));
        assert_eq!(stats[0][11], "line one\r\nline \"two\"");
    }

    #[test]
    fn formulas_from_mail_servers_are_neutralised() {
        for (given, written) in [
            (
                "=HYPERLINK(\"http://evil\",\"x\")",
                "'=HYPERLINK(\"http://evil\",\"x\")",
            ),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Re: =1", "Re: =1"),
            ("a-b", "a-b"),
            ("", ""),
        ] {
            assert_eq!(cell(given), written, "{given:?}");
        }
        let mut u = user("=cmd@contoso.test", "Failed", Some("-folder refused"));
        u.skipped_items = Some(vec![item("BadItem", "@Team", "=1+2", "+NO")]);
        let (_, rows) = read(&errors_csv(std::slice::from_ref(&u)));
        assert_eq!(rows[0][0], "'=cmd@contoso.test");
        assert_eq!(rows[0][7], "'-folder refused");
        assert_eq!(&rows[1][3..5], ["'@Team", "'=1+2"]);
        assert_eq!(rows[1][7], "'+NO");
        let (_, stats) = read(&statistics_csv(&[u.clone()]));
        assert_eq!(stats[0][0], "'=cmd@contoso.test");
        assert_eq!(stats[0][11], "'-folder refused");
        // The JSON report keeps them exact.
        let report = serde_json::to_value(UserReport::new(&u)).unwrap();
        assert_eq!(report["Errors"][1]["Subject"], "=1+2");
        assert_eq!(report["Statistics"]["EmailAddress"], "=cmd@contoso.test");
    }

    #[test]
    fn the_json_report_names_the_csv_columns() {
        let mut u = user("a@contoso.test", "Failed", Some("x"));
        u.skipped_items = Some(vec![item("LargeItem", "INBOX", "s", "r")]);
        let report = serde_json::to_value(UserReport::new(&u)).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys(&report["Statistics"]), STATISTICS_COLUMNS);
        for row in report["Errors"].as_array().unwrap() {
            assert_eq!(keys(row), ERRORS_COLUMNS);
        }
        assert_eq!(report["Errors"][1]["Kind"], "LargeItem");
    }

    proptest! {
        /// Whatever a server puts in a folder name, subject or reason, the file reads back
        /// to the same rows, and no cell starts a formula.
        #[test]
        fn any_text_reads_back_and_never_starts_a_formula(
            folder in any::<String>(),
            subject in "[=+@\\-\t\r\n,\"' a-z]{0,12}",
            reason in any::<String>(),
        ) {
            let mut u = user("a@contoso.test", "Failed", Some(&reason));
            u.skipped_items = Some(vec![item("BadItem", &folder, &subject, &reason)]);
            let (_, rows) = read(&errors_csv(std::slice::from_ref(&u)));
            prop_assert_eq!(rows.len(), 2);
            prop_assert_eq!(&rows[1][3], &cell(&folder));
            prop_assert_eq!(&rows[1][4], &cell(&subject));
            prop_assert_eq!(&rows[1][7], &cell(&reason));
            for row in &rows {
                for c in row {
                    prop_assert!(!c.starts_with(['=', '+', '-', '@', '\t', '\r']), "{:?}", c);
                }
            }
        }
    }
}
