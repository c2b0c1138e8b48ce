//! Starting one plugin process and connecting to it.
//!
//! The order, each step bounded in time: make the start's private directory (0700, fresh each
//! time); start the program (see [`super::launch`]: the checksum taken of the bytes that run, the
//! child bound to die with the host) with a clean environment (the host's own variables, tokens
//! among them, are not passed) plus the magic cookie, the protocol versions and that directory;
//! read one handshake line from its stdout; check that the socket it names is in that directory
//! and is served by that very process (`SO_PEERCRED`); connect over the checked stream; wait for
//! the gRPC health service to say SERVING; send the settings in `Configure` (over the socket:
//! never on the command line or in the environment).
//!
//! It must never connect to, configure, or remove anything outside the directory it made: a
//! plugin that names another server's socket is refused, and that socket is left alone.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use nephele_core::{ProviderError, ProviderInfo, Secret};
use nephele_plugin_protocol::handshake::{self, Handshake};
use nephele_plugin_protocol::wire::provider_client::ProviderClient;
use nephele_plugin_protocol::{MAX_MESSAGE_BYTES, convert, failure, wire};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, ChildStdin};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A plugin's client: every call carries the id of the request it serves.
pub type Client = ProviderClient<InterceptedService<Channel, StampRequestId>>;

/// Puts the current request's id (see [`crate::api::current_request_id`]) in each call's
/// `x-request-id` metadata, so the plugin's log lines for it can carry the same id.
#[derive(Debug, Clone, Copy, Default)]
pub struct StampRequestId;

impl tonic::service::Interceptor for StampRequestId {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = crate::request_context::current().and_then(|id| id.parse().ok()) {
            request.metadata_mut().insert("x-request-id", value);
        }
        Ok(request)
    }
}

/// Time for the program to print its handshake line.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the health service to say SERVING, and for `Configure` to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to connect to the socket the plugin names.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Variables a plugin gets from the host's environment; nothing else is passed.
const PASSED_VARIABLES: &[&str] =
    &["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "RUST_LOG", "RUST_BACKTRACE"];

/// What to run for one provider.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The provider's name (`providers.<name>`), used in every message and log line.
    pub name: String,
    /// The account's provider type (`type:`): a plugin may call itself by it or by the
    /// account's name, so one program serves several accounts of its type.
    pub provider_type: String,
    pub program: PathBuf,
    pub sha256: Option<String>,
    /// The JSON object sent in `Configure`.
    pub settings: Secret<serde_json::Value>,
}

/// Why a plugin could not be started; `permanent` ones are not retried until the configuration
/// changes (`POST /api/v1/providers/{name}/initialize`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin {name}: {message}")]
pub struct StartError {
    pub name: String,
    pub message: String,
    pub permanent: bool,
}

/// A started, configured plugin.
pub struct Running {
    pub child: Child,
    /// Closing it tells the plugin to stop.
    pub stdin: Option<ChildStdin>,
    pub client: Client,
    pub info: ProviderInfo,
    pub rate_limit_per_minute: Option<u32>,
    /// The start's private directory (the socket, and the checked copy of the program): removed,
    /// with whatever the plugin left in it, when this is dropped. Nothing else is removed.
    pub dir: tempfile::TempDir,
}

impl PluginSpec {
    fn error(&self, message: impl Into<String>, permanent: bool) -> StartError {
        StartError { name: self.name.clone(), message: message.into(), permanent }
    }

