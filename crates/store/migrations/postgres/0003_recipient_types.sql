-- SQLite's 0019_recipient_types.sql: what each migration user is in the source
-- organization (Exchange's RecipientType; users from a users CSV are mailboxes), and
-- whether a batch was created with --skip-domain-check. (SQLite's 0022 fixes batches made
-- before 0019; no PostgreSQL state is that old.)
ALTER TABLE users ADD COLUMN recipient_type TEXT COLLATE "C" NOT NULL DEFAULT 'UserMailbox';
ALTER TABLE batches ADD COLUMN domain_check_skipped BOOLEAN NOT NULL DEFAULT FALSE;
