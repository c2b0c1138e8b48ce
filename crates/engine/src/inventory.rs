//! Every provider's instances and resources (volumes, snapshots, SSH keys, firewalls, reserved
//! IPs, VPCs: each kind it declares), in memory: lists and filters are answered from here, never
//! by waiting long for the cloud while a copy exists.
//!
//! - One refresh reads the instances, then every resource kind the provider declares, then its
//!   resource prices: one copy, one version, one cost, so the resources are refreshed within the
//!   same share of the rate limit as the instances (the share is measured on what the whole
//!   refresh took). A kind the provider turns out not to support (`not_supported`) is left out
//!   of the copy; any other failure fails the refresh, which keeps the last good copy.
//! - A kind whose list the cloud limits on its own ([`Provider::list_limit_per_minute`]:
//!   DigitalOcean's SSH keys, 10 lists a minute) is listed no more often than `max_refresh_share`
//!   of that limit allows (every 24 s at 25% of 10 a minute), live reads included; between lists
//!   the copy keeps the last list, with its own `as_of` ([`Snapshot::resources_as_of`]). When
//!   such a list fails or is held (the client refuses it at once while its limit is spent), the
//!   refresh goes on and keeps the last list of that kind, marked stale with the failure
//!   ([`Snapshot::resources_error`]), so SSH keys can never stall or fail instances. So does a
//!   rate-limited list of any other resource kind (a plugin does not declare its lists' own
//!   limits over the protocol, but its client refuses them as held all the same).
//!
//! - A copy is refreshed in the background so it is never older than `inventory.max_age_secs`
//!   (each provider on its own timer, just before its copy would pass that age). One refresh of
//!   10,000 droplets costs its 50 requests once per interval, whatever the number of clients.
//! - Concurrent misses (no copy yet, a copy too old, or `fresh` asked) share one fetch. The fetch
//!   runs on a task of its own: a reader that stops waiting for it does not cancel it, and the
//!   readers after it get what it brings.
//! - A reader waits for that fetch at most `inventory.read_budget_ms` (a live read: that plus
//!   twice what the last refresh took). Then it is answered from the last good copy, marked stale
//!   because the provider is overdue ([`ReadError::TimedOut`]), or, with no copy, with that
//!   failure. A hung provider or plugin costs a reader the budget, not the minutes its client's
//!   own deadlines allow, and once the budget is spent on a fetch, later readers do not wait again.
//! - Changes made through Nephele (creates, deletes, power actions) are written in at once, so a
//!   caller always sees their own change; a write made while a refresh is under way is applied
//!   again on top of what that refresh brings, so the refresh cannot undo it.
//! - A refresh that fails keeps the last good copy, marked stale, with the failure reported; a
//!   provider that panics while listing has failed that refresh, nothing more.
//! - The background refreshers are supervised: after a failed refresh the next one is tried with
//!   backoff (1 s, doubling, up to the refresh interval), and a refresher that dies is started
//!   again after a pause (1 s, doubling, up to a minute); both are logged and counted (`/metrics`),
//!   so a copy never ages for good.
//! - Refreshes never take more than `inventory.max_refresh_share` (25%) of the provider's rate
//!   limit: a refresh that cost R requests is not followed by another sooner than
//!   R / (share x limit per minute) minutes, even when that is longer than `max_age` (the
//!   copy's `Age` then says how old it is).
//!
//! Each copy has a version, which changes with every refresh and write, and when it is first
//! marked overdue: the API's `ETag`. Nothing here holds a lock across an `await`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use nephele_core::pricing::ResourcePrice;
use nephele_core::{
    Instance, InstanceFilter, InstanceId, InstanceStatus, Provider, ProviderError, Resource, ResourceId,
    ResourceKind,
};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::providers::ProviderRegistry;

/// The longest the rate-limit share may space refreshes: the counters it is computed from may
/// come from a plugin, and no count it reports may push a refresh out of sight.
const MAX_REFRESH_SPACING: Duration = Duration::from_secs(3600);
/// How long before a copy passes `max_age` its refresh begins.
const REFRESH_AHEAD: Duration = Duration::from_millis(100);
/// The first pause before a failed refresh is tried again; it doubles with each failure.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// The pauses before a refresher that died is started again: from the first, doubling, to the last.
const RESTART_PAUSE_MIN: Duration = Duration::from_secs(1);
const RESTART_PAUSE_MAX: Duration = Duration::from_secs(60);

/// Why a read was not answered with a fresh copy.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The provider failed (or refused).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The provider did not answer within the read budget; its fetch goes on in the background.
    #[error("the provider did not answer within {} ms", budget.as_millis())]
    TimedOut { budget: Duration },
}

/// One provider's resources of every kind it supports, each list sorted by id. A kind absent
/// from the map is one the provider does not support.
pub type Resources = std::collections::BTreeMap<ResourceKind, Arc<Vec<Resource>>>;

