//! The client-side budget keeps Nephele under DigitalOcean's limits, visibly.
//!
//! Both sides shrink the "minute" to one second so the test does not wait minutes: the sliding
//! window arithmetic is the same at any length.

use std::time::Duration;

use dosim::Limits;
use nephele_core::{InstanceFilter, InstanceId, Provider, ProviderError, ResourceKind};
use nephele_digitalocean::BudgetConfig;

use crate::helpers::{CapturedLogs, create_request, sim_config, spawn_with};

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

/// Runs `call`, and says how long it took.
async fn timed<T>(call: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = std::time::Instant::now();
    let answer = call.await;
    (answer, started.elapsed())
}

/// DigitalOcean limits listing SSH keys to 10 a minute, on its own. When another program with
/// the same token has spent that, the 429 holds the SSH-key list only: it is refused at once
/// (saying when to ask again, and without asking again meanwhile), and droplet lists, a create
/// and the other kinds go on at once. dosim's default limits, nothing lifted.
#[tokio::test]
async fn a_429_from_the_ssh_key_list_holds_that_list_only() {
    let mut sim = sim_config(3);
    sim.limits = Limits::default();
    let cloud = spawn_with(sim, |c| c.budget = BudgetConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2/account/keys", cloud.sim.base_url());
    let mut refused = false;
    for _ in 0..11 {
        let answer = http.get(&url).bearer_auth(crate::helpers::TOKEN).send().await.expect("list keys");
        if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
    }
    assert!(refused, "dosim refuses the 11th SSH-key list of a minute");

    let (held, took) = timed(cloud.client.list_resources(ResourceKind::SshKey)).await;
    let Err(ProviderError::RateLimited { retry_after, .. }) = held else { panic!("{held:?}") };
    assert!(retry_after.after > Duration::from_secs(30), "dosim's Retry-After: {retry_after:?}");
    assert!(took < Duration::from_secs(2), "refused at once, not after the hold: {took:?}");
    let sent = cloud.client.metrics().snapshot().requests_sent;
    let (again, took) = timed(cloud.client.list_resources(ResourceKind::SshKey)).await;
    assert!(matches!(again, Err(ProviderError::RateLimited { .. })), "{again:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert_eq!(cloud.client.metrics().snapshot().requests_sent, sent, "the held list is not sent");

    for _ in 0..5 {
        let (listed, took) = timed(cloud.client.list_instances(&InstanceFilter::default())).await;
        assert!(listed.expect("droplets").len() >= 3);
        assert!(took < Duration::from_secs(2), "droplet lists are not held: {took:?}");
    }
    let (created, took) = timed(cloud.client.create_instances(&create_request(&["after-the-429"]))).await;
    assert_eq!(created.expect("create").len(), 1);
    assert!(took < Duration::from_secs(5), "creates are not held: {took:?}");
    let (volumes, took) = timed(cloud.client.list_resources(ResourceKind::Volume)).await;
    volumes.expect("volumes");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(cloud.client.metrics().snapshot().responses_429, 1, "one 429, held alone");
}

/// The client keeps to the SSH-key list's own limit before DigitalOcean has to say so: ten lists
/// go, the eleventh in the minute is refused at once without being sent, and nothing else waits.
#[tokio::test]
async fn the_client_keeps_to_ten_ssh_key_lists_a_minute_without_meeting_a_429() {
    let mut sim = sim_config(1);
    sim.limits = Limits::default();
    let cloud = spawn_with(sim, |c| c.budget = BudgetConfig::default()).await;
    for n in 0..10 {
        cloud.client.list_resources(ResourceKind::SshKey).await.unwrap_or_else(|e| panic!("list {n}: {e}"));
    }
    let (eleventh, took) = timed(cloud.client.list_resources(ResourceKind::SshKey)).await;
    let Err(ProviderError::RateLimited { retry_after, .. }) = eleventh else { panic!("{eleventh:?}") };
    assert!(retry_after.after > Duration::from_secs(30), "{retry_after:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    let (listed, took) = timed(cloud.client.list_instances(&InstanceFilter::default())).await;
    listed.expect("droplets");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(cloud.sim.stats().rate_limited, 0, "no 429 was needed");
    assert_eq!(cloud.sim.stats().requests.get("sshKeys_list").copied(), Some(10));
}
