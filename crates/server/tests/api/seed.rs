//! The original project's four requests, byte for byte, and the upstream calls they make.

use serde_json::Value;

use crate::helpers::{json, spawn_app_with};

#[tokio::test]
async fn the_seeds_four_requests_succeed_and_call_digitalocean_correctly() {
    let app = spawn_app_with(3, std::time::Duration::from_millis(100)).await;

    // curl http://localhost:8080/api/v1/providers/digitalocean/instances
    let list = app.get("/api/v1/providers/digitalocean/instances").await;
    assert_eq!(list.status(), 200);
    let list = json(list).await;
    let instances = list["instances"].as_array().expect("the original's wrapper");
    assert_eq!(instances.len(), 3);
    for key in ["id", "name", "status", "type", "region", "created_at", "tags", "public_ip", "private_ip"] {
        assert!(instances[0].get(key).is_some(), "the original's field {key}");
    }
    assert_eq!(app.upstream("droplets_list"), 1);

    // curl http://localhost:8080/api/v1/providers/digitalocean/regions
    let regions = json(app.get("/api/v1/providers/digitalocean/regions").await).await;
    let nyc1 =
        regions["regions"].as_array().expect("wrapper").iter().find(|r| r["id"] == "nyc1").expect("nyc1");
    assert_eq!(nyc1["name"], "nyc1");
    assert_eq!(nyc1["display_name"], "New York 1");
    assert_eq!(nyc1["status"], "available");
    assert_eq!(app.upstream("regions_list"), 1);

    // The create, with the seed's exact body.
    let create = app
        .http
        .post(app.url("/api/v1/providers/digitalocean/instances"))
        .header("Content-Type", "application/json")
        .body(
            r#"{
    "name": "my-droplet",
    "type": "s-1vcpu-1gb",
    "region": "nyc1",
    "image_id": "ubuntu-20-04-x64"
  }"#,
        )
        .send()
        .await
        .expect("create");
    assert_eq!(create.status(), 202);
    let location =
        create.headers().get("location").expect("a link to follow").to_str().expect("ascii").to_owned();
    let created = json(create).await;
    assert_eq!(created["name"], "my-droplet");
    assert_eq!(created["type"], "s-1vcpu-1gb");
    assert_eq!(created["region"], "nyc1");
    assert_eq!(created["image"], "ubuntu-20-04-x64");
    assert_eq!(created["status"], "provisioning");
    assert_eq!(created["links"]["self"], location);
    assert_eq!(app.upstream("droplets_create"), 1, "exactly one droplet create upstream");

    // The cost estimate, with the seed's exact body.
    let estimate = app
        .http
        .post(app.url("/api/v1/providers/digitalocean/cost-estimate"))
        .header("Content-Type", "application/json")
        .body(
            r#"{
    "instance_type": "s-1vcpu-1gb",
    "region": "nyc1",
    "duration": "1d"
  }"#,
        )
        .send()
        .await
        .expect("estimate");
    assert_eq!(estimate.status(), 200);
    let estimate: Value = json(estimate).await;
    assert_eq!(estimate["instance_type"], "s-1vcpu-1gb");
    assert_eq!(estimate["region"], "nyc1");
    assert_eq!(estimate["duration"], "1d");
    assert_eq!(estimate["currency"], "USD");
    assert!(estimate["cost"].is_number(), "the original's cost is a JSON number");
    assert_eq!(estimate["cost"].as_f64(), Some(0.21));
    assert_eq!(estimate["total"], "0.21");
    assert_eq!(app.upstream("sizes_list"), 1, "prices come from /v2/sizes");

    // Prices are cached: a second estimate costs no upstream call.
    app.post(
        "/api/v1/providers/digitalocean/cost-estimate",
        serde_json::json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "2h"}),
    )
    .await;
    assert_eq!(app.upstream("sizes_list"), 1);
}
