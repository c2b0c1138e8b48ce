-- Nephele's schema, written once for SQLite and PostgreSQL alike: only TEXT and BIGINT columns,
-- times as RFC 3339 text (for people) and epoch milliseconds (for comparisons), ids as UUID text.

CREATE TABLE operations (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    kind            TEXT NOT NULL,          -- create | delete | power_on | power_off | ...
    request         TEXT NOT NULL,          -- JSON
    state           TEXT NOT NULL,          -- pending | running | succeeded | failed
    result          TEXT,                   -- JSON
    error           TEXT,                   -- JSON
    principal       TEXT NOT NULL,          -- API key id, or "anonymous"
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  BIGINT,
    next_attempt_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX operations_due ON operations (state, next_attempt_ms);
CREATE INDEX operations_created ON operations (created_ms);

CREATE TABLE idempotency_keys (
    principal       TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    operation_id    TEXT,
    response_status BIGINT,                 -- NULL while the first request is in progress
    response_body   TEXT,
    created_ms      BIGINT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    PRIMARY KEY (principal, idem_key)
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL,              -- SHA-256 of the whole key, hex
    role        TEXT NOT NULL,              -- viewer | operator | admin
    providers   TEXT,                       -- JSON array; NULL means every provider
    description TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,          -- UUID v7: ordered by time
    at           TEXT NOT NULL,
    at_ms        BIGINT NOT NULL,
    principal    TEXT NOT NULL,
    role         TEXT,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    source       TEXT,
    status       BIGINT NOT NULL,
    outcome      TEXT NOT NULL,             -- succeeded | failed | denied
    operation_id TEXT
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
