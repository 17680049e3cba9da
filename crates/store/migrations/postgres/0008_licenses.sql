-- SQLite's 0025_licenses.sql: license SKUs (units NULL: as many as needed), assignments,
-- the grace period, the logins we disabled, and the users the licenses govern. SKU names compare without case, as
-- batch names do (the nocase collation of 0001).
CREATE TABLE license_skus (
    name       TEXT COLLATE nocase PRIMARY KEY,
    units      BIGINT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE license_assignments (
    email       TEXT COLLATE "C" NOT NULL,
    sku         TEXT COLLATE nocase NOT NULL REFERENCES license_skus(name) ON DELETE CASCADE,
    assigned_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (email, sku)
);
CREATE INDEX license_assignments_by_sku ON license_assignments(sku);

CREATE TABLE license_settings (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    grace_seconds BIGINT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE disabled_logins (
    email       TEXT COLLATE "C" PRIMARY KEY,
    disabled_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE license_users (
    email          TEXT COLLATE "C" PRIMARY KEY,
    provisioned_at TIMESTAMPTZ NOT NULL
);
