//! Spend through the API against dosim, both on set clocks: the cost history of a fleet created,
//! powered off and deleted at known times equals the per-second costs worked out by hand, to the
//! cent, by account, region and tag (and the CSV has the JSON's rows); budgets' figures and
//! thresholds; the guardrail that refuses a create before any call to the cloud.
//!
//! Prices (dosim's /v2/sizes, monthly / 672 to 5 places): s-1vcpu-2gb $12 = $0.01786/h,
//! s-2vcpu-2gb $18 = $0.02679/h.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dosim::{Limits, SimConfig, Simulator};
use nephele_server::AppState;
use nephele_server::{App, Config};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{DO_TOKEN, TestApp, json};

pub const LIST: &str = "/api/v1/providers/digitalocean/instances";

fn at(raw: &str) -> OffsetDateTime {
    OffsetDateTime::parse(raw, &Rfc3339).expect("time")
}

/// A simulator on a clock standing at `start`.
async fn sim_at(start: &str) -> dosim::RunningSim {
    nephele_digitalocean::install_crypto_provider();
    Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        transition: Duration::from_millis(50),
        clock: Some(at(start)),
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("bind dosim")
}

/// A server and its simulator, both on clocks standing at `start`, with `extra` YAML.
pub async fn spawn_on_clocks(start: &str, extra: &str) -> (TestApp, Arc<AppState>) {
    let sim = sim_at(start).await;
    serve(sim, start, extra).await
}

/// A server on `sim`, its clock standing at `start`, with `extra` YAML.
async fn serve(sim: dosim::RunningSim, start: &str, extra: &str) -> (TestApp, Arc<AppState>) {
    let data = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/nephele.db", data.path().display());
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nauth:\n  required: false\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\ndatabase:\n  url: {database_url}\noperations:\n  poll_interval_ms: 50\ncosts:\n  clock: {start}\n{extra}",
        sim.base_url(),
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    let state = app.state();
    tokio::spawn(app.run());
    (TestApp { base, sim, http: reqwest::Client::new(), _data: data, database_url }, state)
}

/// Moves both clocks to `to` and waits until the history is recorded up to it with `resources`
/// followed.
pub async fn move_clocks(app: &TestApp, state: &AppState, to: &str, resources: i64) {
    app.sim.set_clock(at(to)).expect("sim clock");
    state.spend.clock.set(at(to)).expect("nephele clock");
    wait_recorded(app, to, resources).await;
}

