//! Resources beyond instances through the API, against dosim: volumes, snapshots, reserved IPs,
//! SSH keys, firewalls and VPCs as operations, the inventory's lists, the waste report and the
//! costs by kind.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json, spawn_app};

const DO: &str = "/api/v1/providers/digitalocean";

/// Sends a change and waits for its operation to succeed; returns the 202's body.
async fn change(app: &TestApp, response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = if status == StatusCode::NO_CONTENT { Value::Null } else { json(response).await };
    assert!(status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT, "{status}: {body}");
    if let Some(id) = body["operation_id"].as_str() {
        let op = app.wait_for_operation(id, None).await;
        assert_eq!(op["state"], "succeeded", "{op}");
    }
    body
}

async fn droplet(app: &TestApp, name: &str) -> String {
    let body = change(
        app,
        app.post(
            &format!("{DO}/instances"),
            json!({"name": name, "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}),
        )
        .await,
    )
    .await;
    body["id"].as_str().expect("instance id").to_owned()
}

async fn create(app: &TestApp, kind: &str, body: Value) -> Value {
    let created = change(app, app.post(&format!("{DO}/{kind}"), body).await).await;
    created["resource"].clone()
}

async fn act(app: &TestApp, kind: &str, id: &str, body: Value) -> Value {
    change(app, app.post(&format!("{DO}/{kind}/{id}/actions"), body).await).await
}

async fn waste(app: &TestApp) -> Value {
    let response = app.get("/api/v1/costs/waste").await;
    assert_eq!(response.status(), 200);
    json(response).await
}

fn item<'a>(report: &'a Value, kind: &str, id: &str) -> Option<&'a Value> {
    report["items"].as_array()?.iter().find(|i| i["kind"] == kind && i["id"] == id)
}

fn money(value: &Value) -> Decimal {
    value.as_str().expect("a decimal string").parse().expect("decimal")
}

