//! The client-side budget keeps Nephele under DigitalOcean's limits, visibly.
//!
//! Both sides shrink the "minute" to one second so the test does not wait minutes: the sliding
//! window arithmetic is the same at any length.

use std::time::Duration;

use dosim::Limits;
use nephele_core::{InstanceId, Provider};
use nephele_digitalocean::BudgetConfig;

use crate::helpers::{CapturedLogs, sim_config, spawn_with};

#[tokio::test]
async fn a_burst_of_100_gets_at_30_per_minute_completes_without_429s() {
    let window = Duration::from_secs(1);
    let mut sim = sim_config(5);
    sim.limits = Limits { per_minute: 30, per_hour: 100_000, minute: window, ..Limits::default() };
    let cloud = spawn_with(sim, |c| {
        c.budget = BudgetConfig {
            per_minute: 30,
            per_hour: 100_000,
            minute: window,
            // A request counted in one window may reach dosim in its next one when the machine is
            // busy (50 ms was not enough under load); production's margin is a whole second.
            margin: Duration::from_millis(300),
            ..BudgetConfig::default()
        };
    })
    .await;
    let logs = CapturedLogs::default();
    let _guard = logs.install();

    let id = InstanceId("500000001".into());
    let calls = (0..100).map(|_| cloud.client.get_instance(&id));
    let results = futures_util::future::join_all(calls).await;

    assert!(results.iter().all(Result::is_ok), "every get succeeded");
    let stats = cloud.sim.stats();
    let metrics = cloud.client.metrics().snapshot();
    eprintln!(
        "burst of 100 at 30/window: {} 429s, {} waits, {} ms waited",
        stats.rate_limited, metrics.rate_limit_waits, metrics.rate_limit_wait_ms
    );
    assert!(stats.rate_limited <= 2, "near-zero 429s, got {}", stats.rate_limited);
    assert!(metrics.rate_limit_waits > 0 && metrics.rate_limit_wait_ms > 0, "{metrics:?}");
    assert!(logs.text().contains("waiting for DigitalOcean rate budget"), "the wait is logged");
}

#[tokio::test]
async fn a_429_is_honoured_and_the_call_still_succeeds() {
    let cloud = spawn_with(sim_config(1), |_| {}).await;
    // 30% of answers are 429 with `retry-after: 1`; eight attempts all refused is a 1-in-150,000 event.
    cloud.sim.set_faults(dosim::Faults { rate_limit_rate: 0.3, ..Default::default() });
    // Call until a 429 has been met (30 calls without one: a 1-in-40,000 event); every call
    // must still succeed.
    for _ in 0..30 {
        cloud.client.list_regions().await.expect("regions despite 429s");
        if cloud.client.metrics().snapshot().responses_429 > 0 {
            break;
        }
    }
    let metrics = cloud.client.metrics().snapshot();
    assert!(metrics.responses_429 > 0, "{metrics:?}");
    assert!(metrics.retries >= metrics.responses_429, "each 429 was followed by a retry: {metrics:?}");
}

#[tokio::test]
async fn a_wait_longer_than_the_deadline_fails_fast_saying_when_to_retry() {
    let mut sim = sim_config(1);
    sim.limits = Limits { per_minute: 1000, per_hour: 100_000, ..Limits::default() };
    let cloud = spawn_with(sim, |c| {
        c.budget = BudgetConfig { per_minute: 2, per_hour: 100_000, ..BudgetConfig::default() };
        c.call_deadline = Duration::from_millis(300);
    })
    .await;
    cloud.client.list_regions().await.expect("first");
    cloud.client.list_regions().await.expect("second");
    let started = std::time::Instant::now();
    let third = cloud.client.list_regions().await;
    assert!(started.elapsed() < Duration::from_millis(200), "no silent hang");
    let Err(nephele_core::ProviderError::RateLimited { retry_after, .. }) = third else {
        panic!("{third:?}")
    };
    assert!(retry_after.after > Duration::from_secs(50), "about a minute: {:?}", retry_after.after);
}

#[tokio::test]
async fn a_list_paced_by_the_budget_logs_one_summary_line_not_a_warning_per_page() {
    let window = Duration::from_secs(1);
    // Six pages against a budget of four a "minute" of one second, paced one at a time: most
    // pages wait.
    let cloud = spawn_with(sim_config(1_200), |c| {
        c.budget = BudgetConfig {
            per_minute: 4,
            per_hour: 100_000,
            minute: window,
            margin: Duration::ZERO,
            burst: 1,
            ..BudgetConfig::default()
        };
    })
    .await;
    let logs = CapturedLogs::default();
    let _guard = logs.install();

    let listed = cloud.client.list_instances(&Default::default()).await.expect("list");

    assert_eq!(listed.len(), 1_200);
    let text = logs.text();
    let metrics = cloud.client.metrics().snapshot();
    assert!(metrics.rate_limit_waits >= 4, "pages waited: {metrics:?}");
    let warnings = text.lines().filter(|l| l.contains("WARN")).collect::<Vec<_>>();
    assert!(warnings.is_empty(), "no warning for waits the budget was made for: {warnings:#?}");
    let summaries =
        text.lines().filter(|l| l.contains("list paced by the DigitalOcean rate budget")).collect::<Vec<_>>();
    assert_eq!(summaries.len(), 1, "one line for the whole list: {summaries:#?}");
    assert!(summaries[0].contains("INFO") && summaries[0].contains("pages=6"), "{}", summaries[0]);
    assert!(summaries[0].contains("waited_ms="), "{}", summaries[0]);
    // Each wait is still there for whoever asks for debug.
    let waits = text
        .lines()
        .filter(|l| l.contains("DEBUG") && l.contains("waiting for DigitalOcean rate budget"))
        .count();
    assert_eq!(waits as u64, metrics.rate_limit_waits);
}
