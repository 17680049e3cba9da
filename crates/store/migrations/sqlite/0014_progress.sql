-- A mailbox's progress and the batch's throughput over time (the dashboard's progress
-- column, time left and chart).

-- Bytes of the source's messages as the last pass counted them.
ALTER TABLE users ADD COLUMN source_bytes INTEGER NOT NULL DEFAULT 0;
-- Where the last pass started copying: when, and the user's messages and bytes on the
-- target then (time left is the rest at the rate since).
ALTER TABLE users ADD COLUMN pass_started_at TEXT;
ALTER TABLE users ADD COLUMN pass_items_at_start INTEGER;
ALTER TABLE users ADD COLUMN pass_bytes_at_start INTEGER;

-- Messages and bytes copied, per batch and per ten seconds (bucket: Unix time of the
-- bucket's start). Gone with the batch.
CREATE TABLE throughput (
    batch    TEXT NOT NULL REFERENCES batches(name) ON DELETE CASCADE,
    bucket   INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    bytes    INTEGER NOT NULL,
    PRIMARY KEY (batch, bucket)
) WITHOUT ROWID;
