//! Nephele's AWS EC2 provider, shipped as the `nephele-provider-aws` plugin (the `nephele`
//! binary never builds it).
//!
//! - `client`: the EC2 Query API over HTTP (SigV4, XML, size and time bounds, retries).
//! - `throttle`: the client's own token buckets, one per class of action.
//! - `wire`: EC2's XML answers; `mapping`: their Nephele shapes; `errors`: EC2's error codes.
//! - `prices`: the shipped price catalogue and EC2's billing policy.
//! - `provider`: `Aws`, the `Provider` over the configured regions.
//! - `resources`: volumes, snapshots, key pairs, security groups, Elastic IPs and VPCs.
//! - `settings`: `providers.aws` as written in `config.yaml`.

mod client;
mod errors;
mod mapping;
mod prices;
mod provider;
mod resources;
mod settings;
mod throttle;
mod wire;

pub use provider::Aws;
pub use settings::{ClientSettings, Settings};

/// Installs rustls' ring provider for HTTPS (the one crypto backend of the workspace).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
