//! `App::build`: from a [`Config`] to a bound listener and a router, ready to serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::api;
use crate::auth::failures::FailedAuthentication;
use crate::catalog_cache::CatalogCache;
use crate::config::{Config, IdempotencyConfig};
use crate::inventory::Inventory;
use crate::listener::ConnectionLimits;
use crate::providers::{self, ProviderRegistry};
use crate::readiness::Readiness;
use crate::store::{Store, StoreError};

/// What every handler shares.
pub struct AppState {
    pub providers: ProviderRegistry,
    /// HTTP requests counted as they are answered (`/metrics`).
    pub http_metrics: crate::metrics::HttpMetrics,
    pub catalog: CatalogCache,
    /// Every provider's instances, in memory.
    pub inventory: Arc<Inventory>,
    /// List answers rendered once per copy and filter.
    pub rendered_lists: crate::api::rendered::RenderedCache,
    pub store: Store,
    /// False only when the API runs open (demo mode, or `auth.required: false`).
    pub auth_required: bool,
    pub poll_interval_ms: i64,
    /// How long and how often operations may try.
    pub operation_limits: crate::operations::machine::Limits,
    /// Provider steps under way per API key (see [`crate::operations::fairness`]).
    pub key_gate: Arc<crate::operations::fairness::KeyGate>,
    pub operations_concurrency: usize,
    /// How long a claim on an operation lasts; a step is cut off before it runs out.
    pub lease_ms: i64,
    /// This process's name when it holds an operation's lease from a request.
    pub lease_owner: String,
    /// This process's worker's name when it holds an operation's lease.
    pub worker_owner: String,
    pub idempotency: IdempotencyConfig,
    /// Failed authentication, counted and sampled for the audit log.
    pub failed_authentication: FailedAuthentication,
    /// Audit rows each key's refused and failed requests may write (see [`crate::auth::budget`]).
    pub audit_budget: crate::auth::budget::AuditBudget,
    /// The providers' state as last checked, for `/readyz` and the provider list.
    pub readiness: Arc<Readiness>,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// The configuration the server started with: `initialize` reads its file again (when it
    /// came from one) or, failing a file, uses it as it is.
    pub startup_config: Config,
}

/// List answers rendered whole at once; more wait their turn.
const RENDERS_AT_ONCE: usize = 2;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Provider(#[from] providers::BuildError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A server bound to its address, not yet serving.
pub struct App {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    state: Arc<AppState>,
    limits: ConnectionLimits,
    stop_worker: tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
}

impl App {
    /// Builds providers from `config`, opens (and migrates) the database, binds `server.listen`
    /// (port 0 picks a free port) and starts the operations worker.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let registry = providers::build(&config).await?;
        Self::with_providers(config, registry).await
    }

    /// As [`App::build`], with providers made elsewhere.
    pub async fn with_providers(config: Config, providers: ProviderRegistry) -> Result<Self, AppError> {
        let addr = config.listen_addr().map_err(AppError::Config)?;
        let listener = TcpListener::bind(addr).await.map_err(|source| AppError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind { addr, source })?;
        let store = Store::open(config.database.url()).await?;
        let inventory = Arc::new(Inventory::new(
            &providers,
            Duration::from_secs(config.inventory.max_age_secs),
            config.inventory.max_refresh_share,
            Duration::from_millis(config.inventory.read_budget_ms),
        ));
        crate::inventory::spawn_refreshers(inventory.clone());
        let state = Arc::new(AppState {
            inventory,
            rendered_lists: crate::api::rendered::RenderedCache::new(
                config.server.list_cache_bytes,
                // A larger answer is streamed as it is sent, and never kept.
                config.server.list_cache_bytes / 4,
                RENDERS_AT_ONCE,
            ),
            providers,
            http_metrics: Default::default(),
            catalog: CatalogCache::new(Duration::from_secs(config.server.catalog_ttl_secs)),
            store,
            auth_required: config.auth.required.unwrap_or(true),
            poll_interval_ms: config.operations.poll_interval_ms as i64,
            key_gate: Arc::new(crate::operations::fairness::KeyGate::new(
                config.operations.max_in_flight_per_key,
            )),
            operation_limits: crate::operations::machine::Limits {
                max_attempts: i64::from(config.operations.max_attempts),
                deadline_ms: i64::try_from(config.operations.deadline_secs.saturating_mul(1000))
                    .unwrap_or(i64::MAX),
                max_conflict_retries: 40,
            },
            operations_concurrency: config.operations.concurrency,
            lease_ms: (config.operations.lease_secs * 1000) as i64,
            lease_owner: format!("api-{}", uuid::Uuid::new_v4().simple()),
            worker_owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            idempotency: config.idempotency.clone(),
            failed_authentication: FailedAuthentication::new(
                Duration::from_secs(config.audit.failed_auth_window_secs),
                config.audit.max_failed_auth_sources,
            ),
            audit_budget: crate::auth::budget::AuditBudget::new(
                Duration::from_secs(config.audit.refusals_window_secs),
                config.audit.max_refusals_per_key_per_window,
            ),
            readiness: Arc::new(Readiness::new(Duration::from_secs(config.server.readiness_interval_secs))),
            audit_retention: Duration::from_secs(config.audit.retention_days.saturating_mul(86_400)),
            startup_config: config.clone(),
        });
        let (stop_worker, stopping) = tokio::sync::watch::channel(false);
        let worker = crate::operations::worker::spawn(state.clone(), stopping);
        crate::housekeeping::spawn(state.clone());
        let router = api::router(state.clone(), config.server.max_body_bytes);
        let limits = ConnectionLimits {
            max_connections: config.server.max_connections,
            header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(config.server.body_read_timeout_secs),
            body_min_bytes_per_sec: config.server.body_min_bytes_per_sec,
        };
        Ok(Self { listener, router, addr, state, limits, stop_worker, worker })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight (see
    /// [`crate::listener`] for the connection limits).
    ///
    /// Then the worker stops and every operation lease this process holds is handed back, so
    /// another server (or this one, restarted) resumes its operations at once.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let served = crate::listener::serve(self.listener, self.router, self.limits, shutdown).await;
        let _ = self.stop_worker.send(true);
        let _ = self.worker.await;
        crate::operations::worker::hand_back(&self.state).await;
        self.state.providers.stop_plugins().await;
        if let Err(e) = self.state.store.replica_gone(&self.state.worker_owner).await {
            tracing::warn!(error = %e, "cannot say this replica has stopped; it counts out on its own");
        }
        served
    }

    /// Serves until the process is stopped.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }
}
