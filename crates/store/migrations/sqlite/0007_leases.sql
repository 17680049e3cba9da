-- Leases on work (one mailbox pass each), so that several workers (`cutover run`,
-- `cutover serve`, later processes on PostgreSQL) never work on one mailbox at once.
-- A worker holds a lease until `expires_at` and renews it by heartbeat while it works;
-- a dead worker stops renewing, its lease expires, and another worker may take the job.
CREATE TABLE leases (
    -- What is leased, e.g. 'mailbox:alice@example.com'.
    job          TEXT PRIMARY KEY,
    -- The worker holding it (host, process id and a random part).
    owner        TEXT NOT NULL,
    acquired_at  TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    -- Unix milliseconds (UTC), compared as numbers.
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX leases_by_owner ON leases(owner);
