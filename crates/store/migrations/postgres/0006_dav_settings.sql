-- SQLite's 0023_dav_settings.sql: each side's CalDAV/CardDAV settings (JSON, no secret),
-- what each copied item is, skipped DAV items as bad or large items with their approval,
-- and how each user's last DAV pass ended.
ALTER TABLE endpoints ADD COLUMN dav TEXT COLLATE "C";
ALTER TABLE target ADD COLUMN dav TEXT COLLATE "C";

ALTER TABLE dav_records ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'event';
ALTER TABLE dav_intents ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'event';

ALTER TABLE dav_skipped ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'BadItem';
ALTER TABLE dav_skipped ADD COLUMN approved_at TIMESTAMPTZ;

CREATE TABLE dav_passes (
    user_email  TEXT COLLATE nocase PRIMARY KEY,
    ended_at    TIMESTAMPTZ NOT NULL,
    error       TEXT COLLATE "C"
);
