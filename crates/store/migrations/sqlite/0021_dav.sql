-- The CalDAV/CardDAV ledger (crates/store/src/dav.rs): per user, an intent is written
-- before a PUT to the target and a record after it, so a re-run or a crash never puts an
-- item twice. Identity is per side (collection, href, ETag) plus the item's UID.
CREATE TABLE dav_records (
    user_email        TEXT NOT NULL COLLATE NOCASE,
    source_collection TEXT NOT NULL,
    source_href       TEXT NOT NULL,
    -- the ETag of the source bytes that were copied
    source_etag       TEXT NOT NULL,
    uid               TEXT NOT NULL,
    target_collection TEXT NOT NULL,
    target_href       TEXT NOT NULL,
    -- the ETag the target gave the copy (empty when it gave none: the next listing tells)
    target_etag       TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (user_email, source_href),
    UNIQUE (user_email, target_href)
) WITHOUT ROWID;

-- A PUT under way: the new item's or the update's source ETag, and where it goes. An
-- update's intent stands beside the item's record until the record replaces it.
CREATE TABLE dav_intents (
    user_email        TEXT NOT NULL COLLATE NOCASE,
    source_collection TEXT NOT NULL,
    source_href       TEXT NOT NULL,
    source_etag       TEXT NOT NULL,
    uid               TEXT NOT NULL,
    target_collection TEXT NOT NULL,
    target_href       TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (user_email, source_href)
) WITHOUT ROWID;

-- RFC 6578 sync tokens of the source's collections, saved only after a pass applied
-- everything the token's changes asked for.
CREATE TABLE dav_sync_tokens (
    user_email        TEXT NOT NULL COLLATE NOCASE,
    source_collection TEXT NOT NULL,
    token             TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (user_email, source_collection)
) WITHOUT ROWID;

-- Items the target refused or the plan could not copy, with why: the next pass tries
-- them again (a success removes the row); the user's statistics count them.
CREATE TABLE dav_skipped (
    user_email        TEXT NOT NULL COLLATE NOCASE,
    source_href       TEXT NOT NULL,
    reason            TEXT NOT NULL,
    skipped_at        TEXT NOT NULL,
    PRIMARY KEY (user_email, source_href)
) WITHOUT ROWID;
