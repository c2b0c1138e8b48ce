//! The configured providers, by name, and the one place that builds them from config.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nephele_core::{Provider, Secret};
use nephele_digitalocean::{BudgetConfig, ClientConfig, DigitalOcean};

use crate::config::{Config, DigitalOceanConfig};

/// Every configured provider, looked up by its URL name (`digitalocean`).
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
}

impl ProviderRegistry {
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Self {
        Self { providers: providers.into_iter().map(|p| (p.info().name, p)).collect() }
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.providers.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.providers.keys().cloned().collect()
    }

    pub fn all(&self) -> impl Iterator<Item = (&String, &Arc<dyn Provider>)> {
        self.providers.iter()
    }
}

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
#[error("provider {provider}: {message}")]
pub struct BuildError {
    pub provider: &'static str,
    pub message: String,
}

fn digitalocean(
    settings: &DigitalOceanConfig,
    token: &Secret<String>,
) -> Result<Arc<dyn Provider>, BuildError> {
    let mut client = ClientConfig::new(token.clone());
    if let Some(url) = &settings.base_url {
        client = client.with_base_url(url);
    }
    client.default_region = settings.region.clone();
    if let Some(s) = settings.connect_timeout_secs {
        client.connect_timeout = Duration::from_secs(s);
    }
    if let Some(s) = settings.request_timeout_secs {
        client.request_timeout = Duration::from_secs(s);
    }
    if let Some(s) = settings.call_deadline_secs {
        client.call_deadline = Duration::from_secs(s);
    }
    if let Some(n) = settings.max_response_bytes {
        client.max_response_bytes = n;
    }
    if let Some(n) = settings.max_in_flight_response_bytes {
        client.max_in_flight_response_bytes = n;
    }
    if let Some(n) = settings.max_list_pages {
        client.max_list_pages = n;
    }
    client.budget = BudgetConfig {
        per_minute: settings.rate_limit_per_minute.unwrap_or(client.budget.per_minute),
        per_hour: settings.rate_limit_per_hour.unwrap_or(client.budget.per_hour),
        burst: settings.rate_limit_burst.unwrap_or(client.budget.burst),
        ..client.budget
    };
    let provider = DigitalOcean::new(client)
        .map_err(|e| BuildError { provider: "digitalocean", message: e.to_string() })?;
    Ok(Arc::new(provider))
}

/// Builds every provider that has credentials in `config`.
pub fn build(config: &Config) -> Result<ProviderRegistry, BuildError> {
    let mut providers = Vec::new();
    if let Some(settings) = &config.providers.digitalocean
        && let Some(token) = settings.token()
    {
        providers.push(digitalocean(settings, token)?);
    }
    Ok(ProviderRegistry::new(providers))
}
