//! Nephele's DigitalOcean provider: a client of DigitalOcean's REST API v2 that implements
//! [`nephele_core::Provider`].
//!
//! What it takes care of, so callers need not:
//! - **pagination** at the physical limit (`per_page=200`), later pages fetched concurrently;
//! - a **rate budget** mirroring DigitalOcean's two sliding windows, so Nephele slows itself down
//!   before DigitalOcean answers 429, and honours `retry-after` when it does;
//! - **retries** of idempotent calls with exponential backoff and full jitter;
//! - **exactly-once creation**: every droplet carries a `nephele-req-<operation id>` tag, and an
//!   ambiguous failure is resolved by looking the tag up, never by creating blindly again
//!   (resources beyond droplets are found by the record DigitalOcean keeps for each kind; see
//!   [`resources`], which also says where it keeps none);
//! - **typed errors** that keep DigitalOcean's `id`, `message` and `request_id`, and never the
//!   token.
//!
//! This crate reads DigitalOcean's OpenAPI document on its own; it shares nothing with `dosim`.

mod bill;
mod billing;
mod budget;
mod config;
mod errors;
mod mapping;
mod metrics;
mod pagination;
mod prices;
mod provider;
pub mod resources;
mod retry;
mod settings;
mod transport;
mod validate;
pub mod wire;

pub use budget::BudgetConfig;
pub use config::ClientConfig;
pub use metrics::ClientMetrics;
pub use provider::{DigitalOcean, operation_tag};
pub use settings::{Settings, SettingsError};

/// Installs the `ring` TLS backend for rustls once per process; later calls do nothing.
///
/// One crypto backend keeps the build small (the default one adds a long C build).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
