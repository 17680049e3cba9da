//! What a notification mail says: its subject, a short plain-text summary with what to
//! do next, and the batch's two reports attached (MigrationStatistics.csv and
//! MigrationErrors.csv). Built with lettre's message builder; nothing is sent here.

use cutover_model::EmailAddress;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use super::due::Notice;
use crate::report::{ERRORS_FILE, STATISTICS_FILE};
use crate::views::BatchView;

/// The batch as a mail summarises it, with its two reports.
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub view: BatchView,
    pub statistics_csv: String,
    pub errors_csv: String,
}

/// Exchange's subjects: "Migration batch NAME: initial sync finished", "...: 2 users
/// failed", "...: report".
pub fn subject(batch: &str, notice: &Notice) -> String {
    let what = match notice {
        Notice::InitialSyncFinished => "initial sync finished".to_string(),
        Notice::UsersFailed { users } if users.len() == 1 => "1 user failed".to_string(),
        Notice::UsersFailed { users } => format!("{} users failed", users.len()),
        Notice::Report => "report".to_string(),
    };
    format!("Migration batch {batch}: {what}")
}

/// The plain-text summary: the batch's counts, the notice's news, and what to do next.
pub fn body(notice: &Notice, report: &BatchReport) -> String {
    let v = &report.view;
    let name = &v.identity;
    let mut text = String::new();
    let headline = match notice {
        Notice::InitialSyncFinished => format!(
            "The initial sync of migration batch {name} finished{}.",
            v.initial_sync_duration
                .as_deref()
                .map(|d| format!(" after {d}"))
                .unwrap_or_default()
        ),
        Notice::UsersFailed { users } => format!(
            "{} user(s) of migration batch {name} failed:\n{}",
            users.len(),
            users
                .iter()
                .map(|u| format!("  {u}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        Notice::Report => format!("The report of migration batch {name}."),
    };
    text.push_str(&headline);
    text.push_str("\n\n");
    let lines = [
        ("Batch", name.clone()),
        ("Status", v.status.clone()),
        ("Users", v.total_count.to_string()),
        ("Synced", v.synced_count.to_string()),
        ("Failed", v.failed_count.to_string()),
        ("Items synced", v.items_synced.to_string()),
        ("Items skipped", v.items_skipped.to_string()),
    ];
    for (k, val) in lines {
        text.push_str(&format!("{k:<14} {val}\n"));
    }
    text.push_str("\nWhat to do next:\n");
    for step in next_steps(v) {
        text.push_str(&format!("* {step}\n"));
    }
    text.push_str(&format!(
        "\nAttached: {STATISTICS_FILE} (one row per user) and {ERRORS_FILE} (failed users and \
         skipped items, with the reason).\n-- \ncutover\n"
    ));
    text
}

/// What the admin does next, from where the batch is.
pub fn next_steps(v: &BatchView) -> Vec<String> {
    let name = &v.identity;
    let mut steps = Vec::new();
    if v.failed_count > 0 {
        steps.push(format!(
            "{} user(s) failed: read why in {ERRORS_FILE}, fix the cause, then \
             `cutover batch start {name}` syncs them again.",
            v.failed_count
        ));
    }
    if v.items_skipped > 0 {
        steps.push(format!(
            "{} item(s) were skipped: check them in {ERRORS_FILE}; \
             `cutover batch approve-skipped-items {name}` accepts them.",
            v.items_skipped
        ));
    }
    if v.removals_held_count > 0 {
        steps.push(format!(
            "Removals are held for {} user(s): check the source, then \
             `cutover batch approve-removals {name}`.",
            v.removals_held_count
        ));
    }
    match v.status.as_str() {
        "Syncing" | "Created" => steps.push(
            "The initial sync is running: nothing to do yet; `cutover batch get` shows progress."
                .into(),
        ),
        "Synced" | "SyncedWithErrors" => steps.push(format!(
            "Move MX (and Autodiscover) to the new system and check it with `cutover dns check \
             --domain DOMAIN`; after a sync that follows the switch, `cutover batch remove {name}`."
        )),
        "Stopped" | "Stopping" => steps.push(format!(
            "The batch is stopped: `cutover batch start {name}` resumes it."
        )),
        _ => {}
    }
    steps
}

/// The mail to `to` from `from` about `notice`, with the reports attached.
pub fn compose(
    from: &EmailAddress,
    to: &[EmailAddress],
    notice: &Notice,
    report: &BatchReport,
) -> Result<Message, lettre::error::Error> {
    let csv = ContentType::parse("text/csv; charset=utf-8").expect("a valid content type");
    let mut builder = Message::builder()
        .from(mailbox(from))
        .subject(subject(&report.view.identity, notice));
    for address in to {
        builder = builder.to(mailbox(address));
    }
    builder.multipart(
        MultiPart::mixed()
            .singlepart(SinglePart::plain(body(notice, report)))
            .singlepart(
                Attachment::new(STATISTICS_FILE.to_string())
                    .body(report.statistics_csv.clone(), csv.clone()),
            )
            .singlepart(
                Attachment::new(ERRORS_FILE.to_string()).body(report.errors_csv.clone(), csv),
            ),
    )
}

/// The mail `cutover notify test` sends.
pub fn compose_test(
    from: &EmailAddress,
    to: &EmailAddress,
    relay: &str,
) -> Result<Message, lettre::error::Error> {
    Message::builder()
        .from(mailbox(from))
        .to(mailbox(to))
        .subject("cutover: test of the notification mail")
        .body(format!(
            "This is a test of cutover's notification e-mails, sent through the SMTP relay \
             {relay}.\nBatches with --notification-emails get their mails this way.\n-- \ncutover\n"
        ))
}

fn mailbox(address: &EmailAddress) -> Mailbox {
    Mailbox::new(
        None,
        address
            .as_str()
            .parse()
            .expect("an EmailAddress is a valid mail address"),
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use cutover_model::{Batch, BatchStatus, Name};

    use super::*;

    fn report(status: BatchStatus) -> BatchReport {
        let b = Batch {
            status,
            started_at: Some(Utc::now()),
            ..Batch::new(
                Name::parse("batch", "CutoverBatch").unwrap(),
                Name::parse("endpoint", "E").unwrap(),
                Utc::now(),
            )
        };
        BatchReport {
            view: BatchView::new(&b, &[]),
            statistics_csv: "EmailAddress,Status\r\n".into(),
            errors_csv: "EmailAddress\r\n".into(),
        }
    }

    #[test]
    fn subjects_read_like_exchanges() {
        let two = Notice::UsersFailed {
            users: vec!["a@b.test".parse().unwrap(), "c@b.test".parse().unwrap()],
        };
        assert_eq!(
            subject("B", &Notice::InitialSyncFinished),
            "Migration batch B: initial sync finished"
        );
        assert_eq!(subject("B", &two), "Migration batch B: 2 users failed");
        assert_eq!(subject("B", &Notice::Report), "Migration batch B: report");
    }

    #[test]
    fn a_synced_batch_is_told_to_move_mx_and_a_failed_user_to_start_again() {
        let mut r = report(BatchStatus::Synced);
        let text = body(&Notice::InitialSyncFinished, &r);
        assert!(text.contains("Move MX"), "{text}");
        assert!(text.contains("Items skipped"), "{text}");
        r.view.failed_count = 1;
        let text = body(&Notice::Report, &r);
        assert!(
            text.contains("`cutover batch start CutoverBatch` syncs them again"),
            "{text}"
        );
    }

    #[test]
    fn the_mail_carries_both_reports() {
        let r = report(BatchStatus::Synced);
        let from: EmailAddress = "cutover@contoso.test".parse().unwrap();
        let to: EmailAddress = "admin@contoso.test".parse().unwrap();
        let mail = compose(&from, &[to], &Notice::Report, &r).unwrap();
        let text = String::from_utf8(mail.formatted()).unwrap();
        assert!(text.contains("MigrationStatistics.csv"), "{text}");
        assert!(text.contains("MigrationErrors.csv"), "{text}");
        assert!(text.contains("Subject: Migration batch CutoverBatch: report"));
    }
}
