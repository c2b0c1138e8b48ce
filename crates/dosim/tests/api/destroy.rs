//! `destroy_with_associated_resources`: what a droplet leaves behind, at what monthly cost, and
//! destroying it with all of that or with a chosen part.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{TestSim, config, json, spawn_sim};

/// A droplet in nyc1 with a 100 GiB volume (snapshotted), a droplet snapshot and a reserved IP.
struct Fixture {
    droplet: u64,
    volume: String,
    volume_snapshot: String,
    snapshot: String,
    ip: String,
}

async fn fixture(app: &TestSim) -> Fixture {
    let droplet = app.active_droplet("web", "nyc1").await;
    let volume = app.volume("data", 100, "nyc1").await;
    assert_eq!(
        app.volume_action(&volume, json!({"type": "attach", "droplet_id": droplet})).await.status(),
        202
    );
    let volume_snapshot = json(
        app.post(&format!("/v2/volumes/{volume}/snapshots"), json!({"name": "vs"})).await,
    )
    .await["snapshot"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(&format!("/v2/droplets/{droplet}/actions"), json!({"type": "snapshot", "name": "ds"})).await;
    let snapshot =
        json(app.get(&format!("/v2/droplets/{droplet}/snapshots")).await).await["snapshots"][0]["id"]
            .as_u64()
            .expect("id")
            .to_string();
    let ip =
        json(app.post("/v2/reserved_ips", json!({"droplet_id": droplet})).await).await["reserved_ip"]["ip"]
            .as_str()
            .expect("ip")
            .to_owned();
    Fixture { droplet, volume, volume_snapshot, snapshot, ip }
}

fn costs(list: &Value, key: &str) -> HashMap<String, String> {
    list[key]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| (r["id"].as_str().expect("id").to_owned(), r["cost"].as_str().expect("cost").to_owned()))
        .collect()
}

#[tokio::test]
async fn associated_resources_are_listed_with_what_they_cost_per_month() {
    let app = spawn_sim(config()).await;
    let f = fixture(&app).await;
    let list =
        json(app.get(&format!("/v2/droplets/{}/destroy_with_associated_resources", f.droplet)).await).await;
    // $0.10 per GiB-month for volumes, $0.06 for snapshots, $5.00 for an unassigned IPv4.
    assert_eq!(costs(&list, "volumes"), HashMap::from([(f.volume.clone(), "10.00".to_owned())]));
    assert_eq!(
        costs(&list, "volume_snapshots"),
        HashMap::from([(f.volume_snapshot.clone(), "6.00".to_owned())])
    );
    // A droplet snapshot bills a tenth of the 25 GB disk: 2.5 GiB at $0.06 = $0.15.
    assert_eq!(costs(&list, "snapshots"), HashMap::from([(f.snapshot.clone(), "0.15".to_owned())]));
    assert_eq!(costs(&list, "reserved_ips"), HashMap::from([(f.ip.clone(), "5.00".to_owned())]));
    assert_eq!(list["floating_ips"], list["reserved_ips"]);
    assert_eq!(app.get("/v2/droplets/1/destroy_with_associated_resources").await.status(), 404);
}

#[tokio::test]
async fn a_selective_destroy_takes_only_what_is_chosen() {
    let app = spawn_sim(config()).await;
    let f = fixture(&app).await;
    let base = format!("/v2/droplets/{}/destroy_with_associated_resources", f.droplet);
    let destroy = app
        .delete_with(&format!("{base}/selective"), json!({"volumes": [f.volume], "snapshots": ["123"]}))
        .await;
    assert_eq!(destroy.status(), 202);
    assert_eq!(app.get(&format!("/v2/droplets/{}", f.droplet)).await.status(), 404);
    assert_eq!(app.get(&format!("/v2/volumes/{}", f.volume)).await.status(), 404, "chosen: destroyed");
    assert_eq!(app.get(&format!("/v2/volumes/snapshots/{}", f.volume_snapshot)).await.status(), 200, "kept");
    assert_eq!(app.get(&format!("/v2/snapshots/{}", f.snapshot)).await.status(), 200, "kept");
    let ip = json(app.get(&format!("/v2/reserved_ips/{}", f.ip)).await).await;
    assert_eq!(ip["reserved_ip"]["droplet"], json!(null), "kept, unassigned");

    let status =
        app.wait_until(&format!("{base}/status"), "completed", |b| b["completed_at"].is_string()).await;
    assert_eq!(status["droplet"]["id"], f.droplet.to_string());
    assert!(status["resources"]["volumes"][0]["destroyed_at"].is_string());
    assert_eq!(status["failures"], 1, "123 is no snapshot of this droplet");
    assert!(status["resources"]["snapshots"][0]["error_message"].is_string());
    assert_eq!(app.post(&format!("{base}/retry"), json!({})).await.status(), 202);
}

#[tokio::test]
async fn a_dangerous_destroy_needs_the_header_and_leaves_nothing() {
    let app = spawn_sim(config()).await;
    let f = fixture(&app).await;
    let base = format!("/v2/droplets/{}/destroy_with_associated_resources", f.droplet);
    let without = app.delete(&format!("{base}/dangerous")).await;
    assert_eq!(without.status(), 400);
    let refused = app
        .http
        .delete(app.url(&format!("{base}/dangerous")))
        .bearer_auth(crate::helpers::TOKEN)
        .header("X-Dangerous", "false")
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 422);
    assert_eq!(app.get(&format!("{base}/status")).await.status(), 404, "no destroy asked for yet");

    let destroy = app
        .http
        .delete(app.url(&format!("{base}/dangerous")))
        .bearer_auth(crate::helpers::TOKEN)
        .header("X-Dangerous", "true")
        .send()
        .await
        .expect("sent");
    assert_eq!(destroy.status(), 202);
    let retry_too_soon = app.post(&format!("{base}/retry"), json!({})).await;
    assert_eq!(retry_too_soon.status(), 409, "one destroy at a time per droplet");
    for path in [
        format!("/v2/droplets/{}", f.droplet),
        format!("/v2/volumes/{}", f.volume),
        format!("/v2/volumes/snapshots/{}", f.volume_snapshot),
        format!("/v2/snapshots/{}", f.snapshot),
        format!("/v2/reserved_ips/{}", f.ip),
    ] {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }
    let status =
        app.wait_until(&format!("{base}/status"), "completed", |b| b["completed_at"].is_string()).await;
    assert_eq!(status["failures"], 0);
    assert_eq!(status["resources"]["reserved_ips"][0]["id"], f.ip.as_str());
}