/// The last list of a kind the cloud limits on its own (see the module's notes).
#[derive(Debug, Clone)]
pub struct KindListing {
    /// When the kind was last listed successfully (UTC); `None` if it never was.
    pub as_of: Option<OffsetDateTime>,
    /// When it was last asked for, successfully or not.
    tried: Instant,
    /// Why the list kept is stale: the last attempt failed or was held.
    pub error: Option<ReadError>,
}

/// One provider's instances (and resources) at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub instances: Arc<Vec<Instance>>,
    /// Every resource kind the provider supports, each sorted by id.
    pub resources: Resources,
    /// What its resources cost (the provider's price list, read with the copy).
    pub resource_prices: Arc<Vec<ResourcePrice>>,
    /// The kinds listed on a schedule of their own (their own rate limit), by kind.
    pub listings: std::collections::BTreeMap<ResourceKind, KindListing>,
    /// When the provider was last read (UTC); writes through Nephele do not move it.
    pub as_of: OffsetDateTime,
    fetched: Instant,
    /// When the provider was last asked, successfully or not: a failing provider is asked
    /// again only after `max_age` by readers (the refresher tries sooner, with backoff).
    checked: Instant,
    /// Changes with every refresh and every write.
    pub version: u64,
    /// Why the copy is stale, when it is: the last refresh failed, or the one under way is overdue.
    pub error: Option<ReadError>,
}

impl Snapshot {
    /// How long since the provider was last read.
    pub fn age(&self) -> Duration {
        self.fetched.elapsed()
    }

    pub fn is_stale(&self) -> bool {
        self.error.is_some()
    }

    /// The provider's resources of `kind`, or `None` when it does not support the kind.
    pub fn resources_of(&self, kind: ResourceKind) -> Option<&Arc<Vec<Resource>>> {
        self.resources.get(&kind)
    }

    /// When the resources of `kind` were read from the provider: the copy's `as_of`, or, for a
    /// kind listed on its own schedule, its last list's.
    pub fn resources_as_of(&self, kind: ResourceKind) -> OffsetDateTime {
        match self.listings.get(&kind) {
            Some(listing) => listing.as_of.unwrap_or(self.as_of).min(self.as_of),
            None => self.as_of,
        }
    }

    /// Why the resources of `kind` are stale beyond the copy's own [`Snapshot::error`]: the
    /// last list of a kind listed on its own schedule failed or was held.
    pub fn resources_error(&self, kind: ResourceKind) -> Option<&ReadError> {
        self.listings.get(&kind).and_then(|listing| listing.error.as_ref())
    }
}

/// What one refresh reads: instances, resources by kind, and resource prices.
struct Fetch {
    instances: Vec<Instance>,
    resources: Resources,
    prices: Vec<ResourcePrice>,
    listings: std::collections::BTreeMap<ResourceKind, KindListing>,
    /// The kinds this refresh listed (the others' lists are kept from the last copy).
    listed: Vec<ResourceKind>,
}

/// How a kind is read in one refresh.
#[derive(Clone, Copy)]
enum KindRead {
    /// Listed with every refresh; a failure fails the refresh.
    Always,
    /// Listed on its own schedule: now, or not yet (the last list is kept).
    Due,
    NotYet,
}

/// How often a kind the cloud allows `per_minute` lists a minute may be listed, at `share` of it.
fn list_spacing(per_minute: u32, share: f64) -> Duration {
    let seconds = 60.0 / (share * f64::from(per_minute.max(1)));
    Duration::try_from_secs_f64(seconds).unwrap_or(MAX_REFRESH_SPACING).min(MAX_REFRESH_SPACING)
}

