-- The target organization's directory (LDAP, `target set --directory`, issue 13): its
-- settings as JSON, the same as an endpoint's source directory, and the bind password
-- sealed (owner `target-directory`). At most one, like the target. Preflight reads it
-- for the recipients the target holds; provisioning will write into it.
CREATE TABLE target_directory (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    settings        TEXT NOT NULL,
    password_sealed TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
