//! `config.yaml`: typed, documented once (README), strict about unknown keys.
//!
//! Values may name environment variables as `${VAR}`, and `DIGITALOCEAN_TOKEN` overrides the
//! DigitalOcean token, so no secret need be written in the file. Errors name the file, the key
//! and the line, and never the value found there (nor a snippet of the file): they are printed at
//! start-up, logged, and answered by `POST /api/v1/providers/{p}/initialize`, and the value at
//! fault may be a token.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nephele_core::Secret;
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this was read from, if any: plugin paths are relative to its folder.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub operations: OperationsConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    #[serde(default)]
    pub inventory: InventoryConfig,
    #[serde(default)]
    pub costs: crate::costs::history::CostsConfig,
    #[serde(default)]
    pub budgets: crate::budgets::BudgetsConfig,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
}

/// `events:` (the outbox, its list and its stream).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Days an event is kept; older ones are purged in the background, and a stream or list
    /// cursor older than that is refused with `event_cursor_expired`.
    #[serde(default = "default_events_retention_days")]
    pub retention_days: u64,
    /// Seconds between heartbeats (`: heartbeat` comments) on a quiet event stream.
    #[serde(default = "default_events_heartbeat_secs")]
    pub heartbeat_secs: u64,
    /// How often a stream or the deliverer looks for events written by other replicas, in
    /// milliseconds (events written by this one wake them at once).
    #[serde(default = "default_events_poll_ms")]
    pub poll_interval_ms: u64,
}

fn default_events_retention_days() -> u64 {
    7
}

fn default_events_heartbeat_secs() -> u64 {
    15
}

fn default_events_poll_ms() -> u64 {
    250
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention_days: default_events_retention_days(),
            heartbeat_secs: default_events_heartbeat_secs(),
            poll_interval_ms: default_events_poll_ms(),
        }
    }
}

/// `webhooks:` (delivery of events to endpoints users register).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Allow `http://` endpoints (tests; a receiver behind a TLS-terminating proxy on the host).
    #[serde(default)]
    pub allow_http: bool,
    /// Allow endpoints on loopback, private, link-local and metadata addresses (tests, private
    /// deployments). Off, such targets are refused when a webhook is made and again before
    /// each connection.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// Seconds one delivery attempt may take in all.
    #[serde(default = "default_webhook_timeout_secs")]
    pub timeout_secs: u64,
    /// Deliveries one server attempts at once, over every endpoint.
    #[serde(default = "default_webhook_concurrency")]
    pub concurrency: usize,
    /// Deliveries one endpoint may have under way at once in one server: a slow endpoint
    /// holds at most this many of `concurrency`.
    #[serde(default = "default_webhook_per_endpoint")]
    pub max_in_flight_per_endpoint: usize,
    /// Seconds a claim on a delivery lasts (longer than `timeout_secs`); a server that dies
    /// holding one delays that delivery by at most this long.
    #[serde(default = "default_webhook_lease_secs")]
    pub lease_secs: u64,
    /// The retry schedule: the first delay after a failed attempt, in seconds, doubling ...
    #[serde(default = "default_webhook_retry_base_secs")]
    pub retry_base_secs: u64,
    /// ... to at most this many seconds apart ...
    #[serde(default = "default_webhook_retry_cap_secs")]
    pub retry_cap_secs: u64,
    /// ... for this long after the first attempt (3 days), then the delivery is failed.
    #[serde(default = "default_webhook_retry_total_secs")]
    pub retry_total_secs: u64,
    /// Instead of the doubling schedule: these delays (seconds), one after each failed attempt;
    /// the delivery is failed after the last.
    #[serde(default)]
    pub retry_delays_secs: Option<Vec<u64>>,
    /// Hours a rotated-out secret keeps signing next to the new one.
    #[serde(default = "default_webhook_rotation_overlap_hours")]
    pub rotation_overlap_hours: u64,
}

fn default_webhook_timeout_secs() -> u64 {
    15
}

fn default_webhook_concurrency() -> usize {
    64
}

fn default_webhook_per_endpoint() -> usize {
    16
}

fn default_webhook_lease_secs() -> u64 {
    60
}

fn default_webhook_retry_base_secs() -> u64 {
    10
}

fn default_webhook_retry_cap_secs() -> u64 {
    4 * 3600
}

fn default_webhook_retry_total_secs() -> u64 {
    3 * 86_400
}

fn default_webhook_rotation_overlap_hours() -> u64 {
    24
}

impl WebhooksConfig {
    /// The retry schedule these settings describe, or why they describe none.
    pub fn retry_schedule(&self) -> Result<nephele_webhooks::RetrySchedule, String> {
        use nephele_webhooks::{Jitter, RetrySchedule};
        use std::time::Duration;
        match &self.retry_delays_secs {
            Some(delays) => {
                RetrySchedule::listed(delays.iter().map(|s| Duration::from_secs(*s)).collect(), Jitter::Equal)
            }
            None => RetrySchedule::exponential(
                Duration::from_secs(self.retry_base_secs),
                Duration::from_secs(self.retry_cap_secs),
                Duration::from_secs(self.retry_total_secs),
                Jitter::Equal,
            ),
        }
        .map_err(|e| e.to_string())
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            allow_private_networks: false,
            timeout_secs: default_webhook_timeout_secs(),
            concurrency: default_webhook_concurrency(),
            max_in_flight_per_endpoint: default_webhook_per_endpoint(),
            lease_secs: default_webhook_lease_secs(),
            retry_base_secs: default_webhook_retry_base_secs(),
            retry_cap_secs: default_webhook_retry_cap_secs(),
            retry_total_secs: default_webhook_retry_total_secs(),
            retry_delays_secs: None,
            rotation_overlap_hours: default_webhook_rotation_overlap_hours(),
        }
    }
}