#[tokio::test]
async fn what_a_deleted_droplet_leaves_behind_shows_in_the_waste_report_with_its_monthly_cost() {
    let app = spawn_app().await;
    let web = droplet(&app, "web-1").await;

    // A 100 GiB volume, attached, snapshotted, detached, grown to 200 GiB.
    let volume = create(&app, "volumes", json!({"name": "data", "size_gib": 100, "region": "nyc1"})).await;
    let volume_id = volume["id"].as_str().expect("volume id").to_owned();
    assert_eq!(volume["size_gib"], 100);
    act(&app, "volumes", &volume_id, json!({"type": "attach", "instance_id": web})).await;
    let listed = json(app.get(&format!("{DO}/volumes")).await).await;
    let attached = &listed["resources"][0];
    assert_eq!(attached["attached_to"], json!([web]), "the list shows the attachment at once: {listed}");
    let snapshot = create(
        &app,
        "snapshots",
        json!({"name": "data-snap", "source_kind": "volume", "source_id": volume_id}),
    )
    .await;
    let snapshot_id = snapshot["id"].as_str().expect("snapshot id").to_owned();
    act(&app, "volumes", &volume_id, json!({"type": "detach", "instance_id": web})).await;
    act(&app, "volumes", &volume_id, json!({"type": "resize", "size_gib": 200})).await;
    let shrink = app
        .post(&format!("{DO}/volumes/{volume_id}/actions"), json!({"type": "resize", "size_gib": 50}))
        .await;
    assert_eq!(shrink.status(), 422, "a volume never shrinks");
    let ip = create(&app, "reserved-ips", json!({"region": "nyc1", "instance_id": web})).await;
    let ip_id = ip["id"].as_str().expect("ip").to_owned();
    assert_eq!(ip["assigned_to"], web);

    // Before the droplet goes, the volume (detached) is already waste; the IP is not.
    let before = waste(&app).await;
    assert!(item(&before, "volume", &volume_id).is_some(), "{before}");
    assert!(item(&before, "reserved_ip", &ip_id).is_none(), "an assigned IP is free: {before}");

    change(&app, app.delete(&format!("{DO}/instances/{web}")).await).await;
    let report = waste(&app).await;
    let volume_item = item(&report, "volume", &volume_id).expect("the volume is waste");
    assert_eq!(volume_item["monthly_cost"], "20.00", "200 GiB at $0.10: {volume_item}");
    assert_eq!(volume_item["account"], "digitalocean");
    assert!(volume_item["age_days"].is_number());
    let ip_item = item(&report, "reserved_ip", &ip_id).expect("the IP is waste once its droplet is gone");
    assert_eq!(ip_item["monthly_cost"], "5.00");
    let snapshot_item = item(&report, "snapshot", &snapshot_id).expect("the snapshot is waste");
    // dosim bills a volume snapshot at the size of the data it holds: whatever it is, $0.06 a GiB.
    assert!(money(&snapshot_item["monthly_cost"]) >= Decimal::ZERO);
    let sum: Decimal =
        report["items"].as_array().expect("items").iter().map(|i| money(&i["monthly_cost"])).sum();
    assert_eq!(report["totals"][0]["monthly_cost"], sum.to_string(), "the total is the sum of the items");
    assert!(report["assumptions"].as_array().is_some_and(|a| !a.is_empty()));

    // Filters: by kind, by account.
    let ips = json(app.get("/api/v1/costs/waste?kind=reserved_ip").await).await;
    assert_eq!(ips["items"].as_array().map(Vec::len), Some(1), "{ips}");
    let none = app.get("/api/v1/costs/waste?account=nowhere").await;
    assert_eq!(none.status(), 404);
    let bad = app.get("/api/v1/costs/waste?kind=dragon").await;
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn deleting_a_droplet_with_its_associated_resources_leaves_nothing_to_pay_for() {
    let app = spawn_app().await;
    let web = droplet(&app, "web-2").await;
    let volume = create(&app, "volumes", json!({"name": "logs", "size_gib": 100})).await;
    let volume_id = volume["id"].as_str().expect("volume id").to_owned();
    act(&app, "volumes", &volume_id, json!({"type": "attach", "instance_id": web})).await;
    let snapshot = create(
        &app,
        "snapshots",
        json!({"name": "logs-snap", "source_kind": "volume", "source_id": volume_id}),
    )
    .await;
    let snapshot_id = snapshot["id"].as_str().expect("snapshot id").to_owned();
    let ip = create(&app, "reserved-ips", json!({"region": "nyc1", "instance_id": web})).await;
    let ip_id = ip["id"].as_str().expect("ip").to_owned();

    let delete = app
        .delete(&format!(
            "{DO}/instances/{web}?with_volumes={volume_id}&with_snapshots={snapshot_id}&with_reserved_ips={ip_id}"
        ))
        .await;
    change(&app, delete).await;
    let report = waste(&app).await;
    assert_eq!(report["items"], json!([]), "{report}");
    for (kind, id) in [("volumes", &volume_id), ("snapshots", &snapshot_id), ("reserved-ips", &ip_id)] {
        let live = json(app.get(&format!("{DO}/{kind}?fresh=true")).await).await;
        assert!(
            !live["resources"].as_array().expect("list").iter().any(|r| r["id"] == id.as_str()),
            "{kind} {id} is gone at the provider too: {live}"
        );
    }
}

#[tokio::test]
async fn the_run_rate_of_a_fleet_with_volumes_is_the_sum_of_its_parts_to_the_cent() {
    let app = spawn_app().await;
    let web = droplet(&app, "web-3").await;
    for (name, size) in [("a", 10), ("b", 25), ("c", 333)] {
        let volume = create(&app, "volumes", json!({"name": name, "size_gib": size})).await;
        if name == "a" {
            let id = volume["id"].as_str().expect("id");
            act(&app, "volumes", id, json!({"type": "attach", "instance_id": web})).await;
        }
    }
    create(&app, "reserved-ips", json!({"region": "nyc1"})).await;
    let costs = json(app.get("/api/v1/costs").await).await;
    let kinds = costs["by_kind"].as_array().expect("by_kind");
    let of = |kind: &str| kinds.iter().find(|k| k["kind"] == kind).cloned().unwrap_or(Value::Null);
    // s-1vcpu-1gb $6.00; volumes 368 GiB x $0.10 = $36.80; one unassigned IP $5.00.
    assert_eq!(of("instance")["monthly"], "6.00", "{costs}");
    assert_eq!(of("volume")["monthly"], "36.80", "{costs}");
    assert_eq!(of("volume")["count"], 3);
    assert_eq!(of("reserved_ip")["monthly"], "5.00", "{costs}");
    let parts: Decimal = kinds.iter().map(|k| money(&k["monthly"])).sum();
    assert_eq!(costs["run_rate"]["monthly"], "47.80");
    assert_eq!(parts.to_string(), "47.80", "the kinds add up to the run-rate");
    assert_eq!(costs["instances"], 1, "the instance count counts instances only");
    assert!(
        costs["assumptions"]
            .as_array()
            .expect("assumptions")
            .iter()
            .any(|a| a.as_str().is_some_and(|a| a.contains("secondary"))),
        "the volume price is secondary, and said so: {costs}"
    );
}

#[tokio::test]
async fn a_volume_estimate_is_priced_per_gib_month() {
    let app = spawn_app().await;
    let body = json!({"kind": "volume", "size_gib": 100, "region": "nyc1", "duration": "45d", "start": "2027-01-15T00:00:00Z"});
    let response = app.post(&format!("{DO}/cost-estimate"), body).await;
    let status = response.status();
    let estimate = json(response).await;
    assert_eq!(status, 200, "{estimate}");
    assert_eq!(estimate["total"], "14.79", "{estimate}");
    assert_eq!(estimate["price_monthly"], "10.00");
    let month = json!({"kind": "volume", "size_gib": 100, "region": "nyc1", "duration": "1mo"});
    let estimate = json(app.post(&format!("{DO}/cost-estimate"), month).await).await;
    assert_eq!(estimate["kind"], "volume", "{estimate}");
    let no_size = app.post(&format!("{DO}/cost-estimate"), json!({"kind": "volume", "duration": "1d"})).await;
    assert_eq!(no_size.status(), 422);
    assert_eq!(json(no_size).await["errors"][0]["field"], "size_gib");
}

#[tokio::test]
async fn lists_page_with_limit_and_cursor_and_without_them_come_whole() {
    let app = spawn_app().await;
    for i in 0..5 {
        create(&app, "volumes", json!({"name": format!("v{i}"), "size_gib": 1})).await;
    }
    let whole = json(app.get(&format!("{DO}/volumes")).await).await;
    assert_eq!(whole["resources"].as_array().map(Vec::len), Some(5));
    assert!(whole.get("next").is_none());
    let mut seen = Vec::new();
    let mut url = format!("{DO}/volumes?limit=2");
    loop {
        let page = json(app.get(&url).await).await;
        seen.extend(page["resources"].as_array().expect("page").iter().map(|r| r["id"].clone()));
        match page["next"].as_str() {
            Some(next) => url = format!("{DO}/volumes?limit=2&cursor={next}"),
            None => break,
        }
    }
    let all: Vec<Value> =
        whole["resources"].as_array().expect("list").iter().map(|r| r["id"].clone()).collect();
    assert_eq!(seen, all, "the pages, in order, are the whole list");
    let fleet = json(app.get("/api/v1/volumes?limit=3").await).await;
    assert_eq!(fleet["resources"].as_array().map(Vec::len), Some(3));
    assert!(fleet["next"].is_string());
    assert_eq!(app.get(&format!("{DO}/volumes?cursor=00")).await.status(), 422, "a cursor needs a limit");
    assert_eq!(app.get(&format!("{DO}/volumes?limit=2&cursor=zz")).await.status(), 422);
    assert_eq!(app.get(&format!("{DO}/volumes?limit=0")).await.status(), 422);
    assert_eq!(app.get("/api/v1/dragons").await.status(), 404);
}

#[tokio::test]
async fn firewalls_keys_and_vpcs_are_created_changed_and_deleted_as_operations() {
    let app = spawn_app().await;
    let web = droplet(&app, "web-4").await;
    let key = create(
        &app,
        "ssh-keys",
        json!({"name": "ops", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0aG9uZXN0bHkgYSB0ZXN0IGtleSBmb3IgbmVwaGVsZQ ops@example"}),
    )
    .await;
    let fingerprint = key["fingerprint"].as_str().expect("fingerprint").to_owned();
    // The key by fingerprint in an instance create.
    let with_key = app
        .post(
            &format!("{DO}/instances"),
            json!({"name": "keyed", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64", "ssh_keys": [fingerprint]}),
        )
        .await;
    change(&app, with_key).await;

    let out = json!({"protocol": "tcp", "ports": {"kind": "all"}, "targets": {"addresses": ["0.0.0.0/0"]}});
    let firewall = create(&app, "firewalls", json!({"name": "web", "outbound": [out]})).await;
    let firewall_id = firewall["id"].as_str().expect("firewall id").to_owned();
    let rule = json!({"protocol": "tcp", "ports": {"kind": "range", "from": 22, "to": 22}, "targets": {"addresses": ["0.0.0.0/0"]}});
    let rules = json!({"type": "set_rules", "inbound": [rule], "outbound": [out]});
    act(&app, "firewalls", &firewall_id, rules).await;
    act(&app, "firewalls", &firewall_id, json!({"type": "add_instances", "instance_ids": [web]})).await;
    let read = json(app.get(&format!("{DO}/firewalls/{firewall_id}")).await).await;
    assert_eq!(read["inbound"].as_array().map(Vec::len), Some(1), "{read}");
    assert_eq!(read["instance_ids"], json!([web]));
    let wrong = app
        .post(&format!("{DO}/firewalls/{firewall_id}/actions"), json!({"type": "attach", "instance_id": web}))
        .await;
    assert_eq!(wrong.status(), 422, "a firewall is not attached");

    let vpc =
        create(&app, "vpcs", json!({"name": "private", "region": "nyc1", "ip_range": "10.20.0.0/24"})).await;
    let vpc_id = vpc["id"].as_str().expect("vpc id").to_owned();
    let members = app.get(&format!("{DO}/vpcs/{vpc_id}/members")).await;
    assert_eq!(members.status(), 200);
    assert_eq!(json(members).await["members"], json!([]), "a new VPC is empty");
    assert_eq!(app.get(&format!("{DO}/volumes/{vpc_id}/members")).await.status(), 404);
    // A droplet in the VPC is its member. Nephele's instance create takes no VPC: the droplet is
    // made by another client of the account.
    let inside = json!({"name": "inside", "size": "s-1vcpu-1gb", "region": "nyc1", "image": "ubuntu-24-04-x64", "vpc_uuid": vpc_id});
    let made = app
        .http
        .post(format!("{}/v2/droplets", app.sim.base_url()))
        .bearer_auth(crate::helpers::DO_TOKEN)
        .json(&inside)
        .send()
        .await
        .expect("make a droplet in the VPC");
    assert_eq!(made.status(), 202);
    let inside = json(made).await["droplet"]["id"].to_string();
    let members = json(app.get(&format!("{DO}/vpcs/{vpc_id}/members")).await).await;
    let members = members["members"].as_array().expect("members");
    assert!(members.iter().any(|m| m["kind"] == "instance" && m["id"] == inside.as_str()), "{members:?}");
    act(&app, "firewalls", &firewall_id, json!({"type": "remove_instances", "instance_ids": [web]})).await;
    let read = json(app.get(&format!("{DO}/firewalls/{firewall_id}")).await).await;
    assert_eq!(read["instance_ids"], json!([]), "{read}");
    change(&app, app.delete(&format!("{DO}/instances/{inside}")).await).await;

    for (kind, id) in [("firewalls", &firewall_id), ("vpcs", &vpc_id), ("ssh-keys", &key["id"].to_string())] {
        let id = id.trim_matches('"');
        change(&app, app.delete(&format!("{DO}/{kind}/{id}")).await).await;
        let listed = json(app.get(&format!("{DO}/{kind}")).await).await;
        assert!(
            !listed["resources"]
                .as_array()
                .expect("list")
                .iter()
                .any(|r| r["id"].to_string().trim_matches('"') == id)
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retried_create_one_volume() {
    let app = spawn_app().await;
    let send = || {
        app.http
            .post(app.url(&format!("{DO}/volumes")))
            .header("Idempotency-Key", "vol-once")
            .json(&json!({"name": "once", "size_gib": 5}))
            .send()
    };
    let first = json(send().await.expect("first")).await;
    let second = json(send().await.expect("second")).await;
    assert_eq!(first["operation_id"], second["operation_id"]);
    let live = json(app.get(&format!("{DO}/volumes?fresh=true")).await).await;
    assert_eq!(live["resources"].as_array().map(Vec::len), Some(1), "{live}");
}

#[tokio::test]
async fn instance_lists_page_too_and_without_a_limit_come_whole() {
    let app = crate::helpers::spawn_app_with(7, std::time::Duration::from_millis(50)).await;
    let whole = json(app.get(&format!("{DO}/instances")).await).await;
    assert_eq!(whole["instances"].as_array().map(Vec::len), Some(7));
    assert!(whole.get("next").is_none(), "the seed's shape, unchanged: {whole}");
    for base in [format!("{DO}/instances"), "/api/v1/instances".to_owned()] {
        let mut seen = Vec::new();
        let mut url = format!("{base}?limit=3");
        loop {
            let page = json(app.get(&url).await).await;
            let ids = page["instances"].as_array().expect("page");
            assert!(ids.len() <= 3);
            seen.extend(ids.iter().map(|i| i["id"].as_str().expect("id").to_owned()));
            match page["next"].as_str() {
                Some(next) => url = format!("{base}?limit=3&cursor={next}"),
                None => break,
            }
        }
        let mut all: Vec<String> = whole["instances"]
            .as_array()
            .expect("list")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect();
        all.sort();
        assert_eq!(seen, all, "{base}: the pages are the whole list, in id order");
    }
    assert_eq!(app.get(&format!("{DO}/instances?limit=5000")).await.status(), 422);
    assert_eq!(app.get(&format!("{DO}/instances?cursor=00")).await.status(), 422);
}

/// Issue 21's size: 10,000 droplets, 5,000 volumes, 2,000 snapshots and 1,000 reserved IPs on
/// dosim. The first load (every kind in one refresh) is timed, then the waste report, answered
/// from memory, 40 times: its median is printed (the README quotes a release build's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_account_is_loaded_in_one_refresh_and_its_waste_is_answered_from_memory() {
    use std::time::{Duration, Instant};
    nephele_digitalocean::install_crypto_provider();
    let sim = dosim::Simulator::new(dosim::SimConfig {
        tokens: vec![crate::helpers::DO_TOKEN.to_owned()],
        transition: Duration::from_millis(50),
        droplets: 10_000,
        fixtures: dosim::Fixtures { volumes: 5_000, snapshots: 2_000, reserved_ips: 1_000 },
        limits: dosim::Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..dosim::Limits::default() },
        ..dosim::SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("bind dosim");
    let url = sim.base_url();
    let started = Instant::now();
    let app = crate::helpers::spawn_app_on(
        sim,
        &url,
        crate::helpers::Extra {
            rest: "auth:\n  required: false\ninventory:\n  read_budget_ms: 60000\n",
            ..Default::default()
        },
    )
    .await;
    let volumes = json(app.get(&format!("{DO}/volumes")).await).await;
    let loaded = started.elapsed();
    assert_eq!(volumes["resources"].as_array().map(Vec::len), Some(5_000));
    let ips = json(app.get(&format!("{DO}/reserved-ips?limit=1000")).await).await;
    assert_eq!(ips["resources"].as_array().map(Vec::len), Some(1_000));
    let mut took = Vec::new();
    let mut report = Value::Null;
    for _ in 0..40 {
        let asked = Instant::now();
        let response = app.get("/api/v1/costs/waste").await;
        assert_eq!(response.status(), 200);
        report = json(response).await;
        took.push(asked.elapsed());
    }
    took.sort();
    let p50 = took[took.len() / 2];
    let items = report["items"].as_array().map_or(0, Vec::len);
    eprintln!(
        "first load of 10,000 droplets + 5,000 volumes + 2,000 snapshots + 1,000 IPs: {loaded:?}; waste report ({items} items, {} a month): p50 {p50:?}, max {:?}",
        report["totals"][0]["monthly_cost"],
        took.last().copied().unwrap_or_default()
    );
    assert!(items > 0, "{report}");
    assert!(
        app.upstream("volumes_list") <= 50,
        "the waste report reads no cloud: {}",
        app.upstream("volumes_list")
    );
}

/// Runs `call`, and says how long it took.
async fn timed<T>(call: impl std::future::Future<Output = T>) -> (T, std::time::Duration) {
    let started = std::time::Instant::now();
    let answer = call.await;
    (answer, started.elapsed())
}

fn lists_key(listed: &Value, name: &str) -> bool {
    listed["resources"].as_array().is_some_and(|all| all.iter().any(|k| k["name"] == name))
}

/// Every refresh reads SSH keys, whose list DigitalOcean limits to 10 a minute on its own. With
/// dosim's default limits (nothing lifted) and that limit spent by another program on the same
/// token: the inventory's SSH-key list meets the 429, which holds that list only; many fresh
/// reads and refreshes in a row, droplet lists and a create still answer promptly; and the SSH
/// keys are still listed, from their last list, marked stale and saying why.
#[tokio::test]
async fn ssh_keys_past_their_own_limit_leave_droplets_and_creates_prompt_and_stay_listed() {
    use std::time::Duration;

    use crate::helpers::{DO_TOKEN, Extra, spawn_app_on};

    nephele_digitalocean::install_crypto_provider();
    let sim = dosim::Simulator::new(dosim::SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        transition: Duration::from_millis(150),
        droplets: 3,
        limits: dosim::Limits::default(),
        ..dosim::SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("bind dosim");
    let base = sim.base_url();
    let outside = reqwest::Client::new();
    let keys = format!("{base}/v2/account/keys");
    let made = outside
        .post(&keys)
        .bearer_auth(DO_TOKEN)
        .json(&json!({"name": "deploy", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0aG9uZXN0bHkgYSB0ZXN0IGtleSBmb3IgbmVwaGVsZQ deploy@example"}))
        .send()
        .await
        .expect("make a key");
    assert_eq!(made.status(), 201);
    // SSH keys are listed every 6 s at most (all of 10 a minute); the copy is otherwise kept long.
    let rest = "auth:\n  required: false\ninventory:\n  max_refresh_share: 1.0\n";
    let app = spawn_app_on(sim, &base, Extra { rest, ..Extra::default() }).await;
    let listed = json(app.get(&format!("{DO}/ssh-keys")).await).await;
    assert!(lists_key(&listed, "deploy") && listed["stale"] == false, "{listed}");

    // Another program on the token spends the SSH-key list's limit.
    let mut refused = false;
    for _ in 0..11 {
        let answer = outside.get(&keys).bearer_auth(DO_TOKEN).send().await.expect("list keys");
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
    }
    assert!(refused, "dosim refuses the 11th SSH-key list of a minute");
    let lists_before = app.upstream("sshKeys_list");

    // Fresh reads until the inventory's next SSH-key list has met the 429 (within 6 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let stale = loop {
        let (answer, took) = timed(app.get(&format!("{DO}/ssh-keys?fresh=true"))).await;
        assert!(took < Duration::from_secs(3), "a fresh SSH-key list answers promptly: {took:?}");
        let listed = json(answer).await;
        assert!(lists_key(&listed, "deploy"), "the key stays listed: {listed}");
        if listed["stale"] == true {
            break listed;
        }
        assert!(std::time::Instant::now() < deadline, "the SSH-key list never met the 429: {listed}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(stale["errors"][0]["code"], "provider_rate_limited", "{stale}");

    // Many fresh reads in a row: every droplet list answers promptly, fresh and complete.
    for _ in 0..10 {
        let (answer, took) = timed(app.get(&format!("{DO}/instances?fresh=true"))).await;
        assert!(took < Duration::from_secs(3), "a fresh droplet list is not held: {took:?}");
        let listed = json(answer).await;
        assert_eq!(listed["stale"], false, "{listed}");
        assert_eq!(listed["instances"].as_array().map(Vec::len), Some(3), "{listed}");
    }
    // A create goes through at once (its operation succeeds), and the next list shows it.
    let (created, took) = timed(droplet(&app, "after-the-429")).await;
    assert!(took < Duration::from_secs(10), "a create is not held: {took:?}");
    let listed = json(app.get(&format!("{DO}/instances?fresh=true")).await).await;
    assert!(
        listed["instances"].as_array().expect("list").iter().any(|i| i["id"] == created.as_str()),
        "{listed}"
    );
    let listed = json(app.get(&format!("{DO}/ssh-keys")).await).await;
    assert!(lists_key(&listed, "deploy") && listed["stale"] == true, "{listed}");
    // The held list was sent once (the 429), then not again while held.
    assert!(
        app.upstream("sshKeys_list") <= lists_before + 1,
        "{} lists after {lists_before}",
        app.upstream("sshKeys_list")
    );
    // dosim's 429s: the one the other program met and the inventory's, no more.
    assert_eq!(app.sim.stats().rate_limited, 2, "{:?}", app.sim.stats());
}
