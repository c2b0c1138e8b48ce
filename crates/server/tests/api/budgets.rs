//! Budgets through the API against dosim on set clocks: forecasts worked out by hand (a month
//! whose fleet changes mid-month, a quarter across a month's end, a tag-scoped budget), threshold
//! alerts raised once when crossed and once when they recover, and the guardrail: `block`
//! refuses before any call to DigitalOcean, `warn` warns, an admin's override is recorded (on
//! the budget and in the audit log), and of 20 concurrent creates exactly those that fit pass —
//! for instances, volumes and reserved IPs alike.
//!
//! s-1vcpu-2gb is $12/month, $0.01786/hour; s-2vcpu-2gb $18/month, $0.02679/hour. A volume is
//! $0.10 per GiB-month and an unassigned reserved IP $5.00 a month, each over 730 hours and at
//! most its monthly figure in a calendar month: from 2026-03-01 to the month's end (744 h) a
//! 100 GiB volume costs its cap, $10.00, and an unassigned reserved IP $5.00.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, json};
use crate::spend::{LIST, create, move_clocks, spawn_on_clocks, wait_recorded};

async fn make_budget(app: &TestApp, body: Value) -> Value {
    let response = app.post("/api/v1/budgets", body).await;
    let status = response.status();
    let body = json(response).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn budget(app: &TestApp, id: &str) -> Value {
    json(app.get(&format!("/api/v1/budgets/{id}")).await).await
}

fn id(budget: &Value) -> String {
    budget["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_month_whose_fleet_changes_mid_month_forecasts_spent_plus_the_run_rate_to_its_end() {
    let (app, state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    let month = make_budget(&app, json!({"name": "march", "amount": "100", "period": "month"})).await;
    let db_only =
        make_budget(&app, json!({"name": "db", "amount": "50", "scope": {"tags": ["team:db"]}})).await;
    create(&app, "a", "s-1vcpu-2gb", "nyc1", "team:web").await;
    wait_recorded(&app, "2026-03-01T00:00:00Z", 1).await;
    // A alone for the month: 744 h x 0.01786 = 13.28784, capped at $12.
    assert_eq!(budget(&app, &id(&month)).await["figures"]["forecast"], "12.00");
    move_clocks(&app, &state, "2026-03-16T00:00:00Z", 1).await;
    create(&app, "b", "s-2vcpu-2gb", "nyc1", "team:db").await;
    wait_recorded(&app, "2026-03-16T00:00:00Z", 2).await;
    let figures = budget(&app, &id(&month)).await["figures"].clone();
    // Spent: A's 360 h = 6.4296. To the month's end: A up to its cap, 12 - 6.4296 = 5.5704;
    // B's 384 h = 10.28736. Forecast 22.28736.
    assert_eq!(figures["spent"], "6.43", "{figures}");
    assert_eq!(figures["run_rate_to_end"], "15.86", "{figures}");
    assert_eq!(figures["forecast"], "22.29", "{figures}");
    assert_eq!(figures["period"], "2026-03");
    assert!(figures["forecast_method"].as_str().unwrap_or_default().contains("spent +"), "{figures}");
    // Scoped to team:db: B only, nothing spent yet.
    let db = budget(&app, &id(&db_only)).await["figures"].clone();
    assert_eq!((db["spent"].as_str(), db["forecast"].as_str()), (Some("0.00"), Some("10.29")), "{db}");
}

#[tokio::test]
async fn a_quarter_across_a_months_end_caps_each_month() {
    let (app, state) = spawn_on_clocks("2026-05-20T00:00:00Z", "").await;
    let quarter = make_budget(&app, json!({"name": "q2", "amount": "100", "period": "quarter"})).await;
    let year = make_budget(&app, json!({"name": "y", "amount": "1000", "period": "year"})).await;
    create(&app, "a", "s-1vcpu-2gb", "nyc1", "team:web").await;
    wait_recorded(&app, "2026-05-20T00:00:00Z", 1).await;
    // May's last 12 days: 288 h x 0.01786 = 5.14368; June capped at 12.
    assert_eq!(budget(&app, &id(&quarter)).await["figures"]["forecast"], "17.14");
    // The year: May's rest and seven capped months.
    assert_eq!(budget(&app, &id(&year)).await["figures"]["forecast"], "89.14");
    move_clocks(&app, &state, "2026-06-10T00:00:00Z", 1).await;
    let figures = budget(&app, &id(&quarter)).await["figures"].clone();
    // Spent: May 5.14368 + June's 216 h 3.85776 = 9.00144; June's rest to its cap 8.14224.
    assert_eq!(figures["spent"], "9.00", "{figures}");
    assert_eq!(figures["forecast"], "17.14", "{figures}");
    assert_eq!(figures["period"], "2026-Q2");
}

/// Alerts of one event on a budget.
async fn alerts(app: &TestApp, budget_id: &str, event: &str) -> Vec<Value> {
    budget(app, budget_id).await["alerts"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["event"] == event).cloned().collect())
        .unwrap_or_default()
}

async fn wait_alerts(app: &TestApp, budget_id: &str, event: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = alerts(app, budget_id, event).await;
        if found.len() >= count {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {event} alert on {budget_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_forecast_threshold_is_crossed_once_by_a_create_and_recovers_once_after_a_delete() {
    let (app, state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    let b = make_budget(
        &app,
        json!({"name": "small", "amount": "20", "thresholds": [{"at": "80%", "basis": "forecast"}, {"at": "19", "basis": "actual"}]}),
    )
    .await;
    let budget_id = id(&b);
    create(&app, "a", "s-1vcpu-2gb", "nyc1", "team:web").await;
    wait_recorded(&app, "2026-03-01T00:00:00Z", 1).await;
    assert_eq!(budget(&app, &budget_id).await["thresholds"][0]["state"], "ok");
    // A second $12 month: forecast 24 >= 16.
    let second = create(&app, "b", "s-1vcpu-2gb", "nyc1", "team:web").await;
    let crossed = wait_alerts(&app, &budget_id, "nephele.budget.threshold_crossed", 1).await;
    assert_eq!(crossed[0]["data"]["threshold"]["level"], "16.00");
    assert_eq!(crossed[0]["data"]["forecast"], "24.00");
    assert_eq!(budget(&app, &budget_id).await["thresholds"][0]["state"], "alarm");
    // Time passes in alarm: no second alert.
    move_clocks(&app, &state, "2026-03-01T01:00:00Z", 2).await;
    let deleted = app.delete(&format!("{LIST}/{second}")).await;
    assert!(deleted.status().is_success());
    let recovered = wait_alerts(&app, &budget_id, "nephele.budget.threshold_recovered", 1).await;
    assert_eq!(recovered.len(), 1);
    move_clocks(&app, &state, "2026-03-01T02:00:00Z", 1).await;
    assert_eq!(alerts(&app, &budget_id, "nephele.budget.threshold_crossed").await.len(), 1, "crossed once");
    assert_eq!(
        alerts(&app, &budget_id, "nephele.budget.threshold_recovered").await.len(),
        1,
        "recovered once"
    );
    // The actual threshold ($19) was never reached.
    assert_eq!(budget(&app, &budget_id).await["thresholds"][1]["state"], "ok");
}

fn create_body(name: &str) -> Value {
    json!({"name": name, "type": "s-1vcpu-2gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64", "tags": ["team:web"]})
}

#[tokio::test]
async fn a_blocking_budget_refuses_the_create_that_would_overrun_it_before_any_call() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    make_budget(
        &app,
        json!({"name": "cap", "amount": "20", "thresholds": [{"at": "100%", "basis": "forecast"}], "enforce": "block"}),
    )
    .await;
    let first = app
        .http
        .post(app.url(LIST))
        .header("Idempotency-Key", "first-create")
        .json(&create_body("a"))
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 202);
    let before = app.upstream("droplets_create");
    // A repeat of the first create is answered as it was, not refused by the budget it now fills.
    let again = app
        .http
        .post(app.url(LIST))
        .header("Idempotency-Key", "first-create")
        .json(&create_body("a"))
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 202);
    let response = app.post(LIST, create_body("b")).await;
    assert_eq!(response.status(), 409);
    let problem = json(response).await;
    assert_eq!(problem["code"], "budget_exceeded", "{problem}");
    assert_eq!(problem["budgets"][0]["budget"], "cap");
    assert_eq!(problem["budgets"][0]["forecast"], "12.00");
    assert_eq!(problem["budgets"][0]["estimate"], "12.00");
    assert_eq!(problem["budgets"][0]["level"], "20.00");
    assert_eq!(app.upstream("droplets_create"), before, "nothing reached DigitalOcean");

    // An admin's override lets it through, and leaves the reason on the budget's record.
    let overridden = app
        .http
        .post(app.url(LIST))
        .header("Nephele-Budget-Override", "launch day, approved by finance")
        .json(&create_body("b"))
        .send()
        .await
        .expect("request");
    assert_eq!(overridden.status(), 202);
    assert!(overridden.headers().contains_key("nephele-budget-warning"));
    let list = json(app.get("/api/v1/budgets").await).await;
    let cap = id(&list["budgets"][0]);
    let record = alerts(&app, &cap, "nephele.budget.overridden").await;
    assert_eq!(record.len(), 1);
    assert_eq!(record[0]["data"]["reason"], "launch day, approved by finance");
    assert_eq!(record[0]["data"]["principal"], "anonymous");
    // And in the audit log, on the create's own entry, with the budget it overrode.
    let audit = json(app.get("/api/v1/audit").await).await;
    let noted: Vec<&Value> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["note"].as_str().is_some_and(|n| n.contains("budget override")))
        .collect();
    assert_eq!(noted.len(), 1, "{audit}");
    let note = noted[0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("launch day, approved by finance") && note.contains(&cap), "{note}");
    assert_eq!((noted[0]["method"].as_str(), noted[0]["path"].as_str()), (Some("POST"), Some(LIST)));
    assert_eq!(noted[0]["status"], 202);
    assert_eq!(noted[0]["principal"], "anonymous");
    assert!(noted[0]["operation_id"].is_string(), "{}", noted[0]);
    // The refused create and the ones no budget stopped carry no note.
    let refused = audit["entries"].as_array().expect("entries").iter().find(|e| e["status"] == 409);
    assert!(refused.is_some_and(|e| e.get("note").is_none()), "{audit}");
}

#[tokio::test]
async fn a_warning_budget_accepts_and_says_so() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    make_budget(&app, json!({"name": "soft", "amount": "10", "enforce": "warn"})).await;
    let response = app.post(LIST, create_body("a")).await;
    assert_eq!(response.status(), 202);
    let warning = response.headers()["nephele-budget-warning"].to_str().expect("ascii").to_owned();
    assert!(warning.contains("soft") && warning.contains("12.00"), "{warning}");
}

#[tokio::test]
async fn of_twenty_concurrent_creates_exactly_those_that_fit_are_accepted() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    // Each create costs $12 to the month's end: 8 fit in $100.
    make_budget(&app, json!({"name": "fleet", "amount": "100", "enforce": "block"})).await;
    let creates =
        (0..20).map(|i| {
            let http = app.http.clone();
            let url = app.url(LIST);
            async move {
                http.post(url).json(&create_body(&format!("c{i}"))).send().await.expect("request").status()
            }
        });
    let statuses = futures_util::future::join_all(creates).await;
    let accepted = statuses.iter().filter(|s| s.as_u16() == 202).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 409).count();
    assert_eq!((accepted, refused), (8, 12), "{statuses:?}");
    // Creates past the key's share of steps at once wait for the worker: all 8 reach
    // DigitalOcean, and none of the refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.upstream("droplets_create") < 8 {
        assert!(tokio::time::Instant::now() < deadline, "{} creates sent", app.upstream("droplets_create"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = json(app.get(&format!("{LIST}?fresh=true")).await).await;
    assert_eq!(listed["instances"].as_array().map(Vec::len), Some(8), "{listed}");
    assert_eq!(app.upstream("droplets_create"), 8);
}

#[tokio::test]
async fn budgets_are_made_read_changed_and_deleted_with_bad_fields_named() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    let response = app
        .post(
            "/api/v1/budgets",
            json!({"name": "", "amount": "ten", "thresholds": [{"at": "80 percent", "basis": "actual"}]}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let fields: Vec<String> = json(response).await["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(fields, ["name", "amount", "thresholds[0].at"]);
    let made = make_budget(&app, json!({"name": "team", "amount": "250.50", "period": "quarter"})).await;
    assert_eq!(made["amount"], "250.50");
    assert_eq!(made["enforce"], "none");
    let duplicate = app.post("/api/v1/budgets", json!({"name": "team", "amount": "1"})).await;
    assert_eq!(duplicate.status(), 409);
    let patched = app
        .http
        .patch(app.url(&format!("/api/v1/budgets/{}", id(&made))))
        .json(&json!({"amount": "300", "enforce": "warn"}))
        .send()
        .await
        .expect("request");
    assert_eq!(patched.status(), 200);
    let patched = json(patched).await;
    assert_eq!((patched["amount"].as_str(), patched["period"].as_str()), (Some("300.00"), Some("quarter")));
    assert_eq!(app.delete(&format!("/api/v1/budgets/{}", id(&made))).await.status(), 204);
    assert_eq!(app.get(&format!("/api/v1/budgets/{}", id(&made))).await.status(), 404);
}

#[tokio::test]
async fn keys_limited_to_some_accounts_see_and_make_only_budgets_within_them() {
    use nephele_engine::auth::{Role, issue_key};
    use nephele_engine::store::Store;

    let app =
        crate::helpers::spawn_app_configured(0, Duration::from_millis(100), "auth:\n  required: true\n")
            .await;
    let store = Store::open(&app.database_url).await.expect("store");
    let everything = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    let ours =
        issue_key(&store, Role::Admin, Some(&["digitalocean".to_owned()]), None).await.expect("key").key;
    let elsewhere = issue_key(&store, Role::Admin, Some(&["aws".to_owned()]), None).await.expect("key").key;
    let post = |key: &str, body: Value| {
        app.http.post(app.url("/api/v1/budgets")).bearer_auth(key).json(&body).send()
    };
    let list = |key: &str| app.http.get(app.url("/api/v1/budgets")).bearer_auth(key).send();

    assert_eq!(post(&everything, json!({"name": "all", "amount": "10"})).await.expect("sent").status(), 201);
    let unscoped = post(&ours, json!({"name": "mine", "amount": "10"})).await.expect("sent");
    assert_eq!(unscoped.status(), 422, "a limited key names its accounts");
    assert_eq!(json(unscoped).await["errors"][0]["field"], "scope.accounts");
    let scoped =
        post(&ours, json!({"name": "mine", "amount": "10", "scope": {"accounts": ["digitalocean"]}}));
    assert_eq!(scoped.await.expect("sent").status(), 201);
    let names = |body: Value| -> Vec<String> {
        body["budgets"]
            .as_array()
            .expect("list")
            .iter()
            .map(|b| b["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(json(list(&everything).await.expect("sent")).await), ["all", "mine"]);
    // `all` covers every account, digitalocean's key included: it sees it.
    assert_eq!(names(json(list(&ours).await.expect("sent")).await), ["all", "mine"]);
    assert!(names(json(list(&elsewhere).await.expect("sent")).await).is_empty());
}

/// A webhook receiver in the test: every body it is sent, answered 204.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    kept.lock().expect("lock").push(value);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn of_type(seen: &std::sync::Mutex<Vec<Value>>, event: &str) -> Vec<Value> {
    seen.lock().expect("lock").iter().filter(|e| e["type"] == event).cloned().collect()
}

async fn wait_delivered(seen: &std::sync::Mutex<Vec<Value>>, event: &str, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let found = of_type(seen, event);
        if !found.is_empty() {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{event} not delivered within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_crossed_threshold_reaches_a_webhook_within_a_minute_once_and_its_recovery_follows_a_delete() {
    let (app, state) = spawn_on_clocks(
        "2026-03-01T00:00:00Z",
        "secrets:\n  master_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nwebhooks:\n  allow_http: true\n  allow_private_networks: true\n",
    )
    .await;
    let (url, seen) = receiver().await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "event_types": ["nephele.budget.threshold_crossed", "nephele.budget.threshold_recovered"]}),
        )
        .await;
    assert_eq!(hook.status(), 201, "{}", hook.text().await.unwrap_or_default());
    make_budget(
        &app,
        json!({"name": "small", "amount": "20", "thresholds": [{"at": "80%", "basis": "forecast"}]}),
    )
    .await;
    create(&app, "a", "s-1vcpu-2gb", "nyc1", "team:web").await;
    let crossing = tokio::time::Instant::now();
    let second = create(&app, "b", "s-1vcpu-2gb", "nyc1", "team:web").await;
    let crossed = wait_delivered(&seen, "nephele.budget.threshold_crossed", Duration::from_secs(60)).await;
    eprintln!("threshold_crossed delivered {:?} after the create", crossing.elapsed());
    assert_eq!(crossed[0]["data"]["forecast"], "24.00", "{crossed:?}");
    assert_eq!(crossed[0]["data"]["threshold"]["level"], "16.00");
    move_clocks(&app, &state, "2026-03-01T01:00:00Z", 2).await;
    let deleted = app.delete(&format!("{LIST}/{second}")).await;
    assert!(deleted.status().is_success());
    wait_delivered(&seen, "nephele.budget.threshold_recovered", Duration::from_secs(60)).await;
    move_clocks(&app, &state, "2026-03-01T02:00:00Z", 1).await;
    assert_eq!(of_type(&seen, "nephele.budget.threshold_crossed").len(), 1, "crossed once");
    assert_eq!(of_type(&seen, "nephele.budget.threshold_recovered").len(), 1, "recovered once");
}

const VOLUMES: &str = "/api/v1/providers/digitalocean/volumes";
const RESERVED_IPS: &str = "/api/v1/providers/digitalocean/reserved-ips";

fn volume_body(name: &str, size_gib: u64) -> Value {
    json!({"name": name, "size_gib": size_gib, "region": "nyc1", "tags": ["team:data"]})
}

#[tokio::test]
async fn a_blocking_budget_refuses_volumes_and_reserved_ips_that_would_overrun_it_before_any_call() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    make_budget(&app, json!({"name": "storage", "amount": "12", "enforce": "block"})).await;
    // A 100 GiB volume: $10.00 to the month's end, within $12.
    let first = app.post(VOLUMES, volume_body("first", 100)).await;
    assert_eq!(first.status(), 202, "{}", json(first).await);
    // An unassigned reserved IP would add $5.00: 15.00 > 12.00, refused before any call.
    let ips_before = app.upstream("reservedIPs_create");
    let refused = app.post(RESERVED_IPS, json!({"region": "nyc1"})).await;
    assert_eq!(refused.status(), 409);
    let problem = json(refused).await;
    assert_eq!(problem["code"], "budget_exceeded", "{problem}");
    assert_eq!(problem["budgets"][0]["budget"], "storage");
    assert_eq!(problem["budgets"][0]["forecast"], "10.00", "{problem}");
    assert_eq!(problem["budgets"][0]["estimate"], "5.00", "{problem}");
    assert_eq!(problem["budgets"][0]["amount"], "12.00");
    assert_eq!(problem["budgets"][0]["period"], "2026-03");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("storage")), "{problem}");
    assert_eq!(app.upstream("reservedIPs_create"), ips_before, "nothing reached DigitalOcean");
    // A second volume of 30 GiB ($3.00) would take it to 13.00: refused, no call either.
    let volumes_before = app.upstream("volumes_create");
    let second = app.post(VOLUMES, volume_body("second", 30)).await;
    assert_eq!(second.status(), 409);
    assert_eq!(json(second).await["budgets"][0]["estimate"], "3.00");
    assert_eq!(app.upstream("volumes_create"), volumes_before, "nothing reached DigitalOcean");
    // One of 20 GiB ($2.00) fits exactly: 12.00 is not over 12.00.
    let fits = app.post(VOLUMES, volume_body("third", 20)).await;
    assert_eq!(fits.status(), 202, "{}", json(fits).await);
    assert_eq!(app.upstream("volumes_create"), volumes_before + 1);
    // The budget's own figures count the volumes' run-rate to the month's end.
    let list = json(app.get("/api/v1/budgets").await).await;
    assert_eq!(list["budgets"][0]["figures"]["forecast"], "12.00", "{list}");
}

#[tokio::test]
async fn a_warning_budget_accepts_a_reserved_ip_and_says_so() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    make_budget(
        &app,
        json!({"name": "soft", "amount": "4", "enforce": "warn", "scope": {"kinds": ["reserved_ip"]}}),
    )
    .await;
    let response = app.post(RESERVED_IPS, json!({"region": "nyc1"})).await;
    assert_eq!(response.status(), 202);
    let warning = response.headers()["nephele-budget-warning"].to_str().expect("ascii").to_owned();
    assert!(warning.contains("soft") && warning.contains("5.00") && warning.contains("4.00"), "{warning}");
    // A budget scoped to instances is not asked about a volume.
    make_budget(
        &app,
        json!({"name": "compute", "amount": "1", "enforce": "block", "scope": {"kinds": ["instance"]}}),
    )
    .await;
    assert_eq!(app.post(VOLUMES, volume_body("free-of-it", 100)).await.status(), 202);
}

