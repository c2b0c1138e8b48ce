//! What deleted resources leave behind for usage to be worked out later (`/_sim/lifetimes`).

use serde_json::{Value, json};

use crate::helpers::{config, json, spawn_sim};

fn retired<'a>(all: &'a [Value], kind: &str) -> &'a Value {
    all.iter().find(|r| r["kind"] == kind).unwrap_or_else(|| panic!("no retired {kind} in {all:?}"))
}

#[tokio::test]
async fn deleted_resources_keep_their_lifetime_and_the_changes_that_move_their_price() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "nyc1").await;
    assert_eq!(
        app.post(&format!("/v2/droplets/{web}/actions"), json!({"type": "power_off"})).await.status(),
        201
    );
    app.wait_until(&format!("/v2/droplets/{web}"), "off", |b| b["droplet"]["status"] == "off").await;
    let volume = app.volume("data", 10, "nyc1").await;
    app.volume_action(&volume, json!({"type": "attach", "droplet_id": web})).await;
    app.volume_action(&volume, json!({"type": "resize", "size_gigabytes": 20})).await;
    let ip = json(app.post("/v2/reserved_ips", json!({"region": "nyc1"})).await).await["reserved_ip"]["ip"]
        .as_str()
        .expect("ip")
        .to_owned();
    app.post(&format!("/v2/reserved_ips/{ip}/actions"), json!({"type": "assign", "droplet_id": web})).await;
    assert!(app.retired().await.is_empty());

    assert_eq!(app.delete(&format!("/v2/droplets/{web}")).await.status(), 204);
    assert_eq!(app.delete(&format!("/v2/volumes/{volume}")).await.status(), 204);
    assert_eq!(app.delete(&format!("/v2/reserved_ips/{ip}")).await.status(), 204);
    let all = app.retired().await;
    let droplet = retired(&all, "droplet");
    assert_eq!(droplet["id"], web.to_string());
    assert_eq!(droplet["measure"], json!({"size": "s-1vcpu-1gb"}));
    assert_eq!(droplet["history"][0]["change"], "powered_off");
    assert!(droplet["created_at"].as_str() <= droplet["deleted_at"].as_str());
    let changes = |r: &Value| {
        r["history"].as_array().expect("history").iter().map(|e| e["change"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(changes(retired(&all, "volume")), vec![json!("attached"), json!("grown"), json!("detached")]);
    assert_eq!(retired(&all, "volume")["history"][1]["gib"], 20);
    assert_eq!(retired(&all, "volume")["measure"], json!({"gib": 10}));
    assert_eq!(changes(retired(&all, "reserved_ip")), vec![json!("attached"), json!("detached")]);
    assert_eq!(
        app.http.get(app.url("/_sim/lifetimes?account=nobody")).send().await.expect("sent").status(),
        404
    );
}
