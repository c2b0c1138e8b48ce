//! Several accounts in one simulator, kept apart as DigitalOcean keeps accounts apart.

use std::collections::HashSet;

use dosim::{AccountSpec, Limits, SimConfig};
use serde_json::{Value, json};

use crate::helpers::{TOKEN, TestSim, config, json, spawn_sim};

const ALPHA: &str = "alpha-token";
const BETA: &str = "beta-token";

fn two_accounts() -> SimConfig {
    SimConfig {
        accounts: vec![
            AccountSpec { name: "alpha".into(), tokens: vec![ALPHA.into()], droplets: 3 },
            AccountSpec { name: "beta".into(), tokens: vec![BETA.into()], droplets: 2 },
        ],
        ..config()
    }
}

async fn droplet_ids(app: &TestSim, token: &str) -> Vec<u64> {
    let body = json(app.get_as(token, "/v2/droplets?per_page=200").await).await;
    body["droplets"].as_array().expect("droplets").iter().map(|d| d["id"].as_u64().expect("id")).collect()
}

#[tokio::test]
async fn each_account_lists_only_its_own_droplets_and_ids_are_unique_across_accounts() {
    let app = spawn_sim(two_accounts()).await;
    let alpha = droplet_ids(&app, ALPHA).await;
    let beta = droplet_ids(&app, BETA).await;
    let default = droplet_ids(&app, TOKEN).await;
    assert_eq!((alpha.len(), beta.len(), default.len()), (3, 2, 0));
    let all: HashSet<u64> = alpha.iter().chain(&beta).copied().collect();
    assert_eq!(all.len(), 5, "no id is shared: {alpha:?} {beta:?}");

    let created = app
        .post_as(
            BETA,
            "/v2/droplets",
            json!({"name": "b-new", "size": "s-1vcpu-1gb", "region": "nyc1", "image": "ubuntu-24-04-x64"}),
        )
        .await;
    assert_eq!(created.status(), 202);
    let created = json(created).await;
    let new_id = created["droplet"]["id"].as_u64().expect("id");
    let action_id = created["links"]["actions"][0]["id"].as_u64().expect("action");
    assert!(!all.contains(&new_id));
    assert_eq!(droplet_ids(&app, ALPHA).await, alpha, "a create in beta does not show in alpha");
    assert_eq!(json(app.get_as(BETA, "/v2/droplets").await).await["meta"]["total"], 3);
    assert_eq!(app.get_as(ALPHA, &format!("/v2/actions/{action_id}")).await.status(), 404);
    assert_eq!(app.get_as(BETA, &format!("/v2/actions/{action_id}")).await.status(), 200);
}

#[tokio::test]
async fn a_token_cannot_read_change_or_delete_another_accounts_droplet() {
    let app = spawn_sim(two_accounts()).await;
    let theirs = droplet_ids(&app, ALPHA).await[0];
    let path = format!("/v2/droplets/{theirs}");
    let read = app.get_as(BETA, &path).await;
    assert_eq!(read.status(), 404);
    assert_eq!(json(read).await["id"], "not_found");
    let act = app.post_as(BETA, &format!("{path}/actions"), json!({"type": "power_off"})).await;
    assert_eq!(act.status(), 404);
    assert_eq!(app.delete_as(BETA, &path).await.status(), 404);
    // Deleting by a tag both accounts use touches only the caller's droplets.
    assert_eq!(app.delete_as(BETA, "/v2/droplets?tag_name=dosim").await.status(), 204);
    assert_eq!(droplet_ids(&app, BETA).await.len(), 0);
    let still_there = app.get_as(ALPHA, &path).await;
    assert_eq!(still_there.status(), 200);
    assert_eq!(json(still_there).await["droplet"]["status"], "active");
}

