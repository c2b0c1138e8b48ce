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
