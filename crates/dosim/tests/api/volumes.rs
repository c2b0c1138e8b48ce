//! Volumes: names unique per region, attaching within a region, detaching when the droplet
//! goes, growing only, and no delete while attached.

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn a_volume_is_created_found_by_id_and_listed_by_name_and_region() {
    let app = spawn_sim(config()).await;
    let response = app
        .post(
            "/v2/volumes",
            json!({"name": "data", "size_gigabytes": 100, "region": "nyc1", "description": "d",
                   "filesystem_type": "ext4", "filesystem_label": "data", "tags": ["db"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created = json(response).await;
    let id = created["volume"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["volume"]["size_gigabytes"], 100);
    assert_eq!(created["volume"]["region"]["slug"], "nyc1");
    assert_eq!(created["volume"]["droplet_ids"], json!([]));
    assert_eq!(created["volume"]["tags"], json!(["db"]));

    // "You can only create one volume per region with the same name."
    let again =
        app.post("/v2/volumes", json!({"name": "data", "size_gigabytes": 10, "region": "nyc1"})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(json(again).await["id"], "conflict");
    app.volume("data", 10, "fra1").await;

    let got = json(app.get(&format!("/v2/volumes/{id}")).await).await;
    assert_eq!(got["volume"]["name"], "data");
    let by_name = json(app.get("/v2/volumes?name=data").await).await;
    assert_eq!(by_name["meta"]["total"], 2);
    let by_both = json(app.get("/v2/volumes?name=data&region=nyc1").await).await;
    assert_eq!(by_both["meta"]["total"], 1);
    assert_eq!(by_both["volumes"][0]["id"], id.as_str());
    assert_eq!(app.get("/v2/volumes?region=atlantis").await.status(), 400);
    assert_eq!(app.get("/v2/volumes/no-such-volume").await.status(), 404);
}

#[tokio::test]
async fn volume_creates_are_checked_like_digitaloceans() {
    let app = spawn_sim(config()).await;
    for (case, body) in [
        ("uppercase name", json!({"name": "Data", "size_gigabytes": 10, "region": "nyc1"})),
        ("name starting with a digit", json!({"name": "1data", "size_gigabytes": 10, "region": "nyc1"})),
        ("no size", json!({"name": "data", "region": "nyc1"})),
        ("zero size", json!({"name": "data", "size_gigabytes": 0, "region": "nyc1"})),
        ("over 16 TiB", json!({"name": "data", "size_gigabytes": 16385, "region": "nyc1"})),
        ("unknown region", json!({"name": "data", "size_gigabytes": 10, "region": "mars1"})),
        (
            "label without a type",
            json!({"name": "data", "size_gigabytes": 10, "region": "nyc1", "filesystem_label": "x"}),
        ),
        (
            "xfs label over 12",
            json!({"name": "data", "size_gigabytes": 10, "region": "nyc1", "filesystem_type": "xfs", "filesystem_label": "thirteen-char"}),
        ),
        (
            "unknown snapshot",
            json!({"name": "data", "size_gigabytes": 10, "region": "nyc1", "snapshot_id": "nope"}),
        ),
    ] {
        let response = app.post("/v2/volumes", body).await;
        assert_eq!(response.status(), 422, "{case}");
    }
    assert_eq!(json(app.get("/v2/volumes").await).await["meta"]["total"], 0, "nothing was created");
}

#[tokio::test]
async fn attaching_needs_the_same_region_and_a_volume_attached_to_nothing() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "nyc1").await;
    let other = app.active_droplet("other", "nyc1").await;
    let far = app.active_droplet("far", "fra1").await;
    let volume = app.volume("data", 50, "nyc1").await;

    let wrong_region = app.volume_action(&volume, json!({"type": "attach", "droplet_id": far})).await;
    assert_eq!(wrong_region.status(), 422);
    let missing = app.volume_action(&volume, json!({"type": "attach", "droplet_id": 42})).await;
    assert_eq!(missing.status(), 422, "a droplet named in the body that does not exist");

    let attach =
        app.volume_action(&volume, json!({"type": "attach", "droplet_id": web, "region": "nyc1"})).await;
    assert_eq!(attach.status(), 202);
    let action = json(attach).await;
    assert_eq!(action["action"]["type"], "attach_volume");
    assert_eq!(action["action"]["resource_type"], "volume");
    assert_eq!(
        json(app.get(&format!("/v2/volumes/{volume}")).await).await["volume"]["droplet_ids"],
        json!([web])
    );
    let droplet = json(app.get(&format!("/v2/droplets/{web}")).await).await;
    assert_eq!(droplet["droplet"]["volume_ids"], json!([volume]));

    let taken = app.volume_action(&volume, json!({"type": "attach", "droplet_id": other})).await;
    assert_eq!(taken.status(), 422, "a volume attaches to one droplet");
    let not_there = app.volume_action(&volume, json!({"type": "detach", "droplet_id": other})).await;
    assert_eq!(not_there.status(), 404, "DigitalOcean: volume is not attached to droplet");

    let detach = app.volume_action(&volume, json!({"type": "detach", "droplet_id": web})).await;
    assert_eq!(detach.status(), 202);
    assert_eq!(json(app.get(&format!("/v2/droplets/{web}")).await).await["droplet"]["volume_ids"], json!([]));
    let actions = json(app.get(&format!("/v2/volumes/{volume}/actions")).await).await;
    assert_eq!(actions["meta"]["total"], 2);
    let action_id = actions["actions"][1]["id"].as_u64().expect("id");
    let one = json(app.get(&format!("/v2/volumes/{volume}/actions/{action_id}")).await).await;
    assert_eq!(one["action"]["type"], "detach_volume");
    app.wait_until(&format!("/v2/actions/{action_id}"), "completed", |b| {
        b["action"]["status"] == "completed"
    })
    .await;
}

#[tokio::test]
async fn attach_and_detach_by_name_need_the_volumes_region() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "sfo3").await;
    let volume = app.volume("logs", 10, "sfo3").await;
    let by_name = |kind: &str, region: &str| json!({"type": kind, "volume_name": "logs", "region": region, "droplet_id": web});
    assert_eq!(app.post("/v2/volumes/actions", by_name("attach", "nyc1")).await.status(), 422);
    assert_eq!(app.post("/v2/volumes/actions", by_name("attach", "sfo3")).await.status(), 202);
    assert_eq!(
        json(app.get(&format!("/v2/volumes/{volume}")).await).await["volume"]["droplet_ids"],
        json!([web])
    );
    assert_eq!(app.post("/v2/volumes/actions", by_name("detach", "sfo3")).await.status(), 202);
    assert_eq!(
        json(app.get(&format!("/v2/volumes/{volume}")).await).await["volume"]["droplet_ids"],
        json!([])
    );
}

#[tokio::test]
async fn a_volume_on_a_deleted_droplet_is_detached_and_stays() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "nyc1").await;
    let volume = app.volume("data", 100, "nyc1").await;
    assert_eq!(app.volume_action(&volume, json!({"type": "attach", "droplet_id": web})).await.status(), 202);
    assert_eq!(app.delete(&format!("/v2/droplets/{web}")).await.status(), 204);
    let left = json(app.get(&format!("/v2/volumes/{volume}")).await).await;
    assert_eq!(left["volume"]["droplet_ids"], json!([]), "detached, not deleted");
    assert_eq!(left["volume"]["size_gigabytes"], 100);
    // Now it can be deleted, which an attached volume cannot.
    assert_eq!(app.delete(&format!("/v2/volumes/{volume}")).await.status(), 204);
}

