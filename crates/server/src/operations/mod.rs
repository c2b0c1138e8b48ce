//! Operations: every mutating request is recorded before the provider is called, then carried to
//! an end state (`succeeded` or `failed`) — by the request itself for the first step, and by the
//! [`worker`] for the rest, including operations left unfinished by a crash.
//!
//! An operation ends `failed` only when the provider refuses it; outages and rate limits are
//! retried with backoff. Creates are safe to repeat: the provider adopts what an earlier attempt
//! made, by the operation's tag.

pub mod idempotency;
pub mod worker;

use std::sync::Arc;

use nephele_core::operation::ActionStatus;
use nephele_core::{
    ActionId, CreateInstances, Instance, InstanceId, InstanceStatus, PowerAction, ProviderAction,
    ProviderError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::store::{OperationRecord, OperationState, OperationUpdate, StoreError, now_ms};

/// Time kept back from a lease so a step always ends (and records itself) before its lease does.
const LEASE_MARGIN_MS: i64 = 2_000;
/// Power actions refused because the instance is busy are retried this many times.
const MAX_CONFLICT_RETRIES: i64 = 40;

/// The request of a delete or power operation.
#[derive(Debug, Serialize, Deserialize)]
pub struct InstanceRequest {
    pub instance_id: String,
    #[serde(default)]
    pub action: Option<PowerAction>,
}

/// What one step did, for the request that ran it inline.
#[derive(Debug, Default)]
pub struct StepOutcome {
    pub state: Option<OperationState>,
    pub instances: Vec<Instance>,
    pub action: Option<ProviderAction>,
    /// The provider's error, when this step met one.
    pub error: Option<ProviderError>,
}

/// An error as recorded on the operation (and shown to anyone who may read it).
fn error_json(error: &ProviderError) -> Value {
    json!({ "code": error.code(), "message": crate::api::error::caller_message(error), "detail": error.detail() })
}

/// Backoff before the next attempt: 0.5 s doubling to 30 s.
fn backoff_ms(attempts: i64) -> i64 {
    (500i64 << attempts.clamp(0, 6)).min(30_000)
}

/// Runs one step of `op`, which the caller has claimed as `owner`, and records the outcome.
///
/// `inline` is true when the step runs inside the request that created the operation: a busy
/// instance then fails at once (the caller is told 409) instead of being retried in background.
pub async fn advance(
    state: &Arc<AppState>,
    op: &OperationRecord,
    owner: &str,
    inline: bool,
) -> Result<StepOutcome, StoreError> {
    let store = &state.store;
    let Some(provider) = state.providers.get(&op.provider) else {
        let error = json!({ "code": "unknown_provider", "message": format!("provider {} is not configured", op.provider) });
        let update = OperationUpdate {
            state: OperationState::Failed,
            result: None,
            error: Some(&error),
            next_attempt_ms: 0,
            count_attempt: true,
        };
        store.update_operation(&op.id, owner, update).await?;
        return Ok(StepOutcome { state: Some(OperationState::Failed), ..Default::default() });
    };
    // A step must finish inside its lease, or another worker could start the same step. Past
    // the bound the step counts as an outage; the next attempt adopts whatever it made.
    let bound = std::time::Duration::from_millis((state.lease_ms - LEASE_MARGIN_MS).max(500) as u64);
    match tokio::time::timeout(bound, step(state, op, provider.as_ref(), owner, inline)).await {
        Ok(result) => result,
        Err(_) => {
            let error = json!({ "code": "timeout", "message": "the step did not finish within its lease; it will be retried" });
            let update = OperationUpdate {
                state: op.state,
                result: None,
                error: Some(&error),
                next_attempt_ms: now_ms() + backoff_ms(op.attempts),
                count_attempt: true,
            };
            store.update_operation(&op.id, owner, update).await?;
            Ok(StepOutcome {
                state: Some(op.state),
                error: Some(ProviderError::unavailable("the provider did not answer in time")),
                ..Default::default()
            })
        }
    }
}

/// What a step decided, before it is stored.
struct Next {
    state: OperationState,
    result: Option<Value>,
    error: Option<Value>,
    next_attempt_ms: i64,
    /// Whether the step was an attempt at the provider (it counts towards backoff).
    counted: bool,
}

impl Next {
    fn to(state: OperationState, result: Option<Value>, next_attempt_ms: i64) -> Self {
        Self { state, result, error: None, next_attempt_ms, counted: true }
    }

    /// Polling found nothing new: not an attempt, no backoff.
    fn poll_again(state: OperationState, at_ms: i64) -> Self {
        Self { state, result: None, error: None, next_attempt_ms: at_ms, counted: false }
    }
}

/// The provider's error ends the operation when it is a refusal, and schedules another attempt
/// (with backoff) when it is an outage or a rate limit.
fn after_error(op: &OperationRecord, error: ProviderError, outcome: &mut StepOutcome) -> Next {
    let recorded = error_json(&error);
    let next = if error.is_retryable() {
        Next {
            state: op.state,
            result: None,
            error: Some(recorded),
            next_attempt_ms: now_ms() + backoff_ms(op.attempts),
            counted: true,
        }
    } else {
        Next {
            state: OperationState::Failed,
            result: None,
            error: Some(recorded),
            next_attempt_ms: 0,
            counted: true,
        }
    };
    outcome.error = Some(error);
    next
}

fn request_of<T: serde::de::DeserializeOwned>(op: &OperationRecord) -> Result<T, StoreError> {
    serde_json::from_value(op.request.clone())
        .map_err(|e| StoreError::Corrupt(format!("operation {}: {e}", op.id)))
}

/// When the operation was recorded: no action it started can be older.
fn created_at_of(op: &OperationRecord) -> Result<time::OffsetDateTime, StoreError> {
    time::OffsetDateTime::parse(&op.created_at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("operation {} created_at: {e}", op.id)))
}

