//! Operations: every mutating request, recorded before the provider is called.
//!
//! Rows are read into typed [`Operation`]s here, once: the request, result and error are parsed
//! into their types ([`crate::operations::record`]); a row whose request or result does not
//! parse is still listed, marked unreadable, so the worker can fail it by name.

use nephele_core::OperationId;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{Store, StoreError, json_column, now_ms, now_text};
use crate::operations::record::{OperationError, OperationRequest, OperationResult, Unreadable};

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    pub result: Option<&'a OperationResult>,
    /// Replaces the stored error (`None` clears it).
    pub error: Option<&'a OperationError>,
    pub next_attempt_ms: i64,
    /// Whether this step was an attempt at the provider (for backoff).
    pub count_attempt: bool,
}

/// A stored operation, read into its types.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The row's key, as stored (a UUID for every operation the API records).
    pub id: String,
    pub provider: String,
    /// The kind as stored (`create`, `delete`, `power_off`, ...).
    pub kind: String,
    /// The id and request, or why they cannot be read.
    pub request: Result<(OperationId, OperationRequest), Unreadable>,
    pub state: OperationState,
    /// What it has learned from the provider (`None` also when a stored result is unreadable,
    /// which `request` then says).
    pub result: Option<OperationResult>,
    pub error: Option<OperationError>,
    pub principal: String,
    pub attempts: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Until when a server holds it (epoch ms); `None` when nobody does.
    pub lease_until_ms: Option<i64>,
}

/// What to record. The operation is born leased to `lease_owner`, so the process that records
/// it runs its first step and no worker can take it until the lease runs out.
pub struct NewOperation<'a> {
    pub id: OperationId,
    pub provider: &'a str,
    pub request: &'a OperationRequest,
    pub principal: &'a str,
    pub lease_owner: &'a str,
    pub lease_ms: i64,
    /// When it is recorded.
    pub at: OffsetDateTime,
}

impl NewOperation<'_> {
    /// The operation as it stands once recorded (what reading its row back would give).
    pub fn recorded(&self) -> Operation {
        let at = self.at;
        Operation {
            id: self.id.to_string(),
            provider: self.provider.to_owned(),
            kind: self.request.kind().as_str().to_owned(),
            request: Ok((self.id, self.request.clone())),
            state: OperationState::Pending,
            result: None,
            error: None,
            principal: self.principal.to_owned(),
            attempts: 0,
            created_at: at,
            updated_at: at,
            lease_until_ms: Some(unix_ms(at) + self.lease_ms),
        }
    }
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_unix_ms(ms: i64) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|e| e.to_string())
}

/// The typed request of a row, or why it cannot be read.
fn typed_request(id: &str, kind: &str, raw: &str) -> Result<(OperationId, OperationRequest), Unreadable> {
    let operation_id = uuid::Uuid::parse_str(id)
        .map(OperationId)
        .map_err(|_| Unreadable(format!("the id {id:?} is not a UUID")))?;
    let request: Value =
        serde_json::from_str(raw).map_err(|e| Unreadable(format!("the request is not JSON: {e}")))?;
    OperationRequest::from_stored(operation_id, kind, &request)
        .map(|request| (operation_id, request))
        .map_err(Unreadable)
}

fn read(row: &AnyRow) -> Result<Operation, StoreError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let raw_request: String = row.try_get("request")?;
    let mut request = typed_request(&id, &kind, &raw_request);
    let result = match json_column(row.try_get("result")?) {
        Ok(None) => None,
        Ok(Some(stored)) => match OperationResult::from_stored(&stored) {
            Ok(result) => Some(result),
            Err(e) => {
                request = request.and(Err(Unreadable(e)));
                None
            }
        },
        Err(e) => {
            request = request.and(Err(Unreadable(format!("the result is not JSON: {e}"))));
            None
        }
    };
    let error = json_column(row.try_get("error")?)
        .map(|stored| stored.map(|e| OperationError::from_stored(&e)))
        .unwrap_or_else(|e| {
            Some(OperationError::new(
                nephele_core::ErrorCode::OperationUnreadable,
                format!("the stored error is not JSON: {e}"),
            ))
        });
    let created_ms: i64 = row.try_get("created_ms")?;
    let created_at = from_unix_ms(created_ms)
        .map_err(|e| StoreError::Corrupt(format!("operation {id} created_ms: {e}")))?;
    let updated: String = row.try_get("updated_at")?;
    let updated_at = OffsetDateTime::parse(&updated, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("operation {id} updated_at: {e}")))?;
    Ok(Operation {
        provider: row.try_get("provider")?,
        kind,
        request,
        state: OperationState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("operation {id} state {state:?}")))?,
        result,
        error,
        principal: row.try_get("principal")?,
        attempts: row.try_get("attempts")?,
        created_at,
        updated_at,
        lease_until_ms: row.try_get("lease_until_ms")?,
        id,
    })
}