/// Reads everything a copy holds from `provider`: its instances, then every resource kind it
/// declares, at once (a kind it answers `not_supported` for is left out), then its resource
/// prices. A kind the cloud limits on its own is listed only when due (at `share` of its limit)
/// and a failure of its list keeps `last`'s list of it, marked stale (see the module's notes).
async fn fetch_all(
    provider: &dyn Provider,
    last: Option<&Snapshot>,
    share: f64,
) -> Result<Fetch, ProviderError> {
    let instances = provider.list_instances(&InstanceFilter::default()).await?;
    let declared = provider.info().capabilities;
    let plan = |kind: ResourceKind| match provider.list_limit_per_minute(kind) {
        None => KindRead::Always,
        Some(per_minute) => {
            let tried = last.and_then(|copy| copy.listings.get(&kind)).map(|l| l.tried);
            if tried.is_some_and(|at| at.elapsed() < list_spacing(per_minute, share)) {
                KindRead::NotYet
            } else {
                KindRead::Due
            }
        }
    };
    let kinds: Vec<(ResourceKind, KindRead)> = ResourceKind::ALL
        .into_iter()
        .filter(|k| declared.iter().any(|c| c == k.capability()))
        .map(|k| (k, plan(k)))
        .collect();
    // The kinds due are read at once, each within the provider's own budget and bounds.
    let listed = futures_util::future::join_all(kinds.iter().map(|(kind, read)| async move {
        match read {
            KindRead::NotYet => None,
            KindRead::Always | KindRead::Due => Some(provider.list_resources(*kind).await),
        }
    }))
    .await;
    let mut resources = Resources::new();
    let mut listings = std::collections::BTreeMap::new();
    let mut listed_kinds = Vec::new();
    for ((kind, read), listed) in kinds.into_iter().zip(listed) {
        let kept_list = last.and_then(|copy| copy.resources.get(&kind));
        let kept_listing = last.and_then(|copy| copy.listings.get(&kind));
        match (read, listed) {
            (_, Some(Ok(mut listed))) => {
                listed.retain(|r| r.kind() == kind);
                listed.sort_by(|a, b| a.id().cmp(b.id()));
                listed.dedup_by(|a, b| a.id() == b.id());
                resources.insert(kind, Arc::new(listed));
                listed_kinds.push(kind);
                if !matches!(read, KindRead::Always) {
                    let listing = KindListing {
                        as_of: Some(OffsetDateTime::now_utc()),
                        tried: Instant::now(),
                        error: None,
                    };
                    listings.insert(kind, listing);
                }
            }
            (_, Some(Err(ProviderError::NotSupported { .. }))) => {}
            // A rate-limited list of any kind is held, not broken: its last list is kept.
            (KindRead::Always, Some(Err(error))) if !matches!(error, ProviderError::RateLimited { .. }) => {
                return Err(error);
            }
            (_, Some(Err(error))) => {
                tracing::warn!(%kind, %error, "listing this kind failed or is held; keeping its last list, marked stale");
                if let Some(list) = kept_list {
                    resources.insert(kind, list.clone());
                }
                let as_of = match kept_listing {
                    Some(listing) => listing.as_of,
                    None => kept_list.and(last.map(|copy| copy.resources_as_of(kind))),
                };
                listings
                    .insert(kind, KindListing { as_of, tried: Instant::now(), error: Some(error.into()) });
            }
            (_, None) => {
                if let Some(list) = kept_list {
                    resources.insert(kind, list.clone());
                }
                if let Some(listing) = kept_listing {
                    listings.insert(kind, listing.clone());
                }
            }
        }
    }
    let prices = if resources.is_empty() { Vec::new() } else { provider.resource_prices().await? };
    Ok(Fetch { instances, resources, prices, listings, listed: listed_kinds })
}

/// A change made through Nephele, kept until no refresh under way predates it.
#[derive(Debug, Clone)]
enum Write {
    Upsert(Vec<Instance>),
    /// An instance is gone; what was attached to or assigned to it is then attached to nothing
    /// (both clouds detach volumes and release the assignment of reserved IPs of a deleted
    /// instance).
    Remove(InstanceId),
    Status(InstanceId, InstanceStatus),
    /// A resource as the provider just described it.
    UpsertResource(Resource),
    RemoveResource(ResourceKind, ResourceId),
}

/// Whether `resource` is attached or assigned to `instance`.
fn refers_to(resource: &Resource, instance: &InstanceId) -> bool {
    match resource {
        Resource::Volume(v) => v.attached_to.contains(instance),
        Resource::ReservedIp(ip) => ip.assigned_to.as_ref() == Some(instance),
        _ => false,
    }
}

/// `resource` with `instance` detached or unassigned.
fn let_go_of(resource: &mut Resource, instance: &InstanceId) {
    match resource {
        Resource::Volume(v) => {
            v.attached_to.retain(|i| i != instance);
            if v.attached_to.is_empty() && v.status == nephele_core::VolumeStatus::InUse {
                v.status = nephele_core::VolumeStatus::Available;
            }
        }
        Resource::ReservedIp(ip) if ip.assigned_to.as_ref() == Some(instance) => ip.assigned_to = None,
        _ => {}
    }
}

/// The position of resource `id` in a list sorted by id.
fn position(list: &[Resource], id: &ResourceId) -> Result<usize, usize> {
    list.binary_search_by(|r| r.id().cmp(id))
}

impl Write {
    /// Whether this write would change `instances` (sorted by id) or `resources`. A `get` of an
    /// unchanged instance is the common case, and it need not copy the whole list (nor change
    /// the version, which would throw away the rendered answers).
    fn changes(&self, instances: &[Instance], resources: &Resources) -> bool {
        let find =
            |id: &InstanceId| instances.binary_search_by(|i| i.id.cmp(id)).ok().map(|at| &instances[at]);
        match self {
            Self::Upsert(upserted) => upserted.iter().any(|instance| find(&instance.id) != Some(instance)),
            Self::Remove(id) => {
                find(id).is_some() || resources.values().any(|list| list.iter().any(|r| refers_to(r, id)))
            }
            Self::Status(id, status) => find(id).is_some_and(|existing| existing.status != *status),
            Self::UpsertResource(resource) => resources
                .get(&resource.kind())
                .is_none_or(|list| position(list, resource.id()).map(|at| &list[at]) != Ok(resource)),
            Self::RemoveResource(kind, id) => {
                resources.get(kind).is_some_and(|list| position(list, id).is_ok())
            }
        }
    }

