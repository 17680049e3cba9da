-- Messages about to be appended to the target. Written (one transaction per chunk)
-- before the APPEND is sent and removed in the transaction that records the copy, so
-- after a crash every message that may be on the target without a mapping is known;
-- the next pass looks for it on the target before copying it again.
CREATE TABLE intents (
    email           TEXT NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name        BLOB NOT NULL,
    src_uidvalidity INTEGER NOT NULL,
    src_uid         INTEGER NOT NULL,
    dst_name        BLOB NOT NULL,
    -- Target UIDNEXT before the APPEND: the message, if it landed, has a UID >= this.
    dst_uid_floor   INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    internal_date   INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (email, src_name, src_uidvalidity, src_uid)
) WITHOUT ROWID;

-- The source flags of each copied message at the last pass, so that a pass applies
-- to the target only what changed on the source (space-separated, as the server sent).
ALTER TABLE messages ADD COLUMN flags TEXT NOT NULL DEFAULT '';
