//! The inventory's events: each refresh's list (any kind of resource) is compared with the last
//! list recorded for that account and kind, by this replica or another, and every difference is
//! an event: `nephele.<kind>.appeared`, `.status_changed`, `.deleted`. Changes made outside
//! Nephele (a droplet deleted in the provider's console) are seen this way; a change is reported
//! once, by whichever replica records it first (see [`crate::store::Store::record_inventory`]).
//!
//! The first list ever recorded for an account and kind is the baseline: it emits nothing, so a
//! new server does not announce every existing resource as new.

use nephele_core::Instance;

use crate::inventory::RefreshObserver;
use crate::store::{Seen, Store};

/// Records each refresh of instances (on a task of its own: a reader waiting for the refresh
/// never waits for the comparison).
pub struct InventoryEvents {
    store: Store,
}

impl InventoryEvents {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Records `items`, `account`'s resources of `kind` as a refresh begun at `began_ms` found them,
/// and logs (never fails on) a database error: the next refresh compares again.
pub async fn record(store: &Store, account: &str, kind: &str, began_ms: i64, items: &[Seen]) {
    match store.record_inventory(account, kind, began_ms, items).await {
        Ok(0) => {}
        Ok(events) => tracing::debug!(account, kind, events, "the inventory changed under Nephele"),
        Err(e) => {
            tracing::warn!(account, kind, error = %e, "cannot record the inventory's changes; the next refresh compares again")
        }
    }
}

impl RefreshObserver for InventoryEvents {
    fn refreshed(&self, provider: &str, began_ms: i64, instances: Vec<Instance>) {
        let store = self.store.clone();
        let account = provider.to_owned();
        tokio::spawn(async move {
            let items: Vec<Seen> = instances
                .iter()
                .map(|instance| Seen {
                    id: instance.id.0.clone(),
                    status: instance.status.as_str().to_owned(),
                    data: super::views::instance(&account, instance),
                })
                .collect();
            record(&store, &account, "instance", began_ms, &items).await;
        });
    }
}
