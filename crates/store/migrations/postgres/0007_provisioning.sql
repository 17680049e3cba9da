-- SQLite's 0024_provisioning.sql: whether a batch is the organization read from the
-- endpoint's directory, and per migration user its entry in the target's directory
-- (desired and applied, where, when) and its initial password, sealed until the
-- passwords CSV holds it.
ALTER TABLE batches ADD COLUMN from_directory BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE provisioning (
    email                  TEXT COLLATE "C" PRIMARY KEY REFERENCES users(email) ON DELETE CASCADE,
    desired                TEXT COLLATE "C",
    desired_digest         TEXT COLLATE "C",
    applied_digest         TEXT COLLATE "C",
    target_dn              TEXT COLLATE "C",
    provisioned_at         TIMESTAMPTZ,
    updated_at             TIMESTAMPTZ,
    error                  TEXT COLLATE "C",
    password_sealed        TEXT COLLATE "C",
    password_set_at        TIMESTAMPTZ,
    password_handed_out_at TIMESTAMPTZ
);
