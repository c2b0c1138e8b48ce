-- Accounts added at runtime (the configuration file's accounts are not stored). Credentials are
-- sealed (see secrets.rs): `ciphertext` under a data key of the account's own, the data key
-- wrapped under the master key `key_id`; both base64 text. `settings` is the plain JSON of what
-- is not secret (region, endpoint, ...). `credentials_version` is part of the associated data.
CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,       -- UUID
    name                TEXT NOT NULL UNIQUE,
    provider_type       TEXT NOT NULL,
    settings            TEXT NOT NULL,          -- JSON object
    key_id              TEXT NOT NULL,
    wrapped_key         TEXT NOT NULL,
    ciphertext          TEXT NOT NULL,
    credentials_version BIGINT NOT NULL,
    fingerprint         TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    row_version         BIGINT NOT NULL         -- moves with every change of the row
);

-- Moves with every change of the accounts table: replicas read it every second and load the
-- accounts again when it moved.
CREATE TABLE account_revisions (
    id       BIGINT PRIMARY KEY,
    revision BIGINT NOT NULL
);
INSERT INTO account_revisions (id, revision) VALUES (1, 0);
