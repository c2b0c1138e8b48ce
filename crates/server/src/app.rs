//! `App::build`: from a [`Config`] to an engine, a bound listener and a router, ready to serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use nephele_engine::providers::ProviderRegistry;
use nephele_engine::{Config, Engine, StartError};
use tokio::net::TcpListener;

use crate::api;
use crate::api::metrics::HttpMetrics;
use crate::api::rendered::RenderedCache;
use crate::listener::ConnectionLimits;

/// What the HTTP layer keeps beside the engine.
pub struct AppState {
    pub engine: Arc<Engine>,
    /// HTTP requests counted as they are answered (`/metrics`).
    pub http_metrics: HttpMetrics,
    /// List answers rendered once per copy and filter.
    pub rendered_lists: RenderedCache,
    /// False only when the API runs open (demo mode, or `auth.required: false`).
    pub auth_required: bool,
    /// Turns true when the server begins to stop: endless answers (event streams) end then,
    /// so they do not hold the stop for its whole grace period.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

/// The engine's parts, read through the state (`state.store`, `state.inventory`, ...).
impl std::ops::Deref for AppState {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

/// List answers rendered whole at once; more wait their turn.
const RENDERS_AT_ONCE: usize = 2;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Engine(#[from] StartError),
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
    shutdown_grace: Duration,
}

impl App {
    /// Binds `server.listen` (port 0 picks a free port), then starts the engine (its providers,
    /// database and background work) and builds the router.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let listener = Self::bind(&config).await?;
        let engine = Engine::start(config).await?;
        Ok(Self::serving(listener, engine))
    }

    /// As [`App::build`], with providers made elsewhere.
    pub async fn with_providers(config: Config, providers: ProviderRegistry) -> Result<Self, AppError> {
        let listener = Self::bind(&config).await?;
        let engine = Engine::start_with(config, providers).await?;
        Ok(Self::serving(listener, engine))
    }

    async fn bind(config: &Config) -> Result<TcpListener, AppError> {
        let addr = config.listen_addr().map_err(AppError::Config)?;
        TcpListener::bind(addr).await.map_err(|source| AppError::Bind { addr, source })
    }

    fn serving(listener: TcpListener, engine: Arc<Engine>) -> Self {
        let config = &engine.config;
        let addr = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let limits = ConnectionLimits {
            max_connections: config.server.max_connections,
            header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(config.server.body_read_timeout_secs),
            body_min_bytes_per_sec: config.server.body_min_bytes_per_sec,
        };
        let shutdown_grace = Duration::from_secs(config.server.shutdown_grace_secs);
        let max_body_bytes = config.server.max_body_bytes;
        let state = Arc::new(AppState {
            rendered_lists: RenderedCache::new(
                config.server.list_cache_bytes,
                // A larger answer is streamed as it is sent, and never kept.
                config.server.list_cache_bytes / 4,
                RENDERS_AT_ONCE,
            ),
            http_metrics: HttpMetrics::default(),
            auth_required: config.auth.required.unwrap_or(true),
            stopping: tokio::sync::watch::channel(false).0,
            engine,
        });
        let router = api::router(state.clone(), max_body_bytes);
        Self { listener, router, addr, state, limits, shutdown_grace }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, then lets the requests in flight finish (for at most
    /// `server.shutdown_grace_secs`; see [`crate::listener`] for the connection limits), and
    /// stops the engine: its worker, leases, refreshers, housekeeping and plugins, in order.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            state.stopping.send_replace(true);
        };
        let served =
            crate::listener::serve(self.listener, self.router, self.limits, shutdown, self.shutdown_grace)
                .await;
        self.state.engine.stop().await;
        served
    }

    /// Serves until the process is stopped.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }
}
