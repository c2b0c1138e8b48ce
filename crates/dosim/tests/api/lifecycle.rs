//! A droplet's life: new -> active -> off -> active -> deleted, with its actions.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{config, json, spawn_sim};

async fn wait_for_status(app: &crate::helpers::TestSim, id: u64, wanted: &str) {
    for _ in 0..100 {
        if app.droplet_status(id).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("droplet {id} never became {wanted}");
}

#[tokio::test]
async fn a_droplet_goes_from_new_to_active_to_off_to_active_to_deleted() {
    let app = spawn_sim(config()).await;
    let created = app.create_droplet("life", &[]).await;
    let id = created["droplet"]["id"].as_u64().expect("id");
    assert_eq!(created["droplet"]["status"], "new");
    let create_action = created["links"]["actions"][0]["id"].as_u64().expect("action id");

    // While booting, the droplet is locked and refuses actions.
    let early = app.post(&format!("/v2/droplets/{id}/actions"), json!({"type": "power_off"})).await;
    assert_eq!(early.status(), 422);

    wait_for_status(&app, id, "active").await;
    let action = json(app.get(&format!("/v2/actions/{create_action}")).await).await;
    assert_eq!(action["action"]["status"], "completed");
    assert!(action["action"]["completed_at"].is_string());

    let off = app.post(&format!("/v2/droplets/{id}/actions"), json!({"type": "power_off"})).await;
    assert_eq!(off.status(), 201);
    let off = json(off).await;
    assert_eq!(off["action"]["status"], "in-progress");
    assert_eq!(off["action"]["type"], "power_off");
    assert_eq!(off["action"]["resource_id"], id);
    wait_for_status(&app, id, "off").await;

    let on = app.post(&format!("/v2/droplets/{id}/actions"), json!({"type": "power_on"})).await;
    assert_eq!(on.status(), 201);
    wait_for_status(&app, id, "active").await;

    let history = json(app.get(&format!("/v2/droplets/{id}/actions")).await).await;
    let kinds: Vec<_> =
        history["actions"].as_array().expect("list").iter().map(|a| a["type"].clone()).collect();
    assert_eq!(kinds, vec![json!("create"), json!("power_off"), json!("power_on")]);

    assert_eq!(app.delete(&format!("/v2/droplets/{id}")).await.status(), 204);
    let gone = app.get(&format!("/v2/droplets/{id}")).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(json(gone).await["id"], "not_found");
    assert_eq!(app.delete(&format!("/v2/droplets/{id}")).await.status(), 404);
}

#[tokio::test]
async fn unknown_action_types_and_resizing_a_running_droplet_are_refused() {
    let app = spawn_sim(config()).await;
    let id = app.create_droplet("resize-me", &[]).await["droplet"]["id"].as_u64().expect("id");
    wait_for_status(&app, id, "active").await;
    let bogus = app.post(&format!("/v2/droplets/{id}/actions"), json!({"type": "explode"})).await;
    assert_eq!(bogus.status(), 422);
    let resize = app
        .post(&format!("/v2/droplets/{id}/actions"), json!({"type": "resize", "size": "s-2vcpu-4gb"}))
        .await;
    assert_eq!(resize.status(), 422, "DigitalOcean resizes only powered-off droplets");
}
