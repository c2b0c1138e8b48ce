//! Create -> running -> off -> on -> deleted, one instance and five, with the fleet and costs
//! following every step.

use serde_json::{Value, json};

use crate::helpers::{TestApp, json, spawn_app};

async fn fleet(app: &TestApp) -> Value {
    json(app.get("/api/v1/instances").await).await
}

async fn costs(app: &TestApp) -> Value {
    json(app.get("/api/v1/costs").await).await
}

/// Starts `action` on `id`; answers its operation's id.
async fn power(app: &TestApp, id: &str, action: &str) -> String {
    let response = app
        .post(&format!("/api/v1/providers/digitalocean/instances/{id}/actions"), json!({"type": action}))
        .await;
    assert_eq!(response.status(), 202, "{action}");
    let body = json(response).await;
    assert_eq!(body["action"]["type"], action);
    assert_eq!(body["action"]["instance_id"], id);
    body["operation_id"].as_str().expect("operation").to_owned()
}

/// Starts `action` on `id` and waits until its operation has succeeded.
async fn power_and_wait(app: &TestApp, id: &str, action: &str) {
    let operation = power(app, id, action).await;
    assert_eq!(app.wait_for_operation(&operation, None).await["state"], "succeeded", "{action} {id}");
}

#[tokio::test]
async fn one_instance_through_its_whole_life() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/providers/digitalocean/instances",
            json!({"name": "web-1", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64", "tags": ["web"]}),
        )
        .await;
    assert_eq!(created.status(), 202);
    let created = json(created).await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(created["operation_id"].is_string());

    let running = app.wait_for_status(&id, "running").await;
    assert!(running["public_ip"].is_string());
    let view = fleet(&app).await;
    assert_eq!(view["instances"].as_array().expect("list").len(), 1);
    assert_eq!(view["instances"][0]["provider"], "digitalocean");
    let spend = costs(&app).await;
    assert_eq!(spend["instances"], 1);
    assert_eq!(spend["run_rate"]["hourly"], "0.00893");
    assert_eq!(spend["run_rate"]["monthly"], "6.00");
    assert_eq!(spend["by_type"][0]["type"], "s-1vcpu-1gb");

    power(&app, &id, "power_off").await;
    app.wait_for_status(&id, "stopped").await;
    let filtered = json(app.get("/api/v1/instances?status=stopped").await).await;
    assert_eq!(filtered["instances"].as_array().expect("list").len(), 1);
    // A powered-off droplet is still billed.
    assert_eq!(costs(&app).await["run_rate"]["monthly"], "6.00");

    power(&app, &id, "power_on").await;
    app.wait_for_status(&id, "running").await;

    let deleted = app.delete(&format!("/api/v1/providers/digitalocean/instances/{id}")).await;
    assert_eq!(deleted.status(), 204);
    let gone = app.get(&format!("/api/v1/providers/digitalocean/instances/{id}")).await;
    assert_eq!(gone.status(), 404);
    let again = app.delete(&format!("/api/v1/providers/digitalocean/instances/{id}")).await;
    assert_eq!(again.status(), 404, "deleting what is gone is a 404, not a 500");
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    assert_eq!(fleet(&app).await["instances"].as_array().expect("list").len(), 0);
    let spend = costs(&app).await;
    assert_eq!(spend["instances"], 0);
    assert_eq!(spend["run_rate"]["monthly"], "0.00");
}

#[tokio::test]
async fn five_instances_with_count() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/providers/digitalocean/instances",
            json!({"name": "batch", "type": "s-2vcpu-4gb", "region": "fra1", "image_id": "debian-12-x64", "count": 5}),
        )
        .await;
    assert_eq!(created.status(), 202);
    let created = json(created).await;
    let ids: Vec<String> = created["instances"]
        .as_array()
        .expect("five")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    let names: Vec<_> =
        created["instances"].as_array().expect("five").iter().map(|i| i["name"].clone()).collect();
    assert_eq!(names, ["batch-1", "batch-2", "batch-3", "batch-4", "batch-5"].map(|n| json!(n)));
    assert_eq!(app.upstream("droplets_create"), 1, "one multi-create upstream");

    for id in &ids {
        app.wait_for_status(id, "running").await;
    }
    let spend = costs(&app).await;
    assert_eq!(spend["instances"], 5);
    assert_eq!(spend["run_rate"]["monthly"], "120.00", "5 x $24");
    assert_eq!(spend["by_region"][0]["region"], "fra1");

    // One action at a time: each is followed by the worker until it completes, and a key with
    // its share of steps under way (`max_in_flight_per_key`) gets a 202 without the action yet,
    // which `power` would not accept.
    for id in &ids {
        power_and_wait(&app, id, "shutdown").await;
    }
    for id in &ids {
        app.wait_for_status(id, "stopped").await;
    }
    assert_eq!(
        json(app.get("/api/v1/instances?status=running").await).await["instances"]
            .as_array()
            .expect("list")
            .len(),
        0
    );
    // Waiting for each action, not only for the status, also keeps the deletes below off a busy
    // instance (an instance may show running a moment before its action is over; a delete then
    // gets 409).
    for id in &ids {
        power_and_wait(&app, id, "power_on").await;
    }
    for id in &ids {
        app.wait_for_status(id, "running").await;
    }
    for id in &ids {
        assert_eq!(app.delete(&format!("/api/v1/providers/digitalocean/instances/{id}")).await.status(), 204);
    }
    assert_eq!(fleet(&app).await["instances"].as_array().expect("list").len(), 0);
    assert_eq!(costs(&app).await["instances"], 0);
}

#[tokio::test]
async fn acting_on_a_booting_instance_is_a_conflict() {
    let app = spawn_app().await;
    let created = json(
        app.post(
            "/api/v1/providers/digitalocean/instances",
            json!({"name": "busy", "type": "s-1vcpu-1gb", "image_id": "ubuntu-24-04-x64"}),
        )
        .await,
    )
    .await;
    assert_eq!(created["region"], "nyc1", "the configured default region");
    let id = created["id"].as_str().expect("id");
    let response = app
        .post(&format!("/api/v1/providers/digitalocean/instances/{id}/actions"), json!({"type": "power_off"}))
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(json(response).await["code"], "conflict");
}
