-- Issue 23: spend. Cost history accrues from the inventory in hourly buckets; budgets and the
-- state of their thresholds; the alerts those thresholds raised. Amounts are exact decimals as
-- text (rounded only when shown); times are epoch milliseconds.

-- How far each account's history is recorded: a recorder moves it with a compare-and-set in the
-- transaction that adds the buckets, so two replicas never count one span twice.
CREATE TABLE cost_watermarks (
    account  TEXT PRIMARY KEY,
    until_ms BIGINT NOT NULL
);

-- What the recorder knows of each resource it accrues.
CREATE TABLE cost_resources (
    account       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    month_ms      BIGINT NOT NULL,          -- the month free_seconds counts in
    free_seconds  BIGINT NOT NULL,          -- seconds of that month it was not billed (stopped on EC2)
    PRIMARY KEY (account, kind, resource_id)
);

-- One hour's cost of the resources sharing these attributes.
CREATE TABLE cost_history (
    hour_ms   BIGINT NOT NULL,
    account   TEXT NOT NULL,
    provider  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    region    TEXT NOT NULL,
    rtype     TEXT NOT NULL,
    tags      TEXT NOT NULL,                -- JSON array, sorted
    currency  TEXT NOT NULL,
    estimated BIGINT NOT NULL,              -- 1: a span before Nephele first saw the resource
    amount    TEXT NOT NULL,
    PRIMARY KEY (hour_ms, account, kind, region, rtype, tags, currency, estimated)
);
CREATE INDEX cost_history_account ON cost_history (account, hour_ms);

CREATE TABLE budgets (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,               -- JSON: amount, currency, period, scope, thresholds, enforce
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Each threshold's state in the period it was last evaluated in.
CREATE TABLE budget_thresholds (
    budget_id  TEXT NOT NULL,
    idx        BIGINT NOT NULL,
    period     TEXT NOT NULL,               -- 2026-03, 2026-Q1, 2026
    state      TEXT NOT NULL,               -- ok | alarm
    changed_ms BIGINT NOT NULL,
    PRIMARY KEY (budget_id, idx)
);

-- Threshold transitions, as they were raised (the events outbox delivers them once it exists).
CREATE TABLE budget_alerts (
    id        TEXT PRIMARY KEY,             -- UUID v7
    budget_id TEXT NOT NULL,
    idx       BIGINT NOT NULL,
    event     TEXT NOT NULL,                -- nephele.budget.threshold_crossed | ..._recovered
    period    TEXT NOT NULL,
    body      TEXT NOT NULL,                -- JSON: the figures
    at_ms     BIGINT NOT NULL
);
CREATE INDEX budget_alerts_budget ON budget_alerts (budget_id, at_ms);
