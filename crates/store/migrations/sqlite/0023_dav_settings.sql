-- Calendars, contacts and tasks wired into cutover (issue 14).
--
-- Each side's CalDAV/CardDAV server (JSON of cutover_model::DavSettings: base URL, CA
-- file, how users sign in); NULL: the side moves mail only. No secret is in it: users
-- sign in with their passwords from the users CSV, sealed in users.password_sealed.
ALTER TABLE endpoints ADD COLUMN dav TEXT;
ALTER TABLE target ADD COLUMN dav TEXT;

-- What each copied item is, for the counts beside mail: 'event', 'task' or 'contact'.
-- Rows from before this migration were never written by a batch (the DAV pass was not
-- wired into the scheduler yet): they count as events.
ALTER TABLE dav_records ADD COLUMN kind TEXT NOT NULL DEFAULT 'event';
ALTER TABLE dav_intents ADD COLUMN kind TEXT NOT NULL DEFAULT 'event';

-- A skipped DAV item is a bad or large item like a refused message ('BadItem' or
-- 'LargeItem'), approved with the batch's other skipped items.
ALTER TABLE dav_skipped ADD COLUMN kind TEXT NOT NULL DEFAULT 'BadItem';
ALTER TABLE dav_skipped ADD COLUMN approved_at TEXT;

-- How each user's last DAV pass ended: when, and the error that ended it (NULL: it went
-- through). Apart from the users row, which the mail pass of the same user writes.
CREATE TABLE dav_passes (
    user_email  TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
    ended_at    TEXT NOT NULL,
    error       TEXT
) WITHOUT ROWID;
