//! VPCs: a default per region, members, and the deletes DigitalOcean refuses.

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn every_region_has_a_default_vpc_that_droplets_join() {
    let app = spawn_sim(config()).await;
    let vpcs = json(app.get("/v2/vpcs?per_page=200").await).await;
    assert_eq!(vpcs["meta"]["total"], 10, "one per catalogue region");
    let nyc1 =
        vpcs["vpcs"].as_array().expect("vpcs").iter().find(|v| v["region"] == "nyc1").expect("nyc1").clone();
    assert_eq!(nyc1["default"], true);
    let id = nyc1["id"].as_str().expect("id");
    assert_eq!(nyc1["urn"], format!("do:vpc:{id}"));
    let web = app.active_droplet("web", "nyc1").await;
    assert_eq!(json(app.get(&format!("/v2/droplets/{web}")).await).await["droplet"]["vpc_uuid"], id);
    let members = json(app.get(&format!("/v2/vpcs/{id}/members")).await).await;
    assert_eq!(
        members["members"],
        json!([{"urn": format!("do:droplet:{web}"), "name": "web", "created_at": members["members"][0]["created_at"]}])
    );
    assert_eq!(
        json(app.get(&format!("/v2/vpcs/{id}/members?resource_type=loadbalancer")).await).await["meta"]["total"],
        0
    );
    assert_eq!(app.delete(&format!("/v2/vpcs/{id}")).await.status(), 403, "it has a member");
    let empty_default =
        vpcs["vpcs"].as_array().expect("vpcs").iter().find(|v| v["region"] == "syd1").expect("syd1");
    let empty_default = empty_default["id"].as_str().expect("id");
    assert_eq!(json(app.get(&format!("/v2/vpcs/{empty_default}/members")).await).await["meta"]["total"], 0);
    assert_eq!(app.delete(&format!("/v2/vpcs/{empty_default}")).await.status(), 403, "a default, even empty");
}

#[tokio::test]
async fn a_vpc_with_members_is_not_deleted() {
    let app = spawn_sim(config()).await;
    let created =
        app.post("/v2/vpcs", json!({"name": "prod", "region": "fra1", "ip_range": "10.10.10.0/24"})).await;
    assert_eq!(created.status(), 201);
    let vpc = json(created).await["vpc"].clone();
    let id = vpc["id"].as_str().expect("id").to_owned();
    assert_eq!((vpc["default"].clone(), vpc["ip_range"].clone()), (json!(false), json!("10.10.10.0/24")));
    let in_vpc = json!({"name": "db", "size": "s-1vcpu-1gb", "region": "fra1", "image": "ubuntu-24-04-x64", "vpc_uuid": id});
    let made = json(app.post("/v2/droplets", in_vpc).await).await;
    let droplet = made["droplet"]["id"].as_u64().expect("id");
    let wrong_region = json!({"name": "db", "size": "s-1vcpu-1gb", "region": "nyc1", "image": "ubuntu-24-04-x64", "vpc_uuid": id});
    assert_eq!(app.post("/v2/droplets", wrong_region).await.status(), 422);

    let refused = app.delete(&format!("/v2/vpcs/{id}")).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json(refused).await["id"], "forbidden");
    assert_eq!(app.delete(&format!("/v2/droplets/{droplet}")).await.status(), 204);
    assert_eq!(app.delete(&format!("/v2/vpcs/{id}")).await.status(), 204);
    assert_eq!(app.get(&format!("/v2/vpcs/{id}")).await.status(), 404);
}

#[tokio::test]
async fn vpc_names_are_unique_and_ranges_private_and_apart() {
    let app = spawn_sim(config()).await;
    let first = json(app.post("/v2/vpcs", json!({"name": "a", "region": "nyc1"})).await).await["vpc"].clone();
    assert!(first["ip_range"].as_str().is_some_and(|r| r.ends_with("/20")), "a /20 is chosen: {first}");
    assert_eq!(app.post("/v2/vpcs", json!({"name": "a", "region": "fra1"})).await.status(), 409);
    for range in ["10.100.0.0/24", "8.8.0.0/16", "10.20.0.0/29", "10.20.0.0/15", "10.20.0.1/24"] {
        let response = app.post("/v2/vpcs", json!({"name": "b", "region": "nyc1", "ip_range": range})).await;
        assert_eq!(response.status(), 422, "{range}");
    }
    let id = first["id"].as_str().expect("id");
    let renamed = app.patch(&format!("/v2/vpcs/{id}"), json!({"description": "shared"})).await;
    assert_eq!(json(renamed).await["vpc"]["description"], "shared");
    assert_eq!(app.put(&format!("/v2/vpcs/{id}"), json!({"description": "no name"})).await.status(), 422);
    // Making it the default takes that from the region's old default, which cannot be unset by hand.
    let default = app.put(&format!("/v2/vpcs/{id}"), json!({"name": "a", "default": true})).await;
    assert_eq!(json(default).await["vpc"]["default"], true);
    let vpcs = json(app.get("/v2/vpcs?per_page=200").await).await;
    let defaults_in_nyc1 = vpcs["vpcs"]
        .as_array()
        .expect("vpcs")
        .iter()
        .filter(|v| v["region"] == "nyc1" && v["default"] == true)
        .count();
    assert_eq!(defaults_in_nyc1, 1);
    assert_eq!(app.patch(&format!("/v2/vpcs/{id}"), json!({"default": false})).await.status(), 422);
    let web = app.active_droplet("web", "nyc1").await;
    assert_eq!(
        json(app.get(&format!("/v2/droplets/{web}")).await).await["droplet"]["vpc_uuid"],
        id,
        "new droplets join the new default"
    );
}
