//! Every provider's instances, in memory: lists and filters are answered from here, never by
//! waiting for the cloud while a fresh-enough copy exists.
//!
//! - A copy is refreshed in the background so it is never older than `inventory.max_age_secs`
//!   (each provider on its own timer, just before its copy would pass that age). One refresh of
//!   10,000 droplets costs its 50 requests once per interval, whatever the number of clients.
//! - Concurrent misses (no copy yet, a copy too old, or `fresh` asked) share one fetch.
//! - Changes made through Nephele (creates, deletes, power actions) are written in at once, so a
//!   caller always sees their own change; a write made while a refresh is under way is applied
//!   again on top of what that refresh brings, so the refresh cannot undo it.
//! - A refresh that fails keeps the last good copy, marked stale, with the failure reported.
//! - Refreshes never take more than `inventory.max_refresh_share` (25%) of the provider's rate
//!   limit: a refresh that cost R requests is not followed by another sooner than
//!   R / (share x limit per minute) minutes, even when that is longer than `max_age` (the
//!   copy's `Age` then says how old it is).
//!
//! Each copy has a version, which changes with every refresh and write: the API's `ETag`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use nephele_core::{Instance, InstanceFilter, InstanceId, InstanceStatus, Provider, ProviderError};
use time::OffsetDateTime;

use crate::providers::ProviderRegistry;

/// One provider's instances at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub instances: Arc<Vec<Instance>>,
    /// When the provider was last read (UTC); writes through Nephele do not move it.
    pub as_of: OffsetDateTime,
    fetched: Instant,
    /// When the provider was last asked, successfully or not: a failing provider is asked
    /// again only after `max_age`, not by every request.
    checked: Instant,
    /// Changes with every refresh and every write.
    pub version: u64,
    /// The last refresh's failure, when it failed: the copy is then stale.
    pub error: Option<ProviderError>,
}

impl Snapshot {
    /// How long since the provider was last read.
    pub fn age(&self) -> Duration {
        self.fetched.elapsed()
    }

    pub fn is_stale(&self) -> bool {
        self.error.is_some()
    }

    /// The instances that pass `filter`.
    pub fn matching(&self, filter: &InstanceFilter) -> Vec<Instance> {
        self.instances.iter().filter(|i| filter.matches(i)).cloned().collect()
    }
}

/// A change made through Nephele, kept until no refresh under way predates it.
#[derive(Debug, Clone)]
enum Write {
    Upsert(Vec<Instance>),
    Remove(InstanceId),
    Status(InstanceId, InstanceStatus),
}

impl Write {
    /// Whether this write would change `instances` (sorted by id). A `get` of an unchanged
    /// instance is the common case, and it need not copy the whole list (nor change the
    /// version, which would throw away the rendered answers).
    fn changes(&self, instances: &[Instance]) -> bool {
        let find =
            |id: &InstanceId| instances.binary_search_by(|i| i.id.cmp(id)).ok().map(|at| &instances[at]);
        match self {
            Self::Upsert(upserted) => upserted.iter().any(|instance| find(&instance.id) != Some(instance)),
            Self::Remove(id) => find(id).is_some(),
            Self::Status(id, status) => find(id).is_some_and(|existing| existing.status != *status),
        }
    }

    fn apply(&self, instances: &mut Vec<Instance>) {
        match self {
            Self::Upsert(upserted) => {
                for instance in upserted {
                    match instances.iter_mut().find(|i| i.id == instance.id) {
                        Some(existing) => *existing = instance.clone(),
                        None => instances.push(instance.clone()),
                    }
                }
            }
            Self::Remove(id) => instances.retain(|i| &i.id != id),
            Self::Status(id, status) => {
                if let Some(existing) = instances.iter_mut().find(|i| &i.id == id) {
                    existing.status = *status;
                }
            }
        }
    }
}

/// Whether a read may be answered from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// From memory when the copy is younger than `max_age`.
    Cached,
    /// A live read of the provider (operators' `?fresh=true`, `Cache-Control: no-cache`).
    Live,
}

/// A refresh that failed while there was no copy to fall back on.
#[derive(Clone)]
struct Failure {
    began: Instant,
    ended: Instant,
    error: ProviderError,
}