    /// Starts the plugin and waits until it is configured and serving. Lines of its output
    /// dropped over the log's budget are counted in `log_lines_dropped`.
    pub async fn start(&self, log_lines_dropped: Arc<AtomicU64>) -> Result<Running, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("nephele-plugin-")
            // Only our user may enter it (tempfile leaves the mode to the umask).
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| self.error(format!("cannot make a private directory for it: {e}"), false))?;
        let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> =
            PASSED_VARIABLES.iter().filter_map(|k| std::env::var_os(k).map(|v| ((*k).into(), v))).collect();
        env.push((handshake::MAGIC_COOKIE_KEY.into(), handshake::MAGIC_COOKIE_VALUE.into()));
        env.push((
            handshake::PROTOCOL_VERSIONS_KEY.into(),
            handshake::APP_PROTOCOL_VERSION.to_string().into(),
        ));
        env.push((handshake::SOCKET_DIR_KEY.into(), dir.path().into()));
        let launch = super::launch::Launch {
            program: self.program.clone(),
            sha256: self.sha256.clone(),
            dir: dir.path().to_owned(),
            env,
        };
        let mut child =
            super::launch::launch(launch).await.map_err(|e| self.error(e.to_string(), e.is_permanent()))?;
        let pid = child.id().ok_or_else(|| self.error("exited as it started", false))?;
        let stdin = child.stdin.take();
        let output = super::output::Budget::new(self.name.clone(), log_lines_dropped);
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(super::output::forward(output.clone(), "stderr", stderr));
        }
        let mut stdout = BufReader::new(child.stdout.take().ok_or_else(|| self.error("no stdout", false))?);
        let line = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_line(&mut stdout)).await {
            Err(_) => {
                return Err(self.error(
                    format!("printed no handshake line within {} s", HANDSHAKE_TIMEOUT.as_secs()),
                    false,
                ));
            }
            Ok(Err(e)) => return Err(self.error(format!("cannot read its handshake line: {e}"), false)),
            Ok(Ok(None)) => {
                let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
                return Err(self.error(format!("exited ({status}) before its handshake line"), false));
            }
            Ok(Ok(Some(line))) => line,
        };
        let handshake = Handshake::parse(&line, &[handshake::APP_PROTOCOL_VERSION])
            .map_err(|e| self.error(e.to_string(), true))?;
        tokio::spawn(super::output::forward(output, "stdout", stdout.into_inner()));

        let channel = self.connect_checked(&handshake.socket, dir.path(), pid).await?;
        self.wait_until_serving(channel.clone()).await?;
        let mut client = ProviderClient::with_interceptor(channel, StampRequestId)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let settings = serde_json::to_vec(self.settings.expose()).unwrap_or_default();
        let configured = tokio::time::timeout(
            READY_TIMEOUT,
            client.configure(wire::ConfigureRequest {
                settings_json: settings,
                protocol_version: handshake::APP_PROTOCOL_VERSION,
            }),
        )
        .await
        .map_err(|_| self.error("did not answer Configure in time", false))?
        .map_err(|status| {
            let error = failure::from_status(&status, &self.name);
            let permanent =
                matches!(error, ProviderError::InvalidInput { .. } | ProviderError::Unauthorized { .. });
            self.error(format!("refused its configuration: {}", error.caller_message()), permanent)
        })?
        .into_inner();
        let rate_limit_per_minute = configured.rate_limit_per_minute;
        let info = convert::read_info(configured)
            .map_err(|e| self.error(format!("sent an unusable `{}`: {}", e.field, e.message), true))?;
        if info.name != self.name && info.name != self.provider_type {
            return Err(self.error(
                format!(
                    "calls itself {:?}, but is configured as providers.{} of type {}",
                    info.name, self.name, self.provider_type
                ),
                true,
            ));
        }
        Ok(Running { child, stdin, client, info, rate_limit_per_minute, dir })
    }

    /// A channel to the plugin's socket, once that socket is known to be the plugin's: in the
    /// directory made for this start, and served by the process started (`SO_PEERCRED`; a
    /// wrapper script must `exec` the server, not fork it). A plugin that fails either is
    /// refused: it names a socket that is not its own, and trying again would not change that.
    async fn connect_checked(&self, socket: &Path, dir: &Path, pid: u32) -> Result<Channel, StartError> {
        // Compared component by component: `..` or another directory is outside.
        if socket.parent() != Some(dir) {
            return Err(self.error(
                format!(
                    "announced the socket {}, which is not in the directory made for it ({}, given in {}); not used",
                    socket.display(),
                    dir.display(),
                    handshake::SOCKET_DIR_KEY
                ),
                true,
            ));
        }
        let first = match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(socket)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err(self.error(format!("cannot connect to {}: {e}", socket.display()), false));
            }
            Err(_) => {
                return Err(self.error(format!("cannot connect to {} in time", socket.display()), false));
            }
        };
        check_peer(&first, pid)
            .map_err(|why| self.error(format!("its socket {} {why}; not used", socket.display()), true))?;
        connect(socket, pid, first)
            .await
            .map_err(|e| self.error(format!("cannot connect to {}: {e}", socket.display()), false))
    }

    async fn wait_until_serving(&self, channel: Channel) -> Result<(), StartError> {
        let mut health = HealthClient::new(channel);
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer");
        while tokio::time::Instant::now() < deadline {
            let asked = tokio::time::timeout(
                Duration::from_secs(2),
                health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }),
            )
            .await;
            match asked {
                Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32 => return Ok(()),
                Ok(Ok(answer)) => last = format!("health status {}", answer.get_ref().status),
                Ok(Err(status)) => last = format!("health check failed: {}", status.message()),
                Err(_) => last = "health check timed out".to_owned(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(self.error(format!("never reported SERVING ({last})"), false))
    }
}

/// Whether the other end of `stream` is process `pid`, of this host's user; if not, why not.
fn check_peer(stream: &UnixStream, pid: u32) -> Result<(), String> {
    let peer = stream.peer_cred().map_err(|e| format!("cannot be checked ({e})"))?;
    let uid = rustix::process::geteuid().as_raw();
    let peer_pid = peer.pid().and_then(|p| u32::try_from(p).ok());
    if peer_pid == Some(pid) && peer.uid() == uid {
        return Ok(());
    }
    let who = peer_pid.map_or_else(|| "an unknown process".to_owned(), |p| format!("process {p}"));
    Err(format!(
        "is served by {who} (uid {}), not by the plugin this host started (process {pid})",
        peer.uid()
    ))
}

/// A channel over the plugin's Unix socket (the URI is a placeholder tonic requires): the first
/// connection is `first`, already checked; a reconnection is checked the same way.
async fn connect(socket: &Path, pid: u32, first: UnixStream) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_owned();
    let first = Arc::new(Mutex::new(Some(first)));
    Endpoint::from_static("http://plugin.invalid")
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let (socket, first) = (socket.clone(), first.clone());
            async move {
                let checked = first.lock().ok().and_then(|mut f| f.take());
                let stream = match checked {
                    Some(stream) => stream,
                    None => {
                        let stream = UnixStream::connect(&socket).await?;
                        check_peer(&stream, pid).map_err(std::io::Error::other)?;
                        stream
                    }
                };
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}

/// One line, at most [`handshake::MAX_LINE_BYTES`]; `None` at end of output.
async fn read_line(reader: &mut (impl AsyncBufReadExt + Unpin)) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let mut limited = reader.take(handshake::MAX_LINE_BYTES as u64);
    let n = limited.read_until(b'\n', &mut bytes).await?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}
