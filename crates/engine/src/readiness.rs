//! What `/readyz` says about the providers: the result of the last check, never a fresh call
//! per probe. A probe finding the result older than `server.readiness_interval_secs` starts
//! one new check in the background (at most one at a time) and answers from what is known, so
//! no number of probes can spend more than one provider call per interval.
//!
//! An account whose stored credentials do not open (`unreadable`) is reported with its reason
//! but does not make the server unready: it is that account's fault, shown in
//! `GET /api/v1/providers`, and the other accounts serve as before. It is not pinged (its
//! provider would refuse without sending anything anyway).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::inventory::{Freshness, Inventory};
use crate::providers::ProviderRegistry;

/// How long one provider's check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The last check: each provider's problem, `None` when it answered.
#[derive(Debug, Clone)]
pub struct Checked {
    pub at: Instant,
    pub providers: BTreeMap<String, Option<String>>,
    /// The accounts whose problem is that their credentials do not open: reported, and not
    /// counted against readiness.
    pub unreadable: BTreeSet<String>,
}

impl Checked {
    /// Whether every provider that counts answered (the unreadable accounts do not count).
    pub fn all_ready(&self) -> bool {
        self.providers.iter().all(|(name, problem)| problem.is_none() || self.unreadable.contains(name))
    }
}

pub struct Readiness {
    interval: Duration,
    last: Mutex<Option<Checked>>,
    refreshing: AtomicBool,
    /// The inventory whose refreshes count as answers (none: every check pings).
    inventory: Option<Arc<Inventory>>,
}

impl Readiness {
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: Mutex::new(None), refreshing: AtomicBool::new(false), inventory: None }
    }

    /// Counts `inventory`'s refreshes as answers (see the module's notes).
    pub fn with_inventory(mut self, inventory: Arc<Inventory>) -> Self {
        self.inventory = Some(inventory);
        self
    }

    /// Checks every provider again now with a ping each (a provider was just started again),
    /// and keeps the result.
    pub async fn recheck(&self, providers: &ProviderRegistry) -> Checked {
        let fresh = check(providers, None, self.interval).await;
        *self.last.lock().await = Some(fresh.clone());
        fresh
    }

    /// `checked` with each failing account whose inventory copy has since been read without
    /// error counted as ready (no provider call).
    fn upgraded(&self, checked: &mut Checked) {
        let Some(inventory) = &self.inventory else { return };
        for (name, problem) in &mut checked.providers {
            if problem.is_some()
                && !checked.unreadable.contains(name)
                && inventory.peek(name).is_some_and(|copy| copy.error.is_none() && copy.age() < self.interval)
            {
                *problem = None;
            }
        }
    }

    /// The providers' state as last checked. The very first call waits for the first check
    /// (callers arriving meanwhile wait for the same one); later calls never wait.
    pub async fn current(self: &Arc<Self>, providers: &ProviderRegistry) -> Checked {
        let mut last = self.last.lock().await;
        match &mut *last {
            Some(checked) => {
                if !checked.all_ready() {
                    self.upgraded(checked);
                }
                if checked.at.elapsed() >= self.interval && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let this = self.clone();
                    let providers = providers.clone();
                    tokio::spawn(async move {
                        let fresh = check(&providers, this.inventory.as_deref(), this.interval).await;
                        *this.last.lock().await = Some(fresh);
                        this.refreshing.store(false, Ordering::Release);
                    });
                }
                checked.clone()
            }
            None => {
                let fresh = check(providers, self.inventory.as_deref(), self.interval).await;
                *last = Some(fresh.clone());
                fresh
            }
        }
    }
}

/// Checks every provider: through `inventory` where it has answered (or is about to, for the
/// first time), else with a ping.
async fn check(providers: &ProviderRegistry, inventory: Option<&Inventory>, interval: Duration) -> Checked {
    let unreadable: BTreeMap<String, String> = providers
        .slots()
        .iter()
        .filter_map(|slot| slot.unreadable().map(|reason| (slot.name().to_owned(), reason)))
        .collect();
    let unreadable = &unreadable;
    let checks = providers.all().map(|(name, provider)| async move {
        if let Some(reason) = unreadable.get(&name) {
            return (name, Some(format!("unreadable: {reason}")));
        }
        // A plugin that is not running says why in the host's own words (safe to show).
        if let Some(problem) = providers.plugin_problem(&name) {
            return (name, Some(problem));
        }
        if let Some(inventory) = inventory {
            match inventory.peek(&name) {
                Some(copy) if copy.error.is_none() && copy.age() < interval => return (name, None),
                // Not read yet: its first refresh is the check (shared, not raced by a ping).
                None => {
                    let problem = match tokio::time::timeout(
                        CHECK_TIMEOUT,
                        inventory.snapshot(&name, Freshness::Cached),
                    )
                    .await
                    {
                        Ok(Ok(_)) => None,
                        Ok(Err(crate::inventory::ReadError::Provider(e))) => Some(e.caller_message()),
                        Ok(Err(e)) => Some(e.to_string()),
                        Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
                    };
                    return (name, problem);
                }
                Some(_) => {}
            }
        }
        let problem = match tokio::time::timeout(CHECK_TIMEOUT, provider.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.caller_message()),
            Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        };
        (name, problem)
    });
    let providers = futures_util::future::join_all(checks).await.into_iter().collect();
    Checked { at: Instant::now(), providers, unreadable: unreadable.keys().cloned().collect() }
}
