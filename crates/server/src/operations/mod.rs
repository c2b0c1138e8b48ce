//! Operations: every mutating request is recorded before the provider is called, then carried to
//! an end state (`succeeded` or `failed`) — by the request itself for the first step, and by the
//! [`worker`] for the rest, including operations left unfinished by a crash.
//!
//! A step calls the provider once for where the operation stands, and [`machine::decide`] says
//! what follows: the provider's refusal ends it, outages and rate limits come back after a
//! backoff, attempts are capped and every operation has a deadline. Creates are safe to repeat:
//! the provider adopts what an earlier attempt made, by the operation's tag; power actions are
//! looked for among the instance's actions before they are sent again.

pub mod fairness;
pub mod idempotency;
pub mod machine;
pub mod worker;

use std::sync::Arc;

use nephele_core::{
    CreateInstances, Instance, InstanceId, InstanceStatus, PowerAction, ProviderAction, ProviderError,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::machine::{Answer, Decision, OperationKind, OperationResult, Situation, Then};
use crate::app::AppState;
use crate::inventory::Inventory;
use crate::store::{OperationRecord, OperationState, OperationUpdate, StoreError, now_ms};

/// The longest one step may take (a create with its retries and look-ups): past it the step
/// counts as an outage. While it runs, its lease is renewed every third of a lease.
const STEP_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

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

/// Runs one step of `op`, which the caller has claimed as `owner`, and records the outcome.
///
/// `inline` is true when the step runs inside the request that created the operation: a busy
/// instance then fails at once (the caller is told 409) instead of being retried in background.
#[tracing::instrument(skip_all, fields(operation_id = %op.id, kind = %op.kind, provider = %op.provider))]
pub async fn advance(
    state: &Arc<AppState>,
    op: &OperationRecord,
    owner: &str,
    inline: bool,
) -> Result<StepOutcome, StoreError> {
    let Some(provider) = state.providers.get(&op.provider) else {
        let error = json!({ "code": "unknown_provider", "message": format!("provider {} is not configured", op.provider) });
        let decision =
            Decision { state: OperationState::Failed, result: None, error: Some(error), then: Then::Done };
        record(state, op, owner, &decision).await?;
        return Ok(StepOutcome { state: Some(OperationState::Failed), ..Default::default() });
    };
    // The lease is short (a crashed holder delays the operation by little) and renewed while the
    // step runs; a step whose lease cannot be renewed stops at once, unrecorded, since someone
    // else may take the operation over. Past STEP_LIMIT the step counts as an outage; the next
    // attempt adopts whatever it made.
    let stepping = tokio::time::timeout(STEP_LIMIT, step(state, op, provider.as_ref(), owner, inline));
    let result = tokio::select! {
        result = stepping => result,
        lost = keep_lease(state, &op.id, owner) => {
            tracing::warn!(operation_id = %op.id, why = lost, "stopping a step that lost its lease");
            return Ok(StepOutcome {
                state: Some(op.state),
                error: Some(ProviderError::unavailable("the step stopped; the operation will be resumed")),
                ..Default::default()
            });
        }
    };
    match result {
        Ok(result) => result,
        Err(_) => {
            // Counted as an outage: the next attempt adopts whatever this one made.
            let late = ProviderError::unavailable(format!(
                "the step did not finish within {} s; it will be retried",
                STEP_LIMIT.as_secs()
            ));
            let outcome =
                StepOutcome { state: Some(op.state), error: Some(late.clone()), ..Default::default() };
            let decision = machine::decide(
                situation(op, inline)?,
                Answer::Failed(late),
                state.operation_limits,
                fastrand::f64(),
            );
            record(state, op, owner, &decision).await?;
            Ok(StepOutcome { state: Some(decision.state), ..outcome })
        }
    }
}

/// Renews `owner`'s lease on operation `id` every third of a lease, for as long as it is
/// polled; returns (ending the step) only when the lease is lost or cannot be renewed.
async fn keep_lease(state: &AppState, id: &str, owner: &str) -> &'static str {
    let every = std::time::Duration::from_millis((state.lease_ms / 3).max(100) as u64);
    let mut failures = 0;
    loop {
        tokio::time::sleep(every).await;
        match state.store.renew_lease(id, owner, state.lease_ms).await {
            Ok(true) => failures = 0,
            Ok(false) => return "the lease is held by another server",
            Err(e) => {
                tracing::warn!(operation_id = id, error = %e, "cannot renew a lease");
                failures += 1;
                // Two misses leave a third of a lease: stop before it runs out.
                if failures >= 2 {
                    return "the lease cannot be renewed";
                }
            }
        }
    }
}

