//! Reserved IPs: reserved in a region or for a droplet, assigned within a region, and kept
//! (unassigned) when their droplet goes.

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn a_reserved_ip_is_assigned_within_its_region_and_stays_when_its_droplet_goes() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "nyc1").await;
    let far = app.active_droplet("far", "fra1").await;
    let created = app.post("/v2/reserved_ips", json!({"region": "nyc1"})).await;
    assert_eq!(created.status(), 202);
    let created = json(created).await;
    let ip = created["reserved_ip"]["ip"].as_str().expect("ip").to_owned();
    assert_eq!(created["reserved_ip"]["droplet"], json!(null));
    assert_eq!(created["links"], json!({}));
    let actions = format!("/v2/reserved_ips/{ip}/actions");

    let elsewhere = app.post(&actions, json!({"type": "assign", "droplet_id": far})).await;
    assert_eq!(elsewhere.status(), 422, "assigning needs the same region");
    let assign = app.post(&actions, json!({"type": "assign", "droplet_id": web})).await;
    assert_eq!(assign.status(), 201);
    let action = json(assign).await["action"].clone();
    assert_eq!(
        (action["type"].clone(), action["resource_type"].clone()),
        (json!("assign_ip"), json!("reserved_ip"))
    );
    assert!(action["project_id"].is_string());
    let locked = json(app.get(&format!("/v2/reserved_ips/{ip}")).await).await;
    assert_eq!(locked["reserved_ip"]["locked"], true);
    assert_eq!(locked["reserved_ip"]["droplet"]["id"], web);
    let busy = app.post(&actions, json!({"type": "unassign"})).await;
    assert_eq!(busy.status(), 422, "a locked address refuses another action");
    app.wait_until(&format!("/v2/reserved_ips/{ip}"), "unlocked", |b| b["reserved_ip"]["locked"] == false)
        .await;

    assert_eq!(app.delete(&format!("/v2/droplets/{web}")).await.status(), 204);
    let kept = json(app.get(&format!("/v2/reserved_ips/{ip}")).await).await;
    assert_eq!(kept["reserved_ip"]["droplet"], json!(null), "unassigned, still reserved");
    let unassign = app.post(&actions, json!({"type": "unassign"})).await;
    assert_eq!(unassign.status(), 422, "already unassigned with its droplet");
    assert_eq!(json(app.get("/v2/reserved_ips").await).await["meta"]["total"], 1);
    let history = json(app.get(&actions).await).await;
    let action_id = history["actions"][0]["id"].as_u64().expect("id");
    assert_eq!(app.get(&format!("{actions}/{action_id}")).await.status(), 200);

    assert_eq!(app.delete(&format!("/v2/reserved_ips/{ip}")).await.status(), 204);
    assert_eq!(app.get(&format!("/v2/reserved_ips/{ip}")).await.status(), 404);
}

#[tokio::test]
async fn reserving_for_a_droplet_assigns_it_there_and_links_the_assignment() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "ams3").await;
    let created = app.post("/v2/reserved_ips", json!({"droplet_id": web})).await;
    assert_eq!(created.status(), 202);
    let created = json(created).await;
    assert_eq!(created["reserved_ip"]["region"]["slug"], "ams3");
    assert_eq!(created["links"]["droplets"][0]["id"], web);
    assert_eq!(created["links"]["actions"][0]["rel"], "assign_ip");
    let again = app.post("/v2/reserved_ips", json!({"droplet_id": web})).await;
    assert_eq!(again.status(), 422, "a droplet holds one reserved IP");
    for body in [
        json!({"droplet_id": web, "region": "ams3"}),
        json!({}),
        json!({"region": "mars1"}),
        json!({"droplet_id": 1}),
    ] {
        assert_eq!(app.post("/v2/reserved_ips", body.clone()).await.status(), 422, "{body}");
    }
    let ip = created["reserved_ip"]["ip"].as_str().expect("ip");
    app.wait_until(&format!("/v2/reserved_ips/{ip}"), "unlocked", |b| b["reserved_ip"]["locked"] == false)
        .await;
    let unassign = app.post(&format!("/v2/reserved_ips/{ip}/actions"), json!({"type": "unassign"})).await;
    assert_eq!(unassign.status(), 201);
    assert_eq!(
        json(app.get(&format!("/v2/reserved_ips/{ip}")).await).await["reserved_ip"]["droplet"],
        json!(null)
    );
}
