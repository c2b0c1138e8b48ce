//! `make bench`: listing 10,000 droplets from dosim with 100 ms of latency per request.
//!
//! Compares the client as configured (pages 2..50 fetched concurrently) with a baseline in the
//! same run: the same client fetching one page at a time, as a naive "follow `next`" loop would.
//! Prints wall times and the ratio, so runs on different machines stay comparable.

use std::time::{Duration, Instant};

use dosim::{Faults, Limits, SimConfig, Simulator};
use nephele_core::{InstanceFilter, Provider, Secret};
use nephele_digitalocean::{BudgetConfig, ClientConfig, DigitalOcean};

const DROPLETS: usize = 10_000;
const LATENCY_MS: u64 = 100;
const RUNS: usize = 5;

fn client(base_url: &str, list_concurrency: usize) -> DigitalOcean {
    let mut config = ClientConfig::new(Secret::new("bench-token".to_owned())).with_base_url(base_url);
    config.list_concurrency = list_concurrency;
    config.budget = BudgetConfig { per_minute: 1_000_000, per_hour: 1_000_000, ..BudgetConfig::default() };
    DigitalOcean::new(config).expect("client")
}

async fn median_list_time(client: &DigitalOcean, runs: usize) -> Duration {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let listed = client.list_instances(&InstanceFilter::default()).await.expect("list");
        times.push(started.elapsed());
        assert_eq!(listed.len(), DROPLETS);
    }
    times.sort();
    times[runs / 2]
}

#[tokio::main]
async fn main() {
    let sim = Simulator::new(SimConfig {
        tokens: vec!["bench-token".to_owned()],
        droplets: DROPLETS,
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        faults: Faults { latency_ms: LATENCY_MS, ..Faults::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("bind");

    let concurrent = client(&sim.base_url(), ClientConfig::new(Secret::new(String::new())).list_concurrency);
    let sequential = client(&sim.base_url(), 1);
    // Warm both connection pools so the first run pays no connect cost.
    median_list_time(&concurrent, 1).await;
    median_list_time(&sequential, 1).await;
    sim.reset();

    let fast = median_list_time(&concurrent, RUNS).await;
    let requests_per_list = sim.stats().requests.get("droplets_list").copied().unwrap_or(0) / RUNS as u64;
    let slow = median_list_time(&sequential, 3).await;
    // The same list with no latency: what parsing and rendering ~35 MB of JSON costs on this
    // machine (client and simulator share its cores). Wall time = 2 round trips + this floor.
    sim.set_faults(Faults::default());
    let floor = median_list_time(&concurrent, RUNS).await;

    println!("list {DROPLETS} droplets, {LATENCY_MS} ms latency per request, median of runs:");
    println!(
        "  concurrent pages (default, 50 at once): {:>7.1} ms  ({requests_per_list} requests per list)",
        fast.as_secs_f64() * 1e3
    );
    println!("  baseline, one page at a time:           {:>7.1} ms", slow.as_secs_f64() * 1e3);
    println!("  ratio concurrent/baseline:              {:>7.3}", fast.as_secs_f64() / slow.as_secs_f64());
    println!(
        "  round trips of wall time (concurrent):  {:>7.2}",
        fast.as_secs_f64() * 1e3 / LATENCY_MS as f64
    );
    println!("  CPU floor, same list at 0 ms latency:   {:>7.1} ms", floor.as_secs_f64() * 1e3);
    println!(
        "  round trips after the CPU floor:        {:>7.2}",
        (fast.as_secs_f64() - floor.as_secs_f64()) * 1e3 / LATENCY_MS as f64
    );
}
