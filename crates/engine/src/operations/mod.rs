//! Operations: every mutating request is recorded before the provider is called, then carried to
//! an end state (`succeeded` or `failed`) — by the request itself for the first step, and by the
//! [`worker`] for the rest, including operations left unfinished by a crash.
//!
//! A step calls the provider once for where the operation stands, and [`machine::decide`] says
//! what follows: the provider's refusal ends it, outages and rate limits come back after a
//! backoff, attempts are capped and every operation has a deadline. Creates are safe to repeat:
//! the provider adopts what an earlier attempt made, by the operation's tag; power actions are
//! looked for among the instance's actions before they are sent again.
//!
//! Resources (volumes, snapshots, keys, firewalls, reserved IPs, VPCs) go the same way, each
//! change one operation: a create carries its operation id (the provider adopts what an earlier
//! attempt made where its cloud keeps a record); a delete that finds the resource gone after an
//! attempt of ours is done; an action reads the resource first and is not sent when the
//! resource already shows its effect ([`nephele_core::ResourceAction::is_done`]), so a retry
//! after a crash or a lost answer never does it twice.

pub mod fairness;
pub mod idempotency;
pub mod machine;
pub mod record;
pub mod worker;

use std::sync::Arc;

use nephele_core::{
    ActionStatus, AssociatedResources, ErrorCode, Instance, InstanceId, InstanceStatus, OperationId,
    PowerAction, Provider, ProviderAction, ProviderError, Resource, ResourceAction,
};

use self::machine::{Answer, Decision, Situation, Then};
use self::record::{OperationError, OperationRequest, OperationResult};
use crate::Engine;
use crate::config::{Config, IdempotencyConfig};
use crate::inventory::Inventory;
use crate::store::{Operation, OperationState, OperationUpdate, StoreError, now_ms};

/// How this server runs operations.
pub struct Settings {
    /// How long and how often an operation may try.
    pub limits: machine::Limits,
    /// Provider steps under way per API key (see [`fairness`]).
    pub key_gate: Arc<fairness::KeyGate>,
    /// Steps the worker runs at once.
    pub concurrency: usize,
    /// How often the worker looks for due operations, and follows running ones.
    pub poll_interval_ms: i64,
    /// How long a claim on an operation lasts; a step is cut off before it runs out.
    pub lease_ms: i64,
    /// This process's name when it holds an operation's lease from a request.
    pub lease_owner: String,
    /// This process's worker's name when it holds an operation's lease (and this replica's
    /// name in the replicas table).
    pub worker_owner: String,
    pub idempotency: IdempotencyConfig,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        let operations = &config.operations;
        Self {
            limits: machine::Limits {
                max_attempts: i64::from(operations.max_attempts),
                deadline_ms: i64::try_from(operations.deadline_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
                max_conflict_retries: 40,
            },
            key_gate: Arc::new(fairness::KeyGate::new(operations.max_in_flight_per_key)),
            concurrency: operations.concurrency,
            poll_interval_ms: i64::try_from(operations.poll_interval_ms).unwrap_or(i64::MAX),
            lease_ms: i64::try_from(operations.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            lease_owner: format!("api-{}", uuid::Uuid::new_v4().simple()),
            worker_owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            idempotency: config.idempotency.clone(),
        }
    }
}

/// The longest one step may take (a create with its retries and look-ups): past it the step
/// counts as an outage. While it runs, its lease is renewed every third of a lease.
const STEP_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// What one step did, for the request that ran it inline.
#[derive(Debug, Default)]
pub struct StepOutcome {
    pub state: Option<OperationState>,
    pub instances: Vec<Instance>,
    pub action: Option<ProviderAction>,
    /// The resource a resource operation made or changed, as the provider described it.
    pub resource: Option<Resource>,
    /// The provider's error, when this step met one.
    pub error: Option<ProviderError>,
    /// Why the operation failed, when this step ended it so.
    pub failure: Option<OperationError>,
}

/// Runs one step of `op`, which the caller has claimed as `owner`, and records the outcome.
///
/// `inline` is true when the step runs inside the request that created the operation: a busy
/// instance then fails at once (the caller is told 409) instead of being retried in background.
#[tracing::instrument(skip_all, fields(operation_id = %op.id, kind = %op.kind, provider = %op.provider))]
pub async fn advance(
    state: &Engine,
    op: &Operation,
    owner: &str,
    inline: bool,
) -> Result<StepOutcome, StoreError> {
    // A row that does not parse fails by name; nothing is sent from a guessed value.
    let (operation_id, request) = match &op.request {
        Ok((id, request)) => (*id, request),
        Err(unreadable) => {
            tracing::error!(operation_id = %op.id, reason = %unreadable.0, "an operation that cannot be read fails");
            let error = OperationError::new(
                ErrorCode::OperationUnreadable,
                format!(
                    "the stored operation cannot be read ({}); nothing was sent to the provider",
                    unreadable.0
                ),
            );
            return fail_without_provider(state, op, owner, error).await;
        }
    };
    let Some(provider) = state.providers.get(&op.provider) else {
        let error = OperationError::new(
            ErrorCode::UnknownProvider,
            format!("provider {} is not configured", op.provider),
        );
        return fail_without_provider(state, op, owner, error).await;
    };
    let typed = Typed { op, operation_id, request };
    // The lease is short (a crashed holder delays the operation by little) and renewed while the
    // step runs; a step whose lease cannot be renewed stops at once, unrecorded, since someone
    // else may take the operation over. Past STEP_LIMIT the step counts as an outage; the next
    // attempt adopts whatever it made.
    let stepping = tokio::time::timeout(STEP_LIMIT, step(state, &typed, provider.as_ref(), owner, inline));
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
            let decision = machine::decide(
                situation(&typed, inline),
                Answer::Failed(late.clone()),
                state.operations.limits,
                fastrand::f64(),
            );
            record(state, op, owner, &decision).await?;
            Ok(StepOutcome::decided(&decision, Some(late)))
        }
    }
}

