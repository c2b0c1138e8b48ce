//! Webhook delivery as a service runs it: `nephele serve` processes killed with SIGKILL mid-way,
//! and two replicas on one PostgreSQL database, delivering to receivers in this test.
//!
//! The receivers count, per `webhook-id`, the deliveries they answered 2xx. "Every event reaches
//! every endpoint" is: every event the API lists has a count of at least one at each endpoint;
//! a duplicate is a count above one (always under the same `webhook-id`, since that is what is
//! counted); no id arrives that is not an event's. The scale is `NEPHELE_WEBHOOK_EVENTS` events
//! (default 2,000; the figures in the report were measured with 10,000).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::postgres::TestDatabase;
use crate::support::{Server, make_key, simulator, write_config};

/// How a receiver answers.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Ok,
    /// 500 half of the time.
    Flaky,
    /// 2 s before answering 204.
    Slow,
}

/// A minimal HTTP/1.1 receiver: keeps connections alive, reads each request's head and body,
/// answers by its behaviour, and counts 2xx answers per `webhook-id` (and when the first came,
/// against the event's `time`).
struct Receiver {
    port: u16,
    delivered: Arc<Mutex<HashMap<String, usize>>>,
    /// Seconds from an event's `time` to its first arrival here.
    first_latency: Arc<Mutex<Vec<f64>>>,
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

impl Receiver {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let delivered: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let first_latency: Arc<Mutex<Vec<f64>>> = Arc::default();
        let (counts, latencies) = (delivered.clone(), first_latency.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (counts, latencies) = (counts.clone(), latencies.clone());
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 8192];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                        let length: usize =
                            header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                        while buffer.len() < end + 4 + length {
                            let mut chunk = [0u8; 8192];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body: Vec<u8> = buffer.drain(..end + 4 + length).skip(end + 4).collect();
                        let id = header(&head, "webhook-id").unwrap_or_default().to_owned();
                        let status = match behaviour {
                            Behaviour::Flaky if uuid::Uuid::new_v4().as_bytes()[0] & 1 == 1 => 500,
                            Behaviour::Slow => {
                                tokio::time::sleep(Duration::from_secs(2)).await;
                                204
                            }
                            _ => 204,
                        };
                        if status == 204 {
                            let first = {
                                let mut counts = counts.lock().expect("counts");
                                let n = counts.entry(id).or_default();
                                *n += 1;
                                *n == 1
                            };
                            if first {
                                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                                if let Some(at) = event["time"].as_str().and_then(|t| {
                                    time::OffsetDateTime::parse(
                                        t,
                                        &time::format_description::well_known::Rfc3339,
                                    )
                                    .ok()
                                }) {
                                    let latency = (time::OffsetDateTime::now_utc() - at).as_seconds_f64();
                                    latencies.lock().expect("latencies").push(latency);
                                }
                            }
                        }
                        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { port, delivered, first_latency }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn counts(&self) -> HashMap<String, usize> {
        self.delivered.lock().expect("counts").clone()
    }
}

fn events_wanted() -> usize {
    std::env::var("NEPHELE_WEBHOOK_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

/// The webhooks section of these tests: local receivers, quick retries, many attempts at once;
/// and the master key signing secrets are sealed with (the same on every replica).
const WEBHOOKS: &str = "secrets:\n  master_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nwebhooks:\n  allow_http: true\n  allow_private_networks: true\n  timeout_secs: 4\n  lease_secs: 6\n  concurrency: 600\n  max_in_flight_per_endpoint: 500\n  retry_delays_secs: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nevents:\n  poll_interval_ms: 100\n";

async fn add_webhook(http: &reqwest::Client, url: &str, key: &str, target: &str) {
    let made = http
        .post(format!("{url}/api/v1/webhooks"))
        .bearer_auth(key)
        .json(&json!({"url": target, "event_types": ["nephele.api_key.created"]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(made.status(), 201, "{}", made.text().await.unwrap_or_default());
}

/// Makes `n` API keys on `servers` (round robin), 32 at a time; returns how many were made
/// (requests to a killed server fail and are not counted).
async fn make_events(http: &reqwest::Client, servers: &[String], key: &str, n: usize) -> usize {
    let mut made = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(32) {
        let requests = chunk.iter().map(|i| {
            http.post(format!("{}/api/v1/keys", servers[i % servers.len()]))
                .bearer_auth(key)
                .json(&json!({"role": "viewer"}))
                .send()
        });
        made += join_all(requests)
            .await
            .into_iter()
            .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 201))
            .count();
    }
    made
}

/// Every `nephele.api_key.created` event's id, through the API.
async fn event_ids(http: &reqwest::Client, url: &str, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let page: Value = http
            .get(format!("{url}/api/v1/events?type=nephele.api_key.created&limit=1000{after}"))
            .bearer_auth(key)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let batch = page["events"].as_array().expect("events");
        if batch.is_empty() {
            return ids;
        }
        ids.extend(batch.iter().map(|e| e["id"].as_str().expect("id").to_owned()));
        after = format!("&after={}", page["next"].as_str().expect("next"));
    }
}

/// Waits until every id reached every receiver; returns the duplicates at each.
async fn wait_for_all(receivers: &[&Receiver], ids: &[String], within: Duration) -> Vec<usize> {
    let started = Instant::now();
    loop {
        let counts: Vec<_> = receivers.iter().map(|r| r.counts()).collect();
        let missing: Vec<usize> =
            counts.iter().map(|c| ids.iter().filter(|id| !c.contains_key(*id)).count()).collect();
        if missing.iter().all(|m| *m == 0) {
            for c in &counts {
                let strangers = c.keys().filter(|id| !ids.contains(id)).count();
                assert_eq!(strangers, 0, "only events' ids arrive");
            }
            return counts.iter().map(|c| c.values().map(|n| n - 1).sum()).collect();
        }
        assert!(started.elapsed() < within, "still missing at each endpoint after {within:?}: {missing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn p99(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get((samples.len() * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_delivery_delivers_every_event_to_every_endpoint_after_restart() {
    let n = events_wanted();
    let sim = simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/kill.db", dir.path().display());
    let config = write_config(dir.path(), &sim, &database_url, 5);
    std::fs::write(&config, format!("{}{WEBHOOKS}", std::fs::read_to_string(&config).expect("config")))
        .expect("config");
    let key = make_key(&config, "admin");
    let (ok, flaky, slow) = (
        Receiver::start(Behaviour::Ok).await,
        Receiver::start(Behaviour::Flaky).await,
        Receiver::start(Behaviour::Slow).await,
    );
    let http = reqwest::Client::new();
    let started = Instant::now();

    let first = Server::start(&config, &dir.path().join("first.log"));
    for receiver in [&ok, &flaky, &slow] {
        add_webhook(&http, &first.url, &key, &receiver.url()).await;
    }
    // The admin key's own event came before the webhooks: not for them.
    let earlier = event_ids(&http, &first.url, &key).await;
    let before_kill = make_events(&http, std::slice::from_ref(&first.url), &key, n / 2).await;
    // Mid-delivery: the slow endpoint has hardly started, the flaky one is retrying.
    first.kill_hard();
    let second = Server::start(&config, &dir.path().join("second.log"));
    let after_restart = make_events(&http, std::slice::from_ref(&second.url), &key, n - n / 2).await;
    let mut ids = event_ids(&http, &second.url, &key).await;
    ids.retain(|id| !earlier.contains(id));
    assert_eq!(ids.len(), before_kill + after_restart, "every accepted key has its event");
    let duplicates = wait_for_all(&[&ok, &flaky, &slow], &ids, Duration::from_secs(600)).await;
    eprintln!(
        "kill -9: {} events ({before_kill} before the kill) to 3 endpoints, all delivered in {:.1} s; duplicates (same webhook-id) ok/flaky/slow: {duplicates:?}",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_postgresql_deliver_each_event_once() {
    let n = events_wanted();
    let database = TestDatabase::create().await;
    let sim = simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &sim, &database.url, 5);
    std::fs::write(&config, format!("{}{WEBHOOKS}", std::fs::read_to_string(&config).expect("config")))
        .expect("config");
    let key = make_key(&config, "admin");
    let receiver = Receiver::start(Behaviour::Ok).await;
    let http = reqwest::Client::new();
    let a = Server::start(&config, &dir.path().join("a.log"));
    let b = Server::start(&config, &dir.path().join("b.log"));
    add_webhook(&http, &a.url, &key, &receiver.url()).await;
    let earlier = event_ids(&http, &a.url, &key).await;

    // Events at about 100 a second, half on each replica; latency is measured from the event's
    // time to its first arrival at the receiver.
    let started = Instant::now();
    let servers = [a.url.clone(), b.url.clone()];
    let mut made = 0;
    for second in 0..n.div_ceil(100) {
        made += make_events(&http, &servers, &key, 100.min(n - second * 100)).await;
        let due = Duration::from_secs(u64::try_from(second + 1).unwrap_or(u64::MAX));
        if let Some(rest) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let rate = made as f64 / started.elapsed().as_secs_f64();
    let mut ids = event_ids(&http, &b.url, &key).await;
    ids.retain(|id| !earlier.contains(id));
    assert_eq!(ids.len(), made);
    let duplicates = wait_for_all(&[&receiver], &ids, Duration::from_secs(300)).await;
    let latency = p99(receiver.first_latency.lock().expect("latencies").clone());
    eprintln!(
        "two replicas on PostgreSQL: {made} events at {rate:.0}/s, duplicates {}, event to first delivery p99 {:.0} ms",
        duplicates[0],
        latency * 1000.0
    );
    assert_eq!(duplicates[0], 0, "each event delivered once in the normal case");
    drop(a);
    drop(b);
    database.cleanup().await;
}
