//! Two `nephele serve` processes on one PostgreSQL database behave as one service.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::postgres::TestDatabase;
use crate::support::{
    Server, all_droplets, make_key, operation_of, operations, simulator, wait_until_settled, write_config,
};

const CREATE: &str = "/api/v1/providers/digitalocean/instances";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_idempotency_and_work_each_operation_once() {
    let database = TestDatabase::create().await;
    let sim = simulator(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &sim, &database.url, 5);
    let key = make_key(&config, "operator");
    let a = Server::start(&config, &dir.path().join("a.log"));
    let b = Server::start(&config, &dir.path().join("b.log"));
    let http = reqwest::Client::new();
    let body =
        json!({"name": "shared", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"});
    let post = |url: &str, key_header: &str, body: &Value| {
        http.post(format!("{url}{CREATE}"))
            .bearer_auth(&key)
            .header("Idempotency-Key", key_header)
            .json(body)
            .send()
    };

    // 50 concurrent POSTs with one key, half to each replica.
    let responses =
        join_all((0..50).map(|i| post(if i % 2 == 0 { &a.url } else { &b.url }, "one-key", &body))).await;
    let mut bodies = Vec::new();
    for response in responses {
        let response = response.expect("sent");
        assert_eq!(response.status(), 202);
        bodies.push(response.text().await.expect("body"));
    }
    assert!(bodies.iter().all(|x| x == &bodies[0]), "both replicas gave the same answer");
    assert_eq!(sim.stats().requests.get("droplets_create"), Some(&1), "one create upstream");

    let replay = post(&b.url, "one-key", &body).await.expect("sent");
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.expect("body"), bodies[0]);
    let mut other = body.clone();
    other["name"] = json!("different");
    assert_eq!(post(&a.url, "one-key", &other).await.expect("sent").status(), 422);

    // 20 more creates spread over both; every operation is worked to its end exactly once.
    let more = join_all((0..20).map(|i| {
        let mut b2 = body.clone();
        b2["name"] = json!(format!("spread-{i}"));
        let url = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
        let http = http.clone();
        let key = key.clone();
        async move {
            http.post(format!("{url}{CREATE}"))
                .bearer_auth(&key)
                .header("Idempotency-Key", format!("spread-{i}"))
                .json(&b2)
                .send()
                .await
        }
    }))
    .await;
    assert!(more.iter().all(|r| r.as_ref().is_ok_and(|r| r.status() == 202)));
    wait_until_settled(&http, &a.url, &key, Duration::from_secs(60)).await;

    let droplets = all_droplets(&http, &sim).await;
    assert_eq!(droplets.len(), 21);
    let mut per_operation: HashMap<String, usize> = HashMap::new();
    for d in &droplets {
        *per_operation.entry(operation_of(d).expect("tagged")).or_default() += 1;
    }
    assert!(per_operation.values().all(|n| *n == 1), "no operation made two droplets");
    let succeeded = operations(&http, &b.url, &key, "state=succeeded").await;
    assert_eq!(succeeded.len(), 21, "every create succeeded, seen from either replica");

    drop(a);
    drop(b);
    database.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_token_stay_within_its_rate_limit_together() {
    nephele_digitalocean::install_crypto_provider();
    let database = TestDatabase::create().await;
    let sim = dosim::Simulator::new(dosim::SimConfig {
        tokens: vec![crate::support::DO_TOKEN.to_owned()],
        limits: dosim::Limits { per_minute: 40, per_hour: 10_000, ..dosim::Limits::default() },
        ..dosim::SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("dosim");
    let dir = tempfile::tempdir().expect("temp dir");
    // Each replica is told the whole limit is its own: only sharing keeps them within it.
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {}\n    region: nyc1\n    base_url: {}\n    rate_limit_per_minute: 40\n    call_deadline_secs: 2\ndatabase:\n  url: {}\nauth:\n  required: true\n",
            crate::support::DO_TOKEN,
            sim.base_url(),
            database.url
        ),
    )
    .expect("config");
    let key = make_key(&config, "viewer");
    let a = Server::start(&config, &dir.path().join("a.log"));
    let b = Server::start(&config, &dir.path().join("b.log"));
    let http = reqwest::Client::new();
    // Each replica heartbeats every 2 s; wait until each has seen the other, which shows in its
    // budget: its minute's share is half of the 40, whatever it has spent already.
    let started = std::time::Instant::now();
    for url in [&a.url, &b.url] {
        loop {
            let metrics = http.get(format!("{url}/metrics")).bearer_auth(&key).send().await.expect("metrics");
            let text = metrics.text().await.expect("text");
            let remaining = text
                .lines()
                .find(|l| l.starts_with("nephele_provider_rate_budget_remaining_minute{"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok());
            if remaining.is_some_and(|r| r <= 20.0) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the replicas never saw each other: {remaining:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Reads of single instances are always live: 120 of them, half to each replica.
    let gets = join_all((0..120).map(|i| {
        let url = if i % 2 == 0 { &a.url } else { &b.url };
        http.get(format!("{url}{CREATE}/{}", 900_000 + i)).bearer_auth(&key).send()
    }))
    .await;
    let statuses: Vec<u16> = gets.into_iter().map(|r| r.expect("sent").status().as_u16()).collect();
    let stats = sim.stats();
    let sent = stats.requests.get("droplets_get").copied().unwrap_or(0);
    eprintln!(
        "two replicas, 120 live reads: {} answered (404, no such droplet), {} 503 (over this replica's share); DigitalOcean saw {sent} and answered {} with 429",
        statuses.iter().filter(|s| **s == 404).count(),
        statuses.iter().filter(|s| **s == 503).count(),
        stats.rate_limited
    );
    assert!(statuses.iter().all(|s| *s == 404 || *s == 503), "{statuses:?}");
    assert_eq!(stats.rate_limited, 0, "no request went over DigitalOcean's limit");
    // The background inventory loads (one list each) share the same 40.
    assert!((20..=40).contains(&sent), "both together used the limit, no more: {sent}");
    drop((a, b));
    database.cleanup().await;
}
