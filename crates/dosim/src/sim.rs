//! The simulator's shared state: the account, the rate limiter, the fault settings and the
//! counters that `/_sim/stats` reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::faults::Faults;
use crate::rate_limit::{Limits, RateLimiter};
use crate::state::World;

/// How a simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Bearer tokens the simulator accepts; each has its own rate-limit windows.
    pub tokens: Vec<String>,
    /// How long a droplet takes to boot, and a power action or image import to complete.
    pub transition: Duration,
    /// Droplets to create, already `active`, before serving.
    pub droplets: usize,
    pub limits: Limits,
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tokens: vec!["dosim-token".to_owned()],
            transition: Duration::from_millis(1000),
            droplets: 0,
            limits: Limits::default(),
            faults: Faults::default(),
        }
    }
}

/// Counters since start or the last `POST /_sim/reset`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Requests per OpenAPI operationId, including those refused or failed on purpose.
    pub requests: BTreeMap<&'static str, u64>,
    /// 429 answers sent, whether from the limits or injected.
    pub rate_limited: u64,
    /// 5xx answers injected.
    pub injected_errors: u64,
    /// Connections closed on purpose after processing.
    pub dropped_connections: u64,
    /// The most requests being served at one time.
    pub max_in_flight: usize,
}

/// Everything the handlers share.
pub struct Sim {
    pub tokens: Vec<String>,
    world: Mutex<World>,
    limiter: Mutex<RateLimiter>,
    faults: RwLock<Faults>,
    stats: Mutex<Stats>,
    in_flight: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked mid-update cannot leave a half-made droplet (updates are single
    // statements), so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        let mut world = World::new(config.transition);
        world.prepopulate(config.droplets);
        Self {
            tokens: config.tokens,
            world: Mutex::new(world),
            limiter: Mutex::new(RateLimiter::new(config.limits)),
            faults: RwLock::new(config.faults),
            stats: Mutex::new(Stats::default()),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.limiter)
    }

    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    pub fn faults(&self) -> Faults {
        self.faults.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// Clears the counters and the rate-limit windows (not the account).
    pub fn reset(&self) {
        *self.stats() = Stats::default();
        self.limiter().clear();
    }

    /// Marks a request as started; the guard marks it finished when dropped.
    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let mut stats = self.stats();
        stats.max_in_flight = stats.max_in_flight.max(now);
        InFlight(&self.in_flight)
    }
}

/// A request being served.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
