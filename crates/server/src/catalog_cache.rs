//! Providers' catalogues (regions, instance types with prices, images), cached with a TTL.
//!
//! Prices come live from the provider, never from a table of ours; the cache only spares the
//! provider's rate limit. A load holds the entry's lock, so concurrent misses load once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nephele_core::{Image, InstanceType, Provider, ProviderError, Region};
use tokio::sync::Mutex;

struct Entry<V> {
    loaded_at: Instant,
    value: Arc<V>,
}

/// One kind of catalogue for every provider.
struct TtlCache<V> {
    entries: Mutex<HashMap<String, Entry<V>>>,
}

impl<V> TtlCache<V> {
    fn new() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }

    async fn get_or_load<F, Fut>(&self, key: &str, ttl: Duration, load: F) -> Result<Arc<V>, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ProviderError>>,
    {
        let mut entries = self.entries.lock().await;
        if let Some(entry) = entries.get(key)
            && entry.loaded_at.elapsed() < ttl
        {
            return Ok(entry.value.clone());
        }
        let value = Arc::new(load().await?);
        entries.insert(key.to_owned(), Entry { loaded_at: Instant::now(), value: value.clone() });
        Ok(value)
    }

    async fn invalidate(&self, key: &str) {
        self.entries.lock().await.remove(key);
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

    pub async fn images(
        &self,
        name: &str,
        provider: &dyn Provider,
    ) -> Result<Arc<Vec<Image>>, ProviderError> {
        self.images.get_or_load(name, self.ttl, || provider.list_images()).await
    }

    /// Forgets a provider's images (a private image made since the last load).
    pub async fn forget_images(&self, name: &str) {
        self.images.invalidate(name).await;
    }
}