/// Where `op` stands, for [`machine::decide`].
fn situation(op: &OperationRecord, inline: bool) -> Result<Situation, StoreError> {
    let kind = OperationKind::parse(&op.kind).ok_or_else(|| {
        StoreError::Corrupt(format!("operation {} has the unknown kind {:?}", op.id, op.kind))
    })?;
    let age_ms = (time::OffsetDateTime::now_utc() - created_at_of(op)?).whole_milliseconds();
    Ok(Situation {
        kind,
        state: op.state,
        attempts: op.attempts,
        age_ms: i64::try_from(age_ms).unwrap_or(i64::MAX),
        inline,
    })
}

/// Stores a decision; only the lease holder's update counts.
async fn record(
    state: &AppState,
    op: &OperationRecord,
    owner: &str,
    decision: &Decision,
) -> Result<(), StoreError> {
    let next_attempt_ms = match decision.then {
        Then::Done => 0,
        Then::Poll => now_ms() + state.poll_interval_ms,
        Then::Backoff(ms) => now_ms() + ms,
    };
    let result = decision.result.as_ref().map(OperationResult::to_json);
    let update = OperationUpdate {
        state: decision.state,
        result: result.as_ref(),
        error: decision.error.as_ref(),
        next_attempt_ms,
        count_attempt: decision.counts_as_attempt(),
    };
    state.store.update_operation(&op.id, owner, update).await?;
    if decision.state.is_final() {
        tracing::info!(operation_id = %op.id, kind = %op.kind, state = decision.state.as_str(), error = ?decision.error, "operation finished");
    }
    Ok(())
}

fn request_of<T: serde::de::DeserializeOwned>(op: &OperationRecord) -> Result<T, StoreError> {
    serde_json::from_value(op.request.clone())
        .map_err(|e| StoreError::Corrupt(format!("operation {}: {e}", op.id)))
}

fn result_of(op: &OperationRecord) -> Option<OperationResult> {
    op.result.clone().and_then(|r| serde_json::from_value(r).ok())
}

/// When the operation was recorded: no action it started can be older.
fn created_at_of(op: &OperationRecord) -> Result<time::OffsetDateTime, StoreError> {
    time::OffsetDateTime::parse(&op.created_at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("operation {} created_at: {e}", op.id)))
}

fn operation_id_of(op: &OperationRecord) -> nephele_core::OperationId {
    nephele_core::OperationId(uuid::Uuid::parse_str(&op.id).unwrap_or_default())
}

/// The status an instance has once `action` has completed.
fn status_after(action: PowerAction) -> InstanceStatus {
    match action {
        PowerAction::PowerOff | PowerAction::Shutdown => InstanceStatus::Stopped,
        PowerAction::PowerOn | PowerAction::Reboot | PowerAction::PowerCycle => InstanceStatus::Running,
    }
}

