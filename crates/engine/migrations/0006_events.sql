-- Issue 22: events. An outbox written in the same transaction as the change it reports, read by
-- the event list and stream, and delivered to webhooks.
--
-- `seq` is handed out by the one row of event_sequence, which every transaction that writes
-- events updates (and so locks until it commits): events commit in the order of their `seq`, with
-- no holes, so a reader that has seen `seq` N has seen everything before it, on SQLite and on
-- PostgreSQL with several replicas alike. `id` is that number in fixed-width hex with a random
-- tail: sortable as text, and unique across databases (a receiver's dedupe key).
CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,           -- nephele.<kind>.<change>
    source     TEXT NOT NULL,           -- the account, or "nephele" for the server's own
    subject    TEXT NOT NULL,           -- the resource: operations/<id>, instances/<id>, ...
    time       TEXT NOT NULL,           -- RFC 3339, UTC
    time_ms    BIGINT NOT NULL,
    data       TEXT NOT NULL            -- JSON, as the API shows the resource (secrets redacted)
);
CREATE INDEX events_time ON events (time_ms);
CREATE INDEX events_type ON events (type, seq);

CREATE TABLE event_sequence (
    id             BIGINT PRIMARY KEY,
    last_seq       BIGINT NOT NULL,
    purged_through BIGINT NOT NULL      -- every event up to this seq has been purged
);
INSERT INTO event_sequence (id, last_seq, purged_through) VALUES (1, 0, 0);

-- What the inventory last saw of each account's resources, so a refresh is compared with the
-- last refresh any replica recorded (and a change is reported once, whoever sees it first).
CREATE TABLE inventory_marks (
    account    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    fetched_ms BIGINT NOT NULL,         -- when the refresh recorded last began
    PRIMARY KEY (account, kind)
);
CREATE TABLE inventory_seen (
    account     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    PRIMARY KEY (account, kind, resource_id)
);

CREATE TABLE webhooks (
    id                 TEXT PRIMARY KEY,
    url                TEXT NOT NULL,
    event_types        TEXT,            -- JSON array of types; NULL means every type
    accounts           TEXT,            -- JSON array of accounts; NULL means every account
    description        TEXT,
    enabled            BIGINT NOT NULL,
    disabled_reason    TEXT,
    secret             TEXT NOT NULL,   -- whsec_...
    old_secret         TEXT,            -- the one replaced by a rotation, still signing until:
    old_secret_until_ms BIGINT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted            BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL,
    event_seq        BIGINT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    state            TEXT NOT NULL,     -- pending | delivered | failed
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_ms       BIGINT NOT NULL,
    next_attempt_ms  BIGINT NOT NULL,
    first_attempt_ms BIGINT,
    last_attempt_ms  BIGINT,
    last_status      BIGINT,
    last_outcome     TEXT,
    last_error       TEXT,
    last_response    TEXT,             -- the answer's first 4 KiB, escaped
    last_response_truncated BIGINT NOT NULL DEFAULT 0,
    finished_ms      BIGINT,
    lease_owner      TEXT,
    lease_until_ms   BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, event_seq);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_ms);