/// `secrets:` the master key that seals the credentials of accounts added at runtime (see
/// [`crate::secrets`]). Without one, the accounts of this file run and runtime accounts are
/// refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// The master key, 32 bytes in base64; write `${NEPHELE_MASTER_KEY}` rather than the key.
    pub master_key: Option<Secret<String>>,
    /// A file holding the master key in base64 (as `nephele secrets generate` writes it).
    pub master_key_file: Option<PathBuf>,
    /// An older master key file, kept while a rotation to `master_key`/`master_key_file` is
    /// unfinished: what it wrapped still opens.
    pub previous_key_file: Option<PathBuf>,
}

/// `inventory:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// Seconds a provider's instance list may be old when it is served from memory; it is
    /// refreshed in the background before that.
    #[serde(default = "default_inventory_max_age")]
    pub max_age_secs: u64,
    /// Part of a provider's rate limit that refreshes may take (0.01..1); past it, copies are
    /// refreshed less often than `max_age_secs`, and their `Age` says so.
    #[serde(default = "default_max_refresh_share")]
    pub max_refresh_share: f64,
    /// Milliseconds a read waits for a provider that is being refreshed before it is answered
    /// from the last good copy, marked stale (or, with none, with the failure); the refresh goes
    /// on in the background. A live read (`?fresh=true`) may wait this plus twice the last
    /// refresh's duration.
    #[serde(default = "default_read_budget_ms")]
    pub read_budget_ms: u64,
}

fn default_read_budget_ms() -> u64 {
    3000
}

fn default_max_refresh_share() -> f64 {
    0.25
}

fn default_inventory_max_age() -> u64 {
    60
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            max_age_secs: default_inventory_max_age(),
            max_refresh_share: default_max_refresh_share(),
            read_budget_ms: default_read_budget_ms(),
        }
    }
}

/// `audit:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Days an audit entry is kept; older ones are deleted in the background.
    #[serde(default = "default_audit_retention_days")]
    pub retention_days: u64,
    /// Failed authentication is written at most once per source address in this many seconds,
    /// with the number of attempts.
    #[serde(default = "default_failed_auth_window")]
    pub failed_auth_window_secs: u64,
    /// Source addresses whose failed authentication is written on its own per window; failures
    /// from further addresses share one "other sources" entry. Bounds what anonymous callers
    /// write, however many addresses they come from.
    #[serde(default = "default_max_failed_auth_sources")]
    pub max_failed_auth_sources: usize,
    /// Refused or failed requests of one API key (or of every caller together while the API runs
    /// open) written one by one per window; past it they are counted and written as one entry per
    /// status when the window ends.
    #[serde(default = "default_max_refusals_per_key")]
    pub max_refusals_per_key_per_window: u64,
    /// The window of `max_refusals_per_key_per_window`, in seconds.
    #[serde(default = "default_refusals_window")]
    pub refusals_window_secs: u64,
}

fn default_failed_auth_window() -> u64 {
    60
}

fn default_max_failed_auth_sources() -> usize {
    256
}

fn default_max_refusals_per_key() -> u64 {
    100
}

fn default_refusals_window() -> u64 {
    60
}

fn default_audit_retention_days() -> u64 {
    90
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: default_audit_retention_days(),
            failed_auth_window_secs: default_failed_auth_window(),
            max_failed_auth_sources: default_max_failed_auth_sources(),
            max_refusals_per_key_per_window: default_max_refusals_per_key(),
            refusals_window_secs: default_refusals_window(),
        }
    }
}

/// `idempotency:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// Hours a key (and its stored response) is kept.
    #[serde(default = "default_idempotency_ttl_hours")]
    pub ttl_hours: u64,
    /// Live keys of creates, deletes and power actions one API key may hold; past it, new keys
    /// are refused (429) until old ones expire.
    #[serde(default = "default_max_keys")]
    pub max_keys_per_api_key: u64,
    /// Live keys of cost estimates one API key may hold; past it, its oldest are forgotten
    /// (an estimate is a read: answering it again does no harm).
    #[serde(default = "default_max_estimate_keys")]
    pub max_estimate_keys_per_api_key: u64,
    /// Largest response stored for replay; a larger one is stored as its operation's reference.
    #[serde(default = "default_max_stored_response")]
    pub max_stored_response_bytes: usize,
}

fn default_idempotency_ttl_hours() -> u64 {
    48
}

fn default_max_keys() -> u64 {
    10_000
}

fn default_max_estimate_keys() -> u64 {
    100
}

