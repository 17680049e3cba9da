-- Accepted domains (the seed's step 1): a mailbox migrates only when its primary SMTP
-- domain is accepted and verified by a TXT record holding the token.
CREATE TABLE accepted_domains (
    name        TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    verified_at TEXT
);

-- What `dns check` saw of a domain's MX: the hosts that mean "the target", and when
-- MX was first seen pointing only at them (the MX switch; `batch remove` waits for it).
CREATE TABLE mx_checks (
    domain          TEXT PRIMARY KEY,
    expected_mx     TEXT NOT NULL DEFAULT '[]',
    first_switch_at TEXT,
    last_checked_at TEXT,
    last_state      TEXT
);

-- Endpoints created with --autodiscover: the address and the method that found them
-- (UseAutoDiscover). Forgotten when the endpoint's server is changed by hand.
CREATE TABLE endpoint_discovery (
    endpoint      TEXT PRIMARY KEY REFERENCES endpoints (name) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    method        TEXT NOT NULL,
    discovered_at TEXT NOT NULL
);
