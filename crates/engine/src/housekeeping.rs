//! Background upkeep: expired idempotency keys and old audit entries are deleted, the
//! summaries of failed authentication and of keys' refused requests past their budget are
//! written as their windows end, and this process says it is alive so that replicas sharing the
//! database split the providers' rate limits between them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Engine;
use crate::store::{AuditEntry, now_ms};

/// How often ended failed-authentication windows are looked for (an in-memory check; rows are
/// written only for windows that saw more than one failure), at most.
const TICK: Duration = Duration::from_secs(1);
/// How often expired rows are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// How often this process says it is alive, and how long a silent replica still counts.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
const REPLICA_ALIVE_MS: i64 = 6_000;

/// Starts the upkeep task; it runs until `stopping` turns true (then it writes the summaries
/// of windows still open, so nothing counted is lost, and ends: the replica stops heartbeating).
pub fn spawn(state: Arc<Engine>, mut stopping: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_purge: Option<Instant> = None;
        let mut last_heartbeat: Option<Instant> = None;
        let mut sharing = 1;
        // Revocations made elsewhere are seen within auth.revocation_delay_secs: the key
        // revision is read twice as often.
        let tick =
            TICK.min(Duration::from_millis(state.config.auth.revocation_delay_secs.saturating_mul(500)));
        loop {
            follow_revocations(&state).await;
            if let Err(e) = state.follow_accounts().await {
                tracing::warn!(error = %e, "cannot read the accounts; trying again");
            }
            if last_heartbeat.is_none_or(|at| at.elapsed() >= HEARTBEAT_EVERY) {
                last_heartbeat = Some(Instant::now());
                sharing = share_rate_limits(&state, sharing).await;
            }
            write_failed_authentication_summaries(&state).await;
            write_budget_summaries(&state).await;
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                last_purge = Some(Instant::now());
                purge(&state).await;
            }
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = stopping.wait_for(|stop| *stop) => break,
            }
        }
    })
}

/// Heartbeats, and when the number of live replicas changed, tells every provider its share.
async fn share_rate_limits(state: &Engine, sharing: u32) -> u32 {
    match state.store.replica_heartbeat(&state.operations.worker_owner, REPLICA_ALIVE_MS).await {
        Ok(alive) => {
            let alive = u32::try_from(alive).unwrap_or(u32::MAX);
            if alive != sharing {
                tracing::info!(replicas = alive, "replicas sharing the providers' rate limits changed");
                state.providers.share_rate_limit(alive);
            }
            alive
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record this replica's heartbeat");
            sharing
        }
    }
}

/// Forgets the verified keys when another replica revoked one.
async fn follow_revocations(state: &Engine) {
    match state.store.key_revision().await {
        Ok(revision) => {
            if state.guards.keys.follow_revision(revision) {
                tracing::debug!(revision, "a key was revoked; verified keys forgotten");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the key revision"),
    }
}

async fn write_failed_authentication_summaries(state: &Engine) {
    for (source, count) in state.guards.failed_authentication.drain_ended(Instant::now()) {
        let entry = AuditEntry {
            principal: "unauthenticated".to_owned(),
            method: "*".to_owned(),
            path: "*".to_owned(),
            source: Some(source.map_or_else(|| "other sources".to_owned(), |ip| ip.to_string())),
            count,
            ..AuditEntry::new(401, "denied")
        };
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error = %e, "cannot write a failed-authentication summary");
        }
    }
}

/// One entry per key and status for the refused or failed requests past the key's budget.
async fn write_budget_summaries(state: &Engine) {
    for entry in state.guards.audit_budget.drain_ended(Instant::now()) {
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error = %e, "cannot write a summary of a key's refused requests");
        }
    }
}

/// Deletes expired idempotency keys and audit entries past their retention.
pub async fn purge(state: &Engine) {
    let retention_ms = i64::try_from(state.guards.audit_retention.as_millis()).unwrap_or(i64::MAX);
    match state.store.purge_expired(now_ms().saturating_sub(retention_ms)).await {
        Ok((0, 0)) => {}
        Ok((keys, audit)) => {
            tracing::info!(keys, audit, "deleted expired idempotency keys and audit entries")
        }
        Err(e) => tracing::error!(error = %e, "cannot delete expired rows"),
    }
    purge_events(state).await;
}

/// Deletes events older than `events.retention_days`, and finished deliveries as old.
pub async fn purge_events(state: &Engine) {
    let retention_ms =
        i64::try_from(state.config.events.retention_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
    match state.store.purge_events(now_ms().saturating_sub(retention_ms)).await {
        Ok(0) => {}
        Ok(events) => tracing::info!(events, "deleted events past their retention"),
        Err(e) => tracing::error!(error = %e, "cannot delete old events"),
    }
}
