//! The background worker: claims due operations (new, retrying, or left behind by a crash) and
//! advances them, a few at a time. Several replicas may run workers on one database; the lease
//! in the store lets exactly one work on an operation at a time.
//!
//! When the server stops, the worker stops claiming, drops the steps it is running (a step is
//! safe to stop anywhere: the next attempt adopts what it made), and [`hand_back`] gives up the
//! leases at once, so another server resumes them without waiting for the leases to run out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::advance;
use super::fairness::KeyPass;
use crate::Engine;
use crate::store::StoreError;

/// Starts the worker; it runs until `stopping` turns true.
pub fn spawn(state: Arc<Engine>, mut stopping: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let owner = state.operations.worker_owner.clone();
        let slots = Arc::new(Semaphore::new(state.operations.concurrency));
        let idle = Duration::from_millis(state.operations.poll_interval_ms as u64);
        let mut steps = tokio::task::JoinSet::new();
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = stopping.wait_for(|stop| *stop) => break,
            };
            let pause = match claim_fairly(&state, &owner).await {
                Ok(Some((op, pass))) => {
                    let state = state.clone();
                    let owner = owner.clone();
                    steps.spawn(async move {
                        if let Err(e) = advance(&state, &op, &owner, false).await {
                            tracing::error!(operation_id = %op.id, error = %e, "cannot advance operation");
                        }
                        drop((pass, permit));
                    });
                    None
                }
                Ok(None) => Some(idle),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read due operations");
                    Some(idle * 4)
                }
            };
            // Reap finished steps so the set does not grow.
            while steps.try_join_next().is_some() {}
            if let Some(pause) = pause {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopping.wait_for(|stop| *stop) => break,
                }
            }
        }
        steps.shutdown().await;
    })
}

/// Due operations looked at per claim: enough to find one of a key that is not busy.
const CANDIDATES: i64 = 64;

/// Claims a due operation of the least busy key (see [`super::fairness`]): among the oldest
/// due, one whose key has the fewest steps under way and room for one more.
async fn claim_fairly(
    state: &Engine,
    owner: &str,
) -> Result<Option<(crate::store::Operation, KeyPass)>, StoreError> {
    let mut candidates = state.store.due_operations(CANDIDATES).await?;
    // A stable sort: among keys equally busy, the oldest due comes first.
    candidates.sort_by_key(|(_, principal)| state.operations.key_gate.in_flight(principal));
    for (id, principal) in candidates {
        let Some(pass) = state.operations.key_gate.try_enter(&principal) else { continue };
        if state.store.claim_operation(&id, owner, state.operations.lease_ms).await?
            && let Some(op) = state.store.get_operation(&id).await?
        {
            return Ok(Some((op, pass)));
        }
    }
    Ok(None)
}

/// Gives up every lease this process holds (its worker's and its requests'), due at once.
pub async fn hand_back(state: &Engine) {
    match state.store.release_leases(&[&state.operations.worker_owner, &state.operations.lease_owner]).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "handed operations back for another server to resume"),
        Err(e) => tracing::warn!(error = %e, "cannot hand leases back; they run out on their own"),
    }
}
