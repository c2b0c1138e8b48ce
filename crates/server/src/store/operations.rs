//! Operations: every mutating request, recorded before the provider is called.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, json_column, now_ms, now_text};

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Recorded; the provider has not yet accepted it.
    Pending,
    /// The provider accepted it; Nephele follows it to its end.
    Running,
    Succeeded,
    /// The provider refused it (the reason is in `error`).
    Failed,
}

impl OperationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// One step's outcome, as stored.
#[derive(Clone, Copy)]
pub struct OperationUpdate<'a> {
    pub state: OperationState,
    /// Replaces the stored result when given.
    pub result: Option<&'a Value>,
    /// Replaces the stored error (`None` clears it).
    pub error: Option<&'a Value>,
    pub next_attempt_ms: i64,
    /// Whether this step was an attempt at the provider (for backoff).
    pub count_attempt: bool,
}

/// A stored operation.
#[derive(Debug, Clone, Serialize)]
pub struct OperationRecord {
    pub id: String,
    pub provider: String,
    pub kind: String,
    pub request: Value,
    pub state: OperationState,
    pub result: Option<Value>,
    pub error: Option<Value>,
    pub principal: String,
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Until when a server holds it (epoch ms); `None` when nobody does.
    #[serde(skip)]
    pub lease_until_ms: Option<i64>,
}

/// What to record. The operation is born leased to `lease_owner`, so the process that records
/// it runs its first step and no worker can take it until the lease runs out.
pub struct NewOperation<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub kind: &'a str,
    pub request: &'a Value,
    pub principal: &'a str,
    pub lease_owner: &'a str,
    pub lease_ms: i64,
}

fn read(row: &AnyRow) -> Result<OperationRecord, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(OperationRecord {
        id: row.try_get("id")?,
        provider: row.try_get("provider")?,
        kind: row.try_get("kind")?,
        request: json_column(Some(row.try_get("request")?))?.unwrap_or(Value::Null),
        state: OperationState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("state {state:?}")))?,
        result: json_column(row.try_get("result")?)?,
        error: json_column(row.try_get("error")?)?,
        principal: row.try_get("principal")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        lease_until_ms: row.try_get("lease_until_ms")?,
    })
}

impl Store {
    /// Records a new pending operation.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_operation(&self, op: NewOperation<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::insert_operation_in(&mut tx, op).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn insert_operation_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        op: NewOperation<'_>,
    ) -> Result<(), StoreError> {
        let now = now_text();
        sqlx::query(
            "INSERT INTO operations (id, provider, kind, request, state, principal, attempts, created_at, updated_at, created_ms, next_attempt_ms, lease_owner, lease_until_ms) VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $6, $7, 0, $8, $9)",
        )
        .bind(op.id)
        .bind(op.provider)
        .bind(op.kind)
        .bind(op.request.to_string())
        .bind(op.principal)
        .bind(now)
        .bind(now_ms())
        .bind(op.lease_owner)
        .bind(now_ms() + op.lease_ms)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn get_operation(&self, id: &str) -> Result<Option<OperationRecord>, StoreError> {
        let row = sqlx::query("SELECT id, provider, kind, request, state, result, error, principal, attempts, created_at, updated_at, lease_until_ms FROM operations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(read).transpose()
    }

    /// Operations, newest first, optionally in one state; with `providers`, only theirs.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_operations(
        &self,
        state: Option<OperationState>,
        providers: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<OperationRecord>, StoreError> {
        if providers.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        // Only our own placeholders are formatted in; every value is bound.
        let mut conditions = vec!["($2 = '' OR state = $2)".to_owned()];
        if let Some(list) = providers {
            conditions.push(format!("provider IN ({})", super::placeholders(3, list.len())));
        }
        let sql = format!(
            "SELECT id, provider, kind, request, state, result, error, principal, attempts, created_at, updated_at, lease_until_ms FROM operations WHERE {} ORDER BY created_ms DESC, id LIMIT $1",
            conditions.join(" AND ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .bind(state.map(OperationState::as_str).unwrap_or(""));
        for provider in providers.unwrap_or_default() {
            query = query.bind(provider);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(read).collect()
    }

    /// How many operations there are of each (provider, kind, state), for `/metrics`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_operations(&self) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider, kind, state, COUNT(*) AS n FROM operations GROUP BY provider, kind, state ORDER BY provider, kind, state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((row.try_get("provider")?, row.try_get("kind")?, row.try_get("state")?, row.try_get("n")?))
            })
            .collect()
    }

    /// Takes the lease on one operation if nobody holds it; true when taken.
    ///
    /// The condition is checked again by the UPDATE itself, so two replicas racing for the same
    /// row cannot both win: on PostgreSQL the second waits for the first to commit and then sees
    /// the lease; on SQLite writes are serialised.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn claim_operation(&self, id: &str, owner: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE operations SET lease_owner = $1, lease_until_ms = $2 WHERE id = $3 AND state IN ('pending', 'running') AND (lease_until_ms IS NULL OR lease_until_ms < $4)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Up to `limit` operations that are due and unleased, oldest due first, with who asked
    /// for each (the worker picks among them, least-busy key first).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn due_operations(&self, limit: i64) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, principal FROM operations WHERE state IN ('pending', 'running') AND next_attempt_ms <= $1 AND (lease_until_ms IS NULL OR lease_until_ms < $1) ORDER BY next_attempt_ms, created_ms LIMIT $2",
        )
        .bind(now_ms())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("id")?, row.try_get("principal")?))).collect()
    }

    /// Extends a lease its holder still has; false when it no longer holds it (the operation
    /// ended, or the lease ran out and someone else took it).
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn renew_lease(&self, id: &str, owner: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE operations SET lease_until_ms = $1 WHERE id = $2 AND lease_owner = $3 AND state IN ('pending', 'running')",
        )
        .bind(now_ms() + lease_ms)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up `owner`'s lease on operation `id`, due at once (for a worker to take).
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE operations SET lease_owner = NULL, lease_until_ms = NULL, next_attempt_ms = 0 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up every lease these owners hold, due at once: what a server that stops cleanly
    /// was working on is taken up by another (or by itself, restarted) without waiting.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release_leases(&self, owners: &[&str]) -> Result<u64, StoreError> {
        let mut released = 0;
        for owner in owners {
            released += sqlx::query(
                "UPDATE operations SET lease_owner = NULL, lease_until_ms = NULL, next_attempt_ms = 0 WHERE lease_owner = $1 AND state IN ('pending', 'running')",
            )
            .bind(*owner)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(released)
    }

    /// Records progress and gives the lease up; the operation is due again at `next_attempt_ms`.
    /// Only the lease holder's update counts.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn update_operation(
        &self,
        id: &str,
        owner: &str,
        update: OperationUpdate<'_>,
    ) -> Result<(), StoreError> {
        let OperationUpdate { state, result, error, next_attempt_ms, count_attempt } = update;
        sqlx::query(
            "UPDATE operations SET state = $1, result = COALESCE($2, result), error = $3, updated_at = $4, next_attempt_ms = $5, attempts = attempts + $6, lease_owner = NULL, lease_until_ms = NULL WHERE id = $7 AND lease_owner = $8",
        )
        .bind(state.as_str())
        .bind(result.map(Value::to_string))
        .bind(error.map(Value::to_string))
        .bind(now_text())
        .bind(next_attempt_ms)
        .bind(i64::from(count_attempt))
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
