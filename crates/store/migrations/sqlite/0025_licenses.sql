-- Licenses (issue 13, the seed's Section 7): the SKUs an organization holds (units NULL:
-- as many as needed), which user holds which, the grace period an unlicensed provisioned
-- user has before its login on the target is disabled, and the logins we disabled (a row
-- while disabled, removed when the login is given back). Keyed by address, not by
-- migration user: licenses outlive the batch (the seed assigns them after removing it).
CREATE TABLE license_skus (
    name       TEXT PRIMARY KEY COLLATE NOCASE,
    units      INTEGER,
    created_at TEXT NOT NULL
);

CREATE TABLE license_assignments (
    email       TEXT NOT NULL,
    sku         TEXT NOT NULL COLLATE NOCASE REFERENCES license_skus(name) ON DELETE CASCADE,
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (email, sku)
);
CREATE INDEX license_assignments_by_sku ON license_assignments(sku);

CREATE TABLE license_settings (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    grace_seconds INTEGER NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE disabled_logins (
    email       TEXT PRIMARY KEY,
    disabled_at TEXT NOT NULL
);

CREATE TABLE license_users (
    email          TEXT PRIMARY KEY,
    provisioned_at TEXT NOT NULL
);