fn operation_id_of(op: &OperationRecord) -> nephele_core::OperationId {
    nephele_core::OperationId(uuid::Uuid::parse_str(&op.id).unwrap_or_default())
}

async fn step(
    state: &Arc<AppState>,
    op: &OperationRecord,
    provider: &dyn nephele_core::Provider,
    owner: &str,
    inline: bool,
) -> Result<StepOutcome, StoreError> {
    let poll_at = now_ms() + state.poll_interval_ms;
    let mut outcome = StepOutcome::default();
    let next = match (op.kind.as_str(), op.state) {
        ("create", OperationState::Pending) => {
            let request: CreateInstances = request_of(op)?;
            match provider.create_instances(&request).await {
                Ok(instances) => {
                    let ids: Vec<&str> = instances.iter().map(|i| i.id.0.as_str()).collect();
                    let result = json!({ "instance_ids": ids });
                    outcome.instances = instances;
                    Next::to(OperationState::Running, Some(result), poll_at)
                }
                Err(e) => after_error(op, e, &mut outcome),
            }
        }
        ("create", OperationState::Running) => {
            let ids: Vec<String> = op
                .result
                .as_ref()
                .and_then(|r| r["instance_ids"].as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let mut all_running = true;
            let mut problem = None;
            for id in &ids {
                match provider.get_instance(&InstanceId(id.clone())).await {
                    Ok(instance) => all_running &= instance.status == InstanceStatus::Running,
                    Err(e) => {
                        problem = Some(e);
                        break;
                    }
                }
            }
            match problem {
                // An instance we made is gone: someone deleted it before it ran.
                Some(e @ ProviderError::NotFound { .. }) => after_error(op, e, &mut outcome),
                Some(e) => Next { state: OperationState::Running, ..after_error(op, e, &mut outcome) },
                None if all_running => Next::poll_again(OperationState::Succeeded, 0),
                None => Next::poll_again(OperationState::Running, poll_at),
            }
        }
        ("delete", _) => {
            let request: InstanceRequest = request_of(op)?;
            match provider.delete_instance(&InstanceId(request.instance_id), operation_id_of(op)).await {
                Ok(()) => Next::to(OperationState::Succeeded, Some(json!({ "deleted": true })), 0),
                // Gone already: done, if an earlier attempt of ours may have deleted it.
                Err(ProviderError::NotFound { .. }) if op.attempts > 0 => {
                    Next::to(OperationState::Succeeded, Some(json!({ "deleted": true })), 0)
                }
                Err(e) => after_error(op, e, &mut outcome),
            }
        }
        (_, OperationState::Pending) => {
            let request: InstanceRequest = request_of(op)?;
            let action = request
                .action
                .ok_or_else(|| StoreError::Corrupt(format!("operation {} has no action", op.id)))?;
            let instance = InstanceId(request.instance_id);
            let since = created_at_of(op)?;
            // Like a create, an action must happen once: an earlier attempt may have started it
            // without hearing back, so after any attempt the droplet's actions are read first.
            let started = async {
                if op.attempts > 0
                    && let Some(earlier) = provider.find_power_action(&instance, action, since).await?
                {
                    tracing::info!(operation_id = %op.id, action_id = %earlier.id, "found the action an earlier attempt started");
                    return Ok(earlier);
                }
                provider.power_action(&instance, action, operation_id_of(op)).await
            };
            match started.await {
                Ok(started) => {
                    let result = json!({ "action_id": started.id.0 });
                    outcome.action = Some(started);
                    Next::to(OperationState::Running, Some(result), poll_at)
                }
                // Busy with another action: in background, wait for it rather than fail.
                Err(e @ ProviderError::Conflict { .. }) if !inline && op.attempts < MAX_CONFLICT_RETRIES => {
                    Next {
                        error: Some(error_json(&e)),
                        next_attempt_ms: now_ms() + backoff_ms(op.attempts.min(2)),
                        ..Next::to(OperationState::Pending, None, 0)
                    }
                }
                Err(e) => after_error(op, e, &mut outcome),
            }
        }
        (_, OperationState::Running) => {
            let action_id =
                op.result.as_ref().and_then(|r| r["action_id"].as_str()).unwrap_or_default().to_owned();
            match provider.get_action(&ActionId(action_id)).await {
                Ok(action) if action.status == ActionStatus::Completed => {
                    Next::poll_again(OperationState::Succeeded, 0)
                }
                Ok(action) if action.status == ActionStatus::Errored => Next {
                    error: Some(
                        json!({ "code": "action_errored", "message": "the provider reports the action errored" }),
                    ),
                    ..Next::poll_again(OperationState::Failed, 0)
                },
                Ok(_) => Next::poll_again(OperationState::Running, poll_at),
                Err(e) => Next { state: OperationState::Running, ..after_error(op, e, &mut outcome) },
            }
        }
        (_, finished) => Next::poll_again(finished, 0),
    };
    let update = OperationUpdate {
        state: next.state,
        result: next.result.as_ref(),
        error: next.error.as_ref(),
        next_attempt_ms: next.next_attempt_ms,
        count_attempt: next.counted,
    };
    state.store.update_operation(&op.id, owner, update).await?;
    if next.state.is_final() {
        tracing::info!(operation_id = %op.id, kind = %op.kind, state = next.state.as_str(), "operation finished");
    }
    outcome.state = Some(next.state);
    Ok(outcome)
}
