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
}

impl Readiness {
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: Mutex::new(None), refreshing: AtomicBool::new(false) }
    }

    /// Checks every provider again now (a provider was just started again), and keeps the result.
    pub async fn recheck(&self, providers: &ProviderRegistry) -> Checked {
        let fresh = check(providers).await;
        *self.last.lock().await = Some(fresh.clone());
        fresh
    }

    /// The providers' state as last checked. The very first call waits for the first check
    /// (callers arriving meanwhile wait for the same one); later calls never wait.
    pub async fn current(self: &Arc<Self>, providers: &ProviderRegistry) -> Checked {
        let mut last = self.last.lock().await;
        match &*last {
            Some(checked) => {
                if checked.at.elapsed() >= self.interval && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let this = self.clone();
                    let providers = providers.clone();
                    tokio::spawn(async move {
                        let fresh = check(&providers).await;
                        *this.last.lock().await = Some(fresh);
                        this.refreshing.store(false, Ordering::Release);
                    });
                }
                checked.clone()
            }
            None => {
                let fresh = check(providers).await;
                *last = Some(fresh.clone());
                fresh
            }
        }
    }
}

async fn check(providers: &ProviderRegistry) -> Checked {
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
