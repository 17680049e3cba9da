-- Notification e-mails (New-/Set-MigrationBatch -NotificationEmails, -ReportInterval,
-- -SkipReports): who gets them, how often a report goes out (seconds), whether reports
-- go out at all. No addresses: no mail.
ALTER TABLE batches ADD COLUMN notification_emails TEXT NOT NULL DEFAULT '[]';
ALTER TABLE batches ADD COLUMN report_interval INTEGER NOT NULL DEFAULT 86400;
ALTER TABLE batches ADD COLUMN skip_reports INTEGER NOT NULL DEFAULT 0;

-- The installation's SMTP relay (`cutover notify set`); its password is sealed like the
-- target's, owner "smtp-relay".
CREATE TABLE smtp_relay (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    host            TEXT NOT NULL,
    port            INTEGER NOT NULL,
    tls             TEXT NOT NULL,
    from_address    TEXT NOT NULL,
    username        TEXT,
    password_sealed TEXT,
    ca_file         TEXT,
    updated_at      TEXT NOT NULL
);

-- What was already mailed about a batch, written only after the relay took the mail:
-- when the initial-sync mail and the last report went out, and the failed users already
-- announced (JSON list of addresses; a user that recovers leaves it, so a new failure
-- is announced again).
CREATE TABLE batch_notifications (
    batch                    TEXT PRIMARY KEY COLLATE NOCASE REFERENCES batches(name) ON DELETE CASCADE,
    initial_sync_notified_at TEXT,
    last_report_at           TEXT,
    failures_announced       TEXT NOT NULL DEFAULT '[]'
);
