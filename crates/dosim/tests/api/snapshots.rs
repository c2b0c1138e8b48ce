//! Snapshots of volumes and droplets: listed together, and outliving what they were taken from.

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn a_volume_snapshot_outlives_its_volume_and_seeds_a_new_one() {
    let app = spawn_sim(config()).await;
    let volume = app.volume("data", 100, "nyc1").await;
    let response = app
        .post(&format!("/v2/volumes/{volume}/snapshots"), json!({"name": "nightly", "tags": ["keep"]}))
        .await;
    assert_eq!(response.status(), 201);
    let snapshot = json(response).await["snapshot"].clone();
    let id = snapshot["id"].as_str().expect("id").to_owned();
    assert_eq!(snapshot["resource_type"], "volume");
    assert_eq!(snapshot["resource_id"], volume.as_str());
    assert_eq!(snapshot["min_disk_size"], 100);
    assert_eq!(snapshot["regions"], json!(["nyc1"]));
    assert_eq!(json(app.get(&format!("/v2/volumes/{volume}/snapshots")).await).await["meta"]["total"], 1);

    assert_eq!(app.delete(&format!("/v2/volumes/{volume}")).await.status(), 204);
    let kept = json(app.get(&format!("/v2/volumes/snapshots/{id}")).await).await;
    assert_eq!(kept["snapshot"]["name"], "nightly");
    let listed = json(app.get("/v2/snapshots?resource_type=volume").await).await;
    assert_eq!(listed["meta"]["total"], 1);
    assert_eq!(json(app.get("/v2/snapshots?resource_type=droplet").await).await["meta"]["total"], 0);

    // A volume made from it takes its size, whatever the request says.
    let restored = app
        .post(
            "/v2/volumes",
            json!({"name": "restored", "size_gigabytes": 1, "region": "nyc1", "snapshot_id": id}),
        )
        .await;
    assert_eq!(restored.status(), 201);
    assert_eq!(json(restored).await["volume"]["size_gigabytes"], 100);
    let elsewhere = app
        .post(
            "/v2/volumes",
            json!({"name": "restored", "size_gigabytes": 1, "region": "fra1", "snapshot_id": id}),
        )
        .await;
    assert_eq!(elsewhere.status(), 422, "a snapshot lives in one region");

    assert_eq!(app.delete(&format!("/v2/snapshots/{id}")).await.status(), 204);
    assert_eq!(app.get(&format!("/v2/volumes/snapshots/{id}")).await.status(), 404);
}

#[tokio::test]
async fn a_droplet_snapshot_outlives_its_droplet_and_is_one_of_its_images() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "nyc1").await;
    let action =
        app.post(&format!("/v2/droplets/{web}/actions"), json!({"type": "snapshot", "name": "before"})).await;
    assert_eq!(action.status(), 201);
    let listed = json(app.get(&format!("/v2/droplets/{web}/snapshots")).await).await;
    assert_eq!(listed["meta"]["total"], 1);
    let id = listed["snapshots"][0]["id"].as_u64().expect("numeric id here");
    assert_eq!(listed["snapshots"][0]["type"], "snapshot");
    assert_eq!(json(app.get(&format!("/v2/droplets/{web}/backups")).await).await["backups"], json!([]));
    app.wait_until(&format!("/v2/droplets/{web}"), "active", |b| {
        !b["droplet"]["locked"].as_bool().unwrap_or(true)
    })
    .await;

    assert_eq!(app.delete(&format!("/v2/droplets/{web}")).await.status(), 204);
    assert_eq!(app.get(&format!("/v2/droplets/{web}/snapshots")).await.status(), 404);
    let kept = json(app.get(&format!("/v2/snapshots/{id}")).await).await;
    assert_eq!(kept["snapshot"]["id"], id.to_string(), "a string id in /v2/snapshots");
    assert_eq!(kept["snapshot"]["resource_id"], web.to_string());
    assert_eq!(kept["snapshot"]["resource_type"], "droplet");
    assert_eq!(json(app.get("/v2/images?private=true").await).await["meta"]["total"], 1);

    assert_eq!(app.delete(&format!("/v2/snapshots/{id}")).await.status(), 204);
    assert_eq!(json(app.get("/v2/images?private=true").await).await["meta"]["total"], 0);
    assert_eq!(app.get(&format!("/v2/snapshots/{id}")).await.status(), 404);
}

#[tokio::test]
async fn a_custom_image_is_not_a_snapshot() {
    let app = spawn_sim(config()).await;
    let image = app
        .post("/v2/images", json!({"name": "img", "url": "https://example.com/i.img", "region": "nyc1"}))
        .await;
    let id = json(image).await["image"]["id"].as_u64().expect("id");
    let response = app.get(&format!("/v2/snapshots/{id}")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["message"], "the resource is not a snapshot");
    assert_eq!(app.delete(&format!("/v2/snapshots/{id}")).await.status(), 400);
    assert_eq!(app.get("/v2/snapshots?resource_type=image").await.status(), 400);
}
