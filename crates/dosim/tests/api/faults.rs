//! Fault injection through `/_sim/faults`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn faults_are_read_and_written_as_json_and_bad_settings_refused() {
    let app = spawn_sim(config()).await;
    let put = app
        .http
        .put(app.url("/_sim/faults"))
        .json(&json!({"error_rate": 0.2, "latency_ms": 5}))
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 200);
    let read = json(app.http.get(app.url("/_sim/faults")).send().await.expect("sent")).await;
    assert_eq!(read["error_rate"], 0.2);
    assert_eq!(read["latency_ms"], 5);
    assert_eq!(read["drop_rate"], 0.0);
    let bad =
        app.http.put(app.url("/_sim/faults")).json(&json!({"error_rate": 2})).send().await.expect("sent");
    assert_eq!(bad.status(), 400);
    let unknown =
        app.http.put(app.url("/_sim/faults")).json(&json!({"chaos": 1})).send().await.expect("sent");
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn injected_errors_are_5xx_and_change_nothing() {
    let app = spawn_sim(config()).await;
    app.sim.set_faults(dosim::Faults { error_rate: 1.0, ..Default::default() });
    let response = app
        .post("/v2/droplets", json!({"name": "x", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}))
        .await;
    assert!([500, 502, 503].contains(&response.status().as_u16()));
    assert!(json(response).await["message"].is_string());
    app.sim.set_faults(dosim::Faults::default());
    assert_eq!(json(app.get("/v2/droplets").await).await["meta"]["total"], 0);
}

#[tokio::test]
async fn a_dropped_connection_loses_the_answer_but_not_the_work() {
    let app = spawn_sim(config()).await;
    app.sim.set_faults(dosim::Faults { drop_rate: 1.0, ..Default::default() });
    let result = app
        .http
        .post(app.url("/v2/droplets"))
        .bearer_auth(crate::helpers::TOKEN)
        .json(&json!({"name": "ghost", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}))
        .send()
        .await;
    assert!(result.is_err(), "the client must see a transport error, got {result:?}");
    app.sim.set_faults(dosim::Faults::default());
    let list = json(app.get("/v2/droplets?name=ghost").await).await;
    assert_eq!(list["meta"]["total"], 1, "the droplet was made even though the answer was lost");
    assert_eq!(app.sim.stats().dropped_connections, 1);
}

#[tokio::test]
async fn latency_is_added_to_every_response() {
    let app = spawn_sim(config()).await;
    app.sim.set_faults(dosim::Faults { latency_ms: 120, ..Default::default() });
    let started = Instant::now();
    assert_eq!(app.get("/v2/regions").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(120));
}
