//! Spend's background work and shared state: the clock it reads, the cost history's recorder
//! (on every change of the inventory, every move of a set clock, and at least every
//! `costs.record_interval_secs`), the budgets' evaluation after each recording (and at least
//! every `budgets.eval_interval_secs`), and the history's retention.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Engine;
use crate::clock::Clock;
use crate::costs::history::{self, RecorderMemory, ms};

/// How often the recorder looks for a change (inventory versions, a set clock's moves).
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// How often old history is purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Spend's state, shared by the recorder, the budgets and the API.
pub struct Spend {
    pub clock: Clock,
    pub memory: RecorderMemory,
    pub budgets: crate::budgets::Budgets,
    /// Each account's last bill read.
    pub bills: crate::costs::bill::Bills,
    /// Rounds of budget evaluation so far, and how long the last took (µs), for `/metrics`.
    pub evaluations: AtomicU64,
    pub last_evaluation_micros: AtomicU64,
}

impl Spend {
    pub fn from_config(config: &crate::Config) -> Self {
        let clock = match config.costs.clock.as_deref().map(history::parse_clock) {
            Some(Ok(at)) => Clock::standing_at(at),
            _ => Clock::system(),
        };
        Self {
            clock,
            memory: RecorderMemory::default(),
            budgets: crate::budgets::Budgets::default(),
            bills: crate::costs::bill::Bills::default(),
            evaluations: AtomicU64::new(0),
            last_evaluation_micros: AtomicU64::new(0),
        }
    }
}

/// Records every account's history up to the clock's now, then evaluates the budgets.
pub async fn record_all(engine: &Engine) {
    let now = engine.spend.clock.now();
    for (name, provider) in engine.providers.all() {
        let name = &name;
        if let Err(e) =
            history::record_account(engine, &engine.spend.memory, name, provider.as_ref(), now).await
        {
            tracing::warn!(account = %name, error = %e, "recording the cost history failed; the next recording covers the span");
        }
    }
    let started = Instant::now();
    crate::budgets::evaluate_all(engine, now).await;
    let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    engine.spend.last_evaluation_micros.store(took, Ordering::Relaxed);
    engine.spend.evaluations.fetch_add(1, Ordering::Relaxed);
}

/// Runs the recorder until `stopping` turns true.
pub fn spawn(engine: Arc<Engine>, mut stopping: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let interval = Duration::from_secs(engine.config.costs.record_interval_secs);
        let eval_interval = Duration::from_secs(engine.config.budgets.eval_interval_secs);
        let retention =
            time::Duration::days(i64::try_from(engine.config.costs.history_retention_days).unwrap_or(400));
        let mut clock_moves = engine.spend.clock.watch();
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut last_record: Option<Instant> = None;
        let mut last_purge: Option<Instant> = None;
        let mut clock_moved = false;
        loop {
            let moved = std::mem::take(&mut clock_moved);
            let mut changed = false;
            for (name, _) in engine.providers.all() {
                let name = &name;
                let version = engine.inventory.peek(name).map(|s| s.version);
                if let Some(version) = version
                    && versions.insert(name.clone(), version) != Some(version)
                {
                    changed = true;
                }
            }
            let due = last_record.is_none_or(|at| at.elapsed() >= interval.min(eval_interval));
            if moved || changed || due {
                record_all(&engine).await;
                last_record = Some(Instant::now());
            }
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                let before = engine.spend.clock.now() - retention;
                match engine.store.purge_cost_history(ms(before)).await {
                    Ok(n) if n > 0 => tracing::info!(buckets = n, "old cost history deleted"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot delete old cost history"),
                }
                last_purge = Some(Instant::now());
            }
            tokio::select! {
                () = tokio::time::sleep(LOOK_EVERY) => {}
                _ = clock_moves.changed() => clock_moved = true,
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    })
}