const COLUMNS: &str = "id, provider, kind, request, state, result, error, principal, attempts, created_ms, updated_at, lease_until_ms";

impl Store {
    /// Records a new pending operation.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_operation(&self, op: NewOperation<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::insert_operation_in(&mut tx, op).await?;
        tx.commit().await?;
        self.events_written();
        Ok(())
    }

    /// Records a new operation inside `tx`, with its `nephele.operation.accepted` event.
    pub(super) async fn insert_operation_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        op: NewOperation<'_>,
    ) -> Result<(), StoreError> {
        let at = op.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| now_text());
        let at_ms = unix_ms(op.at);
        sqlx::query(
            "INSERT INTO operations (id, provider, kind, request, state, principal, attempts, created_at, updated_at, created_ms, next_attempt_ms, lease_owner, lease_until_ms) VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $6, $7, 0, $8, $9)",
        )
        .bind(op.id.to_string())
        .bind(op.provider)
        .bind(op.request.kind().as_str())
        .bind(op.request.to_stored().to_string())
        .bind(op.principal)
        .bind(at)
        .bind(at_ms)
        .bind(op.lease_owner)
        .bind(at_ms + op.lease_ms)
        .execute(&mut **tx)
        .await?;
        let recorded = op.recorded();
        let accepted = crate::events::NewEvent::new(
            "operation",
            "accepted",
            op.provider,
            format!("operations/{}", recorded.id),
            crate::events::views::operation(&recorded),
        );
        Self::append_events_in(tx, &[accepted]).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn get_operation(&self, id: &str) -> Result<Option<Operation>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM operations WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(read).transpose()
    }

    /// Operations, newest first, optionally in one state; with `providers`, only theirs.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_operations(
        &self,
        state: Option<OperationState>,
        providers: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<Operation>, StoreError> {
        if providers.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        // Only our own placeholders are formatted in; every value is bound.
        let mut conditions = vec!["($2 = '' OR state = $2)".to_owned()];
        if let Some(list) = providers {
            conditions.push(format!("provider IN ({})", super::placeholders(3, list.len())));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM operations WHERE {} ORDER BY created_ms DESC, id LIMIT $1",
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
        self.update_operation_emitting(id, owner, update, &[]).await.map(|_| ())
    }

    /// As [`Store::update_operation`], appending `events` in the same transaction when (and only
    /// when) the update counts; true when it did.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn update_operation_emitting(
        &self,
        id: &str,
        owner: &str,
        update: OperationUpdate<'_>,
        events: &[crate::events::NewEvent],
    ) -> Result<bool, StoreError> {
        let OperationUpdate { state, result, error, next_attempt_ms, count_attempt } = update;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE operations SET state = $1, result = COALESCE($2, result), error = $3, updated_at = $4, next_attempt_ms = $5, attempts = attempts + $6, lease_owner = NULL, lease_until_ms = NULL WHERE id = $7 AND lease_owner = $8",
        )
        .bind(state.as_str())
        .bind(result.map(|r| r.to_stored().to_string()))
        .bind(error.map(|e| e.to_stored().to_string()))
        .bind(now_text())
        .bind(next_attempt_ms)
        .bind(i64::from(count_attempt))
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::append_events_in(&mut tx, events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.events_written();
        }
        Ok(true)
    }
}