fn default_max_stored_response() -> usize {
    64 * 1024
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            ttl_hours: default_idempotency_ttl_hours(),
            max_keys_per_api_key: default_max_keys(),
            max_estimate_keys_per_api_key: default_max_estimate_keys(),
            max_stored_response_bytes: default_max_stored_response(),
        }
    }
}

/// `database:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created on start) or `postgres://...` (shared by several replicas).
    /// Unset: `sqlite://data/nephele.db`.
    pub url: Option<String>,
}

impl DatabaseConfig {
    pub const DEFAULT_URL: &'static str = "sqlite://data/nephele.db";

    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(Self::DEFAULT_URL)
    }
}

/// `auth:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether API keys are required. Unset: required, except in demo mode.
    pub required: Option<bool>,
    /// Verified keys kept in memory (by digest); past it the oldest are forgotten.
    #[serde(default = "default_max_cached_keys")]
    pub max_cached_keys: usize,
    /// Seconds within which every replica refuses a key another replica revoked (the replica
    /// that revoked it refuses it at once). Replicas look at the key revision twice as often.
    #[serde(default = "default_revocation_delay")]
    pub revocation_delay_secs: u64,
}

fn default_max_cached_keys() -> usize {
    10_000
}

fn default_revocation_delay() -> u64 {
    2
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            required: None,
            max_cached_keys: default_max_cached_keys(),
            revocation_delay_secs: default_revocation_delay(),
        }
    }
}

/// `operations:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationsConfig {
    /// How often the worker looks for due operations and polls running ones, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// Operations worked on at once by one server.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds a lease on an operation lasts; the holder renews it every third of that while it
    /// works. A server that dies holding one delays the operation by at most this long.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// Failed attempts after which an operation fails (backoff 0.5 s doubling to 30 s between).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Seconds an operation may take in all (a droplet stuck booting, say) before it fails.
    #[serde(default = "default_deadline_secs")]
    pub deadline_secs: u64,
    /// Provider steps one API key may have under way at once in this server; its further
    /// operations wait their turn (answered 202 at once), so one key cannot fill the provider's
    /// queue ahead of the others.
    #[serde(default = "default_max_in_flight_per_key")]
    pub max_in_flight_per_key: usize,
}

fn default_max_in_flight_per_key() -> usize {
    4
}

fn default_max_attempts() -> u32 {
    20
}

fn default_deadline_secs() -> u64 {
    600
}

fn default_lease_secs() -> u64 {
    10
}

fn default_poll_ms() -> u64 {
    500
}

fn default_concurrency() -> usize {
    8
}

impl Default for OperationsConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: default_poll_ms(),
            concurrency: default_concurrency(),
            lease_secs: default_lease_secs(),
            max_attempts: default_max_attempts(),
            deadline_secs: default_deadline_secs(),
            max_in_flight_per_key: default_max_in_flight_per_key(),
        }
    }
}

/// `server:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Seconds the provider catalogue (regions, sizes, images) is cached.
    #[serde(default = "default_catalog_ttl")]
    pub catalog_ttl_secs: u64,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Most connections held open at once. At the limit, a new connection closes the oldest one
    /// that has no request in progress. (Also kept below the process's open-file limit.)
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a connection may take to send a complete request head; an idle keep-alive
    /// connection is closed after the same time.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may take to arrive, plus one second for every
    /// `body_min_bytes_per_sec` bytes received: a body slower than that is cut off (400), and
    /// while a body is arriving its connection counts as idle at `max_connections`.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_secs: u64,
    /// The slowest rate, in bytes per second, at which a request body earns more time than
    /// `body_read_timeout_secs`.
    #[serde(default = "default_body_min_rate")]
    pub body_min_bytes_per_sec: u64,
    /// Bytes of rendered instance lists kept for the clients that ask for them again; a single
    /// answer larger than a quarter of this is never kept, but written out as it is sent.
    #[serde(default = "default_list_cache_bytes")]
    pub list_cache_bytes: usize,
    /// Seconds between two readiness checks of the providers; `/readyz` answers from the last.
    #[serde(default = "default_readiness_interval")]
    pub readiness_interval_secs: u64,
    /// Seconds requests in flight may take to finish once the server is told to stop (SIGTERM,
    /// SIGINT); past them their connections are closed.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// Host names (with an optional port) requests may be addressed to; `*` for any. Unset: while
    /// the API runs open, `localhost`, `127.0.0.1`, `[::1]` and the listen address; with keys
    /// required, any. (The HTTP layer checks it.)
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
}

fn default_max_connections() -> usize {
    50_000
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_list_cache_bytes() -> usize {
    // Sixteen lists of 10,000 instances (about 5 MB each); a list of up to about 30,000 is kept.
    64 * 1024 * 1024
}

fn default_body_read_timeout() -> u64 {
    10
}

fn default_body_min_rate() -> u64 {
    1024
}

fn default_readiness_interval() -> u64 {
    5
}

fn default_shutdown_grace() -> u64 {
    20
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_catalog_ttl() -> u64 {
    600
}

fn default_body_limit() -> usize {
    // A create may carry up to 64 KiB of user data, plus the rest of the body.
    256 * 1024
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            catalog_ttl_secs: default_catalog_ttl(),
            max_body_bytes: default_body_limit(),
            max_connections: default_max_connections(),
            header_read_timeout_secs: default_header_read_timeout(),
            body_read_timeout_secs: default_body_read_timeout(),
            body_min_bytes_per_sec: default_body_min_rate(),
            list_cache_bytes: default_list_cache_bytes(),
            readiness_interval_secs: default_readiness_interval(),
            shutdown_grace_secs: default_shutdown_grace(),
            allowed_hosts: None,
        }
    }
}