#[tokio::test]
async fn of_twenty_concurrent_volume_creates_exactly_those_that_fit_are_accepted() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    // Each 100 GiB volume costs $10.00 to the month's end: 7 fit in $75.
    make_budget(
        &app,
        json!({"name": "disks", "amount": "75", "enforce": "block", "scope": {"tags": ["team:data"]}}),
    )
    .await;
    let creates = (0..20).map(|i| {
        let http = app.http.clone();
        let url = app.url(VOLUMES);
        async move {
            http.post(url).json(&volume_body(&format!("v{i}"), 100)).send().await.expect("request").status()
        }
    });
    let statuses = futures_util::future::join_all(creates).await;
    let accepted = statuses.iter().filter(|s| s.as_u16() == 202).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 409).count();
    assert_eq!((accepted, refused), (7, 13), "{statuses:?}");
    // Creates past the key's share of steps at once wait for the worker: all 7 reach
    // DigitalOcean, and none of the refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.upstream("volumes_create") < 7 {
        assert!(tokio::time::Instant::now() < deadline, "{} creates sent", app.upstream("volumes_create"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = json(app.get(&format!("{VOLUMES}?fresh=true")).await).await;
    let count = listed["resources"].as_array().or_else(|| listed["volumes"].as_array()).map(Vec::len);
    assert_eq!(count, Some(7), "{listed}");
    assert_eq!(app.upstream("volumes_create"), 7);
}

#[tokio::test]
async fn a_patch_must_name_a_field_and_amounts_are_written_in_whole_cents_as_documented() {
    let (app, _state) = spawn_on_clocks("2026-03-01T00:00:00Z", "").await;
    let made = make_budget(&app, json!({"name": "cents", "amount": "10.50"})).await;
    let url = format!("/api/v1/budgets/{}", id(&made));
    let empty = app.http.patch(app.url(&url)).json(&json!({})).send().await.expect("request");
    assert_eq!(empty.status(), 422);
    assert_eq!(json(empty).await["errors"][0]["field"], "body");
    // A field given as null is a field named: left as it is, and the answer says so.
    let unchanged =
        app.http.patch(app.url(&url)).json(&json!({"currency": null})).send().await.expect("request");
    assert_eq!(unchanged.status(), 200);
    assert_eq!(json(unchanged).await["amount"], "10.50");
    // What the document's patterns refuse, the API refuses, naming the field.
    for (body, field) in [
        (json!({"name": "x", "amount": "+5"}), "amount"),
        (json!({"name": "x", "amount": "05"}), "amount"),
        (json!({"name": "x", "amount": "5.000"}), "amount"),
        (json!({"name": "x", "amount": "1_000"}), "amount"),
        (
            json!({"name": "x", "amount": "5", "thresholds": [{"at": " 80%", "basis": "actual"}]}),
            "thresholds[0].at",
        ),
        (
            json!({"name": "x", "amount": "5", "thresholds": [{"at": "80.001%", "basis": "actual"}]}),
            "thresholds[0].at",
        ),
        (json!({"amount": "5"}), "name"),
    ] {
        let response = app.post("/api/v1/budgets", body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem = json(response).await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    // A scope entry is counted in characters, as the document's maxLength is.
    let long = "é".repeat(200);
    let scoped = app
        .post("/api/v1/budgets", json!({"name": "wide", "amount": "1", "scope": {"regions": [long]}}))
        .await;
    assert_eq!(scoped.status(), 201);
}