    /// Applies this write to `instances` (kept sorted by the caller) and `resources` (kept
    /// sorted here), copying only the lists it changes.
    fn apply(&self, instances: &mut Arc<Vec<Instance>>, resources: &mut Resources) {
        match self {
            Self::Upsert(upserted) => {
                let instances = Arc::make_mut(instances);
                for instance in upserted {
                    match instances.iter_mut().find(|i| i.id == instance.id) {
                        Some(existing) => *existing = instance.clone(),
                        None => instances.push(instance.clone()),
                    }
                }
                instances.sort_by(|a, b| a.id.cmp(&b.id));
            }
            Self::Remove(id) => {
                if instances.iter().any(|i| &i.id == id) {
                    Arc::make_mut(instances).retain(|i| &i.id != id);
                }
                for list in resources.values_mut() {
                    if list.iter().any(|r| refers_to(r, id)) {
                        Arc::make_mut(list).iter_mut().for_each(|r| let_go_of(r, id));
                    }
                }
            }
            Self::Status(id, status) => {
                if let Some(existing) = Arc::make_mut(instances).iter_mut().find(|i| &i.id == id) {
                    existing.status = *status;
                }
            }
            Self::UpsertResource(resource) => {
                let list = Arc::make_mut(resources.entry(resource.kind()).or_default());
                match position(list, resource.id()) {
                    Ok(at) => list[at] = resource.clone(),
                    Err(at) => list.insert(at, resource.clone()),
                }
            }
            Self::RemoveResource(kind, id) => {
                if let Some(list) = resources.get_mut(kind)
                    && let Ok(at) = position(list, id)
                {
                    Arc::make_mut(list).remove(at);
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

/// What a refresh brings: the new copy (or the last good one, marked stale), or, with no copy to
/// fall back on, the failure.
type Fetched = Result<Snapshot, ProviderError>;

/// A refresh under way, shared by everyone who waits for it.
#[derive(Clone)]
struct Refresh {
    began: Instant,
    done: Shared<BoxFuture<'static, Fetched>>,
}

/// What a reader found: a copy good enough, or the refresh to wait for.
enum Joined {
    Ready(Snapshot),
    Waiting(Refresh),
}

/// Reads and refreshes of one provider, as `/metrics` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InventoryCounts {
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that had to wait for the provider.
    pub misses: u64,
    /// Refreshes that failed (a provider that panicked included).
    pub failed_refreshes: u64,
    /// Times the background refresher died and was started again.
    pub refresher_restarts: u64,
}

/// Told what each successful refresh read from the cloud (before Nephele's own writes are
/// applied on top), so changes made outside Nephele are seen too: the events outbox compares
/// it with the last list recorded ([`crate::events::inventory`]).
pub trait RefreshObserver: Send + Sync {
    /// `seen` is each instance the cloud listed, with its status. `began_ms` is when the refresh
    /// began (epoch ms): of two lists, the later-begun is newer. `after` is the copy the refresh
    /// made and `before` the one it replaced, for the views of instances that changed (the last
    /// view of one now gone is in `before`).
    fn refreshed(
        &self,
        provider: &str,
        began_ms: i64,
        seen: Vec<(String, InstanceStatus)>,
        after: Arc<Vec<Instance>>,
        before: Option<Arc<Vec<Instance>>>,
    );

    /// The resource kinds the refresh listed (kinds kept from the last copy are left out): each
    /// with the list it made, and the list it replaced, as for instances.
    fn resources_refreshed(&self, provider: &str, began_ms: i64, lists: Vec<ResourceLists>) {
        let _ = (provider, began_ms, lists);
    }
}

/// A kind, the list a refresh made of it, and the list that refresh replaced.
pub type ResourceLists = (ResourceKind, Arc<Vec<Resource>>, Option<Arc<Vec<Resource>>>);

/// The observer, once set (shared by every provider's inventory).
type Observer = Arc<std::sync::OnceLock<Arc<dyn RefreshObserver>>>;

struct ProviderInventory {
    name: String,
    observer: Observer,
    provider: Arc<dyn Provider>,
    /// Part of a kind's own list limit refreshes may take (`max_refresh_share`).
    max_share: f64,
    /// Shared by every provider: a version is never reused across them.
    versions: Arc<AtomicU64>,
    current: RwLock<Option<Snapshot>>,
    /// The refresh under way, if any; cleared by the refresh itself as it ends, however it ends.
    in_flight: Mutex<Option<Refresh>>,
    /// Writes, numbered, since the oldest refresh under way began.
    writes: Mutex<Vec<(u64, Write)>>,
    /// Provider requests the last refresh took.
    refresh_cost: AtomicU64,
    /// How long the last successful refresh took, in milliseconds: a live read may wait twice that.
    refresh_ms: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    failed_refreshes: AtomicU64,
    refresher_restarts: AtomicU64,
}

/// Clears a provider's refresh under way when that refresh ends: normally, or by a panic.
struct EndsRefresh<'a>(&'a ProviderInventory);

impl Drop for EndsRefresh<'_> {
    fn drop(&mut self) {
        *self.0.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

impl ProviderInventory {
    fn current(&self) -> Option<Snapshot> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed)
    }

    /// The copy, when it is `good_enough` and no refresh is under way; else the refresh under
    /// way, or a new one.
    fn join_or_start(self: &Arc<Self>, good_enough: impl Fn(&Snapshot) -> bool) -> Joined {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(refresh) = in_flight.as_ref() {
            return Joined::Waiting(refresh.clone());
        }
        if let Some(snapshot) = self.current().filter(|s| good_enough(s)) {
            return Joined::Ready(snapshot);
        }
        let began = Instant::now();
        // On its own task: nobody waiting for it can cancel it by giving up.
        let task = tokio::spawn(self.clone().refresh(began));
        let done = async move {
            task.await.unwrap_or_else(|_| {
                Err(ProviderError::unavailable("the inventory's refresh was stopped before it finished"))
            })
        }
        .boxed()
        .shared();
        let refresh = Refresh { began, done };
        *in_flight = Some(refresh.clone());
        Joined::Waiting(refresh)
    }

    /// Reads the provider and stores what it brings (see [`Fetched`]).
    async fn refresh(self: Arc<Self>, began: Instant) -> Fetched {
        let _ends = EndsRefresh(&self);
        let began_ms = crate::store::now_ms();
        let first_write = self.next_version();
        let sent_before = self.provider.counters().get("requests_sent").copied();
        let last = self.current();
        let listed = AssertUnwindSafe(fetch_all(self.provider.as_ref(), last.as_ref(), self.max_share))
            .catch_unwind()
            .await;
        let fetched = listed.unwrap_or_else(|_| {
            tracing::error!(
                provider = %self.name,
                "the provider panicked while listing its instances (the panic's message is on stderr); \
                 this refresh failed"
            );
            Err(ProviderError::unavailable("the provider failed unexpectedly while listing its instances"))
        });
        // What the refresh cost (other traffic meanwhile makes this an overestimate: safe).
        if let (Some(before), Some(after)) =
            (sent_before, self.provider.counters().get("requests_sent").copied())
        {
            self.refresh_cost.store(after.saturating_sub(before), Ordering::Relaxed);
        }
        // What a refresh takes when the provider answers (a hang that ended in a failure is not
        // how long the next one should be waited for).
        if fetched.is_ok() {
            let took = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.refresh_ms.store(took, Ordering::Relaxed);
        }
        let observed = match (&fetched, self.observer.get()) {
            (Ok(listed), Some(observer)) => {
                let seen: Vec<_> = listed.instances.iter().map(|i| (i.id.0.clone(), i.status)).collect();
                let last = self.current();
                let before = last.as_ref().map(|copy| copy.instances.clone());
                let kinds: Vec<_> = listed
                    .listed
                    .iter()
                    .map(|kind| (*kind, last.as_ref().and_then(|copy| copy.resources.get(kind).cloned())))
                    .collect();
                Some((observer, seen, before, kinds))
            }
            _ => None,
        };
        let stored = self.store(fetched, first_write, began);
        if let (Some((observer, seen, before, kinds)), Ok(copy)) = (observed, &stored) {
            observer.refreshed(&self.name, began_ms, seen, copy.instances.clone(), before);
            let resources: Vec<_> = kinds
                .into_iter()
                .filter_map(|(kind, before)| {
                    copy.resources.get(&kind).map(|after| (kind, after.clone(), before))
                })
                .collect();
            if !resources.is_empty() {
                observer.resources_refreshed(&self.name, began_ms, resources);
            }
        }
        if !stored.as_ref().is_ok_and(|s| s.error.is_none()) {
            self.failed_refreshes.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    /// Keeps what a refresh that began at `began` brought: the new copy, with the writes made
    /// since `first_write` applied on top; or the failure, on the last good copy.
    fn store(&self, fetched: Result<Fetch, ProviderError>, first_write: u64, began: Instant) -> Fetched {
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match fetched {
            Ok(Fetch { mut instances, mut resources, prices, listings, listed: _ }) => {
                instances.sort_by(|a, b| a.id.cmp(&b.id));
                let mut instances = Arc::new(instances);
                let mut writes = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // What was written while this refresh was under way is applied on top of it.
                for (_, write) in writes.iter().filter(|(at, _)| *at > first_write) {
                    write.apply(&mut instances, &mut resources);
                }
                writes.retain(|(at, _)| *at > first_write);
                let snapshot = Snapshot {
                    instances,
                    resources,
                    resource_prices: Arc::new(prices),
                    listings,
                    as_of: OffsetDateTime::now_utc(),
                    fetched: Instant::now(),
                    checked: began,
                    version: self.next_version(),
                    error: None,
                };
                *current = Some(snapshot.clone());
                Ok(snapshot)
            }
            Err(error) => match current.as_mut() {
                Some(last_good) => {
                    tracing::warn!(provider = %self.name, %error, "refreshing the inventory failed; serving the last good copy, marked stale");
                    last_good.error = Some(ReadError::Provider(error));
                    last_good.checked = began;
                    last_good.version = self.next_version();
                    Ok(last_good.clone())
                }
                None => {
                    tracing::warn!(provider = %self.name, %error, "loading the inventory failed");
                    Err(error)
                }
            },
        }
    }

    /// The answer for a reader that waited `budget` for the refresh that began at `began`: the
    /// last good copy, marked overdue, or (with none) the time-out.
    fn overdue(&self, budget: Duration, began: Instant) -> Result<Snapshot, ReadError> {
        // Every read during an outage comes here: most find the copy marked already.
        let marked =
            |copy: &Snapshot| copy.checked >= began || matches!(copy.error, Some(ReadError::TimedOut { .. }));
        match self.current() {
            None => return Err(ReadError::TimedOut { budget }),
            Some(copy) if marked(&copy) => return Ok(copy),
            Some(_) => {}
        }
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(copy) = current.as_mut() else { return Err(ReadError::TimedOut { budget }) };
        // Marked once per outage, so that its answers keep one version (and `ETag`) while it
        // lasts; and never when the refresh has just brought its copy after all.
        if !marked(copy) {
            tracing::warn!(
                provider = %self.name,
                budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                "the provider has not answered within the read budget; serving the last good copy, marked stale"
            );
            copy.error = Some(ReadError::TimedOut { budget });
            copy.version = self.next_version();
        }
        Ok(copy.clone())
    }

    fn counts(&self) -> InventoryCounts {
        InventoryCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            failed_refreshes: self.failed_refreshes.load(Ordering::Relaxed),
            refresher_restarts: self.refresher_restarts.load(Ordering::Relaxed),
        }
    }
}

/// Every provider's inventory.
pub struct Inventory {
    max_age: Duration,
    /// Part of the provider's rate limit refreshes may take.
    max_share: f64,
    /// How long a read waits for a refresh before it is answered without it.
    read_budget: Duration,
    /// Shared by every provider: a version is never reused across them.
    versions: Arc<AtomicU64>,
    /// Accounts come and go while the server runs ([`Inventory::watch`], [`Inventory::forget`]).
    providers: RwLock<HashMap<String, Arc<ProviderInventory>>>,
    /// The refreshers of accounts watched after start, by account: stopped when it is forgotten.
    refreshers: Mutex<HashMap<String, JoinHandle<()>>>,
    observer: Observer,
}

fn new_entry(
    name: &str,
    provider: Arc<dyn Provider>,
    max_share: f64,
    versions: Arc<AtomicU64>,
    observer: Observer,
) -> ProviderInventory {
    ProviderInventory {
        name: name.to_owned(),
        observer,
        provider,
        max_share,
        versions,
        current: RwLock::new(None),
        in_flight: Mutex::new(None),
        writes: Mutex::new(Vec::new()),
        refresh_cost: AtomicU64::new(0),
        refresh_ms: AtomicU64::new(0),
        hits: AtomicU64::new(0),
        misses: AtomicU64::new(0),
        failed_refreshes: AtomicU64::new(0),
        refresher_restarts: AtomicU64::new(0),
    }
}

impl Inventory {
    pub fn new(
        providers: &ProviderRegistry,
        max_age: Duration,
        max_share: f64,
        read_budget: Duration,
    ) -> Self {
        let versions = Arc::new(AtomicU64::new(1));
        let observer: Observer = Arc::default();
        let max_share = max_share.clamp(0.01, 1.0);
        let providers = providers
            .all()
            .map(|(name, provider)| {
                let entry = new_entry(&name, provider, max_share, versions.clone(), observer.clone());
                (name, Arc::new(entry))
            })
            .collect();
        Self {
            max_age,
            max_share,
            read_budget,
            versions,
            providers: RwLock::new(providers),
            refreshers: Mutex::new(HashMap::new()),
            observer,
        }
    }

    /// Sets who is told of each refresh's list (once; later calls do nothing).
    pub fn observe(&self, observer: Arc<dyn RefreshObserver>) {
        let _ = self.observer.set(observer);
    }

    fn entry(&self, provider: &str) -> Option<Arc<ProviderInventory>> {
        self.providers.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(provider).cloned()
    }

    /// Keeps account `name`'s instances from now on (an account added while the server runs),
    /// with a refresher of its own until `stopping` turns true or the account is forgotten
    /// (without `stopping`, before the engine's background work starts, [`spawn_refreshers`]
    /// starts its refresher with the others'). An account already watched keeps its copy.
    pub fn watch(
        self: &Arc<Self>,
        name: &str,
        provider: Arc<dyn Provider>,
        stopping: Option<watch::Receiver<bool>>,
    ) {
        let entry = {
            let mut providers = self.providers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if providers.contains_key(name) {
                return;
            }
            let entry = Arc::new(new_entry(
                name,
                provider,
                self.max_share,
                self.versions.clone(),
                self.observer.clone(),
            ));
            providers.insert(name.to_owned(), entry.clone());
            entry
        };
        let Some(stopping) = stopping else { return };
        let refresher = spawn_refresher(self.clone(), entry, stopping);
        if let Some(before) = self
            .refreshers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), refresher)
        {
            before.abort();
        }
    }

    /// Drops account `name`'s instances and stops its refresher (the account was removed).
    pub fn forget(&self, name: &str) {
        self.providers.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
        if let Some(refresher) =
            self.refreshers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name)
        {
            refresher.abort();
        }
    }

