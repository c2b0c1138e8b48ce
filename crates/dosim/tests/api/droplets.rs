//! Droplet creation, validation, listing, filters, pagination and deletion.

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn requests_without_a_known_token_get_digitaloceans_401() {
    let app = spawn_sim(config()).await;
    let anonymous = app.http.get(app.url("/v2/droplets")).send().await.expect("sent");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("ratelimit-limit"));
    let body = json(anonymous).await;
    assert_eq!(body["id"], "unauthorized");
    assert_eq!(body["message"], "Unable to authenticate you.");
    let wrong = app.http.get(app.url("/v2/droplets")).bearer_auth("nope").send().await.expect("sent");
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn create_validates_like_digitalocean_with_422s() {
    let app = spawn_sim(config()).await;
    let base = json!({"size": "s-1vcpu-1gb", "region": "nyc1", "image": "ubuntu-24-04-x64"});
    let with = |extra: serde_json::Value| {
        let mut body = base.clone();
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        body
    };
    for (case, body) in [
        ("underscore in name", with(json!({"name": "bad_name"}))),
        ("trailing dot", with(json!({"name": "web."}))),
        ("unknown size", with(json!({"name": "ok", "size": "s-99vcpu"}))),
        ("unknown region", with(json!({"name": "ok", "region": "mars1"}))),
        ("unknown image", with(json!({"name": "ok", "image": "windows-95"}))),
        ("eleven names", with(json!({"names": (0..11).map(|i| format!("n{i}")).collect::<Vec<_>>()}))),
        ("user data over 64 KiB", with(json!({"name": "ok", "user_data": "x".repeat(64 * 1024 + 1)}))),
        ("no name", base.clone()),
    ] {
        let response = app.post("/v2/droplets", body).await;
        assert_eq!(response.status(), 422, "{case}");
        assert_eq!(json(response).await["id"], "unprocessable_entity", "{case}");
    }
    let malformed = app
        .http
        .post(app.url("/v2/droplets"))
        .bearer_auth(crate::helpers::TOKEN)
        .body("{")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), 400);
    assert_eq!(json(app.get("/v2/droplets").await).await["meta"]["total"], 0, "nothing was created");
}

#[tokio::test]
async fn multi_create_answers_with_every_droplet_and_its_action() {
    let app = spawn_sim(config()).await;
    let response = app
        .post(
            "/v2/droplets",
            json!({"names": ["a-1", "a-2", "a-3"], "size": "s-1vcpu-2gb", "image": "debian-12-x64", "ipv6": true}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let body = json(response).await;
    let droplets = body["droplets"].as_array().expect("droplets");
    assert_eq!(droplets.len(), 3);
    assert_eq!(body["links"]["actions"].as_array().expect("actions").len(), 3);
    assert_eq!(droplets[0]["status"], "new");
    assert_eq!(droplets[0]["region"]["slug"], "nyc1", "the first region offering the size is chosen");
    assert_eq!(droplets[0]["networks"]["v6"][0]["type"], "public");
}

#[tokio::test]
async fn lists_filter_by_tag_and_name_and_paginate_with_links() {
    let app = spawn_sim(config()).await;
    for i in 0..5 {
        app.create_droplet(&format!("web-{i}"), &["web"]).await;
    }
    app.create_droplet("db-0", &["db"]).await;

    let page = json(app.get("/v2/droplets?per_page=2&page=2&tag_name=web").await).await;
    assert_eq!(page["meta"]["total"], 5);
    assert_eq!(page["droplets"].as_array().expect("list").len(), 2);
    assert_eq!(page["droplets"][0]["name"], "web-2");
    let next = page["links"]["pages"]["next"].as_str().expect("next link");
    assert!(next.contains("tag_name=web") && next.contains("page=3"), "{next}");

    let by_name = json(app.get("/v2/droplets?name=db-0").await).await;
    assert_eq!(by_name["meta"]["total"], 1);
    for bad in ["per_page=0", "per_page=201", "page=0", "per_page=ten"] {
        let response = app.get(&format!("/v2/droplets?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn delete_by_tag_removes_every_tagged_droplet_and_nothing_else() {
    let app = spawn_sim(config()).await;
    for i in 0..3 {
        app.create_droplet(&format!("temp-{i}"), &["temp"]).await;
    }
    app.create_droplet("keep", &["keep"]).await;
    let response = app.delete("/v2/droplets?tag_name=temp").await;
    assert_eq!(response.status(), 204);
    let remaining = json(app.get("/v2/droplets").await).await;
    assert_eq!(remaining["meta"]["total"], 1);
    assert_eq!(remaining["droplets"][0]["name"], "keep");
    assert_eq!(app.delete("/v2/droplets?tag_name=never-seen").await.status(), 404);
}

#[tokio::test]
async fn stats_count_requests_by_operation_id_until_reset() {
    let app = spawn_sim(config()).await;
    app.get("/v2/droplets").await;
    app.get("/v2/droplets").await;
    app.get("/v2/sizes").await;
    app.get("/v2/droplets/123").await;
    let stats = json(app.http.get(app.url("/_sim/stats")).send().await.expect("sent")).await;
    assert_eq!(stats["requests"]["droplets_list"], 2);
    assert_eq!(stats["requests"]["sizes_list"], 1);
    assert_eq!(stats["requests"]["droplets_get"], 1);
    let reset = app.http.post(app.url("/_sim/reset")).send().await.expect("sent");
    assert_eq!(reset.status(), 204);
    let stats = json(app.http.get(app.url("/_sim/stats")).send().await.expect("sent")).await;
    assert_eq!(stats["requests"], json!({}));
}
