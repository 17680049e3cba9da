-- Provisioning the target organization (issue 13). Whether a batch is the whole
-- organization read from the endpoint's directory (`batch new --all-mailboxes`): its
-- rounds pick up new recipients and changes. Per migration user, its entry in the
-- target's directory: what it should be (`desired`, JSON, and its digest, written when
-- a round opens), what was last applied (`applied_digest`), where it is (`target_dn`),
-- when it was first and last provisioned, the last failure, and its initial password:
-- sealed (owner `initial-password:EMAIL`) from before it is set on the target until it
-- is written to the passwords CSV, then forgotten (`password_handed_out_at`).
ALTER TABLE batches ADD COLUMN from_directory INTEGER NOT NULL DEFAULT 0;
CREATE TABLE provisioning (
    email                  TEXT PRIMARY KEY REFERENCES users(email) ON DELETE CASCADE,
    desired                TEXT,
    desired_digest         TEXT,
    applied_digest         TEXT,
    target_dn              TEXT,
    provisioned_at         TEXT,
    updated_at             TEXT,
    error                  TEXT,
    password_sealed        TEXT,
    password_set_at        TEXT,
    password_handed_out_at TEXT
);
