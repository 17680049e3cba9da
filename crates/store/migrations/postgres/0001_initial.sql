-- The schema SQLite has after its migrations 0001..0017, in PostgreSQL's types.
-- Wire names (modified UTF-7, or raw 8-bit from odd servers) are BYTEA, numbers BIGINT,
-- times TIMESTAMPTZ, except a lease's expiry: Unix milliseconds (BIGINT), as on SQLite.
-- Text sorts by bytes (COLLATE "C", SQLite's BINARY) so that every listing and the
-- state dump come out in the same order on both; the names SQLite compares with NOCASE
-- (endpoints, batches) compare without case here too (a nondeterministic collation).

CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE TABLE target (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    server          TEXT COLLATE "C" NOT NULL,
    port            BIGINT NOT NULL,
    security        TEXT COLLATE "C" NOT NULL,
    admin           TEXT COLLATE "C" NOT NULL,
    impersonation   TEXT COLLATE "C" NOT NULL,
    ca_file         TEXT COLLATE "C",
    password_sealed TEXT COLLATE "C" NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    compression     TEXT COLLATE "C" NOT NULL DEFAULT 'auto',
    folds_case      BOOLEAN,
    oauth           TEXT COLLATE "C"
);

CREATE TABLE endpoints (
    name                             TEXT COLLATE nocase PRIMARY KEY,
    server                           TEXT COLLATE "C" NOT NULL,
    port                             BIGINT NOT NULL,
    security                         TEXT COLLATE "C" NOT NULL,
    admin                            TEXT COLLATE "C" NOT NULL,
    impersonation                    TEXT COLLATE "C" NOT NULL,
    ca_file                          TEXT COLLATE "C",
    password_sealed                  TEXT COLLATE "C" NOT NULL,
    max_concurrent_migrations        BIGINT NOT NULL,
    max_concurrent_incremental_syncs BIGINT NOT NULL,
    created_at                       TIMESTAMPTZ NOT NULL,
    compression                      TEXT COLLATE "C" NOT NULL DEFAULT 'auto',
    oauth                            TEXT COLLATE "C"
);

CREATE TABLE batches (
    name                       TEXT COLLATE nocase PRIMARY KEY,
    source_endpoint            TEXT COLLATE nocase NOT NULL REFERENCES endpoints(name),
    status                     TEXT COLLATE "C" NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL,
    started_at                 TIMESTAMPTZ,
    initial_sync_at            TIMESTAMPTZ,
    last_synced_at             TIMESTAMPTZ,
    next_sync_at               TIMESTAMPTZ,
    incremental_interval       BIGINT NOT NULL,
    bad_item_limit             BIGINT NOT NULL,
    large_item_limit           BIGINT NOT NULL,
    excluded_folders           TEXT COLLATE "C" NOT NULL,
    skipped_item_approval_time TIMESTAMPTZ,
    folder_map                 TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    removal_threshold_percent  BIGINT NOT NULL DEFAULT 10,
    notification_emails        TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    report_interval            BIGINT NOT NULL DEFAULT 86400,
    skip_reports               BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE users (
    email                     TEXT COLLATE "C" PRIMARY KEY,
    batch                     TEXT COLLATE nocase NOT NULL REFERENCES batches(name) ON DELETE CASCADE,
    source_login              TEXT COLLATE "C",
    password_sealed           TEXT COLLATE "C",
    status                    TEXT COLLATE "C" NOT NULL,
    error                     TEXT COLLATE "C",
    initial_sync_done         BOOLEAN NOT NULL DEFAULT FALSE,
    last_synced_at            TIMESTAMPTZ,
    source_items              BIGINT NOT NULL DEFAULT 0,
    items_synced              BIGINT NOT NULL DEFAULT 0,
    items_skipped             BIGINT NOT NULL DEFAULT 0,
    bytes_synced              BIGINT NOT NULL DEFAULT 0,
    folders                   BIGINT NOT NULL DEFAULT 0,
    last_pass_items           BIGINT NOT NULL DEFAULT 0,
    last_pass_millis          BIGINT NOT NULL DEFAULT 0,
    position                  BIGINT NOT NULL,
    bad_items                 BIGINT NOT NULL DEFAULT 0,
    large_items               BIGINT NOT NULL DEFAULT 0,
    skipped_items_approved_at TIMESTAMPTZ,
    removals_held             BIGINT NOT NULL DEFAULT 0,
    removals_held_detail      TEXT COLLATE "C",
    removals_approved_at      TIMESTAMPTZ,
    folders_left_out          TEXT COLLATE "C",
    source_bytes              BIGINT NOT NULL DEFAULT 0,
    pass_started_at           TIMESTAMPTZ,
    pass_items_at_start       BIGINT,
    pass_bytes_at_start       BIGINT,
    source_listing            TEXT COLLATE "C",
    throttled_until           TIMESTAMPTZ
);
CREATE INDEX users_by_batch ON users(batch, position);

CREATE TABLE folders (
    email           TEXT COLLATE "C" NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name        BYTEA NOT NULL,
    src_uidvalidity BIGINT NOT NULL,
    dst_name        BYTEA NOT NULL,
    uidnext         BIGINT,
    highest_modseq  BIGINT,
    messages        BIGINT NOT NULL DEFAULT 0,
    mailbox_id      TEXT COLLATE "C",
    PRIMARY KEY (email, src_name)
);

CREATE TABLE messages (
    email           TEXT COLLATE "C" NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name        BYTEA NOT NULL,
    src_uidvalidity BIGINT NOT NULL,
    src_uid         BIGINT NOT NULL,
    dst_uidvalidity BIGINT,
    dst_uid         BIGINT,
    size            BIGINT NOT NULL,
    flags           TEXT COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (email, src_name, src_uidvalidity, src_uid)
);

CREATE TABLE skipped_items (
    email           TEXT COLLATE "C" NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name        BYTEA NOT NULL,
    folder          TEXT COLLATE "C" NOT NULL,
    src_uidvalidity BIGINT NOT NULL,
    src_uid         BIGINT NOT NULL,
    size            BIGINT NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,
    subject         TEXT COLLATE "C" NOT NULL DEFAULT '',
    reason          TEXT COLLATE "C" NOT NULL,
    skipped_at      TIMESTAMPTZ NOT NULL,
    approved_at     TIMESTAMPTZ,
    PRIMARY KEY (email, src_name, src_uid)
);

CREATE TABLE intents (
    email           TEXT COLLATE "C" NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name        BYTEA NOT NULL,
    src_uidvalidity BIGINT NOT NULL,
    src_uid         BIGINT NOT NULL,
    dst_name        BYTEA NOT NULL,
    dst_uid_floor   BIGINT NOT NULL,
    size            BIGINT NOT NULL,
    internal_date   BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (email, src_name, src_uidvalidity, src_uid)
);

CREATE TABLE accepted_domains (
    name        TEXT COLLATE "C" PRIMARY KEY,
    token       TEXT COLLATE "C" NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    verified_at TIMESTAMPTZ
);

CREATE TABLE mx_checks (
    domain          TEXT COLLATE "C" PRIMARY KEY,
    expected_mx     TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    first_switch_at TIMESTAMPTZ,
    last_checked_at TIMESTAMPTZ,
    last_state      TEXT COLLATE "C"
);

CREATE TABLE endpoint_discovery (
    endpoint      TEXT COLLATE nocase PRIMARY KEY REFERENCES endpoints (name) ON DELETE CASCADE,
    email         TEXT COLLATE "C" NOT NULL,
    method        TEXT COLLATE "C" NOT NULL,
    discovered_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE leases (
    job          TEXT COLLATE "C" PRIMARY KEY,
    owner        TEXT COLLATE "C" NOT NULL,
    acquired_at  TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX leases_by_owner ON leases(owner);

CREATE TABLE subscriptions (
    email          TEXT COLLATE "C" NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name       BYTEA NOT NULL,
    src_subscribed BOOLEAN NOT NULL,
    PRIMARY KEY (email, src_name)
);

CREATE TABLE smtp_relay (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    host            TEXT COLLATE "C" NOT NULL,
    port            BIGINT NOT NULL,
    tls             TEXT COLLATE "C" NOT NULL,
    from_address    TEXT COLLATE "C" NOT NULL,
    username        TEXT COLLATE "C",
    password_sealed TEXT COLLATE "C",
    ca_file         TEXT COLLATE "C",
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE batch_notifications (
    batch                    TEXT COLLATE nocase PRIMARY KEY REFERENCES batches(name) ON DELETE CASCADE,
    initial_sync_notified_at TIMESTAMPTZ,
    last_report_at           TIMESTAMPTZ,
    failures_announced       TEXT COLLATE "C" NOT NULL DEFAULT '[]'
);

CREATE TABLE throughput (
    batch    TEXT COLLATE nocase NOT NULL REFERENCES batches(name) ON DELETE CASCADE,
    bucket   BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    bytes    BIGINT NOT NULL,
    PRIMARY KEY (batch, bucket)
);

CREATE TABLE endpoint_directories (
    endpoint        TEXT COLLATE nocase PRIMARY KEY REFERENCES endpoints (name) ON DELETE CASCADE,
    settings        TEXT COLLATE "C" NOT NULL,
    password_sealed TEXT COLLATE "C" NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