struct ProviderInventory {
    provider: Arc<dyn Provider>,
    current: RwLock<Option<Snapshot>>,
    /// The last refresh's failure while there is no copy: callers that waited for that refresh
    /// share its failure instead of each trying again.
    failure: Mutex<Option<Failure>>,
    /// Held by the one refresh under way; waiters then take its result.
    refreshing: tokio::sync::Mutex<()>,
    /// Writes, numbered, since the oldest refresh under way began.
    writes: Mutex<Vec<(u64, Write)>>,
    /// Provider requests the last refresh took.
    refresh_cost: AtomicU64,
    /// How long the last refresh took, in milliseconds.
    refresh_ms: AtomicU64,
    /// Reads answered from memory, and reads that had to wait for the provider.
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Every provider's inventory.
pub struct Inventory {
    max_age: Duration,
    /// Part of the provider's rate limit refreshes may take.
    max_share: f64,
    versions: AtomicU64,
    providers: HashMap<String, Arc<ProviderInventory>>,
}

impl Inventory {
    pub fn new(providers: &ProviderRegistry, max_age: Duration, max_share: f64) -> Self {
        let providers = providers
            .all()
            .map(|(name, provider)| {
                let inventory = ProviderInventory {
                    provider: provider.clone(),
                    current: RwLock::new(None),
                    failure: Mutex::new(None),
                    refreshing: tokio::sync::Mutex::new(()),
                    writes: Mutex::new(Vec::new()),
                    refresh_cost: AtomicU64::new(0),
                    refresh_ms: AtomicU64::new(0),
                    hits: AtomicU64::new(0),
                    misses: AtomicU64::new(0),
                };
                (name.clone(), Arc::new(inventory))
            })
            .collect();
        Self { max_age, max_share: max_share.clamp(0.01, 1.0), versions: AtomicU64::new(1), providers }
    }

    /// How old `entry`'s copy may get: `max_age`, or longer when refreshing that often would
    /// take more than `max_share` of the provider's rate limit.
    fn allowed_age(&self, entry: &ProviderInventory) -> Duration {
        let cost = entry.refresh_cost.load(Ordering::Relaxed);
        let spacing = match entry.provider.rate_limit_per_minute() {
            Some(per_minute) if cost > 0 && per_minute > 0 => {
                Duration::from_secs_f64(cost as f64 * 60.0 / (self.max_share * f64::from(per_minute)))
            }
            _ => Duration::ZERO,
        };
        self.max_age.max(spacing)
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed)
    }