#[tokio::test]
async fn ssh_keys_and_images_belong_to_one_account() {
    let app = spawn_sim(two_accounts()).await;
    let key = json!({"name": "k", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlphaKeyBody alpha"});
    assert_eq!(app.post_as(ALPHA, "/v2/account/keys", key.clone()).await.status(), 201);
    // The same public key is new to the other account, as on DigitalOcean.
    assert_eq!(app.post_as(BETA, "/v2/account/keys", key).await.status(), 201);
    assert_eq!(json(app.get_as(ALPHA, "/v2/account/keys").await).await["meta"]["total"], 1);
    let image = json!({"name": "img", "url": "https://example.com/a.img", "region": "nyc1"});
    assert_eq!(app.post_as(ALPHA, "/v2/images", image).await.status(), 202);
    let private = |token| {
        let app = &app;
        async move { json(app.get_as(token, "/v2/images?private=true").await).await["meta"]["total"].clone() }
    };
    assert_eq!(private(ALPHA).await, 1);
    assert_eq!(private(BETA).await, 0);
}

#[tokio::test]
async fn get_account_describes_the_tokens_own_account() {
    let app = spawn_sim(two_accounts()).await;
    let alpha: Value = json(app.get_as(ALPHA, "/v2/account").await).await;
    let beta: Value = json(app.get_as(BETA, "/v2/account").await).await;
    assert_eq!(alpha["account"]["name"], "alpha");
    assert_eq!(beta["account"]["name"], "beta");
    assert_ne!(alpha["account"]["uuid"], beta["account"]["uuid"]);
    assert_eq!(alpha["account"]["uuid"].as_str().map(str::len), Some(40));
}

#[tokio::test]
async fn each_account_has_its_own_rate_limit_windows_and_stats() {
    let limits = Limits { per_minute: 3, per_hour: 1000, ..Limits::default() };
    let app = spawn_sim(SimConfig { limits, ..two_accounts() }).await;
    for _ in 0..3 {
        assert_eq!(app.get_as(ALPHA, "/v2/sizes").await.status(), 200);
    }
    assert_eq!(app.get_as(ALPHA, "/v2/sizes").await.status(), 429);
    let beta = app.get_as(BETA, "/v2/sizes").await;
    assert_eq!(beta.status(), 200, "alpha's burst does not spend beta's budget");
    assert_eq!(crate::helpers::header_u64(&beta, "ratelimit-remaining"), 999);

    let stats = app.sim.stats();
    assert_eq!(stats.accounts["alpha"].requests, 4);
    assert_eq!(stats.accounts["alpha"].rate_limited, 1);
    assert_eq!(stats.accounts["beta"].requests, 1);
    assert_eq!(stats.accounts["beta"].rate_limited, 0);
    assert_eq!(stats.accounts["alpha"].droplets, 3);
    assert_eq!(stats.rate_limited, 1);
    let over_http = json(app.http.get(app.url("/_sim/stats")).send().await.expect("sent")).await;
    assert_eq!(over_http["accounts"]["beta"]["droplets"], 2);
}

#[tokio::test]
async fn several_tokens_of_the_default_account_share_droplets_but_not_rate_windows() {
    let limits = Limits { per_minute: 2, per_hour: 1000, ..Limits::default() };
    let app = spawn_sim(SimConfig {
        tokens: vec![TOKEN.into(), "second-token".into()],
        droplets: 4,
        limits,
        ..config()
    })
    .await;
    // One request each so far.
    assert_eq!(droplet_ids(&app, TOKEN).await, droplet_ids(&app, "second-token").await);
    assert_eq!(app.get_as(TOKEN, "/v2/sizes").await.status(), 200);
    assert_eq!(app.get_as(TOKEN, "/v2/sizes").await.status(), 429, "TOKEN has spent its two");
    assert_eq!(app.get_as("second-token", "/v2/sizes").await.status(), 200, "its own window");
    assert_eq!(app.sim.stats().accounts["default"].rate_limited, 1);
}

#[test]
fn a_token_or_a_name_given_to_two_accounts_is_refused() {
    let shared = SimConfig {
        accounts: vec![AccountSpec { name: "x".into(), tokens: vec![TOKEN.into()], droplets: 0 }],
        ..config()
    };
    assert!(shared.validate().is_err());
    let twice = SimConfig {
        accounts: vec![
            AccountSpec { name: "x".into(), tokens: vec!["a".into()], droplets: 0 },
            AccountSpec { name: "x".into(), tokens: vec!["b".into()], droplets: 0 },
        ],
        ..config()
    };
    assert!(twice.validate().is_err());
    assert!(two_accounts().validate().is_ok());
    let orphan_droplets = SimConfig { tokens: vec![], droplets: 5, ..config() };
    assert!(orphan_droplets.validate().is_err());
}

#[tokio::test]
async fn volumes_firewalls_reserved_ips_vpcs_and_projects_belong_to_one_account() {
    let app = spawn_sim(two_accounts()).await;
    let volume = app
        .post_as(ALPHA, "/v2/volumes", json!({"name": "data", "size_gigabytes": 10, "region": "nyc1"}))
        .await;
    let volume = json(volume).await["volume"]["id"].as_str().expect("id").to_owned();
    let firewall = json!({"name": "fw", "inbound_rules": [{"protocol": "tcp", "ports": "22", "sources": {"addresses": ["0.0.0.0/0"]}}]});
    let firewall = json(app.post_as(ALPHA, "/v2/firewalls", firewall).await).await["firewall"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ip = json(app.post_as(ALPHA, "/v2/reserved_ips", json!({"region": "nyc1"})).await).await["reserved_ip"]["ip"]
        .as_str()
        .expect("ip")
        .to_owned();
    let vpc = json(app.post_as(ALPHA, "/v2/vpcs", json!({"name": "net", "region": "nyc1"})).await).await["vpc"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for path in [
        format!("/v2/volumes/{volume}"),
        format!("/v2/firewalls/{firewall}"),
        format!("/v2/reserved_ips/{ip}"),
        format!("/v2/vpcs/{vpc}"),
    ] {
        assert_eq!(app.get_as(ALPHA, &path).await.status(), 200, "{path}");
        assert_eq!(app.get_as(BETA, &path).await.status(), 404, "{path} is alpha's");
        assert_eq!(app.delete_as(BETA, &path).await.status(), 404, "{path} is alpha's");
    }
    // The same names are free in another account, and each account has its own defaults.
    let same_name = app
        .post_as(BETA, "/v2/volumes", json!({"name": "data", "size_gigabytes": 10, "region": "nyc1"}))
        .await;
    assert_eq!(same_name.status(), 201);
    assert_eq!(app.post_as(BETA, "/v2/vpcs", json!({"name": "net", "region": "nyc1"})).await.status(), 201);
    let vpcs = |token| {
        let app = &app;
        async move { json(app.get_as(token, "/v2/vpcs?per_page=200").await).await }
    };
    let (alpha_vpcs, beta_vpcs) = (vpcs(ALPHA).await, vpcs(BETA).await);
    let default_of = |list: &Value| {
        list["vpcs"].as_array().expect("vpcs").iter().find(|v| v["name"] == "default-nyc1").expect("default")
            ["id"]
            .clone()
    };
    assert_ne!(default_of(&alpha_vpcs), default_of(&beta_vpcs));
    let project = |token| {
        let app = &app;
        async move { json(app.get_as(token, "/v2/projects").await).await["projects"][0]["id"].clone() }
    };
    assert_ne!(project(ALPHA).await, project(BETA).await);
    assert_eq!(json(app.get_as(BETA, "/v2/firewalls").await).await["meta"]["total"], 0);
    // Volume attach across accounts: beta cannot reach alpha's droplet.
    let alpha_droplet = droplet_ids(&app, ALPHA).await[0];
    let beta_volume =
        json(app.get_as(BETA, "/v2/volumes?name=data&region=nyc1").await).await["volumes"][0]["id"].clone();
    let beta_volume = beta_volume.as_str().expect("id");
    let attach = app
        .post_as(
            BETA,
            &format!("/v2/volumes/{beta_volume}/actions"),
            json!({"type": "attach", "droplet_id": alpha_droplet}),
        )
        .await;
    assert_eq!(attach.status(), 422, "a droplet of another account is no droplet here");
}