/// `providers:`, one section per account by its URL name.
///
/// A section may say its provider type (`type: digitalocean`); a section named like a type
/// (`digitalocean`, `aws`) needs none. DigitalOcean is built in: its settings are read here,
/// whether it runs in process or, with `plugin:`, as a plugin. Any other type must say
/// `plugin:`; its other keys are that plugin's own and are passed to it, untouched, as its
/// configuration.
#[derive(Debug, Clone, Default)]
pub struct ProvidersConfig {
    /// The seed's account, `providers.digitalocean`.
    pub digitalocean: Option<DigitalOceanConfig>,
    /// Further DigitalOcean accounts run in process (`providers.do-staging: {type: digitalocean}`),
    /// by name.
    pub digitalocean_accounts: BTreeMap<String, DigitalOceanConfig>,
    /// Accounts run out of process, by name.
    pub plugins: BTreeMap<String, PluginConfig>,
}

impl ProvidersConfig {
    /// The provider types this file knows: `digitalocean`, and every plugin type it names. A
    /// runtime account of a plugin type runs the program of the file's section of that type.
    pub fn known_types(&self) -> Vec<String> {
        let mut types = vec!["digitalocean".to_owned()];
        types.extend(self.plugins.values().map(|p| p.provider_type.clone()));
        types.sort();
        types.dedup();
        types
    }

    /// The type of the file's account `name`, when the file defines one.
    pub fn type_of(&self, name: &str) -> Option<String> {
        if let Some(plugin) = self.plugins.get(name) {
            return Some(plugin.provider_type.clone());
        }
        if (name == "digitalocean" && self.digitalocean.is_some())
            || self.digitalocean_accounts.contains_key(name)
        {
            return Some("digitalocean".to_owned());
        }
        None
    }
}

/// The DigitalOcean provider's settings (its crate reads them, in process or as a plugin).
pub type DigitalOceanConfig = nephele_digitalocean::Settings;

/// `providers.<name>.plugin` and what goes with it.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// The account's provider type (`type:`, else the section's name).
    pub provider_type: String,
    /// A path to the plugin's program, or a bare name looked up as `plugins/nephele-provider-<name>`
    /// next to the configuration file (see [`crate::plugins::resolve_program`]).
    pub plugin: String,
    /// The program's expected SHA-256 (hex), checked before it is started.
    pub sha256: Option<String>,
    /// The section's other keys, sent to the plugin in `Configure`. May hold secrets.
    pub settings: Secret<serde_json::Map<String, serde_json::Value>>,
}

impl<'de> Deserialize<'de> for ProvidersConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let sections = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        let mut config = ProvidersConfig::default();
        for (name, section) in sections {
            if !nephele_plugin_protocol::convert::is_valid_provider_name(&name) {
                return Err(D::Error::custom(format!(
                    "providers.{name}: a provider name is 1 to 32 of a-z, 0-9 and -"
                )));
            }
            let mut settings = match section {
                serde_json::Value::Object(map) => map,
                serde_json::Value::Null => serde_json::Map::new(),
                _ => return Err(D::Error::custom(format!("providers.{name}: must be a mapping"))),
            };
            let mut text = |key: &str| match settings.remove(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(D::Error::custom(format!(
                    "providers.{name}.{key}: must be a string (put it in quotes)"
                ))),
            };
            let provider_type = text("type")?.unwrap_or_else(|| name.clone());
            if !nephele_plugin_protocol::convert::is_valid_provider_name(&provider_type) {
                return Err(D::Error::custom(format!(
                    "providers.{name}.type: a provider type is 1 to 32 of a-z, 0-9 and -"
                )));
            }
            let plugin = text("plugin")?;
            let sha256 = text("sha256")?;
            if sha256.is_some() && plugin.is_none() {
                return Err(D::Error::custom(format!(
                    "providers.{name}.sha256: only a plugin has a checksum"
                )));
            }
            let digitalocean = provider_type == "digitalocean";
            if name == "digitalocean" && !digitalocean {
                return Err(D::Error::custom(
                    "providers.digitalocean.type: the account named digitalocean is of type digitalocean",
                ));
            }
            if digitalocean && (name == "digitalocean" || plugin.is_none()) {
                let typed: DigitalOceanConfig =
                    serde_path_to_error::deserialize(serde_json::Value::Object(settings)).map_err(|e| {
                        D::Error::custom(format!(
                            "providers.{name}.{}: {}",
                            e.path(),
                            without_values(&e.inner().to_string())
                        ))
                    })?;
                if name == "digitalocean" {
                    config.digitalocean = Some(typed);
                } else {
                    config.digitalocean_accounts.insert(name.clone(), typed);
                }
                settings = serde_json::Map::new();
            }
            match plugin {
                Some(plugin) => {
                    config.plugins.insert(
                        name,
                        PluginConfig { provider_type, plugin, sha256, settings: Secret::new(settings) },
                    );
                }
                None if digitalocean => {}
                None => {
                    return Err(D::Error::custom(format!(
                        "providers.{name}: `plugin` is required (only digitalocean is built in)"
                    )));
                }
            }
        }
        Ok(config)
    }
}

