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

use nephele_core::{Instance, InstanceStatus};
use serde_json::Value;

use crate::inventory::RefreshObserver;
use crate::store::{Seen, Store};

/// Records each refresh of instances (on a task of its own: a reader waiting for the refresh
/// never waits for the comparison).
///
/// A refresh whose list (ids and statuses) is the one this replica recorded last, while the
/// database's mark is still that recording's (nobody recorded since), has nothing to report: it
/// only moves the mark, without reading or writing the list. A list of 10,000 instances costs
/// a comparison in the database only when something changed.
pub struct InventoryEvents {
    store: Store,
    /// Per account: when the list this replica recorded last was read, and its digest.
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

impl RefreshObserver for InventoryEvents {
    fn refreshed(
        &self,
        provider: &str,
        began_ms: i64,
        seen: Vec<(String, InstanceStatus)>,
        after: Arc<Vec<Instance>>,
        before: Option<Arc<Vec<Instance>>>,
    ) {
        let store = self.store.clone();
        let account = provider.to_owned();
        let last = self.last.clone();
        let one_at_a_time = self.one_at_a_time.clone();
        tokio::spawn(async move {
            let _turn = one_at_a_time.lock().await;
            let mut items: Vec<Seen> = seen
                .into_iter()
                .map(|(id, status)| Seen { id, status: status.as_str().to_owned() })
                .collect();
            items.sort_by(|a, b| a.id.cmp(&b.id));
            let digest = digest(&items);
            let previous =
                last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&account).copied();
            if let Some((last_ms, last_digest)) = previous
                && last_digest == digest
                && last_ms < began_ms
                && store.touch_inventory(&account, KIND, last_ms, began_ms).await.unwrap_or(false)
            {
                last.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(account, (began_ms, digest));
                return;
            }
            // Now's view, or for one gone the last this replica had (else its id and last status).
            let now: HashMap<&str, &Instance> = after.iter().map(|i| (i.id.0.as_str(), i)).collect();
            let earlier: HashMap<&str, &Instance> =
                before.iter().flat_map(|b| b.iter()).map(|i| (i.id.0.as_str(), i)).collect();
            let view = |id: &str| {
                now.get(id)
                    .or_else(|| earlier.get(id))
                    .map_or_else(|| serde_json::json!({ "id": id }), |i| super::views::instance(&account, i))
            };
            if record(&store, &account, KIND, began_ms, &items, &view).await.is_some() {
                last.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(account.clone(), (began_ms, digest));
            }
        });
    }
}

/// The kind of resource the instance inventory reports.
const KIND: &str = "instance";