/// An operation whose record parsed: what every step works from.
struct Typed<'a> {
    op: &'a Operation,
    operation_id: OperationId,
    request: &'a OperationRequest,
}

/// Ends `op` as failed with `error`, without calling any provider.
async fn fail_without_provider(
    state: &Engine,
    op: &Operation,
    owner: &str,
    error: OperationError,
) -> Result<StepOutcome, StoreError> {
    let decision =
        Decision { state: OperationState::Failed, result: None, error: Some(error), then: Then::Done };
    record(state, op, owner, &decision).await?;
    Ok(StepOutcome::decided(&decision, None))
}

impl StepOutcome {
    /// What a step that reached `decision` tells the request that ran it.
    fn decided(decision: &Decision, error: Option<ProviderError>) -> Self {
        Self {
            state: Some(decision.state),
            error,
            failure: (decision.state == OperationState::Failed).then(|| decision.error.clone()).flatten(),
            ..Default::default()
        }
    }
}

/// Renews `owner`'s lease on operation `id` every third of a lease, for as long as it is
/// polled; returns (ending the step) only when the lease is lost or cannot be renewed.
async fn keep_lease(state: &Engine, id: &str, owner: &str) -> &'static str {
    let every = std::time::Duration::from_millis((state.operations.lease_ms / 3).max(100) as u64);
    let mut failures = 0;
    loop {
        tokio::time::sleep(every).await;
        match state.store.renew_lease(id, owner, state.operations.lease_ms).await {
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
fn situation(typed: &Typed<'_>, inline: bool) -> Situation {
    let op = typed.op;
    let age_ms = (time::OffsetDateTime::now_utc() - op.created_at).whole_milliseconds();
    Situation {
        kind: typed.request.kind(),
        state: op.state,
        attempts: op.attempts,
        age_ms: i64::try_from(age_ms).unwrap_or(i64::MAX),
        inline,
    }
}

/// Stores a decision; only the lease holder's update counts.
async fn record(state: &Engine, op: &Operation, owner: &str, decision: &Decision) -> Result<(), StoreError> {
    let next_attempt_ms = match decision.then {
        Then::Done => 0,
        Then::Poll => now_ms() + state.operations.poll_interval_ms,
        Then::Backoff(ms) => now_ms() + ms,
    };
    let update = OperationUpdate {
        state: decision.state,
        result: decision.result.as_ref(),
        error: decision.error.as_ref(),
        next_attempt_ms,
        count_attempt: decision.counts_as_attempt(),
    };
    let events = step_events(op, decision);
    state.store.update_operation_emitting(&op.id, owner, update, &events).await?;
    if decision.state.is_final() {
        tracing::info!(operation_id = %op.id, kind = %op.kind, state = decision.state.as_str(), error = ?decision.error, "operation finished");
    }
    Ok(())
}

/// The events a step that reached `decision` reports: `succeeded` or `failed` when it ended the
/// operation, `step` when it moved it on or met a failure it will retry, none for a poll that
/// found nothing new. Each carries the operation as it stands after the step.
fn step_events(op: &Operation, decision: &Decision) -> Vec<crate::events::NewEvent> {
    let change = match decision.state {
        OperationState::Succeeded => "succeeded",
        OperationState::Failed => "failed",
        moved if moved != op.state || decision.error.is_some() => "step",
        _ => return Vec::new(),
    };
    let mut after = op.clone();
    after.state = decision.state;
    if let Some(result) = &decision.result {
        after.result = Some(result.clone());
    }
    after.error.clone_from(&decision.error);
    after.attempts += i64::from(decision.counts_as_attempt());
    after.updated_at = time::OffsetDateTime::now_utc();
    after.lease_until_ms = None;
    vec![crate::events::NewEvent::new(
        "operation",
        change,
        &op.provider,
        format!("operations/{}", op.id),
        crate::events::views::operation(&after),
    )]
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
    typed: &Typed<'_>,
    provider: &dyn nephele_core::Provider,
    inventory: &Inventory,
    outcome: &mut StepOutcome,
) -> Result<Answer, StoreError> {
    let op = typed.op;
    let following = |what: &str| {
        StoreError::Corrupt(format!("operation {} is running but has no {what} to follow", op.id))
    };
    let answer = match (typed.request, op.state) {
        (OperationRequest::Create(request), OperationState::Pending) => {
            match provider.create_instances(request).await {
                Ok(instances) => {
                    let ids = instances.iter().map(|i| i.id.clone()).collect();
                    inventory.upsert(&op.provider, &instances);
                    outcome.instances = instances;
                    Answer::Created(ids)
                }
                Err(e) => Answer::Failed(e),
            }
        }
        (OperationRequest::Create(_), OperationState::Running) => {
            let Some(OperationResult::Created { instance_ids }) = &op.result else {
                return Err(following("instances"));
            };
            let mut all_running = true;
            let mut failure = None;
            let mut polled = Vec::with_capacity(instance_ids.len());
            for id in instance_ids {
                match provider.get_instance(id).await {
                    Ok(instance) => {
                        all_running &= instance.status == InstanceStatus::Running;
                        polled.push(instance);
                    }
                    Err(e) => {
                        if matches!(e, ProviderError::NotFound { .. }) {
                            inventory.remove(&op.provider, id);
                        }
                        failure = Some(e);
                        break;
                    }
                }
            }
            inventory.upsert(&op.provider, &polled);
            failure.map_or(Answer::CreatePolled { all_running }, Answer::Failed)
        }
        (OperationRequest::Delete { instance_id, associated }, _) => {
            match delete_instance(provider, instance_id, associated, typed.operation_id).await {
                Ok(()) => {
                    inventory.remove(&op.provider, instance_id);
                    for (kind, id) in associated.all() {
                        inventory.remove_resource(&op.provider, kind, id);
                    }
                    Answer::Deleted
                }
                Err(e) => {
                    if matches!(e, ProviderError::NotFound { .. }) {
                        inventory.remove(&op.provider, instance_id);
                    }
                    Answer::Failed(e)
                }
            }
        }
        (OperationRequest::CreateResource(request), OperationState::Pending) => {
            match provider.create_resource(request).await {
                Ok(resource) => {
                    inventory.upsert_resource(&op.provider, &resource);
                    let answer = Answer::ResourceDone(resource.kind(), resource.id().clone());
                    outcome.resource = Some(resource);
                    answer
                }
                Err(e) => Answer::Failed(e),
            }
        }
        (OperationRequest::DeleteResource { kind, id }, _) => {
            match provider.delete_resource(*kind, id, typed.operation_id).await {
                Ok(()) => {
                    inventory.remove_resource(&op.provider, *kind, id);
                    Answer::Deleted
                }
                Err(e) => {
                    if matches!(e, ProviderError::NotFound { .. }) {
                        inventory.remove_resource(&op.provider, *kind, id);
                    }
                    Answer::Failed(e)
                }
            }
        }
        (OperationRequest::ResourceAction(action), OperationState::Pending) => {
            start_resource_action(typed, provider, inventory, action, outcome).await
        }
        (OperationRequest::ResourceAction(action), OperationState::Running) => {
            let Some(OperationResult::ActionStarted { action_id }) = &op.result else {
                return Err(following("action"));
            };
            match provider.get_action(action_id).await {
                Ok(polled) => {
                    if polled.status == ActionStatus::Completed {
                        let (kind, id) = action.target();
                        if let Ok(resource) = provider.get_resource(kind, id).await {
                            inventory.upsert_resource(&op.provider, &resource);
                            outcome.resource = Some(resource);
                        }
                    }
                    Answer::ActionPolled(polled.status)
                }
                Err(e) => Answer::Failed(e),
            }
        }
        (OperationRequest::Power { instance_id, action }, OperationState::Pending) => {
            let since = op.created_at;
            // Like a create, an action must happen once: an earlier attempt may have started it
            // without hearing back, so after any attempt the instance's actions are read first.
            let started = async {
                if op.attempts > 0
                    && let Some(earlier) = provider.find_power_action(instance_id, *action, since).await?
                {
                    tracing::info!(operation_id = %op.id, action_id = %earlier.id, "found the action an earlier attempt started");
                    return Ok(earlier);
                }
                provider.power_action(instance_id, *action, typed.operation_id).await
            };
            match started.await {
                Ok(started) => {
                    let id = started.id.clone();
                    outcome.action = Some(started);
                    Answer::ActionStarted(id)
                }
                Err(e) => Answer::Failed(e),
            }
        }
        (OperationRequest::Power { instance_id, action }, OperationState::Running) => {
            let Some(OperationResult::ActionStarted { action_id }) = &op.result else {
                return Err(following("action"));
            };
            match provider.get_action(action_id).await {
                Ok(polled) => {
                    if polled.status == nephele_core::ActionStatus::Completed {
                        inventory.set_status(&op.provider, instance_id, status_after(*action));
                    }
                    Answer::ActionPolled(polled.status)
                }
                Err(e) => Answer::Failed(e),
            }
        }
        // A finished operation is not stepped (the store claims only pending and running ones).
        (_, OperationState::Succeeded | OperationState::Failed) => Answer::Deleted,
        // A resource create is done in its first step; one found running is a bug, or a row of
        // a later version: looked at again later (the machine says so), never sent twice.
        (OperationRequest::CreateResource(_), OperationState::Running) => {
            Answer::Failed(ProviderError::unavailable("a resource create is not followed"))
        }
    };
    Ok(answer)
}

/// Deletes `instance_id` with its `associated` resources: in one call where the provider offers
/// it, else the instance and then each resource (one already gone counts as deleted).
async fn delete_instance(
    provider: &dyn Provider,
    instance_id: &InstanceId,
    associated: &AssociatedResources,
    operation_id: OperationId,
) -> Result<(), ProviderError> {
    if associated.is_empty() {
        return provider.delete_instance(instance_id, operation_id).await;
    }
    match provider.delete_instance_with(instance_id, associated, operation_id).await {
        Err(ProviderError::NotSupported { .. }) => {}
        done => return done,
    }
    match provider.delete_instance(instance_id, operation_id).await {
        Ok(()) | Err(ProviderError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    for (kind, id) in associated.all() {
        match provider.delete_resource(kind, id, operation_id).await {
            Ok(()) | Err(ProviderError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Starts a resource action exactly once: the resource is read first, and an action whose
/// effect it already shows (sent by an earlier attempt whose answer was lost, or asked of a
/// resource already so) is done without a call.
async fn start_resource_action(
    typed: &Typed<'_>,
    provider: &dyn Provider,
    inventory: &Inventory,
    action: &ResourceAction,
    outcome: &mut StepOutcome,
) -> Answer {
    let op = typed.op;
    let (kind, id) = action.target();
    let current = match provider.get_resource(kind, id).await {
        Ok(current) => current,
        Err(e) => {
            if matches!(e, ProviderError::NotFound { .. }) {
                inventory.remove_resource(&op.provider, kind, id);
            }
            return Answer::Failed(e);
        }
    };
    if action.is_done(&current) {
        inventory.upsert_resource(&op.provider, &current);
        outcome.resource = Some(current);
        return Answer::ResourceDone(kind, id.clone());
    }
    let started = match provider.resource_action(action, typed.operation_id).await {
        Ok(started) => started,
        Err(e) => return Answer::Failed(e),
    };
    match started.action {
        Some(followed) if followed.status != ActionStatus::Completed => {
            if let Some(resource) = started.resource {
                inventory.upsert_resource(&op.provider, &resource);
                outcome.resource = Some(resource);
            }
            let action_id = followed.id.clone();
            outcome.action = Some(followed);
            Answer::ActionStarted(action_id)
        }
        _ => {
            // Done already: the resource as it stands now.
            let resource = match started.resource {
                Some(resource) => Some(resource),
                None => provider.get_resource(kind, id).await.ok(),
            };
            if let Some(resource) = resource {
                inventory.upsert_resource(&op.provider, &resource);
                outcome.resource = Some(resource);
            }
            Answer::ResourceDone(kind, id.clone())
        }
    }
}

async fn step(
    state: &Engine,
    typed: &Typed<'_>,
    provider: &dyn nephele_core::Provider,
    owner: &str,
    inline: bool,
) -> Result<StepOutcome, StoreError> {
    let situation = situation(typed, inline);
    let mut outcome = StepOutcome::default();
    let answer = ask_provider(typed, provider, &state.inventory, &mut outcome).await?;
    let error = match &answer {
        Answer::Failed(error) => Some(error.clone()),
        _ => None,
    };
    let decision = machine::decide(situation, answer, state.operations.limits, fastrand::f64());
    record(state, typed.op, owner, &decision).await?;
    Ok(StepOutcome {
        instances: outcome.instances,
        action: outcome.action,
        resource: outcome.resource,
        ..StepOutcome::decided(&decision, error)
    })
}
