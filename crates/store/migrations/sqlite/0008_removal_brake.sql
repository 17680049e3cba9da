-- The brake on mass removal: a pass that would remove more than this share of a
-- mailbox's migrated messages (or a whole folder holding them) holds the removals until
-- the admin approves them (`batch approve-removals`).
ALTER TABLE batches ADD COLUMN removal_threshold_percent INTEGER NOT NULL DEFAULT 10;
-- What the last pass held, for the admin, and the approval the next pass consumes.
-- The approval is written only by the approval and cleared only by the pass that used it,
-- so a pass that saves the user's row meanwhile cannot lose it.
ALTER TABLE users ADD COLUMN removals_held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN removals_held_detail TEXT;
ALTER TABLE users ADD COLUMN removals_approved_at TEXT;
