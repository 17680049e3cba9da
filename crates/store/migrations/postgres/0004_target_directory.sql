-- SQLite's 0020_target_directory.sql: the target organization's directory (LDAP), its
-- settings as JSON and the bind password sealed (owner `target-directory`). At most one,
-- like the target.
CREATE TABLE target_directory (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    settings        TEXT COLLATE "C" NOT NULL,
    password_sealed TEXT COLLATE "C" NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