pub async fn wait_recorded(app: &TestApp, until: &str, resources: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = json(app.get("/api/v1/costs/history?from=2026-01-01").await).await;
        let recorded = &body["recorded"][0];
        if recorded["until"] == until && recorded["resources"] == resources {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "history never recorded to {until} with {resources}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn create(app: &TestApp, name: &str, size: &str, region: &str, tag: &str) -> String {
    let response = app
        .post(LIST, json!({"name": name, "type": size, "region": region, "image_id": "ubuntu-24-04-x64", "tags": [tag]}))
        .await;
    let status = response.status();
    let body = json(response).await;
    assert_eq!(status, 202, "create {name}: {body}");
    let op = body["operation_id"].as_str().expect("operation").to_owned();
    let done = app.wait_for_operation(&op, None).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    done["result"]["instance_ids"][0]
        .as_str()
        .map(str::to_owned)
        .or_else(|| body["instance"]["id"].as_str().map(str::to_owned))
        .expect("instance id")
}

async fn rows(app: &TestApp, query: &str) -> Vec<Value> {
    let body = json(app.get(&format!("/api/v1/costs/history?{query}")).await).await;
    body["rows"].as_array().unwrap_or_else(|| panic!("rows: {body}")).clone()
}

/// `(start, group, amount, amount_exact)` of each row.
fn figures(rows: &[Value]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["start"].as_str().unwrap_or_default().to_owned(),
                r["group"].as_str().unwrap_or("-").to_owned(),
                r["amount"].as_str().unwrap_or_default().to_owned(),
                r["amount_exact"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn row(start: &str, group: &str, amount: &str, exact: &str) -> (String, String, String, String) {
    (start.to_owned(), group.to_owned(), amount.to_owned(), exact.to_owned())
}

/// A at 10:00 (s-1vcpu-2gb, nyc1, team:web), deleted at 13:00; B at 10:00 (s-2vcpu-2gb, nyc1,
/// team:db), powered off at 12:00 (still billed on DigitalOcean); C at 11:30 (s-1vcpu-2gb, sfo3,
/// team:web); read at 15:00.
async fn the_fleet() -> (TestApp, Arc<AppState>) {
    let (app, state) = spawn_on_clocks("2026-03-10T10:00:00Z", "").await;
    let a = create(&app, "a", "s-1vcpu-2gb", "nyc1", "team:web").await;
    let b = create(&app, "b", "s-2vcpu-2gb", "nyc1", "team:db").await;
    wait_recorded(&app, "2026-03-10T10:00:00Z", 2).await;
    move_clocks(&app, &state, "2026-03-10T11:30:00Z", 2).await;
    create(&app, "c", "s-1vcpu-2gb", "sfo3", "team:web").await;
    wait_recorded(&app, "2026-03-10T11:30:00Z", 3).await;
    move_clocks(&app, &state, "2026-03-10T12:00:00Z", 3).await;
    let off = json(app.post(&format!("{LIST}/{b}/actions"), json!({"type": "power_off"})).await).await;
    let op = off["operation_id"].as_str().expect("operation").to_owned();
    assert_eq!(app.wait_for_operation(&op, None).await["state"], "succeeded");
    move_clocks(&app, &state, "2026-03-10T13:00:00Z", 3).await;
    let deleted = app.delete(&format!("{LIST}/{a}")).await;
    // Done at once (204), or followed to its end (202).
    if deleted.status() == 202 {
        let op = json(deleted).await["operation_id"].as_str().expect("operation").to_owned();
        assert_eq!(app.wait_for_operation(&op, None).await["state"], "succeeded");
    } else {
        assert_eq!(deleted.status(), 204);
    }
    wait_recorded(&app, "2026-03-10T13:00:00Z", 2).await;
    move_clocks(&app, &state, "2026-03-10T15:00:00Z", 2).await;
    (app, state)
}

#[tokio::test]
async fn hourly_and_daily_history_equals_the_per_second_costs_by_hand() {
    let (app, _state) = the_fleet().await;
    // Hour by hour, the account: 10 h A+B = 0.01786+0.02679 = 0.04465. 11 h A+B and C's first
    // half hour, 0.00893, raised to DigitalOcean's minimum of $0.01 (charged as it is reached):
    // 0.05465. 12 h A+B and C's next hour less what the minimum already charged
    // (0.02679 - 0.01 = 0.01679): 0.06144. 13 h and 14 h B+C.
    let hourly =
        rows(&app, "from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z&step=hour&group_by=account").await;
    assert_eq!(
        figures(&hourly),
        vec![
            row("2026-03-10T10:00:00Z", "digitalocean", "0.04", "0.04465"),
            row("2026-03-10T11:00:00Z", "digitalocean", "0.05", "0.05465"),
            row("2026-03-10T12:00:00Z", "digitalocean", "0.06", "0.06144"),
            row("2026-03-10T13:00:00Z", "digitalocean", "0.04", "0.04465"),
            row("2026-03-10T14:00:00Z", "digitalocean", "0.04", "0.04465"),
        ]
    );
    assert!(hourly.iter().all(|r| r["estimated"] == false), "every span was seen: {hourly:?}");
    // The day: A 3 h = 0.05358, B 5 h = 0.13395, C 3.5 h = 0.06251.
    let daily = rows(&app, "from=2026-03-10&to=2026-03-11&step=day&group_by=account").await;
    assert_eq!(figures(&daily), vec![row("2026-03-10T00:00:00Z", "digitalocean", "0.25", "0.25004")]);
    let by_region = rows(&app, "from=2026-03-10&to=2026-03-11&step=day&group_by=region").await;
    assert_eq!(
        figures(&by_region),
        vec![
            row("2026-03-10T00:00:00Z", "nyc1", "0.19", "0.18753"),
            row("2026-03-10T00:00:00Z", "sfo3", "0.06", "0.06251"),
        ]
    );
    let by_team = rows(&app, "from=2026-03-10&to=2026-03-11&step=day&group_by=tag:team").await;
    assert_eq!(
        figures(&by_team),
        vec![
            row("2026-03-10T00:00:00Z", "db", "0.13", "0.13395"),
            row("2026-03-10T00:00:00Z", "web", "0.12", "0.11609"),
        ]
    );
}

#[tokio::test]
async fn the_csv_has_the_json_rows_with_a_header() {
    let (app, _state) = the_fleet().await;
    let query = "from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z&step=hour&group_by=region";
    let json_rows = rows(&app, query).await;
    let response = app.get(&format!("/api/v1/costs/history.csv?{query}")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/csv"));
    let csv = response.text().await.expect("text");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("start,end,group,currency,amount,amount_exact,estimated,estimated_amount"));
    let from_json: Vec<String> = json_rows
        .iter()
        .map(|r| {
            format!(
                "{},{},{},{},{},{},{},{}",
                r["start"].as_str().unwrap_or_default(),
                r["end"].as_str().unwrap_or_default(),
                r["group"].as_str().unwrap_or_default(),
                r["currency"].as_str().unwrap_or_default(),
                r["amount"].as_str().unwrap_or_default(),
                r["amount_exact"].as_str().unwrap_or_default(),
                r["estimated"],
                r["estimated_amount"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(lines.map(str::to_owned).collect::<Vec<_>>(), from_json);
    assert_eq!(from_json.len(), 9, "nyc1 10-14 h, sfo3 11-14 h: {csv}");
}

#[tokio::test]
async fn a_droplet_older_than_nephele_is_estimated_from_its_creation() {
    // Created on dosim at 10:00; Nephele starts at 12:30.
    let sim = sim_at("2026-03-10T10:00:00Z").await;
    let created = reqwest::Client::new()
        .post(format!("{}/v2/droplets", sim.base_url()))
        .bearer_auth(DO_TOKEN)
        .json(&json!({"name": "old", "region": "nyc1", "size": "s-2vcpu-2gb", "image": "ubuntu-24-04-x64"}))
        .send()
        .await
        .expect("create on dosim");
    assert_eq!(created.status(), 202);
    sim.set_clock(at("2026-03-10T12:30:00Z")).expect("sim clock");
    let (app, state) = serve(sim, "2026-03-10T12:30:00Z", "").await;
    wait_recorded(&app, "2026-03-10T12:30:00Z", 1).await;
    let hourly = rows(&app, "from=2026-03-10&to=2026-03-11&step=hour").await;
    assert_eq!(
        figures(&hourly),
        vec![
            row("2026-03-10T10:00:00Z", "digitalocean", "0.03", "0.02679"),
            row("2026-03-10T11:00:00Z", "digitalocean", "0.03", "0.02679"),
            row("2026-03-10T12:00:00Z", "digitalocean", "0.01", "0.013395"),
        ]
    );
    assert!(hourly.iter().all(|r| r["estimated"] == true), "{hourly:?}");
    // What Nephele sees from now on is not estimated.
    move_clocks(&app, &state, "2026-03-10T13:30:00Z", 1).await;
    let later = rows(&app, "from=2026-03-10T13:00:00Z&to=2026-03-10T14:00:00Z&step=hour").await;
    assert_eq!(later[0]["estimated"], false, "{later:?}");
    assert_eq!(later[0]["amount_exact"], "0.013395");
}

#[tokio::test]
async fn history_queries_name_the_bad_parameter() {
    let (app, _state) = spawn_on_clocks("2026-03-10T10:00:00Z", "").await;
    for (query, field) in [
        ("step=week", "step"),
        ("group_by=colour", "group_by"),
        ("from=yesterday", "from"),
        ("from=2026-03-10&to=2026-03-01", "from"),
        ("from=2000-01-01&to=2026-01-01&step=hour", "from"),
        ("colour=red", "colour"),
        // The document's patterns, which the API holds to: no lower-case `t`, no leap second,
        // no fraction past nanoseconds, no bare hour offset; a tag key of tag characters.
        ("from=2026-03-01t00:00:00Z", "from"),
        ("to=2026-03-31T23:59:60Z", "to"),
        ("from=2026-03-01T00:00:00.1234567891Z", "from"),
        ("from=2026-03-01T00:00:00+01", "from"),
        ("group_by=tag:team%20name", "group_by"),
        // The shape is right, the calendar has no such day.
        ("from=2026-02-30", "from"),
    ] {
        let response = app.get(&format!("/api/v1/costs/history?{query}")).await;
        assert_eq!(response.status(), 422, "{query}");
        let body = json(response).await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
}

async fn delete_and_wait(app: &TestApp, id: &str) {
    let deleted = app.delete(&format!("{LIST}/{id}")).await;
    if deleted.status() == 202 {
        let op = json(deleted).await["operation_id"].as_str().expect("operation").to_owned();
        assert_eq!(app.wait_for_operation(&op, None).await["state"], "succeeded");
    } else {
        assert_eq!(deleted.status(), 204);
    }
}

#[tokio::test]
async fn the_month_to_date_agrees_with_digitaloceans_bill_to_the_cent() {
    let (app, state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    let a = create(&app, "a", "s-1vcpu-2gb", "nyc1", "team:web").await;
    let b = create(&app, "b", "s-2vcpu-2gb", "nyc1", "team:db").await;
    wait_recorded(&app, "2026-03-01T00:00:00Z", 2).await;
    // Day 5: B is powered off (DigitalOcean bills it all the same) and C is made.
    move_clocks(&app, &state, "2026-03-05T00:00:00Z", 2).await;
    let off = json(app.post(&format!("{LIST}/{b}/actions"), json!({"type": "power_off"})).await).await;
    let op = off["operation_id"].as_str().expect("operation").to_owned();
    assert_eq!(app.wait_for_operation(&op, None).await["state"], "succeeded");
    create(&app, "c", "s-1vcpu-1gb", "sfo3", "team:web").await;
    wait_recorded(&app, "2026-03-05T00:00:00Z", 3).await;
    // Day 10, noon: A is deleted.
    move_clocks(&app, &state, "2026-03-10T12:00:00Z", 3).await;
    delete_and_wait(&app, &a).await;
    wait_recorded(&app, "2026-03-10T12:00:00Z", 2).await;
    // Day 12: D lives 30 seconds (DigitalOcean's $0.01 minimum).
    move_clocks(&app, &state, "2026-03-12T00:00:00Z", 2).await;
    let d = create(&app, "d", "s-1vcpu-1gb", "nyc1", "team:web").await;
    wait_recorded(&app, "2026-03-12T00:00:00Z", 3).await;
    move_clocks(&app, &state, "2026-03-12T00:00:30Z", 3).await;
    delete_and_wait(&app, &d).await;
    wait_recorded(&app, "2026-03-12T00:00:30Z", 2).await;
    move_clocks(&app, &state, "2026-03-20T00:00:00Z", 2).await;

    let costs = json(app.get("/api/v1/costs").await).await;
    let bill = &costs["bills"][0];
    assert_eq!(bill["account"], "digitalocean", "{costs}");
    assert_eq!(bill["status"], "reconciled", "{bill}");
    // By hand: A 228 h x 0.01786 = 4.07208; B 456 h x 0.02679 = 12.21624; C 360 h x 0.00893 =
    // 3.2148; D the minimum 0.01. 19.51312.
    assert_eq!(bill["nephele_month_to_date"], "19.51", "{bill}");
    assert_eq!(bill["cloud"]["month_to_date_usage"], "19.51", "{bill}");
    assert_eq!(bill["difference"], "0.00", "{bill}");
    assert_eq!(bill["cloud"]["invoice_period"], "2026-03", "{bill}");
    // Read once for the hour: a second look costs DigitalOcean nothing.
    let balance_reads = app.upstream("balance_get");
    json(app.get("/api/v1/costs").await).await;
    assert_eq!(app.upstream("balance_get"), balance_reads);
}

/// A droplet with backups on (DigitalOcean's default plan for a create that names none: daily,
/// 30 % of the droplet's charge), followed to its end.
async fn create_with_backups(app: &TestApp, name: &str, size: &str) -> String {
    let body = json!({"name": name, "type": size, "region": "nyc1", "image_id": "ubuntu-24-04-x64", "tags": ["team:web"], "backups": true});
    let response = app.post(LIST, body).await;
    assert_eq!(response.status(), 202);
    let op = json(response).await["operation_id"].as_str().expect("operation").to_owned();
    let done = app.wait_for_operation(&op, None).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    done["result"]["instance_ids"][0].as_str().expect("instance id").to_owned()
}

#[tokio::test]
async fn backups_are_accrued_run_and_billed_alike_to_the_cent() {
    let (app, state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    create_with_backups(&app, "a", "s-1vcpu-2gb").await;
    create(&app, "b", "s-2vcpu-2gb", "nyc1", "team:db").await;
    wait_recorded(&app, "2026-03-01T00:00:00Z", 2).await;
    move_clocks(&app, &state, "2026-03-10T12:00:00Z", 2).await;

    // By hand, 228 h: A 228 x 0.01786 = 4.07208 and its daily backups 30 % of it, 1.221624;
    // B 228 x 0.02679 = 6.10812 without. Month to date 11.401824.
    let costs = json(app.get("/api/v1/costs").await).await;
    let bill = &costs["bills"][0];
    assert_eq!(bill["status"], "reconciled", "{bill}");
    assert_eq!(bill["nephele_month_to_date"], "11.40", "{bill}");
    assert_eq!(bill["cloud"]["month_to_date_usage"], "11.40", "{bill}");
    assert_eq!(bill["difference"], "0.00", "{bill}");
    // The run-rate: A 0.01786 x 1.3 = 0.023218 an hour and $15.60 a month; B 0.02679 and $18.
    assert_eq!(costs["run_rate"]["hourly"], "0.050008", "{costs}");
    assert_eq!(costs["run_rate"]["monthly"], "33.60", "{costs}");
    assert_eq!(costs["month_to_date"], "11.40", "{costs}");
    // The history by tag: A's backups are in its own row.
    let by_tag = rows(&app, "from=2026-03-01&to=2026-03-11&step=month&group_by=tag:team").await;
    assert_eq!(
        figures(&by_tag),
        vec![
            row("2026-03-01T00:00:00Z", "db", "6.11", "6.10812"),
            row("2026-03-01T00:00:00Z", "web", "5.29", "5.293704"),
        ]
    );
}

/// A server on `base_url` (a simulator another test owns), on `database_url`, its clock at
/// `start`: one replica.
async fn replica(base_url: &str, start: &str, database_url: &str) -> (String, Arc<AppState>) {
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nauth:\n  required: false\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {base_url}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\ndatabase:\n  url: {database_url}\noperations:\n  poll_interval_ms: 50\ncosts:\n  clock: {start}\n"
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    let state = app.state();
    tokio::spawn(app.run());
    (base, state)
}

#[tokio::test]
async fn two_replicas_on_postgresql_record_each_span_once() {
    use std::sync::atomic::Ordering;

    let database = crate::postgres::TestDatabase::create().await;
    let sim = sim_at("2026-03-10T10:00:00Z").await;
    let (a, state_a) = replica(&sim.base_url(), "2026-03-10T10:00:00Z", &database.url).await;
    let (b, state_b) = replica(&sim.base_url(), "2026-03-10T10:00:00Z", &database.url).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{a}{LIST}"))
        .json(&json!({"name": "shared", "type": "s-1vcpu-2gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 202);
    // Both replicas' inventories hold it before time moves.
    for base in [&a, &b] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let list: Value = http
                .get(format!("{base}{LIST}?fresh=true"))
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            if list.to_string().contains("\"shared\"") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{base} never saw it");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    sim.set_clock(at("2026-03-10T12:00:00Z")).expect("sim clock");
    let before_b = state_b.spend.evaluations.load(Ordering::Relaxed);
    state_a.spend.clock.set(at("2026-03-10T12:00:00Z")).expect("clock a");
    state_b.spend.clock.set(at("2026-03-10T12:00:00Z")).expect("clock b");
    // Replica b records after the move: its round after a second nudge of its clock (to the
    // same time) surely began after the move.
    let wait_b = |since: u64| {
        let state_b = state_b.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while state_b.spend.evaluations.load(Ordering::Relaxed) <= since {
                assert!(tokio::time::Instant::now() < deadline, "replica b never recorded");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    wait_b(before_b).await;
    let again = state_b.spend.evaluations.load(Ordering::Relaxed);
    state_b.spend.clock.set(at("2026-03-10T12:00:00Z")).expect("clock b");
    wait_b(again).await;
    for base in [&a, &b] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let body: Value = http
                .get(format!("{base}/api/v1/costs/history?from=2026-03-10&to=2026-03-11&step=day"))
                .send()
                .await
                .expect("history")
                .json()
                .await
                .expect("json");
            if body["recorded"][0]["until"] == "2026-03-10T12:00:00Z" {
                // Two hours of $0.01786, once.
                assert_eq!(body["rows"][0]["amount_exact"], "0.03572", "{body}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{body}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    database.cleanup().await;
}
