-- Issue: trust boundaries. Audit entries name the provider they concern (so a key limited to
-- some providers reads only their entries) and may stand for several requests (failed
-- authentication is recorded once per source and minute, with the count). Idempotency keys of
-- cost estimates are kept apart from those of operations: they are forgotten first.

ALTER TABLE audit_log ADD COLUMN provider TEXT;
ALTER TABLE audit_log ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
CREATE INDEX audit_log_provider ON audit_log (provider, at_ms);

ALTER TABLE idempotency_keys ADD COLUMN estimate BIGINT NOT NULL DEFAULT 0;
CREATE INDEX idempotency_keys_owner ON idempotency_keys (principal, estimate, created_ms);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_ms);

CREATE INDEX operations_provider ON operations (provider, created_ms);
