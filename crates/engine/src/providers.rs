//! Every account's provider, by the account's name, and the one place that builds them from
//! config (the accounts of the file) or from an account's settings (accounts added at runtime).
//!
//! Each provider sits in a [`ProviderSlot`]: the rest of the server holds the slot, so
//! `POST /api/v1/providers/{name}/initialize` can replace what is inside (a new DigitalOcean
//! client, a restarted plugin) without anyone else noticing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use nephele_core::pricing::ResourcePrice;
use nephele_core::{
    ActionId, ActionStarted, AssociatedResources, BillingPolicy, CreateInstances, CreateResource, Image,
    Instance, InstanceFilter, InstanceId, InstanceType, OperationId, PowerAction, Provider, ProviderAction,
    ProviderError, ProviderInfo, Region, Resource, ResourceAction, ResourceId, ResourceKind, Secret,
    VpcMember,
};
use nephele_digitalocean::DigitalOcean;
use time::OffsetDateTime;

use crate::config::Config;
use crate::plugins::{PluginProvider, PluginSpec, resolve_program};

/// Where an account is defined: the configuration file (changed only there) or the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinedIn {
    File,
    Api,
}

impl DefinedIn {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Api => "api",
        }
    }
}

/// Every account's provider, looked up by the account's URL name (`digitalocean`,
/// `do-staging`). Accounts come and go while the server runs (added through the API, or by
/// another replica): the map is shared by every clone of the registry.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    providers: Arc<RwLock<BTreeMap<String, Arc<ProviderSlot>>>>,
    /// Replicas sharing the rate limits, as last told: an account added later is told too.
    replicas: Arc<std::sync::atomic::AtomicU32>,
    /// Every slot's calls, for `/metrics`.
    calls: crate::metrics::ProviderCallMetrics,
}

impl ProviderRegistry {
    /// Providers made elsewhere (tests, benchmarks), each in its own slot, as file accounts of
    /// the type their info names.
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Self {
        let calls = crate::metrics::ProviderCallMetrics::default();
        let providers = providers
            .into_iter()
            .map(|p| {
                let name = p.info().name;
                let slot = ProviderSlot::new(
                    name.clone(),
                    name.clone(),
                    DefinedIn::File,
                    Built::InProcess(p),
                    calls.clone(),
                );
                (name, Arc::new(slot))
            })
            .collect();
        Self { providers: Arc::new(RwLock::new(providers)), replicas: Default::default(), calls }
    }

