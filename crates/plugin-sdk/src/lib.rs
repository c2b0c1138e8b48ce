//! Makes a Nephele provider plugin out of any [`nephele_core::Provider`].
//!
//! A plugin's `main` is a few lines:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     nephele_plugin_sdk::run(|settings| async move {
//!         let provider = MyCloud::from_settings(settings)?;
//!         Ok(std::sync::Arc::new(provider) as std::sync::Arc<dyn nephele_core::Provider>)
//!     })
//! }
//! ```
//!
//! [`run`] does the rest, as `docs/plugins.md` describes: it checks the host's magic cookie and
//! protocol versions, listens on a Unix socket in the private directory the host names (or, for
//! a host that names none, one of its own), prints the
//! handshake line, serves the provider service and the standard health service, builds the
//! provider when the host calls `Configure` (the settings arrive over the socket, never on the
//! command line or in the environment), and exits, removing its socket, when the host closes the
//! plugin's stdin or sends SIGTERM.

mod service;

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use nephele_core::Provider;
use nephele_plugin_protocol::handshake::{self, Handshake};
use nephele_plugin_protocol::wire::provider_server::ProviderServer;
use tokio::io::AsyncReadExt;
use tokio_stream::wrappers::UnixListenerStream;

pub use service::BuildError;

/// A provider being built.
pub type Building = std::pin::Pin<Box<dyn Future<Output = Result<Arc<dyn Provider>, BuildError>> + Send>>;

/// Builds the provider from the settings the host sends in `Configure`.
pub trait Factory: Send + Sync + 'static {
    fn build(&self, settings: serde_json::Value) -> Building;
}

impl<F, Fut> Factory for F
where
    F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Arc<dyn Provider>, BuildError>> + Send + 'static,
{
    fn build(&self, settings: serde_json::Value) -> Building {
        Box::pin(self(settings))
    }
}

/// Runs the plugin until the host lets it go. Logs go to stderr, which the host reads.
pub fn run(factory: impl Factory) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if std::env::var(handshake::MAGIC_COOKIE_KEY).as_deref() != Ok(handshake::MAGIC_COOKIE_VALUE) {
        eprintln!(
            "This program is a Nephele provider plugin: it is started by the Nephele server \
             (providers.<name>.plugin in config.yaml) or by `nephele plugin check`, not by hand."
        );
        return ExitCode::from(1);
    }
    let offered = std::env::var(handshake::PROTOCOL_VERSIONS_KEY)
        .map(|v| handshake::offered_versions(&v))
        .unwrap_or_default();
    if !offered.contains(&handshake::APP_PROTOCOL_VERSION) {
        eprintln!(
            "the host offers plugin protocol versions {offered:?}; this plugin speaks {}",
            handshake::APP_PROTOCOL_VERSION
        );
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let served = runtime.block_on(serve(Arc::new(factory)));
    // The stdin reader is a blocking thread that may still wait for input: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugin stopped: {e}");
            ExitCode::from(1)
        }
    }
}

/// Where the socket goes: in the directory the host made for this start (the host removes it),
/// else in one of our own, removed when the value drops.
enum SocketHome {
    Host(std::path::PathBuf),
    Own(tempfile::TempDir),
}

impl SocketHome {
    fn choose() -> std::io::Result<Self> {
        match std::env::var_os(handshake::SOCKET_DIR_KEY) {
            Some(dir) if !dir.is_empty() => Ok(Self::Host(dir.into())),
            // A host from before the variable: a directory only this user can enter.
            _ => Ok(Self::Own(
                tempfile::Builder::new()
                    .prefix("nephele-plugin-")
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .tempdir()?,
            )),
        }
    }

    fn socket(&self) -> std::path::PathBuf {
        match self {
            Self::Host(dir) => dir.join("plugin.sock"),
            Self::Own(dir) => dir.path().join("plugin.sock"),
        }
    }
}

async fn serve(factory: Arc<dyn Factory>) -> std::io::Result<()> {
    let home = SocketHome::choose()?;
    let socket = home.socket();
    let listener = tokio::net::UnixListener::bind(&socket)?;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<ProviderServer<service::ProviderService>>().await;
    let provider = service::ProviderService::new(factory);

    let line = Handshake {
        core_version: handshake::CORE_VERSION,
        app_protocol_version: handshake::APP_PROTOCOL_VERSION,
        socket: socket.clone(),
    };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
    }

    let limit = nephele_plugin_protocol::MAX_MESSAGE_BYTES;
    tonic::transport::Server::builder()
        // Each call's log lines carry the host's request id (`x-request-id`), as the host's do.
        .trace_fn(|request| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("call", request_id = %id, path = %request.uri().path())
        })
        .add_service(health)
        .add_service(
            ProviderServer::new(provider).max_decoding_message_size(limit).max_encoding_message_size(limit),
        )
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), host_gone())
        .await
        .map_err(std::io::Error::other)?;
    // Our socket; the directory is the host's to remove (or goes with `home`, when ours).
    let _ = std::fs::remove_file(&socket);
    drop(home);
    Ok(())
}

/// Completes when the host closes our stdin (it exited, or died) or asks us to stop.
async fn host_gone() {
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 256];
        while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
    };
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = stdin_closed => tracing::info!("the host closed stdin; stopping"),
        () = terminated => tracing::info!("SIGTERM; stopping"),
    }
}