    /// Throws away account `name`'s copy (its credentials changed: the next read asks again).
    pub fn invalidate(&self, name: &str) {
        if let Some(entry) = self.entry(name) {
            let version = entry.next_version();
            let mut current = entry.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(copy) = current.as_mut() {
                // Older than any allowed age: the next read refreshes it.
                copy.checked = Instant::now().checked_sub(MAX_REFRESH_SPACING * 2).unwrap_or(copy.checked);
                copy.version = version;
            }
        }
    }

    /// How old `entry`'s copy may get: `max_age`, or longer when refreshing that often would
    /// take more than `max_share` of the provider's rate limit.
    fn allowed_age(&self, entry: &ProviderInventory) -> Duration {
        let cost = entry.refresh_cost.load(Ordering::Relaxed);
        let spacing = match entry.provider.rate_limit_per_minute() {
            Some(per_minute) if cost > 0 && per_minute > 0 => {
                let seconds = cost as f64 * 60.0 / (self.max_share * f64::from(per_minute));
                Duration::try_from_secs_f64(seconds).unwrap_or(MAX_REFRESH_SPACING).min(MAX_REFRESH_SPACING)
            }
            _ => Duration::ZERO,
        };
        self.max_age.max(spacing)
    }

    /// When `entry`'s refresher refreshes a good copy: just before it would pass `max_age`, so
    /// that there is one refresh per `max_age` (a reader who finds the copy past that age while
    /// the refresh is under way waits for it, within the read budget), unless that would take
    /// more than the refreshes' share of the rate limit.
    fn refresh_due(&self, entry: &ProviderInventory) -> Duration {
        let allowed = self.allowed_age(entry);
        if allowed > self.max_age {
            return allowed;
        }
        self.max_age.saturating_sub(REFRESH_AHEAD).max(self.max_age / 2)
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// How long a read waits for a provider before it is answered without it.
    pub fn read_budget(&self) -> Duration {
        self.read_budget
    }

    /// Reads and refreshes of `provider` so far.
    pub fn counts(&self, provider: &str) -> InventoryCounts {
        self.entry(provider).map(|entry| entry.counts()).unwrap_or_default()
    }

    /// `provider`'s copy as it is, without asking the provider (for `/metrics`).
    pub fn peek(&self, provider: &str) -> Option<Snapshot> {
        self.entry(provider)?.current()
    }

    /// `provider`'s instances: from memory when fresh enough, else from one shared fetch,
    /// waited for within the read budget (see the module's notes). When that fetch fails or is
    /// overdue, a `Cached` read gets the last good copy marked stale (if there is one) and a
    /// `Live` read gets the failure.
    pub async fn snapshot(&self, provider: &str, freshness: Freshness) -> Result<Snapshot, ReadError> {
        let Some(entry) = self.entry(provider) else {
            return Err(
                ProviderError::not_found(format!("no provider named {provider:?} is configured")).into()
            );
        };
        match freshness {
            Freshness::Cached => self.cached(&entry).await,
            Freshness::Live => self.live(&entry).await,
        }
    }

    async fn cached(&self, entry: &Arc<ProviderInventory>) -> Result<Snapshot, ReadError> {
        let allowed_age = self.allowed_age(entry);
        let fresh_enough = |s: &Snapshot| s.checked.elapsed() < allowed_age;
        if let Some(snapshot) = entry.current().filter(fresh_enough) {
            entry.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(snapshot);
        }
        entry.misses.fetch_add(1, Ordering::Relaxed);
        let refresh = match entry.join_or_start(fresh_enough) {
            Joined::Ready(snapshot) => return Ok(snapshot),
            Joined::Waiting(refresh) => refresh,
        };
        // The budget runs from the refresh's start: once it is spent, nobody waits again.
        let wait = self.read_budget.saturating_sub(refresh.began.elapsed());
        match tokio::time::timeout(wait, refresh.done).await {
            Ok(fetched) => Ok(fetched?),
            Err(_) => entry.overdue(self.read_budget, refresh.began),
        }
    }

    async fn live(&self, entry: &Arc<ProviderInventory>) -> Result<Snapshot, ReadError> {
        let asked_at = Instant::now();
        // A live read of a large fleet takes as long as a refresh does: the budget is stretched
        // by what the last one took.
        let last = Duration::from_millis(entry.refresh_ms.load(Ordering::Relaxed));
        let budget = self.read_budget.saturating_add(last.saturating_mul(2));
        let deadline = tokio::time::Instant::from_std(asked_at) + budget;
        loop {
            // A live read is one that began after the caller asked.
            let refresh = match entry.join_or_start(|s| s.checked >= asked_at) {
                Joined::Ready(snapshot) => return live_answer(snapshot),
                Joined::Waiting(refresh) => refresh,
            };
            let Ok(fetched) = tokio::time::timeout_at(deadline, refresh.done).await else {
                return Err(ReadError::TimedOut { budget });
            };
            if refresh.began >= asked_at {
                return live_answer(fetched?);
            }
            // That fetch began before the caller asked: the next one is theirs.
        }
    }

    fn write(&self, provider: &str, write: Write) {
        let Some(entry) = self.entry(provider) else { return };
        let version = entry.next_version();
        entry.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((version, write.clone()));
        let mut current = entry.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The write is logged all the same: a refresh in flight may have read an older state.
        if let Some(snapshot) = current.as_mut()
            && write.changes(&snapshot.instances, &snapshot.resources)
        {
            write.apply(&mut snapshot.instances, &mut snapshot.resources);
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

    /// Records a resource as the provider just described it (made, changed or read).
    pub fn upsert_resource(&self, provider: &str, resource: &Resource) {
        self.write(provider, Write::UpsertResource(resource.clone()));
    }

    /// Records that a resource is gone.
    pub fn remove_resource(&self, provider: &str, kind: ResourceKind, id: &ResourceId) {
        self.write(provider, Write::RemoveResource(kind, id.clone()));
    }

    /// Records an instance's new status (a power action completed).
    pub fn set_status(&self, provider: &str, id: &InstanceId, status: InstanceStatus) {
        self.write(provider, Write::Status(id.clone(), status));
    }
}

/// A live read whose fetch failed is that failure, not the last good copy: the cloud's answer
/// was asked for.
fn live_answer(snapshot: Snapshot) -> Result<Snapshot, ReadError> {
    match snapshot.error {
        Some(error) => Err(error),
        None => Ok(snapshot),
    }
}

/// Keeps every provider's copy younger than `max_age`, each provider on its own supervised
/// refresher (see the module's notes), until `stopping` turns true.
pub fn spawn_refreshers(inventory: Arc<Inventory>, stopping: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let entries: Vec<_> = inventory
        .providers
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    entries.into_iter().map(|entry| spawn_refresher(inventory.clone(), entry, stopping.clone())).collect()
}

fn spawn_refresher(
    inventory: Arc<Inventory>,
    entry: Arc<ProviderInventory>,
    mut stopping: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let supervised = supervise(inventory, entry);
    tokio::spawn(async move {
        tokio::select! {
            () = supervised => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    })
}

/// Runs `entry`'s refresher, and starts it again whenever it dies.
async fn supervise(inventory: Arc<Inventory>, entry: Arc<ProviderInventory>) {
    let mut pause = RESTART_PAUSE_MIN;
    loop {
        let started = Instant::now();
        let Err(ended) = tokio::spawn(keep_fresh(inventory.clone(), entry.clone())).await else { return };
        if ended.is_cancelled() {
            // The runtime is shutting down.
            return;
        }
        entry.refresher_restarts.fetch_add(1, Ordering::Relaxed);
        if started.elapsed() > RESTART_PAUSE_MAX {
            // It ran a good while: this is a new failure, not the same one again.
            pause = RESTART_PAUSE_MIN;
        }
        tracing::error!(
            provider = %entry.name,
            restart_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
            "the inventory's refresher died (its panic's message is on stderr); starting it again"
        );
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2).min(RESTART_PAUSE_MAX);
    }
}

/// Refreshes `entry` whenever it is due, and after a failure again with backoff.
async fn keep_fresh(inventory: Arc<Inventory>, entry: Arc<ProviderInventory>) {
    // The first load starts at once, so the first list need not wait for it; later ones are
    // spread by when each provider started.
    let mut failures_in_a_row: u32 = 0;
    loop {
        // A forgotten account's refresher ends (aborting its supervisor does not reach this task).
        if inventory.entry(&entry.name).is_none_or(|now| !Arc::ptr_eq(&now, &entry)) {
            return;
        }
        let due = inventory.refresh_due(&entry);
        // A stale copy is refreshed at once (the pause below spaces the tries), whatever its age.
        let good = |s: &Snapshot| s.error.is_none() && s.checked.elapsed() < due;
        let refreshed = match entry.join_or_start(good) {
            Joined::Ready(_) => true,
            Joined::Waiting(refresh) => refresh.done.await.is_ok_and(|s| s.error.is_none()),
        };
        let pause = if refreshed {
            failures_in_a_row = 0;
            let age = entry.current().map(|s| s.checked.elapsed()).unwrap_or_default();
            due.saturating_sub(age)
        } else {
            failures_in_a_row = failures_in_a_row.saturating_add(1);
            let backoff = RETRY_PAUSE.saturating_mul(1 << failures_in_a_row.min(16).saturating_sub(1));
            tracing::info!(
                provider = %entry.name,
                failures_in_a_row,
                retry_in_ms = u64::try_from(backoff.min(due).as_millis()).unwrap_or(u64::MAX),
                "the inventory's refresh failed; trying again"
            );
            backoff.min(due)
        };
        tokio::time::sleep(pause.max(Duration::from_millis(100))).await;
    }
}
