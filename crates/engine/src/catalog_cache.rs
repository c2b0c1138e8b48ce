//! Providers' catalogues (regions, instance types with prices, images), cached with a TTL.
//!
//! Prices come live from the provider, never from a table of ours; the cache only spares the
//! provider's rate limit. Hits take a read lock only (every create and estimate reads it); a
//! load holds the cache's load lock, so concurrent misses load once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use nephele_core::{Image, InstanceType, Provider, ProviderError, Region};
use tokio::sync::Mutex;

struct Entry<V> {
    loaded_at: Instant,
    value: Arc<V>,
}

/// One kind of catalogue for every provider.
struct TtlCache<V> {
    entries: RwLock<HashMap<String, Entry<V>>>,
    loading: Mutex<()>,
}

impl<V> TtlCache<V> {
    fn new() -> Self {
        Self { entries: RwLock::new(HashMap::new()), loading: Mutex::new(()) }
    }

    fn fresh(&self, key: &str, ttl: Duration) -> Option<Arc<V>> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|e| e.loaded_at.elapsed() < ttl).map(|e| e.value.clone())
    }

    async fn get_or_load<F, Fut>(&self, key: &str, ttl: Duration, load: F) -> Result<Arc<V>, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ProviderError>>,
    {
        if let Some(value) = self.fresh(key, ttl) {
            return Ok(value);
        }
        let _loading = self.loading.lock().await;
        // Another caller may have loaded it while this one waited.
        if let Some(value) = self.fresh(key, ttl) {
            return Ok(value);
        }
        let value = Arc::new(load().await?);
        let entry = Entry { loaded_at: Instant::now(), value: value.clone() };
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.to_owned(), entry);
        Ok(value)
    }

    /// The last value loaded, however old (never loads).
    fn last(&self, key: &str) -> Option<Arc<V>> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).map(|e| e.value.clone())
    }

    async fn invalidate(&self, key: &str) {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

/// The catalogue caches for all providers.
pub struct CatalogCache {
    ttl: Duration,
    regions: TtlCache<Vec<Region>>,
    instance_types: TtlCache<Vec<InstanceType>>,
    images: TtlCache<Vec<Image>>,
}

impl CatalogCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, regions: TtlCache::new(), instance_types: TtlCache::new(), images: TtlCache::new() }
    }

    pub async fn regions(
        &self,
        name: &str,
        provider: &dyn Provider,
    ) -> Result<Arc<Vec<Region>>, ProviderError> {
        self.regions.get_or_load(name, self.ttl, || provider.list_regions()).await
    }

    pub async fn instance_types(
        &self,
        name: &str,
        provider: &dyn Provider,
    ) -> Result<Arc<Vec<InstanceType>>, ProviderError> {
        self.instance_types.get_or_load(name, self.ttl, || provider.list_instance_types()).await
    }

    /// The last instance types loaded for `name`, without asking the provider (for `/metrics`).
    pub fn last_instance_types(&self, name: &str) -> Option<Arc<Vec<InstanceType>>> {
        self.instance_types.last(name)
    }

    pub async fn images(
        &self,
        name: &str,
        provider: &dyn Provider,
    ) -> Result<Arc<Vec<Image>>, ProviderError> {
        self.images.get_or_load(name, self.ttl, || provider.list_images()).await
    }

    /// Forgets everything about a provider (it was started again, perhaps as another version).
    pub async fn forget(&self, name: &str) {
        self.regions.invalidate(name).await;
        self.instance_types.invalidate(name).await;
        self.images.invalidate(name).await;
    }

    /// Forgets a provider's images (a private image made since the last load).
    pub async fn forget_images(&self, name: &str) {
        self.images.invalidate(name).await;
    }
}
