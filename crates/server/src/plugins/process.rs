//! Starting one plugin process and connecting to it.
//!
//! The order, each step bounded in time: check the program's SHA-256 when one is configured;
//! start it with a clean environment (the host's own variables, tokens among them, are not
//! passed) plus the magic cookie and protocol versions; read one handshake line from its stdout;
//! connect to the socket it names; wait for the gRPC health service to say SERVING; send the
//! settings in `Configure` (over the socket: never on the command line or in the environment).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use nephele_core::{ProviderError, ProviderInfo, Secret};
use nephele_plugin_protocol::handshake::{self, Handshake};
use nephele_plugin_protocol::wire::provider_client::ProviderClient;
use nephele_plugin_protocol::{MAX_MESSAGE_BYTES, convert, failure, wire};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
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
        if let Some(value) = crate::api::current_request_id().and_then(|id| id.parse().ok()) {
            request.metadata_mut().insert("x-request-id", value);
        }
        Ok(request)
    }
}

/// Time for the program to print its handshake line.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the health service to say SERVING, and for `Configure` to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest line of the plugin's output copied into the log.
const MAX_LOG_LINE: usize = 4096;
/// Variables a plugin gets from the host's environment; nothing else is passed.
const PASSED_VARIABLES: &[&str] =
    &["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "RUST_LOG", "RUST_BACKTRACE"];

/// What to run for one provider.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The provider's name (`providers.<name>`), used in every message and log line.
    pub name: String,
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
    pub socket: PathBuf,
}

impl PluginSpec {
    fn error(&self, message: impl Into<String>, permanent: bool) -> StartError {
        StartError { name: self.name.clone(), message: message.into(), permanent }
    }

    /// Starts the plugin and waits until it is configured and serving.
    pub async fn start(&self) -> Result<Running, StartError> {
        self.check_program().await?;
        let mut command = Command::new(&self.program);
        command
            .env_clear()
            .envs(PASSED_VARIABLES.iter().filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))))
            .env(handshake::MAGIC_COOKIE_KEY, handshake::MAGIC_COOKIE_VALUE)
            .env(handshake::PROTOCOL_VERSIONS_KEY, handshake::APP_PROTOCOL_VERSION.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| self.error(format!("cannot start {}: {e}", self.program.display()), true))?;
        let stdin = child.stdin.take();
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(copy_to_log(self.name.clone(), "stderr", stderr));
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
        tokio::spawn(copy_to_log(self.name.clone(), "stdout", stdout.into_inner()));

        let channel = connect(&handshake.socket).await.map_err(|e| {
            self.error(format!("cannot connect to {}: {e}", handshake.socket.display()), false)
        })?;
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
        if info.name != self.name {
            return Err(self.error(
                format!("calls itself {:?}, but is configured as providers.{}", info.name, self.name),
                true,
            ));
        }
        Ok(Running { child, stdin, client, info, rate_limit_per_minute, socket: handshake.socket })
    }

    async fn check_program(&self) -> Result<(), StartError> {
        let Some(expected) = &self.sha256 else { return Ok(()) };
        let bytes = tokio::fs::read(&self.program)
            .await
            .map_err(|e| self.error(format!("cannot read {}: {e}", self.program.display()), true))?;
        let actual = crate::digest::sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(self.error(
                format!(
                    "{} has SHA-256 {actual}, not the configured {expected}; not started",
                    self.program.display()
                ),
                true,
            ));
        }
        Ok(())
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

/// A channel over the plugin's Unix socket (the URI is a placeholder tonic requires).
pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_owned();
    Endpoint::from_static("http://plugin.invalid")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(socket).await?)) }
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

/// Copies a plugin's output into the log, line by line, each line cut to [`MAX_LOG_LINE`].
async fn copy_to_log(name: String, stream: &'static str, output: impl tokio::io::AsyncRead + Unpin) {
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LOG_LINE as u64).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end();
                if !text.is_empty() {
                    tracing::info!(target: "nephele::plugin", provider = %name, stream, "{text}");
                }
                // Skip the rest of an over-long line, a bounded piece at a time.
                while !line.ends_with(b"\n") {
                    line.clear();
                    match (&mut reader).take(MAX_LOG_LINE as u64).read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            }
        }
    }
}

/// Removes a socket a plugin left behind (it was killed before it could) and its folder when
/// empty.
pub fn remove_socket(socket: &Path) {
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent()
        && dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("nephele-plugin-"))
    {
        let _ = std::fs::remove_dir(dir);
    }
}
