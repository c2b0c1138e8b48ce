//! Regions, sizes, images, account and SSH keys.

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn regions_and_sizes_carry_current_prices_as_the_api_sends_them() {
    let app = spawn_sim(config()).await;
    let regions = json(app.get("/v2/regions").await).await;
    let slugs: Vec<_> =
        regions["regions"].as_array().expect("list").iter().map(|r| r["slug"].clone()).collect();
    for expected in ["nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "sgp1", "tor1", "blr1", "syd1"] {
        assert!(slugs.contains(&json!(expected)), "{expected} missing");
    }
    assert_eq!(regions["meta"]["total"], 10);

    let sizes = json(app.get("/v2/sizes?per_page=200").await).await;
    let small = sizes["sizes"]
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["slug"] == "s-1vcpu-1gb")
        .expect("s-1vcpu-1gb");
    assert_eq!(small["price_monthly"], 6.0);
    let hourly = small["price_hourly"].as_f64().expect("number");
    assert!((hourly - 0.00893).abs() < 1e-7, "{hourly}");
}

#[tokio::test]
async fn images_filter_by_type_and_privacy_and_resolve_by_slug_or_id() {
    let app = spawn_sim(config()).await;
    let distributions = json(app.get("/v2/images?type=distribution&per_page=200").await).await;
    let slugs: Vec<_> =
        distributions["images"].as_array().expect("list").iter().map(|i| i["slug"].clone()).collect();
    assert!(slugs.contains(&json!("ubuntu-20-04-x64")), "the seed's image must exist");
    assert!(!slugs.contains(&json!("docker-20-04")), "applications are not distributions");

    let by_slug = json(app.get("/v2/images/ubuntu-24-04-x64").await).await;
    let id = by_slug["image"]["id"].as_u64().expect("id");
    let by_id = json(app.get(&format!("/v2/images/{id}")).await).await;
    assert_eq!(by_id["image"]["slug"], "ubuntu-24-04-x64");

    let custom = app
        .post("/v2/images", json!({"name": "golden", "url": "https://example.com/golden.img", "region": "nyc3", "distribution": "Ubuntu"}))
        .await;
    assert_eq!(custom.status(), 202);
    let private = json(app.get("/v2/images?private=true").await).await;
    assert_eq!(private["meta"]["total"], 1);
    assert_eq!(private["images"][0]["name"], "golden");
    assert_eq!(app.get("/v2/images?type=sideways").await.status(), 400);
}

#[tokio::test]
async fn ssh_keys_are_created_once_and_listing_them_has_its_own_limit() {
    let app = spawn_sim(config()).await;
    let key =
        json!({"name": "laptop", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc0mPyxXzTQ me@laptop"});
    let created = app.post("/v2/account/keys", key.clone()).await;
    assert_eq!(created.status(), 201);
    let body = json(created).await;
    assert!(body["ssh_key"]["fingerprint"].as_str().expect("fingerprint").contains(':'));
    assert_eq!(app.post("/v2/account/keys", key).await.status(), 422, "duplicate key");
    assert_eq!(
        app.post("/v2/account/keys", json!({"name": "x", "public_key": "nonsense"})).await.status(),
        422
    );

    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(app.get("/v2/account/keys").await.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[200; 10]);
    assert_eq!(statuses[10], 429, "the 11th listing within a minute is refused");
    assert_eq!(app.get("/v2/account").await.status(), 200, "other endpoints are unaffected");
}

#[tokio::test]
async fn an_ssh_key_is_found_by_id_or_fingerprint_renamed_and_deleted() {
    let app = spawn_sim(config()).await;
    let created = app
        .post(
            "/v2/account/keys",
            json!({"name": "laptop", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyBody me@laptop"}),
        )
        .await;
    let key = json(created).await["ssh_key"].clone();
    let id = key["id"].as_u64().expect("id");
    let fingerprint = key["fingerprint"].as_str().expect("fingerprint");
    assert_eq!(json(app.get(&format!("/v2/account/keys/{fingerprint}")).await).await["ssh_key"]["id"], id);
    let renamed = app.put(&format!("/v2/account/keys/{id}"), json!({"name": "desktop"})).await;
    assert_eq!(json(renamed).await["ssh_key"]["name"], "desktop");
    assert_eq!(app.put(&format!("/v2/account/keys/{id}"), json!({"name": " "})).await.status(), 422);
    assert_eq!(app.delete(&format!("/v2/account/keys/{fingerprint}")).await.status(), 204);
    assert_eq!(app.get(&format!("/v2/account/keys/{id}")).await.status(), 404);
}