    /// Tells every account's provider that `replicas` processes share its rate limits, and
    /// remembers it for accounts added later.
    pub fn share_rate_limit(&self, replicas: u32) {
        self.replicas.store(replicas, std::sync::atomic::Ordering::Relaxed);
        for slot in self.slots() {
            slot.share_rate_limit(replicas);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<ProviderSlot>>> {
        self.providers.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<ProviderSlot>>> {
        self.providers.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What every provider call cost, by provider, operation and outcome.
    pub fn call_metrics(&self) -> &crate::metrics::ProviderCallMetrics {
        &self.calls
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.read().get(name).map(|slot| slot.clone() as Arc<dyn Provider>)
    }

    pub fn slot(&self, name: &str) -> Option<Arc<ProviderSlot>> {
        self.read().get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Every account's provider as the registry holds them now, by name.
    pub fn all(&self) -> std::vec::IntoIter<(String, Arc<dyn Provider>)> {
        self.read()
            .iter()
            .map(|(name, slot)| (name.clone(), slot.clone() as Arc<dyn Provider>))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Every slot as the registry holds them now, by name.
    pub fn slots(&self) -> Vec<Arc<ProviderSlot>> {
        self.read().values().cloned().collect()
    }

    /// The provider type of account `name` (`digitalocean`, `aws`, a plugin's type).
    pub fn provider_type(&self, name: &str) -> Option<String> {
        self.read().get(name).map(|slot| slot.provider_type.clone())
    }

    /// Why provider `name`'s plugin is not running, when it is a plugin and is not; or why its
    /// credentials do not open.
    pub fn plugin_problem(&self, name: &str) -> Option<String> {
        let slot = self.slot(name)?;
        if let Some(reason) = slot.unreadable() {
            return Some(reason);
        }
        match slot.built() {
            Built::Plugin(plugin) => plugin.problem(),
            Built::InProcess(_) => None,
        }
    }

    /// A new slot for account `name` (not yet in the registry), sharing the registry's metrics.
    pub fn make_slot(
        &self,
        name: &str,
        provider_type: &str,
        defined_in: DefinedIn,
        built: Built,
    ) -> Arc<ProviderSlot> {
        Arc::new(ProviderSlot::new(
            name.to_owned(),
            provider_type.to_owned(),
            defined_in,
            built,
            self.calls.clone(),
        ))
    }

    /// Adds `slot` under its name; false (and nothing changed) when the name is taken.
    pub fn insert(&self, slot: Arc<ProviderSlot>) -> bool {
        let mut providers = self.write();
        if providers.contains_key(&slot.name) {
            return false;
        }
        let replicas = self.replicas.load(std::sync::atomic::Ordering::Relaxed);
        if replicas > 1 {
            slot.share_rate_limit(replicas);
        }
        providers.insert(slot.name.clone(), slot);
        true
    }

    /// Takes account `name` out of the registry (its plugin is the caller's to stop), and its
    /// call series out of `/metrics`.
    pub fn remove(&self, name: &str) -> Option<Arc<ProviderSlot>> {
        let removed = self.write().remove(name);
        self.calls.forget(name);
        removed
    }

    /// Stops every plugin (each gets 5 s to exit before it is killed).
    pub async fn stop_plugins(&self) {
        let slots = self.slots();
        let stops = slots.iter().map(|slot| slot.stop());
        futures_util::future::join_all(stops).await;
    }
}

/// What a slot holds.
#[derive(Clone)]
pub enum Built {
    InProcess(Arc<dyn Provider>),
    Plugin(Arc<PluginProvider>),
}

impl Built {
    /// A plugin started from `spec` (it may not be running: see its `problem`).
    pub async fn plugin(spec: PluginSpec) -> Self {
        Self::Plugin(PluginProvider::start(spec).await)
    }

    pub fn provider(&self) -> Arc<dyn Provider> {
        match self {
            Self::InProcess(p) => p.clone(),
            Self::Plugin(p) => p.clone(),
        }
    }
}

/// One account's provider, which can be replaced while the server runs.
pub struct ProviderSlot {
    name: String,
    provider_type: String,
    defined_in: DefinedIn,
    /// Why the account's stored credentials do not open, when they do not: its provider then
    /// refuses every call without sending anything.
    unreadable: RwLock<Option<String>>,
    current: RwLock<Built>,
    /// Replicas sharing the rate limit, as last told: a replacement is told too.
    replicas: std::sync::atomic::AtomicU32,
    calls: crate::metrics::ProviderCallMetrics,
}

impl ProviderSlot {
    fn new(
        name: String,
        provider_type: String,
        defined_in: DefinedIn,
        built: Built,
        calls: crate::metrics::ProviderCallMetrics,
    ) -> Self {
        Self {
            name,
            provider_type,
            defined_in,
            unreadable: RwLock::new(None),
            current: RwLock::new(built),
            replicas: std::sync::atomic::AtomicU32::new(1),
            calls,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn provider_type(&self) -> &str {
        &self.provider_type
    }

    pub fn defined_in(&self) -> DefinedIn {
        self.defined_in
    }

    /// Why the account's credentials do not open, if they do not.
    pub fn unreadable(&self) -> Option<String> {
        self.unreadable.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Records whether the account is unreadable (a slot made for a stored account).
    pub fn swap_unreadable(&self, unreadable: Option<String>) {
        *self.unreadable.write().unwrap_or_else(std::sync::PoisonError::into_inner) = unreadable;
    }

    /// Puts `built` in place (stopping what ran before when it was a plugin), and records
    /// whether the account is unreadable.
    pub async fn swap(&self, built: Built, unreadable: Option<String>) {
        *self.unreadable.write().unwrap_or_else(std::sync::PoisonError::into_inner) = unreadable;
        if let Built::Plugin(plugin) = self.replace(built) {
            plugin.stop().await;
        }
    }

    /// Runs one call to the provider inside a span (so its log lines carry the request's id) and
    /// counts and times it.
    async fn metered<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let span = tracing::info_span!("provider_call", provider = %self.name, operation);
        let result = call.instrument(span).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        };
        self.calls.observe(&self.name, operation, outcome, started.elapsed());
        result
    }

    fn current(&self) -> Arc<dyn Provider> {
        match self.current.read() {
            Ok(built) => built.provider(),
            Err(poisoned) => poisoned.into_inner().provider(),
        }
    }

    pub fn built(&self) -> Built {
        match self.current.read() {
            Ok(built) => built.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, built: Built) -> Built {
        let replicas = self.replicas.load(std::sync::atomic::Ordering::Relaxed);
        if replicas > 1 {
            built.provider().share_rate_limit(replicas);
        }
        match self.current.write() {
            Ok(mut current) => std::mem::replace(&mut *current, built),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), built),
        }
    }

    pub async fn stop(&self) {
        if let Built::Plugin(plugin) = self.built() {
            plugin.stop().await;
        }
    }

    /// Builds this provider again from `config`: a plugin is restarted with its current
    /// settings, an in-process provider rebuilt; what ran before is stopped. Answers the
    /// provider's info, or why it could not start.
    pub async fn initialize(&self, config: &Config) -> Result<ProviderInfo, String> {
        let wanted = describe(config, &self.name).ok_or_else(|| {
            format!("providers.{} is not in the configuration (or has no credentials)", self.name)
        })?;
        match (wanted, self.built()) {
            (Wanted::Plugin(spec), Built::Plugin(plugin)) => plugin.restart(spec).await,
            (Wanted::Plugin(spec), Built::InProcess(_)) => {
                let plugin = PluginProvider::start(spec).await;
                let outcome = match plugin.problem() {
                    None => Ok(plugin.info()),
                    Some(problem) => Err(problem),
                };
                self.replace(Built::Plugin(plugin));
                outcome
            }
            (Wanted::InProcess(provider), before) => {
                let info = provider.info();
                self.replace(Built::InProcess(provider));
                if let Built::Plugin(plugin) = before {
                    plugin.stop().await;
                }
                Ok(info)
            }
        }
    }
}

#[async_trait]
impl Provider for ProviderSlot {
    fn info(&self) -> ProviderInfo {
        self.current().info()
    }
    async fn ping(&self) -> Result<(), ProviderError> {
        let provider = self.current();
        self.metered("ping", provider.ping()).await
    }
    fn share_rate_limit(&self, replicas: u32) {
        self.replicas.store(replicas, std::sync::atomic::Ordering::Relaxed);
        self.current().share_rate_limit(replicas)
    }
    fn rate_limit_per_minute(&self) -> Option<u32> {
        self.current().rate_limit_per_minute()
    }
    fn list_limit_per_minute(&self, kind: ResourceKind) -> Option<u32> {
        self.current().list_limit_per_minute(kind)
    }
    fn counters(&self) -> BTreeMap<&'static str, u64> {
        self.current().counters()
    }
    fn gauges(&self) -> BTreeMap<&'static str, i64> {
        self.current().gauges()
    }
    async fn refresh_counters(&self) {
        self.current().refresh_counters().await
    }
    async fn billing_policy(
        &self,
        t: &InstanceType,
        at: OffsetDateTime,
    ) -> Result<BillingPolicy, ProviderError> {
        let provider = self.current();
        self.metered("billing_policy", provider.billing_policy(t, at)).await
    }
    async fn cloud_bill(&self) -> Result<Option<nephele_core::bill::CloudBill>, ProviderError> {
        let provider = self.current();
        self.metered("cloud_bill", provider.cloud_bill()).await
    }
    async fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<Instance>, ProviderError> {
        let provider = self.current();
        self.metered("list_instances", provider.list_instances(filter)).await
    }
    async fn get_instance(&self, id: &InstanceId) -> Result<Instance, ProviderError> {
        let provider = self.current();
        self.metered("get_instance", provider.get_instance(id)).await
    }
    async fn create_instances(&self, request: &CreateInstances) -> Result<Vec<Instance>, ProviderError> {
        let provider = self.current();
        self.metered("create_instances", provider.create_instances(request)).await
    }
    async fn find_instances_by_operation(&self, id: OperationId) -> Result<Vec<Instance>, ProviderError> {
        let provider = self.current();
        self.metered("find_instances_by_operation", provider.find_instances_by_operation(id)).await
    }
    async fn delete_instance(&self, id: &InstanceId, operation: OperationId) -> Result<(), ProviderError> {
        let provider = self.current();
        self.metered("delete_instance", provider.delete_instance(id, operation)).await
    }
    async fn power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        operation: OperationId,
    ) -> Result<ProviderAction, ProviderError> {
        let provider = self.current();
        self.metered("power_action", provider.power_action(id, action, operation)).await
    }
    async fn find_power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderAction>, ProviderError> {
        let provider = self.current();
        self.metered("find_power_action", provider.find_power_action(id, action, since)).await
    }
    async fn get_action(&self, id: &ActionId) -> Result<ProviderAction, ProviderError> {
        let provider = self.current();
        self.metered("get_action", provider.get_action(id)).await
    }
    async fn list_regions(&self) -> Result<Vec<Region>, ProviderError> {
        let provider = self.current();
        self.metered("list_regions", provider.list_regions()).await
    }
    async fn list_instance_types(&self) -> Result<Vec<InstanceType>, ProviderError> {
        let provider = self.current();
        self.metered("list_instance_types", provider.list_instance_types()).await
    }
    async fn list_images(&self) -> Result<Vec<Image>, ProviderError> {
        let provider = self.current();
        self.metered("list_images", provider.list_images()).await
    }
    async fn list_resources(&self, kind: ResourceKind) -> Result<Vec<Resource>, ProviderError> {
        let provider = self.current();
        self.metered("list_resources", provider.list_resources(kind)).await
    }
    async fn get_resource(&self, kind: ResourceKind, id: &ResourceId) -> Result<Resource, ProviderError> {
        let provider = self.current();
        self.metered("get_resource", provider.get_resource(kind, id)).await
    }
    async fn create_resource(&self, request: &CreateResource) -> Result<Resource, ProviderError> {
        let provider = self.current();
        self.metered("create_resource", provider.create_resource(request)).await
    }
    async fn delete_resource(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
        operation: OperationId,
    ) -> Result<(), ProviderError> {
        let provider = self.current();
        self.metered("delete_resource", provider.delete_resource(kind, id, operation)).await
    }
    async fn resource_action(
        &self,
        action: &ResourceAction,
        operation: OperationId,
    ) -> Result<ActionStarted, ProviderError> {
        let provider = self.current();
        self.metered("resource_action", provider.resource_action(action, operation)).await
    }
    async fn vpc_members(&self, id: &ResourceId) -> Result<Vec<VpcMember>, ProviderError> {
        let provider = self.current();
        self.metered("vpc_members", provider.vpc_members(id)).await
    }
    async fn delete_instance_with(
        &self,
        id: &InstanceId,
        associated: &AssociatedResources,
        operation: OperationId,
    ) -> Result<(), ProviderError> {
        let provider = self.current();
        self.metered("delete_instance_with", provider.delete_instance_with(id, associated, operation)).await
    }
    async fn resource_prices(&self) -> Result<Vec<ResourcePrice>, ProviderError> {
        let provider = self.current();
        self.metered("resource_prices", provider.resource_prices()).await
    }
}

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
#[error("provider {provider}: {message}")]
pub struct BuildError {
    pub provider: String,
    pub message: String,
}

/// What the configuration asks for one provider.
enum Wanted {
    InProcess(Arc<dyn Provider>),
    Plugin(PluginSpec),
}

/// The folder plugin paths are relative to: the configuration file's, else the working one.
fn config_dir(config: &Config) -> PathBuf {
    config
        .source
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The plugin that runs provider `name`, if the configuration says one does.
pub fn plugin_spec(config: &Config, name: &str) -> Option<PluginSpec> {
    let plugin = config.providers.plugins.get(name)?;
    let settings = if name == "digitalocean" {
        config.providers.digitalocean.as_ref().map(|d| d.to_json()).unwrap_or_default()
    } else {
        serde_json::Value::Object(plugin.settings.expose().clone())
    };
    Some(PluginSpec {
        name: name.to_owned(),
        provider_type: plugin.provider_type.clone(),
        program: resolve_program(&plugin.plugin, &config_dir(config)),
        sha256: plugin.sha256.clone(),
        settings: Secret::new(settings),
    })
}

fn describe(config: &Config, name: &str) -> Option<Wanted> {
    if let Some(spec) = plugin_spec(config, name) {
        return Some(Wanted::Plugin(spec));
    }
    let settings = if name == "digitalocean" {
        config.providers.digitalocean.as_ref()
    } else {
        config.providers.digitalocean_accounts.get(name)
    };
    if let Some(settings) = settings {
        settings.token()?;
        // Only a client that cannot be made fails here (a TLS set-up error); the token is not
        // checked until the first call.
        return DigitalOcean::from_settings(settings)
            .ok()
            .map(|p| Wanted::InProcess(Arc::new(p) as Arc<dyn Provider>));
    }
    None
}

/// The names of the providers `config` sets up (without starting any).
pub fn configured_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = config.providers.plugins.keys().cloned().collect();
    if config.providers.digitalocean.as_ref().is_some_and(|d| d.token().is_some())
        && !names.iter().any(|n| n == "digitalocean")
    {
        names.push("digitalocean".to_owned());
    }
    names.extend(config.providers.digitalocean_accounts.keys().cloned());
    names.sort();
    names.dedup();
    names
}

/// Every provider `config` names: built in, or started as a plugin. A plugin that fails to start
/// does not stop the server: it is listed, unavailable, with the reason.
pub async fn build(config: &Config) -> Result<ProviderRegistry, BuildError> {
    let mut providers = BTreeMap::new();
    let calls = crate::metrics::ProviderCallMetrics::default();
    for name in configured_names(config) {
        let built = match describe(config, &name) {
            Some(Wanted::InProcess(p)) => Built::InProcess(p),
            Some(Wanted::Plugin(spec)) => Built::Plugin(PluginProvider::start(spec).await),
            None => {
                return Err(BuildError {
                    provider: name,
                    message: "cannot be built from its settings".to_owned(),
                });
            }
        };
        let provider_type = config.providers.type_of(&name).unwrap_or_else(|| name.clone());
        providers.insert(
            name.clone(),
            Arc::new(ProviderSlot::new(name, provider_type, DefinedIn::File, built, calls.clone())),
        );
    }
    Ok(ProviderRegistry { providers: Arc::new(RwLock::new(providers)), replicas: Default::default(), calls })
}
