//! Demo mode: the DigitalOcean simulator, in-process, for `make run` without a token.
//!
//! The provider client still talks real HTTP to it, so demo mode exercises the same code path
//! as production. This is the one use of `dosim` outside tests and benchmarks.

use std::time::Duration;

use dosim::{RunningSim, SimConfig, Simulator};

/// A simulator with a few droplets, on a free local port, with a fresh random token.
pub async fn start_simulator() -> std::io::Result<(RunningSim, String)> {
    let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let sim = Simulator::new(SimConfig {
        tokens: vec![token.clone()],
        transition: Duration::from_secs(2),
        droplets: 6,
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await?;
    Ok((sim, token))
}