/// Calls the provider once for where `op` stands, and says what it answered. What it learns
/// about instances is written into the inventory at once, so lists show the change.
async fn ask_provider(
    op: &OperationRecord,
    situation: Situation,
    provider: &dyn nephele_core::Provider,
    inventory: &Inventory,
    outcome: &mut StepOutcome,
) -> Result<Answer, StoreError> {
    let answer = match (situation.kind, situation.state) {
        (OperationKind::Create, OperationState::Pending) => {
            let request: CreateInstances = request_of(op)?;
            match provider.create_instances(&request).await {
                Ok(instances) => {
                    let ids = instances.iter().map(|i| i.id.0.clone()).collect();
                    inventory.upsert(&op.provider, &instances);
                    outcome.instances = instances;
                    Answer::Created(ids)
                }
                Err(e) => Answer::Failed(e),
            }
        }
        (OperationKind::Create, OperationState::Running) => {
            let ids = match result_of(op) {
                Some(OperationResult::Created { instance_ids }) => instance_ids,
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "operation {} has no instances to follow",
                        op.id
                    )));
                }
            };
            let mut all_running = true;
            let mut failure = None;
            let mut polled = Vec::with_capacity(ids.len());
            for id in ids {
                let id = InstanceId(id);
                match provider.get_instance(&id).await {
                    Ok(instance) => {
                        all_running &= instance.status == InstanceStatus::Running;
                        polled.push(instance);
                    }
                    Err(e) => {
                        if matches!(e, ProviderError::NotFound { .. }) {
                            inventory.remove(&op.provider, &id);
                        }
                        failure = Some(e);
                        break;
                    }
                }
            }
            inventory.upsert(&op.provider, &polled);
            failure.map_or(Answer::CreatePolled { all_running }, Answer::Failed)
        }
        (OperationKind::Delete, _) => {
            let request: InstanceRequest = request_of(op)?;
            let id = InstanceId(request.instance_id);
            match provider.delete_instance(&id, operation_id_of(op)).await {
                Ok(()) => {
                    inventory.remove(&op.provider, &id);
                    Answer::Deleted
                }
                Err(e) => {
                    if matches!(e, ProviderError::NotFound { .. }) {
                        inventory.remove(&op.provider, &id);
                    }
                    Answer::Failed(e)
                }
            }
        }
        (OperationKind::Power(action), OperationState::Pending) => {
            let request: InstanceRequest = request_of(op)?;
            let instance = InstanceId(request.instance_id);
            let since = created_at_of(op)?;
            // Like a create, an action must happen once: an earlier attempt may have started it
            // without hearing back, so after any attempt the instance's actions are read first.
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
                    let id = started.id.0.clone();
                    outcome.action = Some(started);
                    Answer::ActionStarted(id)
                }
                Err(e) => Answer::Failed(e),
            }
        }
        (OperationKind::Power(power), OperationState::Running) => {
            let action_id = match result_of(op) {
                Some(OperationResult::ActionStarted { action_id }) => action_id,
                _ => return Err(StoreError::Corrupt(format!("operation {} has no action to follow", op.id))),
            };
            match provider.get_action(&nephele_core::ActionId(action_id)).await {
                Ok(action) => {
                    if action.status == nephele_core::ActionStatus::Completed {
                        let request: InstanceRequest = request_of(op)?;
                        inventory.set_status(
                            &op.provider,
                            &InstanceId(request.instance_id),
                            status_after(power),
                        );
                    }
                    Answer::ActionPolled(action.status)
                }
                Err(e) => Answer::Failed(e),
            }
        }
        // A finished operation is not stepped (the store claims only pending and running ones).
        (_, OperationState::Succeeded | OperationState::Failed) => Answer::Deleted,
    };
    Ok(answer)
}

async fn step(
    state: &Arc<AppState>,
    op: &OperationRecord,
    provider: &dyn nephele_core::Provider,
    owner: &str,
    inline: bool,
) -> Result<StepOutcome, StoreError> {
    let situation = situation(op, inline)?;
    let mut outcome = StepOutcome::default();
    let answer = ask_provider(op, situation, provider, &state.inventory, &mut outcome).await?;
    if let Answer::Failed(error) = &answer {
        outcome.error = Some(error.clone());
    }
    let decision = machine::decide(situation, answer, state.operation_limits, fastrand::f64());
    record(state, op, owner, &decision).await?;
    outcome.state = Some(decision.state);
    Ok(outcome)
}
