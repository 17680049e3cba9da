-- Work as jobs (crates/store/src/jobs.rs): a batch's pass is a round with one job per
-- user; workers claim due jobs under leases, heartbeat them, and end them. The leases
-- of 0007 were keyed by mailbox alone; a job carries its own.
DROP TABLE leases;

CREATE TABLE rounds (
    batch       TEXT PRIMARY KEY COLLATE NOCASE REFERENCES batches(name) ON DELETE CASCADE,
    -- 1: an incremental pass; 0: the initial sync.
    incremental INTEGER NOT NULL,
    started_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'mailbox-pass'
    kind             TEXT NOT NULL,
    batch            TEXT NOT NULL COLLATE NOCASE REFERENCES rounds(batch) ON DELETE CASCADE,
    -- the user's address
    subject          TEXT NOT NULL COLLATE NOCASE,
    -- order in the round (biggest mailboxes lowest)
    position         INTEGER NOT NULL,
    -- Unix milliseconds (UTC): not before
    run_at           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    refusals         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    lease_owner      TEXT,
    leased_at        TEXT,
    heartbeat_at     TEXT,
    -- Unix milliseconds (UTC), compared as numbers
    lease_expires_at INTEGER,
    UNIQUE (kind, subject)
);
CREATE INDEX jobs_by_batch ON jobs(batch, position, id);
CREATE INDEX jobs_by_owner ON jobs(lease_owner);

-- How many of a batch's mailboxes may run at once after refusals for load (AIMD),
-- shared by every worker.
CREATE TABLE throttles (
    batch        TEXT PRIMARY KEY COLLATE NOCASE REFERENCES batches(name) ON DELETE CASCADE,
    lim          INTEGER NOT NULL,
    credits      INTEGER NOT NULL,
    max          INTEGER NOT NULL,
    -- Unix milliseconds (UTC): no new pass before
    closed_until INTEGER
) WITHOUT ROWID;
