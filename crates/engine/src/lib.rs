//! Nephele's engine: everything that is not HTTP.
//!
//! The providers built from the configuration (in process or as supervised plugins), the
//! inventory kept in memory, the operations engine (typed records, the state machine, the
//! worker, idempotency, fairness), readiness, the cost rules, metrics collection, API keys and
//! the audit's bounds, sealed credentials, and the store (the only code that writes SQL) live
//! here. `nephele-server` is a thin HTTP shell over an [`Engine`]: it parses requests, calls
//! the engine and writes answers. This crate never names axum, utoipa or maud: the compiler
//! keeps the line between engine and web, because the engine does not depend on them.
//!
//! An [`Engine`] is one value: its settings and collaborators, and the background work it
//! started (the operations worker, the inventory's refreshers, housekeeping), which it stops in
//! order in [`Engine::stop`].

pub mod accounts;
pub mod auth;
pub mod budgets;
pub mod catalog_cache;
pub mod clock;
pub mod config;
pub mod costs;
mod digest;
pub mod events;
pub mod failure;
pub mod housekeeping;
pub mod inventory;
pub mod metrics;
pub mod operations;
pub mod plugins;
pub mod providers;
pub mod readiness;
pub mod request_context;
pub mod secrets;
pub mod spend;
pub mod store;
pub mod validation;
pub mod waste;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError};
pub use digest::sha256_hex;
pub use failure::{Failure, FieldError};

use crate::auth::Guards;
use crate::catalog_cache::CatalogCache;
use crate::inventory::Inventory;
use crate::operations::Settings as OperationSettings;
use crate::providers::ProviderRegistry;
use crate::readiness::Readiness;
use crate::store::{Store, StoreError};

/// Why the engine cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Provider(#[from] providers::BuildError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("secrets: {0}")]
    Secrets(#[from] secrets::SecretsError),
}

/// The engine: what every part of Nephele shares, and the background work it runs.
pub struct Engine {
    /// The configuration it started with (`initialize` reads its file again when it came
    /// from one, or uses it as it is).
    pub config: Config,
    pub store: Store,
    pub providers: ProviderRegistry,
    /// Every provider's instances, in memory.
    pub inventory: Arc<Inventory>,
    pub catalog: CatalogCache,
    /// The providers' state as last checked, for `/readyz` and the provider list.
    pub readiness: Arc<Readiness>,
    /// How operations are run, leased and retried, and idempotency keys kept.
    pub operations: OperationSettings,
    /// API keys, failed authentication and the audit's bounds.
    pub guards: Guards,
    /// How events are delivered to webhooks (sender, schedule, leases).
    pub webhooks: events::webhooks::Settings,
    /// Spend: the clock it reads, the cost history's recorder and the budgets' guardrail.
    pub spend: spend::Spend,
    /// The master keys, and the runtime accounts as this replica last loaded them.
    pub accounts: accounts::Accounts,
    tasks: Mutex<Option<Tasks>>,
}

/// The background work the engine started, and the signal that stops it.
struct Tasks {
    stop: watch::Sender<bool>,
    worker: JoinHandle<()>,
    deliverer: JoinHandle<()>,
    housekeeping: JoinHandle<()>,
    refreshers: Vec<JoinHandle<()>>,
    spend: JoinHandle<()>,
}

impl Engine {
    /// Builds the providers `config` names, opens (and migrates) the database and starts the
    /// background work.
    pub async fn start(config: Config) -> Result<Arc<Self>, StartError> {
        let registry = providers::build(&config).await?;
        Self::start_with(config, registry).await
    }

    /// As [`Engine::start`], with providers made elsewhere (tests, benchmarks).
    pub async fn start_with(config: Config, providers: ProviderRegistry) -> Result<Arc<Self>, StartError> {
        let accounts = accounts::Accounts::from_config(&config.secrets)?;
        let store = Store::open(config.database.url()).await?;
        let inventory = Arc::new(Inventory::new(
            &providers,
            Duration::from_secs(config.inventory.max_age_secs),
            config.inventory.max_refresh_share,
            Duration::from_millis(config.inventory.read_budget_ms),
        ));
        let engine = Arc::new(Self {
            inventory: inventory.clone(),
            providers,
            catalog: CatalogCache::new(Duration::from_secs(config.server.catalog_ttl_secs)),
            store,
            readiness: Arc::new(
                Readiness::new(Duration::from_secs(config.server.readiness_interval_secs))
                    .with_inventory(inventory.clone()),
            ),
            operations: OperationSettings::from_config(&config),
            guards: Guards::from_config(&config),
            webhooks: events::webhooks::Settings::from_config(&config),
            spend: spend::Spend::from_config(&config),
            accounts,
            config,
            tasks: Mutex::new(None),
        });
        engine.inventory.observe(Arc::new(events::inventory::InventoryEvents::new(engine.store.clone())));
        // The accounts added at runtime, served from the start (their refreshers start below,
        // with the file's).
        engine.follow_accounts().await?;
        let (stop, stopping) = watch::channel(false);
        let tasks = Tasks {
            deliverer: events::deliverer::spawn(engine.clone(), stopping.clone()),
            refreshers: inventory::spawn_refreshers(engine.inventory.clone(), stopping.clone()),
            worker: operations::worker::spawn(engine.clone(), stopping.clone()),
            spend: spend::spawn(engine.clone(), stopping.clone()),
            housekeeping: housekeeping::spawn(engine.clone(), stopping),
            stop,
        };
        *engine.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tasks);
        Ok(engine)
    }

    /// Stops the background work in order: the worker stops claiming and drops the steps it
    /// runs (a step is safe to stop anywhere), every lease this process holds is handed back
    /// so another replica resumes those operations at once, the refreshers and housekeeping
    /// stop, this replica leaves the replicas table, and the plugins are stopped. Calling it
    /// again does nothing.
    pub async fn stop(&self) {
        let Some(tasks) = self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else {
            return;
        };
        let _ = tasks.stop.send(true);
        let _ = tasks.worker.await;
        operations::worker::hand_back(self).await;
        let _ = tasks.deliverer.await;
        events::deliverer::hand_back(self).await;
        for refresher in tasks.refreshers {
            refresher.abort();
            let _ = refresher.await;
        }
        let _ = tasks.housekeeping.await;
        let _ = tasks.spend.await;
        if let Err(e) = self.store.replica_gone(&self.operations.worker_owner).await {
            tracing::warn!(error = %e, "cannot say this replica has stopped; it counts out on its own");
        }
        self.providers.stop_plugins().await;
    }
}
