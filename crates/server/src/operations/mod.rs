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

fn error_json(error: &ProviderError) -> Value {
    json!({ "code": error.code(), "message": error.to_string(), "detail": error.detail() })
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

async fn step(
    state: &Arc<AppState>,
    op: &OperationRecord,
    provider: &dyn nephele_core::Provider,
    owner: &str,
    inline: bool,
) -> Result<StepOutcome, StoreError> {
    let store = &state.store;
    let poll_ms = state.poll_interval_ms;
    let mut outcome = StepOutcome::default();
    // (state, result, error, next attempt, count as an attempt)
    let (next_state, result, error, next_ms, counted): (
        OperationState,
        Option<Value>,
        Option<Value>,
        i64,
        bool,
    ) = match (op.kind.as_str(), op.state) {
        ("create", OperationState::Pending) => {
            let request: CreateInstances = serde_json::from_value(op.request.clone())
                .map_err(|e| StoreError::Corrupt(format!("operation {}: {e}", op.id)))?;
            match provider.create_instances(&request).await {
                Ok(instances) => {
                    let ids: Vec<&str> = instances.iter().map(|i| i.id.0.as_str()).collect();
                    let result = json!({ "instance_ids": ids });
                    outcome.instances = instances;
                    (OperationState::Running, Some(result), None, now_ms() + poll_ms, true)
                }
                Err(e) if e.is_retryable() => {
                    let error = error_json(&e);
                    outcome.error = Some(e);
                    (OperationState::Pending, None, Some(error), now_ms() + backoff_ms(op.attempts), true)
                }
                Err(e) => {
                    let error = error_json(&e);
                    outcome.error = Some(e);
                    (OperationState::Failed, None, Some(error), 0, true)
                }
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
                    Ok(instance) if instance.status == InstanceStatus::Running => {}
                    Ok(_) => all_running = false,
                    Err(e @ ProviderError::NotFound { .. }) => {
                        problem = Some((OperationState::Failed, e));
                        break;
                    }
                    Err(e) => {
                        problem = Some((OperationState::Running, e));
                        break;
                    }
                }
            }
            match problem {
                Some((OperationState::Failed, e)) => {
                    (OperationState::Failed, None, Some(error_json(&e)), 0, true)
                }
                Some((_, e)) => (
                    OperationState::Running,
                    None,
                    Some(error_json(&e)),
                    now_ms() + backoff_ms(op.attempts),
                    true,
                ),
                None if all_running => (OperationState::Succeeded, None, None, 0, false),
                None => (OperationState::Running, None, None, now_ms() + poll_ms, false),
            }
        }
        ("delete", _) => {
            let request: InstanceRequest = serde_json::from_value(op.request.clone())
                .map_err(|e| StoreError::Corrupt(format!("operation {}: {e}", op.id)))?;
            let id = nephele_core::OperationId(uuid::Uuid::parse_str(&op.id).unwrap_or_default());
            match provider.delete_instance(&InstanceId(request.instance_id), id).await {
                Ok(()) => (OperationState::Succeeded, Some(json!({ "deleted": true })), None, 0, true),
                // Gone already: done, if an earlier attempt of ours may have deleted it.
                Err(ProviderError::NotFound { .. }) if op.attempts > 0 => {
                    (OperationState::Succeeded, Some(json!({ "deleted": true })), None, 0, true)
                }
                Err(e) if e.is_retryable() => {
                    let error = error_json(&e);
                    outcome.error = Some(e);
                    (OperationState::Pending, None, Some(error), now_ms() + backoff_ms(op.attempts), true)
                }
                Err(e) => {
                    let error = error_json(&e);
                    outcome.error = Some(e);
                    (OperationState::Failed, None, Some(error), 0, true)
                }
            }
        }
        (_, OperationState::Pending) => {
            let request: InstanceRequest = serde_json::from_value(op.request.clone())
                .map_err(|e| StoreError::Corrupt(format!("operation {}: {e}", op.id)))?;
            let action = request
                .action
                .ok_or_else(|| StoreError::Corrupt(format!("operation {} has no action", op.id)))?;
            let id = nephele_core::OperationId(uuid::Uuid::parse_str(&op.id).unwrap_or_default());
            match provider.power_action(&InstanceId(request.instance_id), action, id).await {
                Ok(started) => {
                    let result = json!({ "action_id": started.id.0 });
                    outcome.action = Some(started);
                    (OperationState::Running, Some(result), None, now_ms() + poll_ms, true)
                }
                Err(e @ ProviderError::Conflict { .. }) if !inline && op.attempts < MAX_CONFLICT_RETRIES => (
                    OperationState::Pending,
                    None,
                    Some(error_json(&e)),
                    now_ms() + backoff_ms(op.attempts.min(2)),
                    true,
                ),
                Err(e) if e.is_retryable() => {
                    let error = error_json(&e);
                    outcome.error = Some(e);
                    (OperationState::Pending, None, Some(error), now_ms() + backoff_ms(op.attempts), true)
                }
                Err(e) => {
                    let error = error_json(&e);
                    outcome.error = Some(e);
                    (OperationState::Failed, None, Some(error), 0, true)
                }
            }
        }
        (_, OperationState::Running) => {
            let action_id =
                op.result.as_ref().and_then(|r| r["action_id"].as_str()).unwrap_or_default().to_owned();
            match provider.get_action(&ActionId(action_id)).await {
                Ok(action) if action.status == ActionStatus::Completed => {
                    (OperationState::Succeeded, None, None, 0, false)
                }
                Ok(action) if action.status == ActionStatus::Errored => (
                    OperationState::Failed,
                    None,
                    Some(
                        json!({ "code": "action_errored", "message": "the provider reports the action errored" }),
                    ),
                    0,
                    false,
                ),
                Ok(_) => (OperationState::Running, None, None, now_ms() + poll_ms, false),
                Err(e) => (
                    OperationState::Running,
                    None,
                    Some(error_json(&e)),
                    now_ms() + backoff_ms(op.attempts),
                    true,
                ),
            }
        }
        (_, finished) => (finished, None, None, 0, false),
    };
    let update = OperationUpdate {
        state: next_state,
        result: result.as_ref(),
        error: error.as_ref(),
        next_attempt_ms: next_ms,
        count_attempt: counted,
    };
    store.update_operation(&op.id, owner, update).await?;
    if next_state.is_final() {
        tracing::info!(operation_id = %op.id, kind = %op.kind, state = next_state.as_str(), "operation finished");
    }
    outcome.state = Some(next_state);
    Ok(outcome)
}
