//! The inventory's events: each refresh's list (any kind of resource) is compared with the last
//! list recorded for that account and kind, by this replica or another, and every difference is
//! an event: `nephele.<kind>.appeared`, `.status_changed`, `.deleted`. Changes made outside
//! Nephele (a droplet deleted in the provider's console) are seen this way; a change is reported
//! once, by whichever replica records it first (see [`crate::store::Store::record_inventory`]).
//!
//! The first list ever recorded for an account and kind is the baseline: it emits nothing, so a
//! new server does not announce every existing resource as new. Only ids and statuses are kept
//! in the database; an event's `data` is the refresh's view of the resource, or for one that is
//! gone, the last view this replica held (its id alone when it held none).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use nephele_core::{Instance, InstanceStatus, Resource};
use serde_json::Value;

use crate::inventory::{RefreshObserver, ResourceLists};
use crate::store::{Seen, Store};

/// Records each refresh of instances and other resources (on a task of its own: a reader waiting for the refresh
/// never waits for the comparison).
///
/// A refresh whose list (ids and statuses) is the one this replica recorded last, while the
/// database's mark is still that recording's (nobody recorded since), has nothing to report: it
/// only moves the mark, without reading or writing the list. A list of 10,000 instances costs
/// a comparison in the database only when something changed.
pub struct InventoryEvents {
    store: Store,
    /// Per account and kind (`account/kind`): when the list this replica recorded last was
    /// read, and its digest.
    last: Arc<Mutex<HashMap<String, (i64, u64)>>>,
    /// One comparison at a time per replica: they are rare, and a refresh that overtakes
    /// another is recognised by its mark anyway.
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

impl InventoryEvents {
    pub fn new(store: Store) -> Self {
        Self { store, last: Arc::default(), one_at_a_time: Arc::default() }
    }
}

/// Records `items`, `account`'s resources of `kind` as a refresh begun at `began_ms` found them,
/// and logs (never fails on) a database error: the next refresh compares again. The number of
/// events written, or `None` after an error.
pub async fn record(
    store: &Store,
    account: &str,
    kind: &str,
    began_ms: i64,
    items: &[Seen],
    view: &(dyn Fn(&str) -> Value + Send + Sync),
) -> Option<usize> {
    match store.record_inventory(account, kind, began_ms, items, view).await {
        Ok(events) => {
            if events > 0 {
                tracing::debug!(account, kind, events, "the inventory changed under Nephele");
            }
            Some(events)
        }
        Err(e) => {
            tracing::warn!(account, kind, error = %e, "cannot record the inventory's changes; the next refresh compares again");
            None
        }
    }
}

fn digest(items: &[Seen]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    items.hash(&mut hasher);
    hasher.finish()
}

impl InventoryEvents {
    /// Records `items` (`account`'s `kind` as a refresh begun at `began_ms` listed them) on a
    /// task of its own, unless they are the list this replica recorded last and nobody recorded
    /// since (then only the mark moves). `view` gives an item's view by id.
    fn observe<V>(&self, account: String, kind: String, began_ms: i64, mut items: Vec<Seen>, view: V)
    where
        V: Fn(&str) -> Value + Send + Sync + 'static,
    {
        let store = self.store.clone();
        let last = self.last.clone();
        let one_at_a_time = self.one_at_a_time.clone();
        tokio::spawn(async move {
            let _turn = one_at_a_time.lock().await;
            items.sort_by(|a, b| a.id.cmp(&b.id));
            let digest = digest(&items);
            let mark = format!("{account}/{kind}");
            let previous = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&mark).copied();
            if let Some((last_ms, last_digest)) = previous
                && last_digest == digest
                && last_ms < began_ms
                && store.touch_inventory(&account, &kind, last_ms, began_ms).await.unwrap_or(false)
            {
                last.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(mark, (began_ms, digest));
                return;
            }
            if record(&store, &account, &kind, began_ms, &items, &view).await.is_some() {
                last.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(mark, (began_ms, digest));
            }
        });
    }
}

impl RefreshObserver for InventoryEvents {
    fn refreshed(
        &self,
        provider: &str,
        began_ms: i64,
        seen: Vec<(String, InstanceStatus)>,
        after: Arc<Vec<Instance>>,
        before: Option<Arc<Vec<Instance>>>,
    ) {
        let items: Vec<Seen> =
            seen.into_iter().map(|(id, status)| Seen { id, status: status.as_str().to_owned() }).collect();
        let account = provider.to_owned();
        // Now's view, or for one gone the last this replica had (else its id and last status).
        let (now, earlier) = (
            Lookup::new(after, |i: &Instance| i.id.0.clone()),
            before.map(|b| Lookup::new(b, |i: &Instance| i.id.0.clone())),
        );
        let view = move |id: &str| {
            now.get(id)
                .or_else(|| earlier.as_ref().and_then(|e| e.get(id)))
                .map_or_else(|| serde_json::json!({ "id": id }), |i| super::views::instance(&account, i))
        };
        self.observe(provider.to_owned(), KIND.to_owned(), began_ms, items, view);
    }

    fn resources_refreshed(&self, provider: &str, began_ms: i64, lists: Vec<ResourceLists>) {
        for (kind, after, before) in lists {
            let items: Vec<Seen> =
                after.iter().map(|r| Seen { id: r.id().to_string(), status: state(r) }).collect();
            let account = provider.to_owned();
            let (now, earlier) = (
                Lookup::new(after, |r: &Resource| r.id().0.clone()),
                before.map(|b| Lookup::new(b, |r: &Resource| r.id().0.clone())),
            );
            let view = move |id: &str| {
                now.get(id).or_else(|| earlier.as_ref().and_then(|e| e.get(id))).map_or_else(
                    || serde_json::json!({ "id": id, "kind": kind.as_str() }),
                    |r| super::views::resource(&account, r),
                )
            };
            self.observe(provider.to_owned(), kind.as_str().to_owned(), began_ms, items, view);
        }
    }
}

/// A list, found by id: the index is made on the first look-up, so a refresh that changed
/// nothing (no view asked for) costs none.
struct Lookup<T> {
    list: Arc<Vec<T>>,
    id: fn(&T) -> String,
    index: std::sync::OnceLock<HashMap<String, usize>>,
}

impl<T> Lookup<T> {
    fn new(list: Arc<Vec<T>>, id: fn(&T) -> String) -> Self {
        Self { list, id, index: std::sync::OnceLock::new() }
    }

    fn get(&self, id: &str) -> Option<&T> {
        let index = self
            .index
            .get_or_init(|| self.list.iter().enumerate().map(|(at, item)| ((self.id)(item), at)).collect());
        index.get(id).and_then(|at| self.list.get(*at))
    }
}

/// What counts as a resource's status for `status_changed`: a volume's state and what it is
/// attached to, whom a reserved IP is assigned to; the other kinds have none of their own
/// (`active` while they exist).
fn state(resource: &Resource) -> String {
    match resource {
        Resource::Volume(volume) => {
            let status = serde_json::to_value(volume.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let attached: Vec<&str> = volume.attached_to.iter().map(|i| i.0.as_str()).collect();
            if attached.is_empty() { status } else { format!("{status}:{}", attached.join(",")) }
        }
        Resource::ReservedIp(ip) => match &ip.assigned_to {
            Some(instance) => format!("assigned:{instance}"),
            None => "unassigned".to_owned(),
        },
        Resource::Snapshot(_) | Resource::SshKey(_) | Resource::Firewall(_) | Resource::Vpc(_) => {
            "active".to_owned()
        }
    }
}

/// The kind of resource the instance inventory reports.
const KIND: &str = "instance";
