//! `App::build`: from a [`Config`] to a bound listener and a router, ready to serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::api;
use crate::catalog_cache::CatalogCache;
use crate::config::Config;
use crate::providers::{self, ProviderRegistry};

/// What every handler shares.
pub struct AppState {
    pub providers: ProviderRegistry,
    pub catalog: CatalogCache,
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Provider(#[from] providers::BuildError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A server bound to its address, not yet serving.
pub struct App {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    state: Arc<AppState>,
}

impl App {
    /// Builds providers from `config`, binds `server.listen` (port 0 picks a free port).
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let registry = providers::build(&config)?;
        Self::with_providers(config, registry).await
    }

    /// As [`App::build`], with providers made elsewhere.
    pub async fn with_providers(config: Config, providers: ProviderRegistry) -> Result<Self, AppError> {
        let addr = config.listen_addr().map_err(AppError::Config)?;
        let listener = TcpListener::bind(addr).await.map_err(|source| AppError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind { addr, source })?;
        let state = Arc::new(AppState {
            providers,
            catalog: CatalogCache::new(Duration::from_secs(config.server.catalog_ttl_secs)),
        });
        let router = api::router(state.clone(), config.server.max_body_bytes);
        Ok(Self { listener, router, addr, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
    }

    /// Serves until the process is stopped.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }
}
