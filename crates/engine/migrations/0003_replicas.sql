-- Issue: fleet scale. Every server process sharing this database says it is alive here every
-- couple of seconds; each divides its providers' rate budgets by the number alive, so replicas
-- sharing one token stay within the provider's limit together.
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    heartbeat_ms BIGINT NOT NULL
);
