-- SQLite's 0021_dav.sql: the CalDAV/CardDAV ledger (crates/store/src/dav.rs). The user's
-- address compares without case, as SQLite's NOCASE; hrefs, ETags and tokens by bytes.
CREATE TABLE dav_records (
    user_email        TEXT COLLATE nocase NOT NULL,
    source_collection TEXT COLLATE "C" NOT NULL,
    source_href       TEXT COLLATE "C" NOT NULL,
    -- the ETag of the source bytes that were copied
    source_etag       TEXT COLLATE "C" NOT NULL,
    uid               TEXT COLLATE "C" NOT NULL,
    target_collection TEXT COLLATE "C" NOT NULL,
    target_href       TEXT COLLATE "C" NOT NULL,
    -- the ETag the target gave the copy (empty when it gave none: the next listing tells)
    target_etag       TEXT COLLATE "C" NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_email, source_href),
    UNIQUE (user_email, target_href)
);

-- A PUT under way; an update's intent stands beside the item's record until the record
-- replaces it.
CREATE TABLE dav_intents (
    user_email        TEXT COLLATE nocase NOT NULL,
    source_collection TEXT COLLATE "C" NOT NULL,
    source_href       TEXT COLLATE "C" NOT NULL,
    source_etag       TEXT COLLATE "C" NOT NULL,
    uid               TEXT COLLATE "C" NOT NULL,
    target_collection TEXT COLLATE "C" NOT NULL,
    target_href       TEXT COLLATE "C" NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_email, source_href)
);

-- RFC 6578 sync tokens of the source's collections.
CREATE TABLE dav_sync_tokens (
    user_email        TEXT COLLATE nocase NOT NULL,
    source_collection TEXT COLLATE "C" NOT NULL,
    token             TEXT COLLATE "C" NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_email, source_collection)
);

-- Items the target refused or the plan could not copy, with why.
CREATE TABLE dav_skipped (
    user_email        TEXT COLLATE nocase NOT NULL,
    source_href       TEXT COLLATE "C" NOT NULL,
    reason            TEXT COLLATE "C" NOT NULL,
    skipped_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_email, source_href)
);
