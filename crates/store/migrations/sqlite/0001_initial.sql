-- The control plane's state: desired state set by the CLI/API, progress set by workers.
-- Timestamps are RFC 3339 text in UTC. Secrets are sealed (see secrets.rs), never plain.

CREATE TABLE target (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    server          TEXT NOT NULL,
    port            INTEGER NOT NULL,
    security        TEXT NOT NULL,
    admin           TEXT NOT NULL,
    impersonation   TEXT NOT NULL,
    ca_file         TEXT,
    password_sealed TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE endpoints (
    name                             TEXT PRIMARY KEY COLLATE NOCASE,
    server                           TEXT NOT NULL,
    port                             INTEGER NOT NULL,
    security                         TEXT NOT NULL,
    admin                            TEXT NOT NULL,
    impersonation                    TEXT NOT NULL,
    ca_file                          TEXT,
    password_sealed                  TEXT NOT NULL,
    max_concurrent_migrations        INTEGER NOT NULL,
    max_concurrent_incremental_syncs INTEGER NOT NULL,
    created_at                       TEXT NOT NULL
);

CREATE TABLE batches (
    name                  TEXT PRIMARY KEY COLLATE NOCASE,
    source_endpoint       TEXT NOT NULL REFERENCES endpoints(name),
    status                TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    started_at            TEXT,
    initial_sync_at       TEXT,
    last_synced_at        TEXT,
    next_sync_at          TEXT,
    incremental_interval  INTEGER NOT NULL,
    bad_item_limit        INTEGER NOT NULL,
    large_item_limit      INTEGER NOT NULL,
    excluded_folders      TEXT NOT NULL
);

CREATE TABLE users (
    email              TEXT PRIMARY KEY,
    batch              TEXT NOT NULL REFERENCES batches(name) ON DELETE CASCADE,
    source_login       TEXT,
    password_sealed    TEXT,
    status             TEXT NOT NULL,
    error              TEXT,
    initial_sync_done  INTEGER NOT NULL DEFAULT 0,
    last_synced_at     TEXT,
    source_items       INTEGER NOT NULL DEFAULT 0,
    items_synced       INTEGER NOT NULL DEFAULT 0,
    items_skipped      INTEGER NOT NULL DEFAULT 0,
    bytes_synced       INTEGER NOT NULL DEFAULT 0,
    folders            INTEGER NOT NULL DEFAULT 0,
    last_pass_items    INTEGER NOT NULL DEFAULT 0,
    last_pass_millis   INTEGER NOT NULL DEFAULT 0,
    position           INTEGER NOT NULL
);
CREATE INDEX users_by_batch ON users(batch, position);

-- Per user and source folder: what the last pass saw.
CREATE TABLE folders (
    email           TEXT NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name        BLOB NOT NULL,
    src_uidvalidity INTEGER NOT NULL,
    dst_name        BLOB NOT NULL,
    uidnext         INTEGER,
    highest_modseq  INTEGER,
    messages        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (email, src_name)
);

-- The identity of a copied message: (folder, uidvalidity, uid) on the source -> uid on the target.
CREATE TABLE messages (
    email           TEXT NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name        BLOB NOT NULL,
    src_uidvalidity INTEGER NOT NULL,
    src_uid         INTEGER NOT NULL,
    dst_uidvalidity INTEGER,
    dst_uid         INTEGER,
    size            INTEGER NOT NULL,
    PRIMARY KEY (email, src_name, src_uidvalidity, src_uid)
) WITHOUT ROWID;

-- Messages a pass could not copy (refused by the target, unreadable on the source).
CREATE TABLE skipped_items (
    email      TEXT NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    folder     TEXT NOT NULL,
    src_uid    INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    skipped_at TEXT NOT NULL,
    PRIMARY KEY (email, folder, src_uid)
);