/// Why the configuration cannot be used. Its text names the file, the key and the line, never
/// a value: it is shown to admins through the API and written to the log.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: environment variable `{var}` is not set")]
    MissingVariable { path: PathBuf, line: usize, var: String },
    #[error("{path}:{line}: unterminated `${{` in a value")]
    BadInterpolation { path: PathBuf, line: usize },
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: u64, column: u64, message: String },
    #[error("{path}: `{key}` {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

/// A serde message without the value it quotes: serde's own messages quote what they found
/// (`invalid type: string "dop_v1_…", expected u32`); only what was expected, and key names,
/// are kept. Any other message is replaced by a plain one.
fn without_values(message: &str) -> String {
    let expected = |rest: &str| rest.split_once(", expected ").map(|(_, expected)| expected.to_owned());
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return expected(rest).map_or_else(
            || "has the wrong type".to_owned(),
            |e| format!("has the wrong type: expected {e}"),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        return expected(rest)
            .map_or_else(|| "is not valid".to_owned(), |e| format!("is not valid: expected {e}"));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return expected(rest).map_or_else(
            || "is not one of the values allowed".to_owned(),
            |e| format!("is not one of the values allowed: expected {e}"),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split_once('`').map_or("", |(field, _)| field);
        return format!("has {}", unknown_key(field));
    }
    // These name our keys, not values.
    if ["missing field `", "duplicate field `", "invalid length "].iter().any(|p| message.starts_with(p)) {
        return message.to_owned();
    }
    "is not valid here".to_owned()
}

/// An unknown key as an error may name it: a misspelt key is shown, anything that does not look
/// like one (a token pasted where a key goes, say) is not.
fn unknown_key(key: &str) -> String {
    let looks_like_a_key = (1..=32).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if looks_like_a_key { format!("an unknown key `{key}`") } else { "an unknown key".to_owned() }
}

/// What is wrong at a place in the YAML, without the value found there.
fn yaml_problem(error: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as Yaml;
    match error {
        Yaml::AliasError { error, .. } => yaml_problem(error),
        Yaml::SerdeUnknownField { field, expected, .. } => {
            format!("{} (expected one of: {})", unknown_key(field), expected.join(", "))
        }
        Yaml::SerdeMissingField { field, .. } => format!("missing key `{field}`"),
        Yaml::SerdeInvalidType { expected, .. } => format!("has the wrong type: expected {expected}"),
        Yaml::SerdeInvalidValue { expected, .. } => format!("is not valid: expected {expected}"),
        Yaml::SerdeInvalidLength { expected, .. } => format!("has the wrong length: expected {expected}"),
        Yaml::SerdeUnknownVariant { expected, .. } => {
            format!("is not one of the values allowed: expected one of {}", expected.join(", "))
        }
        Yaml::InvalidScalar { ty, .. } => format!("is not a valid {ty}"),
        Yaml::InvalidBooleanStrict { .. } => "is not a boolean (write true or false)".to_owned(),
        Yaml::NullIntoString { .. } => "is empty where text is expected".to_owned(),
        Yaml::DuplicateMappingKey { .. } => "repeats a key".to_owned(),
        Yaml::Unexpected { expected, .. } => format!("expected {expected}"),
        Yaml::Eof { .. } => "the file ends too early".to_owned(),
        // Our own messages (providers:) name keys only; see `ProvidersConfig`.
        Yaml::Message { msg, .. } if msg.starts_with("providers.") => msg.clone(),
        _ => "the YAML here is malformed or does not fit the setting".to_owned(),
    }
}

/// Replaces `${VAR}` with the variable's value, line by line so errors can name the line.
fn interpolate(
    text: &str,
    path: &Path,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        // Comments are left alone: an unset variable in a comment is no error.
        let code_end = if rest.trim_start().starts_with('#') {
            0
        } else {
            rest.find(" #").map(|i| i + 1).unwrap_or(rest.len())
        };
        let (code, comment) = rest.split_at(code_end);
        rest = code;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| ConfigError::BadInterpolation { path: path.to_owned(), line: index + 1 })?;
            let var = &after[..end];
            let value = lookup(var).ok_or_else(|| ConfigError::MissingVariable {
                path: path.to_owned(),
                line: index + 1,
                var: var.to_owned(),
            })?;
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    Ok(out)
}

