-- How many times an API key was revoked: replicas keep verified keys in memory and empty that
-- memory when this number moves (within auth.revocation_delay_secs).
CREATE TABLE key_revisions (
    id       BIGINT PRIMARY KEY,
    revision BIGINT NOT NULL
);
INSERT INTO key_revisions (id, revision) VALUES (1, 0);