#[tokio::test]
async fn an_attached_volume_cannot_be_deleted() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "nyc1").await;
    let volume = app.volume("data", 10, "nyc1").await;
    app.volume_action(&volume, json!({"type": "attach", "droplet_id": web})).await;
    let refused = app.delete(&format!("/v2/volumes/{volume}")).await;
    assert_eq!(refused.status(), 409);
    let by_name = app.delete("/v2/volumes?name=data&region=nyc1").await;
    assert_eq!(by_name.status(), 409);
    app.volume_action(&volume, json!({"type": "detach", "droplet_id": web})).await;
    assert_eq!(app.delete("/v2/volumes?name=data&region=nyc1").await.status(), 204);
    assert_eq!(app.get(&format!("/v2/volumes/{volume}")).await.status(), 404);
    assert_eq!(app.delete("/v2/volumes?name=data").await.status(), 422, "a name alone names no volume");
}

#[tokio::test]
async fn volumes_only_grow_and_at_most_to_16_tib() {
    let app = spawn_sim(config()).await;
    let volume = app.volume("data", 100, "nyc1").await;
    for (gib, expected) in [(50, 422), (100, 422), (16_385, 422), (200, 202), (16_384, 202)] {
        let response = app.volume_action(&volume, json!({"type": "resize", "size_gigabytes": gib})).await;
        assert_eq!(response.status(), expected, "resize to {gib}");
    }
    let grown = json(app.get(&format!("/v2/volumes/{volume}")).await).await;
    assert_eq!(grown["volume"]["size_gigabytes"], 16_384);
    let by_name = app
        .post(
            "/v2/volumes/actions",
            json!({"type": "resize", "size_gigabytes": 20000, "volume_name": "data", "region": "nyc1"}),
        )
        .await;
    assert_eq!(by_name.status(), 422, "only attach and detach go by name");
}

#[tokio::test]
async fn a_droplet_create_attaches_the_volumes_it_names() {
    let app = spawn_sim(config()).await;
    let here = app.volume("here", 10, "nyc1").await;
    let there = app.volume("there", 10, "fra1").await;
    let create = |volumes: Vec<&str>| json!({"name": "web", "size": "s-1vcpu-1gb", "region": "nyc1", "image": "ubuntu-24-04-x64", "volumes": volumes});
    assert_eq!(app.post("/v2/droplets", create(vec![&there])).await.status(), 422, "another region");
    assert_eq!(app.post("/v2/droplets", create(vec!["no-such"])).await.status(), 422);
    let made = json(app.post("/v2/droplets", create(vec![&here])).await).await;
    let id = made["droplet"]["id"].as_u64().expect("id");
    assert_eq!(made["droplet"]["volume_ids"], json!([here]));
    assert_eq!(
        json(app.get(&format!("/v2/volumes/{here}")).await).await["volume"]["droplet_ids"],
        json!([id])
    );
    assert_eq!(app.post("/v2/droplets", create(vec![&here])).await.status(), 422, "already attached");
}
