-- The source organization's directory of an endpoint (LDAP, issue 13): its settings
-- as JSON (URL, base DN, bind DN, StartTLS, CA file, profile, attribute overrides) and
-- the bind password sealed like the endpoint's own (owner `directory:NAME`).
CREATE TABLE endpoint_directories (
    endpoint        TEXT PRIMARY KEY REFERENCES endpoints (name) ON DELETE CASCADE,
    settings        TEXT NOT NULL,
    password_sealed TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
