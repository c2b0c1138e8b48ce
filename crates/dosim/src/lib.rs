//! `dosim`: a faithful, stateful simulator of DigitalOcean's API v2 over real HTTP.
//!
//! It implements every operation of `shared/digitalocean/openapi-resources.yaml` with
//! DigitalOcean's shapes, status codes, pagination, bearer auth and per-token rate limits;
//! keeps droplets, actions, images, SSH keys, volumes, snapshots, firewalls, reserved IPs, VPCs,
//! projects and tags in memory, consistent with each other, for one or many accounts kept apart
//! (see [`account`]); bills their usage by DigitalOcean's rules (see [`billing`]) on a clock a
//! test can set (see [`clock`]); and adds fault injection and a `/_sim` control API for tests. Nephele's
//! tests, benchmarks and demo mode talk to it; nothing else should.
//!
//! It shares no code with Nephele's DigitalOcean client on purpose: see [`wire`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = dosim::Simulator::new(dosim::SimConfig::default())
//!     .bind(([127, 0, 0, 1], 0).into())
//!     .await?;
//! println!("DigitalOcean at {}", sim.base_url());
//! # Ok(()) }
//! ```

mod account;
mod billing;
pub mod catalog;
mod clock;
mod error;
pub mod faults;
mod gate;
mod ids;
mod pagination;
pub mod rate_limit;
mod render;
mod routes;
mod server;
mod sim;
mod state;
pub mod wire;

pub use account::{AccountSpec, AccountStats, DEFAULT_ACCOUNT};
pub use clock::ClockError;
pub use faults::Faults;
pub use rate_limit::Limits;
pub use server::{RunningSim, Simulator};
pub use sim::{SimConfig, Stats};
pub use state::Fixtures;
