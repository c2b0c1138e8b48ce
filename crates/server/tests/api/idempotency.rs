//! Idempotency keys and operations: retried requests are harmless, and what was accepted is
//! carried to its end.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{json, spawn_app};

const CREATE: &str = "/api/v1/providers/digitalocean/instances";

fn body() -> Value {
    json!({"name": "once", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_posts_with_one_key_create_one_droplet() {
    let app = spawn_app().await;
    let send = || app.http.post(app.url(CREATE)).header("Idempotency-Key", "key-50").json(&body()).send();
    let responses = join_all((0..50).map(|_| send())).await;
    let mut bodies = Vec::new();
    for response in responses {
        let response = response.expect("sent");
        assert_eq!(response.status(), 202);
        bodies.push(response.text().await.expect("body"));
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "every caller got the same answer");
    assert_eq!(app.upstream("droplets_create"), 1, "one create reached DigitalOcean");
    let droplets = json(app.get(CREATE).await).await;
    assert_eq!(droplets["instances"].as_array().expect("list").len(), 1, "exactly one droplet");

    // After completion: the identical response, marked as a replay.
    let retry = send().await.expect("sent");
    assert_eq!(retry.status(), 202);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.text().await.expect("body"), bodies[0]);

    // The same key for another request is refused.
    let mut other = body();
    other["name"] = json!("twice");
    let reused = app
        .http
        .post(app.url(CREATE))
        .header("Idempotency-Key", "key-50")
        .json(&other)
        .send()
        .await
        .expect("sent");
    assert_eq!(reused.status(), 422);
    assert_eq!(json(reused).await["code"], "idempotency_key_reused");
    assert_eq!(app.upstream("droplets_create"), 1);
}

#[tokio::test]
async fn a_cost_estimate_with_a_key_is_replayed_exactly() {
    let app = spawn_app().await;
    let ask = |duration: &str| {
        app.http
            .post(app.url("/api/v1/providers/digitalocean/cost-estimate"))
            .header("Idempotency-Key", "estimate-1")
            .json(&json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": duration}))
            .send()
    };
    let first = ask("1d").await.expect("sent").text().await.expect("body");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = ask("1d").await.expect("sent");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.expect("body"), first, "same start, same answer");
    assert_eq!(ask("2d").await.expect("sent").status(), 422);
}

#[tokio::test]
async fn an_operation_is_recorded_and_followed_to_its_end() {
    let app = spawn_app().await;
    let created = json(app.post(CREATE, body()).await).await;
    let operation_id = created["operation"]["id"].as_str().expect("operation id").to_owned();
    assert_eq!(created["operation"]["state"], "running", "the provider accepted it");
    let finished = app.wait_for_operation(&operation_id, None).await;
    assert_eq!(finished["state"], "succeeded");
    assert_eq!(finished["kind"], "create");
    assert_eq!(finished["provider"], "digitalocean");
    assert_eq!(finished["result"]["instance_ids"][0], created["id"]);
    let listed = json(app.get("/api/v1/operations?state=succeeded").await).await;
    assert!(listed["operations"].as_array().expect("list").iter().any(|o| o["id"] == operation_id.as_str()));
    assert_eq!(app.get("/api/v1/operations?state=sideways").await.status(), 422);
}

#[tokio::test]
async fn a_create_accepted_during_an_outage_is_finished_by_the_worker() {
    let app = spawn_app().await;
    app.sim.set_faults(dosim::Faults { error_rate: 1.0, ..Default::default() });
    // The catalogue must load first (it is cached), so warm it before the outage bites.
    app.sim.set_faults(dosim::Faults::default());
    assert_eq!(app.get("/api/v1/providers/digitalocean/instance-types").await.status(), 200);
    assert_eq!(app.get("/api/v1/providers/digitalocean/regions").await.status(), 200);
    assert_eq!(app.get("/api/v1/providers/digitalocean/images").await.status(), 200);
    app.sim.set_faults(dosim::Faults { error_rate: 1.0, ..Default::default() });

    let accepted = app.post(CREATE, body()).await;
    assert_eq!(accepted.status(), 202, "accepted even though DigitalOcean is down");
    let accepted = json(accepted).await;
    assert_eq!(accepted["operation"]["state"], "pending");
    let operation_id = accepted["operation"]["id"].as_str().expect("id").to_owned();

    app.sim.set_faults(dosim::Faults::default());
    let finished = app.wait_for_operation(&operation_id, None).await;
    assert_eq!(finished["state"], "succeeded");
    assert!(finished["attempts"].as_i64().expect("attempts") >= 2, "{finished}");
    let droplets = json(app.get(CREATE).await).await;
    assert_eq!(droplets["instances"].as_array().expect("list").len(), 1, "made once, not lost");
}

#[tokio::test]
async fn a_refused_create_fails_with_the_providers_reason() {
    let app = spawn_app().await;
    let mut b = body();
    b["ssh_keys"] = json!([424242]);
    let refused = app.post(CREATE, b).await;
    assert_eq!(refused.status(), 422);
    let failed = json(app.get("/api/v1/operations?state=failed").await).await;
    let op = &failed["operations"][0];
    assert_eq!(op["kind"], "create");
    assert!(op["error"]["message"].as_str().expect("reason").contains("key"), "{op}");
}

/// The header takes exactly what the document's pattern allows: a bare key, or the draft's
/// quoted form (the same key); anything else is a 422 naming the header, before anything runs.
#[tokio::test]
async fn an_idempotency_key_is_held_to_its_documented_grammar() {
    let app = spawn_app().await;
    let estimate = |key: &str| {
        app.http
            .post(app.url("/api/v1/providers/digitalocean/cost-estimate"))
            .header("Idempotency-Key", key)
            .json(&json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1d"}))
            .send()
    };
    let too_long = "k".repeat(256);
    for bad in ["\"", "\"\"", "\"abc", "\"a\"b\"", "\"a\\b\"", too_long.as_str()] {
        let refused = estimate(bad).await.expect("sent");
        assert_eq!(refused.status(), 422, "{bad:?}");
        let problem = json(refused).await;
        assert_eq!(problem["errors"][0]["field"], "Idempotency-Key", "{bad:?}: {problem}");
    }
    assert_eq!(estimate("quoted-1").await.expect("sent").status(), 200);
    let quoted = estimate("\"quoted-1\"").await.expect("sent");
    assert_eq!(quoted.status(), 200);
    assert_eq!(quoted.headers()["idempotent-replayed"], "true", "quoted and bare are one key");
}
