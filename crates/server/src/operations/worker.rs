//! The background worker: claims due operations (new, retrying, or left behind by a crash) and
//! advances them, a few at a time. Several replicas may run workers on one database; the lease
//! in the store lets exactly one work on an operation at a time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::advance;
use crate::app::AppState;

/// Starts the worker; it runs until the process ends.
pub fn spawn(state: Arc<AppState>) -> JoinHandle<()> {
    let owner = format!("worker-{}", uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(state.operations_concurrency));
        let idle = Duration::from_millis(state.poll_interval_ms as u64);
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            match state.store.claim_due_operation(&owner, state.lease_ms).await {
                Ok(Some(op)) => {
                    let state = state.clone();
                    let owner = owner.clone();
                    tokio::spawn(async move {
                        if let Err(e) = advance(&state, &op, &owner, false).await {
                            tracing::error!(operation_id = %op.id, error = %e, "cannot advance operation");
                        }
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::time::sleep(idle).await;
                }
                Err(e) => {
                    drop(permit);
                    tracing::error!(error = %e, "cannot read due operations");
                    tokio::time::sleep(idle * 4).await;
                }
            }
        }
    })
}
