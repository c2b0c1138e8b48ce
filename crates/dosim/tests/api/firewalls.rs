//! Firewalls: rules, droplet and tag membership, DigitalOcean's limits, and the droplets that go.

use serde_json::{Value, json};

use crate::helpers::{TestSim, config, json, spawn_sim};

fn ssh_from_anywhere() -> Value {
    json!({"protocol": "tcp", "ports": "22", "sources": {"addresses": ["0.0.0.0/0", "::/0"]}})
}

async fn firewall(app: &TestSim, id: &str) -> Value {
    json(app.get(&format!("/v2/firewalls/{id}")).await).await["firewall"].clone()
}

#[tokio::test]
async fn a_firewall_keeps_its_rules_droplets_and_tags_and_settles_after_each_change() {
    let app = spawn_sim(config()).await;
    let web = app.active_droplet("web", "nyc1").await;
    let created = app
        .post(
            "/v2/firewalls",
            json!({"name": "web", "inbound_rules": [ssh_from_anywhere()], "droplet_ids": [web]}),
        )
        .await;
    assert_eq!(created.status(), 202);
    let created = json(created).await["firewall"].clone();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["status"], "waiting");
    assert_eq!(
        created["pending_changes"],
        json!([{"droplet_id": web, "removing": false, "status": "waiting"}])
    );
    assert_eq!(created["inbound_rules"][0]["sources"]["addresses"], json!(["0.0.0.0/0", "::/0"]));
    assert!(created["inbound_rules"][0]["sources"].get("tags").is_none(), "empty lists are left out");
    app.wait_until(&format!("/v2/firewalls/{id}"), "succeeded", |b| b["firewall"]["status"] == "succeeded")
        .await;

    // Tags must exist before a firewall names them.
    let unknown = app.post(&format!("/v2/firewalls/{id}/tags"), json!({"tags": ["frontend"]})).await;
    assert_eq!(unknown.status(), 422);
    assert_eq!(app.post("/v2/tags", json!({"name": "frontend"})).await.status(), 201);
    assert_eq!(
        app.post(&format!("/v2/firewalls/{id}/tags"), json!({"tags": ["frontend"]})).await.status(),
        204
    );

    let https = json!({"protocol": "tcp", "ports": "443", "sources": {"tags": ["frontend"]}});
    let out = json!({"protocol": "udp", "ports": "53", "destinations": {"addresses": ["1.1.1.1"]}});
    let added = app
        .post(
            &format!("/v2/firewalls/{id}/rules"),
            json!({"inbound_rules": [https], "outbound_rules": [out]}),
        )
        .await;
    assert_eq!(added.status(), 204);
    let now = firewall(&app, &id).await;
    assert_eq!(now["inbound_rules"].as_array().map(Vec::len), Some(2));
    assert_eq!(now["outbound_rules"][0]["ports"], "53");
    assert_eq!(now["tags"], json!(["frontend"]));

    let removed = app
        .delete_with(&format!("/v2/firewalls/{id}/rules"), json!({"inbound_rules": [ssh_from_anywhere()]}))
        .await;
    assert_eq!(removed.status(), 204);
    assert_eq!(firewall(&app, &id).await["inbound_rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.delete_with(&format!("/v2/firewalls/{id}/droplets"), json!({"droplet_ids": [web]}))
            .await
            .status(),
        204
    );
    let after = firewall(&app, &id).await;
    assert_eq!(after["droplet_ids"], json!([]));
    assert_eq!(after["pending_changes"][0]["removing"], true);

    // PUT replaces the whole firewall: what it leaves out is reset.
    let replaced =
        app.put(&format!("/v2/firewalls/{id}"), json!({"name": "web-2", "outbound_rules": [out]})).await;
    assert_eq!(replaced.status(), 200);
    let replaced = json(replaced).await["firewall"].clone();
    assert_eq!((replaced["name"].clone(), replaced["tags"].clone()), (json!("web-2"), json!([])));
    assert_eq!(replaced["inbound_rules"], json!([]));
    assert_eq!(app.delete(&format!("/v2/firewalls/{id}")).await.status(), 204);
    assert_eq!(app.get(&format!("/v2/firewalls/{id}")).await.status(), 404);
}

#[tokio::test]
async fn firewall_rules_and_limits_are_checked() {
    let app = spawn_sim(config()).await;
    let rule = |protocol: &str, ports: &str, sources: Value| json!({"protocol": protocol, "ports": ports, "sources": sources});
    let anywhere = json!({"addresses": ["0.0.0.0/0"]});
    for (case, body) in [
        ("no rules", json!({"name": "fw"})),
        ("bad name", json!({"name": "-fw", "inbound_rules": [rule("tcp", "22", anywhere.clone())]})),
        ("bad protocol", json!({"name": "fw", "inbound_rules": [rule("sctp", "22", anywhere.clone())]})),
        ("bad ports", json!({"name": "fw", "inbound_rules": [rule("tcp", "22-21", anywhere.clone())]})),
        (
            "bad address",
            json!({"name": "fw", "inbound_rules": [rule("tcp", "22", json!({"addresses": ["10.0.0.0/40"]}))]}),
        ),
        ("no sources", json!({"name": "fw", "inbound_rules": [rule("tcp", "22", json!({}))]})),
        (
            "unknown droplet",
            json!({"name": "fw", "inbound_rules": [rule("tcp", "22", anywhere.clone())], "droplet_ids": [7]}),
        ),
        ("51 rules", json!({"name": "fw", "inbound_rules": vec![rule("tcp", "22", anywhere.clone()); 51]})),
    ] {
        assert_eq!(app.post("/v2/firewalls", body).await.status(), 422, "{case}");
    }
    let icmp = app
        .post(
            "/v2/firewalls",
            json!({"name": "ping", "inbound_rules": [rule("icmp", "whatever", anywhere.clone())]}),
        )
        .await;
    assert_eq!(json(icmp).await["firewall"]["inbound_rules"][0]["ports"], "0", "ICMP has no ports");

    let mut droplets = Vec::new();
    for i in 0..11 {
        droplets.push(app.active_droplet(&format!("d{i}"), "nyc1").await);
    }
    let too_many = json!({"name": "fw", "inbound_rules": [rule("tcp", "22", anywhere.clone())], "droplet_ids": droplets});
    assert_eq!(app.post("/v2/firewalls", too_many).await.status(), 422, "at most 10 droplets by id");
    let ten =
        json!({"name": "fw", "inbound_rules": [rule("tcp", "22", anywhere)], "droplet_ids": &droplets[..10]});
    let id =
        json(app.post("/v2/firewalls", ten).await).await["firewall"]["id"].as_str().expect("id").to_owned();
    let eleventh =
        app.post(&format!("/v2/firewalls/{id}/droplets"), json!({"droplet_ids": [droplets[10]]})).await;
    assert_eq!(eleventh.status(), 422);

    // A deleted droplet leaves the firewalls it was in.
    assert_eq!(app.delete(&format!("/v2/droplets/{}", droplets[0])).await.status(), 204);
    let after = json(app.get(&format!("/v2/firewalls/{id}")).await).await;
    assert_eq!(after["firewall"]["droplet_ids"].as_array().map(Vec::len), Some(9));
    assert_eq!(
        app.post(&format!("/v2/firewalls/{id}/droplets"), json!({"droplet_ids": [droplets[10]]}))
            .await
            .status(),
        204
    );
}