    fn current(entry: &ProviderInventory) -> Option<Snapshot> {
        entry.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads of `provider` answered from memory and reads that waited for the provider.
    pub fn reads(&self, provider: &str) -> (u64, u64) {
        self.providers.get(provider).map_or((0, 0), |entry| {
            (entry.hits.load(Ordering::Relaxed), entry.misses.load(Ordering::Relaxed))
        })
    }

    /// `provider`'s copy as it is, without asking the provider (for `/metrics`).
    pub fn peek(&self, provider: &str) -> Option<Snapshot> {
        Self::current(self.providers.get(provider)?)
    }

    /// `provider`'s instances: from memory when fresh enough, else from one shared fetch. When
    /// that fetch fails, a `Cached` read gets the last good copy marked stale (if there is one)
    /// and a `Live` read gets the failure.
    pub async fn snapshot(&self, provider: &str, freshness: Freshness) -> Result<Snapshot, ProviderError> {
        let Some(entry) = self.providers.get(provider) else {
            return Err(ProviderError::not_found(format!("no provider named {provider:?} is configured")));
        };
        let asked_at = Instant::now();
        let allowed_age = self.allowed_age(entry);
        let usable = |snapshot: &Snapshot| match freshness {
            Freshness::Cached => snapshot.checked.elapsed() < allowed_age,
            // A live read is one that began after the caller asked.
            Freshness::Live => snapshot.checked >= asked_at,
        };
        if let Some(snapshot) = Self::current(entry).filter(|s| usable(s)) {
            entry.hits.fetch_add(1, Ordering::Relaxed);
            return answer(freshness, snapshot);
        }
        entry.misses.fetch_add(1, Ordering::Relaxed);
        let _refresh = entry.refreshing.lock().await;
        // Someone else's refresh may have just brought what we need: a copy fresh enough, or,
        // for a cached read, one that arrived while this caller waited (however long the
        // fetch took, it is newer than anything the caller could have had when it asked)...
        let arrived_meanwhile = |s: &Snapshot| freshness == Freshness::Cached && s.fetched >= asked_at;
        if let Some(snapshot) = Self::current(entry).filter(|s| usable(s) || arrived_meanwhile(s)) {
            return answer(freshness, snapshot);
        }
        // ...or failed while this caller waited for it: one fetch, one answer for all.
        let failure = entry.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some(failure) = failure {
            let waited_for_it = match freshness {
                Freshness::Cached => failure.ended >= asked_at,
                Freshness::Live => failure.began >= asked_at,
            };
            if waited_for_it {
                return Err(failure.error);
            }
        }
        answer(freshness, self.refresh_locked(entry).await?)
    }

    /// Reads the provider and stores the result; the caller holds `entry.refreshing`.
    async fn refresh_locked(&self, entry: &ProviderInventory) -> Result<Snapshot, ProviderError> {
        let began = self.next_version();
        let asked = Instant::now();
        let sent_before = entry.provider.counters().get("requests_sent").copied();
        let fetched = entry.provider.list_instances(&InstanceFilter::default()).await;
        // What the refresh cost (other traffic meanwhile makes this an overestimate: safe).
        if let (Some(before), Some(after)) =
            (sent_before, entry.provider.counters().get("requests_sent").copied())
        {
            entry.refresh_cost.store(after.saturating_sub(before), Ordering::Relaxed);
        }
        let mut current = entry.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match fetched {
            Ok(mut instances) => {
                let mut writes = entry.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // What was written while this refresh was under way is applied on top of it.
                for (_, write) in writes.iter().filter(|(at, _)| *at > began) {
                    write.apply(&mut instances);
                }
                writes.retain(|(at, _)| *at > began);
                instances.sort_by(|a, b| a.id.cmp(&b.id));
                let snapshot = Snapshot {
                    instances: Arc::new(instances),
                    as_of: OffsetDateTime::now_utc(),
                    fetched: Instant::now(),
                    checked: asked,
                    version: self.next_version(),
                    error: None,
                };
                *current = Some(snapshot.clone());
                *entry.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                Ok(snapshot)
            }
            Err(error) => match current.as_mut() {
                Some(last_good) => {
                    tracing::warn!(%error, "refreshing the inventory failed; serving the last good copy, marked stale");
                    last_good.error = Some(error);
                    last_good.checked = asked;
                    last_good.version = self.next_version();
                    Ok(last_good.clone())
                }
                None => {
                    let failure = Failure { began: asked, ended: Instant::now(), error: error.clone() };
                    *entry.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(failure);
                    Err(error)
                }
            },
        }
    }

    /// Refreshes `provider` now, unless a copy younger than `younger_than` exists.
    async fn refresh_if_older(&self, provider: &str, younger_than: Duration) {
        let Some(entry) = self.providers.get(provider) else { return };
        let _refresh = entry.refreshing.lock().await;
        if Self::current(entry).is_some_and(|s| s.checked.elapsed() < younger_than) {
            return;
        }
        if let Err(error) = self.refresh_locked(entry).await {
            tracing::warn!(provider, %error, "refreshing the inventory failed");
        }
    }

    fn write(&self, provider: &str, write: Write) {
        let Some(entry) = self.providers.get(provider) else { return };
        let version = self.next_version();
        entry.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((version, write.clone()));
        let mut current = entry.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The write is logged all the same: a refresh in flight may have read an older state.
        if let Some(snapshot) = current.as_mut()
            && write.changes(&snapshot.instances)
        {
            let mut instances = snapshot.instances.as_ref().clone();
            write.apply(&mut instances);
            instances.sort_by(|a, b| a.id.cmp(&b.id));
            snapshot.instances = Arc::new(instances);
            snapshot.version = version;
        }
    }

    /// Records instances as the provider just described them (made, or read one by one), in
    /// one write: each write copies the list once.
    pub fn upsert(&self, provider: &str, instances: &[Instance]) {
        if !instances.is_empty() {
            self.write(provider, Write::Upsert(instances.to_vec()));
        }
    }

    /// Records that an instance is gone.
    pub fn remove(&self, provider: &str, id: &InstanceId) {
        self.write(provider, Write::Remove(id.clone()));
    }

    /// Records an instance's new status (a power action completed).
    pub fn set_status(&self, provider: &str, id: &InstanceId, status: InstanceStatus) {
        self.write(provider, Write::Status(id.clone(), status));
    }
}

/// A live read whose fetch failed is that failure, not the last good copy: the cloud's answer
/// was asked for.
fn answer(freshness: Freshness, snapshot: Snapshot) -> Result<Snapshot, ProviderError> {
    match (freshness, &snapshot.error) {
        (Freshness::Live, Some(error)) => Err(error.clone()),
        _ => Ok(snapshot),
    }
}

/// Keeps every provider's copy younger than `max_age`: each provider is refreshed a little
/// before its copy would get too old, on its own timer (replicas and providers start at
/// different moments, so their refreshes are spread), once per `max_age`.
pub fn spawn_refreshers(inventory: Arc<Inventory>) {
    for name in inventory.providers.keys() {
        let (inventory, name) = (inventory.clone(), name.clone());
        tokio::spawn(async move {
            // The first load starts at once, so the first list need not wait for it; later
            // ones are spread by their jitter.
            loop {
                // One refresh per max_age: each starts just before the copy would pass it, with
                // twice the last refresh's duration to spare (and never sooner than half of it),
                // unless that would take more than the refreshes' share of the budget.
                let Some(entry) = inventory.providers.get(&name) else { return };
                let allowed = inventory.allowed_age(entry);
                let took = Duration::from_millis(entry.refresh_ms.load(Ordering::Relaxed));
                let spare = took * 2 + Duration::from_millis(100);
                let due = if allowed > inventory.max_age {
                    allowed
                } else {
                    inventory.max_age.saturating_sub(spare).max(inventory.max_age / 2)
                };
                inventory.refresh_if_older(&name, due).await;
                let age = inventory
                    .providers
                    .get(&name)
                    .and_then(|e| Inventory::current(e))
                    .map(|s| s.checked.elapsed())
                    .unwrap_or_default();
                tokio::time::sleep(due.saturating_sub(age).max(Duration::from_millis(100))).await;
            }
        });
    }
}