impl Config {
    /// Parses configuration text; `path` is only used in messages.
    pub fn parse(
        text: &str,
        path: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let text = interpolate(text, path, &lookup)?;
        // No snippet: it would quote the file's lines, secrets and all.
        let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_saphyr::from_str_with_options(&text, options).map_err(|e| {
                let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                ConfigError::Parse { path: path.to_owned(), line, column, message: yaml_problem(&e) }
            })?
        };
        if let Some(token) = lookup("DIGITALOCEAN_TOKEN").filter(|t| !t.trim().is_empty()) {
            config.providers.digitalocean.get_or_insert_with(Default::default).api_token =
                Some(Secret::new(token));
        }
        // AWS's credentials as AWS's own tools take them, for keys `providers.aws` leaves out. The
        // plugin starts with a clean environment: they reach it over its socket, as settings.
        if let Some(aws) = config.providers.plugins.get_mut("aws") {
            let mut settings = aws.settings.expose().clone();
            for (key, variable) in [
                ("access_key_id", "AWS_ACCESS_KEY_ID"),
                ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
                ("session_token", "AWS_SESSION_TOKEN"),
            ] {
                if !settings.contains_key(key)
                    && let Some(value) = lookup(variable).filter(|v| !v.trim().is_empty())
                {
                    settings.insert(key.to_owned(), serde_json::Value::String(value));
                }
            }
            aws.settings = Secret::new(settings);
        }
        config.validate(path)?;
        Ok(config)
    }

    /// Reads `path`, or `./config.yaml` when it exists, or runs on defaults.
    pub fn load(path: Option<&Path>) -> Result<(Self, Option<PathBuf>), ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let chosen = match path {
            Some(p) => Some(p.to_owned()),
            None => Some(PathBuf::from("config.yaml")).filter(|p| p.exists()),
        };
        match chosen {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                let mut config = Self::parse(&text, &path, env)?;
                config.source = Some(std::path::absolute(&path).unwrap_or_else(|_| path.clone()));
                Ok((config, Some(path)))
            }
            None => Ok((Self::parse("", Path::new("(defaults)"), env)?, None)),
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            message,
        };
        self.listen_addr().map_err(|m| invalid("server.listen", m))?;
        let url = self.database.url();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            // Not quoted: a database URL may hold a password.
            return Err(invalid("database.url", "must start with sqlite:// or postgres://".to_owned()));
        }
        if self.operations.concurrency == 0 || self.operations.poll_interval_ms == 0 {
            return Err(invalid(
                "operations",
                "poll_interval_ms and concurrency must be at least 1".to_owned(),
            ));
        }
        if self.operations.max_attempts == 0 || self.operations.deadline_secs == 0 {
            return Err(invalid(
                "operations",
                "max_attempts and deadline_secs must be at least 1".to_owned(),
            ));
        }
        self.webhooks.retry_schedule().map_err(|m| invalid("webhooks", m))?;
        if self.webhooks.timeout_secs == 0 || self.webhooks.lease_secs <= self.webhooks.timeout_secs {
            return Err(invalid(
                "webhooks.lease_secs",
                "must be longer than webhooks.timeout_secs, which must be at least 1".to_owned(),
            ));
        }
        if self.webhooks.concurrency == 0 || self.webhooks.max_in_flight_per_endpoint == 0 {
            return Err(invalid(
                "webhooks",
                "concurrency and max_in_flight_per_endpoint must be at least 1".to_owned(),
            ));
        }
        if self.events.retention_days == 0
            || self.events.heartbeat_secs == 0
            || self.events.poll_interval_ms == 0
        {
            return Err(invalid(
                "events",
                "retention_days, heartbeat_secs and poll_interval_ms must be at least 1".to_owned(),
            ));
        }
        if self.operations.lease_secs < 3 {
            return Err(invalid("operations.lease_secs", "must be at least 3".to_owned()));
        }
        if self.server.max_connections < 16 {
            return Err(invalid("server.max_connections", "must be at least 16".to_owned()));
        }
        if self.server.header_read_timeout_secs == 0 || self.server.readiness_interval_secs == 0 {
            return Err(invalid(
                "server",
                "header_read_timeout_secs and readiness_interval_secs must be at least 1".to_owned(),
            ));
        }
        if self.server.body_read_timeout_secs == 0 || self.server.body_min_bytes_per_sec == 0 {
            return Err(invalid(
                "server",
                "body_read_timeout_secs and body_min_bytes_per_sec must be at least 1".to_owned(),
            ));
        }
        if self.server.list_cache_bytes < 64 * 1024 {
            return Err(invalid("server.list_cache_bytes", "must be at least 65536".to_owned()));
        }
        if self.inventory.read_budget_ms == 0 {
            return Err(invalid("inventory.read_budget_ms", "must be at least 1".to_owned()));
        }
        if self.inventory.max_age_secs == 0 {
            return Err(invalid("inventory.max_age_secs", "must be at least 1".to_owned()));
        }
        self.costs.check().map_err(|(key, message)| invalid(key, message))?;
        self.budgets.check().map_err(|(key, message)| invalid(key, message))?;
        if !(0.01..=1.0).contains(&self.inventory.max_refresh_share) {
            return Err(invalid("inventory.max_refresh_share", "must be between 0.01 and 1".to_owned()));
        }
        if self.audit.retention_days == 0
            || self.audit.failed_auth_window_secs == 0
            || self.audit.max_failed_auth_sources == 0
            || self.audit.max_refusals_per_key_per_window == 0
            || self.audit.refusals_window_secs == 0
        {
            return Err(invalid(
                "audit",
                "retention_days, failed_auth_window_secs, max_failed_auth_sources, max_refusals_per_key_per_window and refusals_window_secs must be at least 1".to_owned(),
            ));
        }
        if let Some(hosts) = &self.server.allowed_hosts {
            if hosts.is_empty() || hosts.len() > 256 {
                return Err(invalid(
                    "server.allowed_hosts",
                    "must list 1 to 256 host names (or `*`)".to_owned(),
                ));
            }
            crate::auth::hosts::AllowedHosts::new(Some(hosts), &self.server.listen, true)
                .map_err(|m| invalid("server.allowed_hosts", m))?;
        }
        if self.auth.revocation_delay_secs == 0 || self.auth.max_cached_keys == 0 {
            return Err(invalid(
                "auth.revocation_delay_secs",
                "auth.revocation_delay_secs and auth.max_cached_keys must be at least 1".to_owned(),
            ));
        }
        if self.idempotency.ttl_hours == 0
            || self.idempotency.max_keys_per_api_key == 0
            || self.idempotency.max_estimate_keys_per_api_key == 0
        {
            return Err(invalid(
                "idempotency",
                "ttl_hours, max_keys_per_api_key and max_estimate_keys_per_api_key must be at least 1"
                    .to_owned(),
            ));
        }
        if self.idempotency.max_stored_response_bytes < 1024 {
            return Err(invalid("idempotency.max_stored_response_bytes", "must be at least 1024".to_owned()));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024".to_owned()));
        }
        if let Some(d) = &self.providers.digitalocean
            && let Err(e) = d.validate()
        {
            // The DigitalOcean crate's messages end with the value at fault (`, got "…"`), which
            // may be a URL with credentials in it: what comes before says what is expected.
            let message = e.message.split(", got ").next().unwrap_or_default().to_owned();
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                key: format!("providers.digitalocean.{}", e.key),
                message,
            });
        }
        for (name, d) in &self.providers.digitalocean_accounts {
            if d.token().is_none() {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    key: format!("providers.{name}.api_token"),
                    message: "is required for an account other than digitalocean".to_owned(),
                });
            }
            if let Err(e) = d.validate() {
                let message = e.message.split(", got ").next().unwrap_or_default().to_owned();
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    key: format!("providers.{name}.{}", e.key),
                    message,
                });
            }
        }
        if self.secrets.master_key.is_some() && self.secrets.master_key_file.is_some() {
            return Err(invalid(
                "secrets.master_key",
                "give master_key or master_key_file, not both".to_owned(),
            ));
        }
        for (name, plugin) in &self.providers.plugins {
            if let Some(sum) = &plugin.sha256
                && !(sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    key: format!("providers.{name}.sha256"),
                    message: "must be 64 hexadecimal digits".to_owned(),
                });
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.server.listen.parse().map_err(|_| "must be an address like 127.0.0.1:8080".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::parse(text, Path::new("config.yaml"), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_seed_config_parses() {
        let config = parse(
            "providers:\n  digitalocean:\n    api_token: \"your-digitalocean-api-token\"\n    region: \"nyc1\"\n",
            &[],
        )
        .expect("seed config");
        let d = config.providers.digitalocean.expect("digitalocean");
        assert_eq!(d.region.as_deref(), Some("nyc1"));
        assert_eq!(d.token().map(|t| t.expose().as_str()), Some("your-digitalocean-api-token"));
        assert_eq!(config.server.listen, "127.0.0.1:8080");
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../../config.example.yaml");
        let config = parse(text, &[("DIGITALOCEAN_TOKEN", "dop_v1_x")]).expect("config.example.yaml parses");
        assert!(config.providers.digitalocean.is_some());
    }

    #[test]
    fn variables_are_read_from_the_environment_and_the_token_override_wins() {
        let text = "providers:\n  digitalocean:\n    api_token: \"${MY_TOKEN}\"\n    region: ${REGION}\n";
        let config = parse(text, &[("MY_TOKEN", "from-var"), ("REGION", "ams3")]).expect("parses");
        let d = config.providers.digitalocean.expect("digitalocean");
        assert_eq!(d.token().map(|t| t.expose().as_str()), Some("from-var"));
        assert_eq!(d.region.as_deref(), Some("ams3"));
        let overridden =
            parse(text, &[("MY_TOKEN", "from-var"), ("REGION", "ams3"), ("DIGITALOCEAN_TOKEN", "from-env")])
                .expect("parses");
        assert_eq!(
            overridden.providers.digitalocean.and_then(|d| d.api_token).map(|t| t.expose().clone()),
            Some("from-env".to_owned())
        );
    }

    #[test]
    fn aws_credentials_come_from_the_environment_when_the_section_leaves_them_out() {
        let text = "providers:\n  aws:\n    plugin: nephele-provider-aws\n    region: us-east-1\n    access_key_id: AKIAFROMFILE\n";
        let env = [("AWS_ACCESS_KEY_ID", "AKIAFROMENV"), ("AWS_SECRET_ACCESS_KEY", "from-env-secret")];
        let config = parse(text, &env).expect("parses");
        let settings = config.providers.plugins["aws"].settings.expose().clone();
        assert_eq!(settings["access_key_id"], "AKIAFROMFILE", "the file wins");
        assert_eq!(settings["secret_access_key"], "from-env-secret");
        assert!(!settings.contains_key("session_token"));
        assert!(
            !format!("{:?}", config.providers.plugins["aws"]).contains("from-env-secret"),
            "never in Debug"
        );
    }

    #[test]
    fn a_missing_variable_names_the_line() {
        let err = parse(
            "server:\n  listen: 127.0.0.1:8080\nproviders:\n  digitalocean:\n    api_token: ${NOPE}\n",
            &[],
        )
        .expect_err("unset variable");
        assert_eq!(err.to_string(), "config.yaml:5: environment variable `NOPE` is not set");
    }

    #[test]
    fn unknown_keys_fail_naming_the_key_and_the_line() {
        let err = parse("server:\n  listen: 127.0.0.1:8080\n  lisen: oops\n", &[]).expect_err("unknown key");
        let message = err.to_string();
        assert!(message.contains("lisen"), "{message}");
        assert!(message.contains("line 3") || message.contains(":3:"), "{message}");
    }

    #[test]
    fn bad_values_fail_naming_the_key() {
        let err = parse("server:\n  listen: not-an-address\n", &[]).expect_err("bad listen");
        assert!(err.to_string().contains("server.listen"), "{err}");
        let err = parse("providers:\n  digitalocean:\n    region: New York\n", &[]).expect_err("bad region");
        assert!(err.to_string().contains("providers.digitalocean.region"), "{err}");
        let err = parse("server:\n  catalog_ttl_secs: yes\n", &[]).expect_err("strict booleans / numbers");
        assert!(err.to_string().contains("line 2") || err.to_string().contains(":2:"), "{err}");
    }

    #[test]
    fn errors_name_the_file_key_and_line_but_never_the_value() {
        // As DigitalOcean's tokens look.
        const SECRET: &str = "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (text, place) in [
            (
                format!("providers:\n  digitalocean:\n    api_token: [{SECRET}]\n"),
                "providers.digitalocean.api_token",
            ),
            (
                format!(
                    "providers:\n  digitalocean:\n    api_token: {SECRET}\n    region: {{a: {SECRET}}}\n"
                ),
                "providers.digitalocean.region",
            ),
            (
                format!("providers:\n  digitalocean:\n    base_url: {SECRET}\n"),
                "providers.digitalocean.base_url",
            ),
            (format!("server:\n  catalog_ttl_secs: {SECRET}\n"), ":2:"),
            (format!("auth:\n  required: {SECRET}\n"), ":2:"),
            (format!("server:\n  listen: {SECRET}\n"), "server.listen"),
            (format!("database:\n  url: mysql://root:{SECRET}@db/x\n"), "database.url"),
            (format!("providers:\n  digitalocean:\n    api_token: {SECRET}\n  x: [\n"), ":4:"),
            (format!("server:\n  {SECRET}: 1\n"), ":2:"),
        ] {
            let message = parse(&text, &[]).expect_err("broken").to_string();
            assert!(!message.contains("0123456789abcdef"), "{message}");
            assert!(message.starts_with("config.yaml"), "{message}");
            assert!(message.contains(place), "{place} in {message}");
        }
    }

    #[test]
    fn a_section_may_name_its_type_and_one_named_like_a_type_needs_none() {
        let text = "providers:\n  digitalocean:\n    api_token: a\n  do-staging:\n    type: digitalocean\n    api_token: b\n    region: ams3\n  inv:\n    plugin: ./inventory.py\n  inv-2:\n    type: inv\n    plugin: ./inventory.py\n";
        let config = parse(text, &[]).expect("parses");
        assert_eq!(config.providers.type_of("digitalocean").as_deref(), Some("digitalocean"));
        assert_eq!(config.providers.type_of("do-staging").as_deref(), Some("digitalocean"));
        assert_eq!(config.providers.digitalocean_accounts["do-staging"].region.as_deref(), Some("ams3"));
        assert_eq!(config.providers.type_of("inv").as_deref(), Some("inv"));
        assert_eq!(config.providers.type_of("inv-2").as_deref(), Some("inv"));
        assert_eq!(config.providers.known_types(), ["digitalocean", "inv"]);
        let err = parse("providers:\n  do-b:\n    type: digitalocean\n    region: nyc1\n", &[])
            .expect_err("no token");
        assert!(err.to_string().contains("providers.do-b.api_token"), "{err}");
        let err =
            parse("providers:\n  do-b:\n    type: digitalocean\n    api_token: x\n    regoin: nyc1\n", &[])
                .expect_err("unknown key");
        assert!(err.to_string().contains("providers.do-b"), "{err}");
        let err = parse("providers:\n  x:\n    type: Bad_Type\n", &[]).expect_err("bad type");
        assert!(err.to_string().contains("providers.x.type"), "{err}");
    }

    #[test]
    fn the_token_never_prints() {
        let config =
            parse("providers:\n  digitalocean:\n    api_token: dop_v1_supersecret\n", &[]).expect("parses");
        assert!(!format!("{config:?}").contains("supersecret"));
    }
}
