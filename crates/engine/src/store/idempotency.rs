//! Idempotency keys (the IETF draft's semantics, as Stripe uses them).
//!
//! The first request with a key reserves it, in the same transaction that records its
//! operation; its response is stored when it is done. A later request with the same key and
//! the same request replays that response; a different request is refused; one that arrives
//! while the first is still running waits for it.

use sqlx::Row;

use super::operations::NewOperation;
use super::{Store, StoreError, now_ms};

/// A stored key.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub method: String,
    pub path: String,
    pub request_hash: String,
    pub operation_id: Option<String>,
    /// `None` while the first request is still being processed.
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub created_ms: i64,
}

/// The outcome of reserving a key.
pub enum Reservation {
    /// This request is the first: go ahead (its operation, if any, is recorded).
    Reserved,
    /// Another request holds the key.
    Existing(IdempotencyRecord),
    /// The API key holds as many live keys of this kind as its quota allows.
    QuotaExceeded,
}

pub struct KeyRequest<'a> {
    pub principal: &'a str,
    pub key: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub request_hash: &'a str,
    pub ttl_ms: i64,
    /// True for cost estimates: their keys are counted apart from operations', and past
    /// `max_live` the oldest are forgotten (an estimate answered again does no harm), where
    /// operations' keys are refused.
    pub estimate: bool,
    /// Live keys of this kind the API key may hold.
    pub max_live: i64,
}

impl Store {
    /// Reserves `key` and records `operation` in one transaction, or reports who holds the key.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn reserve_key(
        &self,
        request: KeyRequest<'_>,
        operation: Option<NewOperation<'_>>,
    ) -> Result<Reservation, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // An expired key is forgotten, so it can be used afresh. (Writing first also takes
        // SQLite's write lock at once, so the transaction never has to upgrade.)
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE principal = $1 AND idem_key = $2 AND expires_ms < $3",
        )
        .bind(request.principal)
        .bind(request.key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (principal, idem_key, method, path, request_hash, operation_id, created_ms, expires_ms, estimate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(request.principal)
        .bind(request.key)
        .bind(request.method)
        .bind(request.path)
        .bind(request.request_hash)
        .bind(operation.as_ref().map(|o| o.id.to_string()))
        .bind(now)
        .bind(now + request.ttl_ms)
        .bind(i64::from(request.estimate))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            let live: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM idempotency_keys WHERE principal = $1 AND estimate = $2 AND expires_ms >= $3",
            )
            .bind(request.principal)
            .bind(i64::from(request.estimate))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            let over = live - request.max_live;
            if over > 0 && !request.estimate {
                tx.rollback().await?;
                return Ok(Reservation::QuotaExceeded);
            }
            if over > 0 {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE principal = $1 AND estimate = $2 AND idem_key IN (SELECT idem_key FROM idempotency_keys WHERE principal = $1 AND estimate = $2 AND idem_key <> $3 ORDER BY created_ms LIMIT $4)",
                )
                .bind(request.principal)
                .bind(i64::from(request.estimate))
                .bind(request.key)
                .bind(over)
                .execute(&mut *tx)
                .await?;
            }
            let recorded = operation.is_some();
            if let Some(op) = operation {
                Self::insert_operation_in(&mut tx, op).await?;
            }
            tx.commit().await?;
            if recorded {
                self.events_written();
            }
            return Ok(Reservation::Reserved);
        }
        tx.rollback().await?;
        match self.get_key(request.principal, request.key).await? {
            Some(existing) => Ok(Reservation::Existing(existing)),
            // It expired and was deleted between our statements: try once more.
            None => Box::pin(self.reserve_key(request, operation)).await,
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_key(&self, principal: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT method, path, request_hash, operation_id, response_status, response_body, created_ms FROM idempotency_keys WHERE principal = $1 AND idem_key = $2",
        )
        .bind(principal)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let status: Option<i64> = row.try_get("response_status")?;
            Ok(IdempotencyRecord {
                method: row.try_get("method")?,
                path: row.try_get("path")?,
                request_hash: row.try_get("request_hash")?,
                operation_id: row.try_get("operation_id")?,
                response_status: status.and_then(|s| u16::try_from(s).ok()),
                response_body: row.try_get("response_body")?,
                created_ms: row.try_get("created_ms")?,
            })
        })
        .transpose()
    }

    /// How many idempotency keys are stored (for tests and operators watching growth).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_keys(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM idempotency_keys")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Stores the response of the request that reserved `key`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn complete_key(
        &self,
        principal: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE idempotency_keys SET response_status = $1, response_body = $2 WHERE principal = $3 AND idem_key = $4")
            .bind(i64::from(status))
            .bind(body)
            .bind(principal)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
