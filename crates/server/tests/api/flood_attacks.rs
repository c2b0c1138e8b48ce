//! What one anonymous (or merely busy) caller can cost: no provider budget for probes, a bounded
//! number of audit rows and idempotency keys, and no way to hold the server with connections.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Extra, TestApp, json, spawn_app_configured, spawn_app_extra};

const ESTIMATE: &str = "/api/v1/providers/digitalocean/cost-estimate";

/// Sends `count` requests, `concurrency` at a time, returning their statuses.
async fn flood(
    count: usize,
    concurrency: usize,
    send: impl Fn(usize) -> reqwest::RequestBuilder,
) -> Vec<u16> {
    futures_util::stream::iter((0..count).map(|i| {
        let request = send(i);
        async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await
}

async fn secured(extra: &str) -> (TestApp, Store) {
    let app =
        spawn_app_configured(3, Duration::from_millis(100), &format!("auth:\n  required: true\n{extra}"))
            .await;
    let store = Store::open(&app.database_url).await.expect("store");
    (app, store)
}

#[tokio::test]
async fn probes_spend_at_most_one_provider_call_per_interval() {
    let (app, store) = secured("").await;
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("key").key;

    let statuses = flood(300, 50, |_| app.http.get(app.url("/readyz"))).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(app.upstream("account_get") <= 2, "{} account_get calls", app.upstream("account_get"));

    let started = Instant::now();
    let list =
        app.http.get(app.url("/api/v1/providers/digitalocean/instances")).bearer_auth(&viewer).send().await;
    assert_eq!(list.expect("sent").status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2), "a viewer waited {:?}", started.elapsed());
}

#[tokio::test]
async fn anonymous_requests_write_a_bounded_number_of_audit_rows() {
    let (app, store) = secured("").await;
    let statuses = flood(2000, 50, |i| {
        let request = app.http.get(app.url("/api/v1/providers/digitalocean/instances"));
        if i % 2 == 0 { request } else { request.bearer_auth("nph_000000000000_forged") }
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let rows = store.count_audit().await.expect("count");
    assert!(rows <= 2, "2,000 anonymous requests wrote {rows} audit rows");
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("key").key;
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&viewer).send().await.expect("sent");
    let metrics = metrics.text().await.expect("text");
    assert!(metrics.contains("nephele_failed_authentications_total 2000"), "{metrics}");
}

fn estimate() -> serde_json::Value {
    json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1d"})
}

#[tokio::test]
async fn idempotent_estimates_keep_a_bounded_number_of_small_keys() {
    let (app, store) = secured("").await;
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("key").key;
    let send = |key: String| {
        app.http.post(app.url(ESTIMATE)).bearer_auth(&viewer).header("idempotency-key", key).json(&estimate())
    };
    let first = send("estimate-0".to_owned()).send().await.expect("sent");
    assert_eq!(first.status(), 200);
    let first = json(first).await;

    let statuses = flood(1000, 20, |i| send(format!("estimate-{}", i + 1))).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let kept = store.count_keys().await.expect("count");
    assert!(kept <= 100, "{kept} estimate keys kept for one API key");
    // What is stored: the database after its write-ahead log (scratch space SQLite reuses, about
    // 4 MiB at its auto-checkpoint) is written back into it.
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&app.database_url).await.expect("database");
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut db).await.expect("checkpoint");
    }
    let database = std::path::Path::new(app.database_url.trim_start_matches("sqlite://"));
    let bytes = std::fs::metadata(database).map(|m| m.len()).unwrap_or(0);
    assert!(bytes < 8 * 1024 * 1024, "the database holds {bytes} bytes after 1,000 estimates");

    // The newest keys replay the same answer, computed again from the stored start.
    let newest = send("estimate-1000".to_owned()).send().await.expect("sent");
    assert_eq!(newest.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    // The oldest was forgotten: answered afresh, for the same inputs.
    let again = send("estimate-0".to_owned()).send().await.expect("sent");
    assert!(again.headers().get("idempotent-replayed").is_none());
    assert_eq!(json(again).await["total"], first["total"]);
}

#[tokio::test]
async fn operations_keys_have_a_quota_and_large_answers_are_stored_as_a_reference() {
    let extra = "idempotency:\n  max_keys_per_api_key: 3\n  max_stored_response_bytes: 1024\n";
    let (app, store) = secured(extra).await;
    let operator = issue_key(&store, Role::Operator, None, None).await.expect("key").key;
    let create = |key: &str, name: &str| {
        app.http
            .post(app.url("/api/v1/providers/digitalocean/instances"))
            .bearer_auth(&operator)
            .header("idempotency-key", key)
            .json(&json!({"name": name, "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64", "count": 4}))
            .send()
    };
    for n in 1..=3 {
        let response = create(&format!("k{n}"), &format!("fleet{n}")).await.expect("sent");
        assert_eq!(response.status(), 202);
    }
    let refused = create("k4", "fleet4").await.expect("sent");
    assert_eq!(refused.status(), 429);
    assert_eq!(json(refused).await["code"], "idempotency_quota_exceeded");
    assert_eq!(app.upstream("droplets_create"), 3, "the refused request reached no provider");

    // Four droplets' answer is over 1 KiB: its replay is the operation's reference.
    let replay = create("k1", "fleet1").await.expect("sent");
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    let body = json(replay).await;
    assert!(body["operation"]["links"]["self"].is_string(), "{body}");
    assert_eq!(app.upstream("droplets_create"), 3, "and made nothing twice");
}

/// Reads until the server closes the connection; how long that took.
async fn time_to_close(mut stream: TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for 10 s"),
        }
    }
}

#[tokio::test]
async fn idle_and_half_sent_connections_cannot_lock_out_a_request() {
    let extra = Extra {
        server: "max_connections: 40\nheader_read_timeout_secs: 1",
        rest: "auth:\n  required: false\n",
        ..Extra::default()
    };
    let app = spawn_app_extra(0, Duration::from_millis(100), extra).await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Twice the limit: half say nothing, half send part of a request head and stop.
    let mut held = Vec::new();
    for i in 0..80 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        if i % 2 == 1 {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        }
        held.push(stream);
    }
    let started = Instant::now();
    let health =
        reqwest::Client::new().get(app.url("/healthz")).send().await.expect("a new request is served");
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1), "/healthz took {:?}", started.elapsed());

    // And the server lets go of what it still holds within the header timeout.
    let last = held.pop().expect("a half-sent connection");
    let waited = time_to_close(last).await;
    assert!(waited < Duration::from_secs(3), "a half-sent connection stayed {waited:?}");
    let idle = TcpStream::connect(&addr).await.expect("connect");
    let waited = time_to_close(idle).await;
    assert!(waited >= Duration::from_millis(800) && waited < Duration::from_secs(3), "idle for {waited:?}");
}
