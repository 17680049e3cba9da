-- Bad and large items: each skipped message gets its kind and subject, is keyed by the
-- source folder's wire name (as `messages` is, so a later copy can remove it), and can be
-- approved by the admin (`batch approve-skipped-items`).

CREATE TABLE skipped_items_v2 (
    email           TEXT NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    -- Wire name (modified UTF-7) on the source, as messages.src_name.
    src_name        BLOB NOT NULL,
    -- Display form of src_name, for admins.
    folder          TEXT NOT NULL,
    -- 0 when unknown (rows from before this migration).
    src_uidvalidity INTEGER NOT NULL,
    src_uid         INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    -- 'BadItem' or 'LargeItem'.
    kind            TEXT NOT NULL,
    -- Decoded Subject header; '' when the message could not be read.
    subject         TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL,
    -- When it was first skipped (a later refusal of the same message keeps it).
    skipped_at      TEXT NOT NULL,
    -- When the admin approved it; NULL while it waits for approval.
    approved_at     TEXT,
    PRIMARY KEY (email, src_name, src_uid)
);

-- Old rows knew only the display name: for ASCII names the wire name is the same with
-- '&' written '&-'; other names get a best guess that the next pass replaces.
INSERT OR IGNORE INTO skipped_items_v2
    (email, src_name, folder, src_uidvalidity, src_uid, size, kind, subject, reason, skipped_at)
SELECT s.email,
       CAST(REPLACE(s.folder, '&', '&-') AS BLOB),
       s.folder,
       COALESCE((SELECT f.src_uidvalidity FROM folders f
                 WHERE f.email = s.email AND f.src_name = CAST(REPLACE(s.folder, '&', '&-') AS BLOB)), 0),
       s.src_uid,
       s.size,
       CASE WHEN s.reason LIKE '%TOOBIG%' OR s.reason LIKE '%too large%' OR s.reason LIKE '%too big%'
            THEN 'LargeItem' ELSE 'BadItem' END,
       '',
       s.reason,
       s.skipped_at
FROM skipped_items s;

DROP TABLE skipped_items;
ALTER TABLE skipped_items_v2 RENAME TO skipped_items;

-- What is skipped now, per user and kind (items_skipped = bad_items + large_items).
ALTER TABLE users ADD COLUMN bad_items INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN large_items INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN skipped_items_approved_at TEXT;
UPDATE users SET
    bad_items = (SELECT COUNT(*) FROM skipped_items s WHERE s.email = users.email AND s.kind = 'BadItem'),
    large_items = (SELECT COUNT(*) FROM skipped_items s WHERE s.email = users.email AND s.kind = 'LargeItem');
UPDATE users SET items_skipped = bad_items + large_items;

ALTER TABLE batches ADD COLUMN skipped_item_approval_time TEXT;
