//! Projects (a default one takes every new resource) and tags as objects with counts.

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn new_resources_land_in_the_default_project_and_can_be_moved_out_and_back() {
    let app = spawn_sim(config()).await;
    let projects = json(app.get("/v2/projects").await).await;
    assert_eq!(projects["meta"]["total"], 1);
    let default = projects["projects"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(projects["projects"][0]["is_default"], true);
    let web = app.active_droplet("web", "nyc1").await;
    let urn = format!("do:droplet:{web}");
    let held = json(app.get("/v2/projects/default/resources").await).await;
    assert_eq!(held["resources"][0]["urn"], urn.as_str());
    assert!(
        held["resources"][0]["links"]["self"]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("/v2/droplets/{web}")))
    );

    let created = app
        .post(
            "/v2/projects",
            json!({"name": "api", "purpose": "Service or API", "environment": "Production"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let project = json(created).await["project"]["id"].as_str().expect("id").to_owned();
    let custom = json(app.post("/v2/projects", json!({"name": "odd", "purpose": "fun"})).await).await;
    assert_eq!(custom["project"]["purpose"], "Other: fun");
    assert_eq!(app.post("/v2/projects", json!({"name": "api", "purpose": "IoT"})).await.status(), 409);

    let moved = app
        .post(
            &format!("/v2/projects/{project}/resources"),
            json!({"resources": [urn, "do:droplet:1", "do:volume:x"]}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let statuses: Vec<_> = json(moved).await["resources"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("assigned"), json!("not_found"), json!("not_found")]);
    assert_eq!(json(app.get("/v2/projects/default/resources").await).await["meta"]["total"], 0);
    let refused = app.delete(&format!("/v2/projects/{project}")).await;
    assert_eq!(refused.status(), 412, "a project holding resources");
    assert_eq!(app.delete(&format!("/v2/projects/{default}")).await.status(), 412, "the default project");

    assert_eq!(
        app.post(&format!("/v2/projects/{default}/resources"), json!({"resources": [urn]})).await.status(),
        200
    );
    assert_eq!(app.delete(&format!("/v2/projects/{project}")).await.status(), 204);
    assert_eq!(
        app.post("/v2/projects/default/resources", json!({"resources": ["not-a-urn"]})).await.status(),
        422
    );
}

#[tokio::test]
async fn making_another_project_the_default_leaves_the_old_ones_resources_where_they_are() {
    let app = spawn_sim(config()).await;
    let old = app.active_droplet("old", "nyc1").await;
    let project = json(app.post("/v2/projects", json!({"name": "next", "purpose": "IoT"})).await).await["project"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let everything = json!({"name": "next", "description": "", "purpose": "IoT", "environment": "Staging", "is_default": true});
    assert_eq!(app.put(&format!("/v2/projects/{project}"), everything).await.status(), 200);
    assert_eq!(
        app.put(&format!("/v2/projects/{project}"), json!({"name": "next"})).await.status(),
        422,
        "PUT needs every field"
    );
    let new = app.active_droplet("new", "nyc1").await;
    let in_new = json(app.get(&format!("/v2/projects/{project}/resources")).await).await;
    assert_eq!(in_new["resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(in_new["resources"][0]["urn"], format!("do:droplet:{new}"));
    let projects = json(app.get("/v2/projects").await).await;
    let old_default =
        projects["projects"].as_array().expect("list").iter().find(|p| p["name"] == "Default").expect("old");
    let old_id = old_default["id"].as_str().expect("id");
    assert_eq!(old_default["is_default"], false);
    let in_old = json(app.get(&format!("/v2/projects/{old_id}/resources")).await).await;
    assert_eq!(in_old["resources"][0]["urn"], format!("do:droplet:{old}"));
}

#[tokio::test]
async fn tags_count_what_carries_them_and_deleting_one_untags_everything() {
    let app = spawn_sim(config()).await;
    assert_eq!(app.post("/v2/tags", json!({"name": "env:prod"})).await.status(), 201);
    let web = app.active_droplet("web", "nyc1").await;
    let volume = app.volume("data", 10, "nyc1").await;
    let tagged = app
        .post(
            "/v2/tags/env:prod/resources",
            json!({"resources": [{"resource_id": web.to_string(), "resource_type": "droplet"}, {"resource_id": volume, "resource_type": "volume"}]}),
        )
        .await;
    assert_eq!(tagged.status(), 204);
    let tag = json(app.get("/v2/tags/env:prod").await).await;
    assert_eq!(tag["tag"]["resources"]["count"], 2);
    assert_eq!(tag["tag"]["resources"]["droplets"]["count"], 1);
    assert_eq!(tag["tag"]["resources"]["volumes"]["count"], 1);
    let listed = json(app.get("/v2/droplets?tag_name=env:prod").await).await;
    assert_eq!(listed["meta"]["total"], 1);
    let missing = app
        .post(
            "/v2/tags/env:prod/resources",
            json!({"resources": [{"resource_id": "9", "resource_type": "droplet"}]}),
        )
        .await;
    assert_eq!(missing.status(), 422);
    assert_eq!(app.post("/v2/tags/nope/resources", json!({"resources": []})).await.status(), 404);

    let fw = json!({"name": "fw", "tags": ["env:prod"], "inbound_rules": [{"protocol": "tcp", "ports": "22", "sources": {"tags": ["env:prod"]}}]});
    let firewall =
        json(app.post("/v2/firewalls", fw).await).await["firewall"]["id"].as_str().expect("id").to_owned();
    assert_eq!(app.delete("/v2/tags/env:prod").await.status(), 204);
    assert_eq!(json(app.get(&format!("/v2/droplets/{web}")).await).await["droplet"]["tags"], json!([]));
    assert_eq!(json(app.get(&format!("/v2/volumes/{volume}")).await).await["volume"]["tags"], json!([]));
    let firewall = json(app.get(&format!("/v2/firewalls/{firewall}")).await).await;
    assert_eq!(firewall["firewall"]["tags"], json!([]));
    assert!(firewall["firewall"]["inbound_rules"][0]["sources"].get("tags").is_none());
    assert_eq!(app.get("/v2/tags/env:prod").await.status(), 404);
}

#[tokio::test]
async fn a_bad_tag_name_gets_the_tag_errors_own_shape() {
    let app = spawn_sim(config()).await;
    let response = app.post("/v2/tags", json!({"name": "has space"})).await;
    assert_eq!(response.status(), 400);
    let body = json(response).await;
    assert!(body["error"].is_string() && body["root_causes"].is_array(), "{body}");
    assert_eq!(app.post("/v2/tags", json!({})).await.status(), 422);
}
