//! Accounts: several accounts of one cloud, from the configuration file and added at runtime,
//! each listed, costed and scoped on its own, with credentials sealed at rest.

use std::path::Path;
use std::time::Duration;

use dosim::{AccountSpec, Limits, RunningSim, SimConfig, Simulator};
use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use nephele_server::{App, Config};
use serde_json::{Value, json};

use crate::helpers::{DO_TOKEN, TestApp, json};

/// The second DigitalOcean account's token on the simulator.
pub const STAGING_TOKEN: &str = "dop_v1_staging00000000000000000000000000000000000000000000000000000";

/// A simulator with the default account (`DO_TOKEN`, `default_droplets`) and the account
/// `staging` (`STAGING_TOKEN`, `staging_droplets`), kept apart as DigitalOcean keeps accounts.
pub async fn two_account_sim(default_droplets: usize, staging_droplets: usize) -> RunningSim {
    two_account_sim_with(default_droplets, staging_droplets, Duration::from_millis(100)).await
}

/// As [`two_account_sim`], with droplets taking `transition` to boot.
pub async fn two_account_sim_with(
    default_droplets: usize,
    staging_droplets: usize,
    transition: Duration,
) -> RunningSim {
    nephele_digitalocean::install_crypto_provider();
    Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        droplets: default_droplets,
        accounts: vec![AccountSpec {
            name: "staging".to_owned(),
            tokens: vec![STAGING_TOKEN.to_owned()],
            droplets: staging_droplets,
        }],
        transition,
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("bind dosim")
}

/// A server on `sim` with the seed's account `digitalocean`, the sections in `providers`
/// (indented as `providers:` children) and the top-level sections in `rest`.
pub async fn spawn_on(sim: RunningSim, providers: &str, rest: &str) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/nephele.db", data.path().display());
    let base_url = sim.base_url();
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {base_url}\n{}database:\n  url: {database_url}\noperations:\n  poll_interval_ms: 50\n{rest}",
        providers.replace("BASE_URL", &base_url),
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    TestApp { base, sim, http: reqwest::Client::new(), _data: data, database_url }
}

fn staging_section() -> String {
    format!(
        "  do-staging:\n    type: digitalocean\n    api_token: {STAGING_TOKEN}\n    region: nyc1\n    base_url: BASE_URL\n"
    )
}

fn by_provider(list: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for instance in list["instances"].as_array().expect("instances") {
        *counts.entry(instance["provider"].as_str().expect("provider").to_owned()).or_default() += 1;
        assert_eq!(instance["provider_type"], "digitalocean", "{instance}");
    }
    counts
}

#[tokio::test]
async fn two_digitalocean_accounts_in_the_file_are_listed_and_costed_apart() {
    // Arrange: one simulator, two accounts with their own droplets and tokens.
    let app = spawn_on(two_account_sim(2, 3).await, &staging_section(), "auth:\n  required: false\n").await;

    // Act
    let providers = json(app.get("/api/v1/providers").await).await;
    let fleet = json(app.get("/api/v1/instances").await).await;
    let staging = json(app.get("/api/v1/providers/do-staging/instances").await).await;
    let costs = json(app.get("/api/v1/costs").await).await;

    // Assert
    let names: Vec<&str> =
        providers["providers"].as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["digitalocean", "do-staging"]);
    assert_eq!(
        by_provider(&fleet),
        [("digitalocean".to_owned(), 2), ("do-staging".to_owned(), 3)].into(),
        "the fleet shows both, each instance with its account"
    );
    assert_eq!(by_provider(&staging), [("do-staging".to_owned(), 3)].into());
    let subtotals: std::collections::BTreeMap<String, u64> = costs["by_provider"]
        .as_array()
        .expect("by_provider")
        .iter()
        .map(|s| {
            (s["provider"].as_str().unwrap_or_default().to_owned(), s["instances"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(subtotals, [("digitalocean".to_owned(), 2), ("do-staging".to_owned(), 3)].into(), "{costs}");
    let stats = app.sim.stats();
    assert!(stats.accounts["staging"].requests > 0, "the staging token was used");
}

#[tokio::test]
async fn a_key_scoped_to_one_account_sees_only_that_account_in_the_fleet_and_costs() {
    // Arrange
    let app = spawn_on(two_account_sim(2, 3).await, &staging_section(), "").await;
    let key = issue(&app, Role::Viewer, Some(&["do-staging".to_owned()])).await;

    // Act
    let fleet =
        json(app.http.get(app.url("/api/v1/instances")).bearer_auth(&key).send().await.expect("r")).await;
    let costs = json(app.http.get(app.url("/api/v1/costs")).bearer_auth(&key).send().await.expect("r")).await;
    let other = app
        .http
        .get(app.url("/api/v1/providers/digitalocean/instances"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("r");

    // Assert
    assert_eq!(by_provider(&fleet), [("do-staging".to_owned(), 3)].into());
    let providers: Vec<&str> =
        costs["by_provider"].as_array().expect("by").iter().filter_map(|s| s["provider"].as_str()).collect();
    assert_eq!(providers, ["do-staging"]);
    assert_eq!(other.status(), 403);
}

/// A key made at the server, as `nephele keys create` makes one.
pub async fn issue(app: &TestApp, role: Role, scope: Option<&[String]>) -> String {
    let store = Store::open(&app.database_url).await.expect("store");
    issue_key(&store, role, scope, None).await.expect("key").key
}

/// A master key for tests (32 bytes, base64).
pub const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn secrets() -> String {
    format!("secrets:\n  master_key: {MASTER_KEY}\n")
}

/// The body that adds the simulator's `staging` account as `do-staging`.
pub fn staging_body(app: &TestApp, name: &str, token: &str) -> Value {
    json!({
        "name": name,
        "type": "digitalocean",
        "settings": {"region": "nyc1", "base_url": app.sim.base_url()},
        "credentials": {"api_token": token},
    })
}

/// Sends `method path` with `key` and `body`.
pub async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// Polls `GET path` with `key` until `done` holds, for at most `within`.
pub async fn wait_until(
    app: &TestApp,
    path: &str,
    key: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let body = json(send(app, reqwest::Method::GET, path, key, None).await).await;
        if done(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(list: &Value) -> Vec<String> {
    list["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_admin_adds_changes_and_removes_an_account_at_runtime_and_each_step_is_audited() {
    use reqwest::Method;
    // Arrange
    let app = spawn_on(two_account_sim(2, 3).await, "", &secrets()).await;
    let admin = issue(&app, Role::Admin, None).await;

    // Act: add
    let added = send(
        &app,
        Method::POST,
        "/api/v1/providers",
        &admin,
        Some(staging_body(&app, "do-staging", STAGING_TOKEN)),
    )
    .await;

    // Assert
    assert_eq!(added.status(), 201);
    let added = json(added).await;
    assert_eq!(added["name"], "do-staging");
    assert_eq!(added["type"], "digitalocean");
    assert_eq!(added["defined_in"], "api");
    assert_eq!(added["status"], "ready");
    let fingerprint = added["fingerprint"].as_str().expect("fingerprint");
    assert!(fingerprint.starts_with("…0000 sha256:"), "{fingerprint}");
    assert!(!added.to_string().contains(STAGING_TOKEN));
    let staging =
        json(send(&app, Method::GET, "/api/v1/providers/do-staging/instances", &admin, None).await).await;
    assert_eq!(by_provider(&staging), [("do-staging".to_owned(), 3)].into(), "served at once");
    let list = json(send(&app, Method::GET, "/api/v1/providers", &admin, None).await).await;
    assert_eq!(names(&list), ["digitalocean", "do-staging"]);
    let file = &list["providers"][0];
    assert_eq!((file["defined_in"].as_str(), file["type"].as_str()), (Some("file"), Some("digitalocean")));

    // Act: new credentials that the cloud refuses, then settings
    let refused = send(
        &app,
        Method::PATCH,
        "/api/v1/providers/do-staging",
        &admin,
        Some(json!({"credentials": {"api_token": "dop_v1_wrong"}})),
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert_eq!(json(refused).await["code"], "credentials_rejected");
    let changed = send(
        &app,
        Method::PATCH,
        "/api/v1/providers/do-staging",
        &admin,
        Some(json!({"settings": {"region": "ams3", "base_url": app.sim.base_url()}})),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let changed = json(changed).await;
    assert_eq!(changed["default_region"], "ams3");
    assert_eq!(changed["fingerprint"].as_str(), Some(fingerprint), "the same credentials");
    let staging =
        json(send(&app, Method::GET, "/api/v1/providers/do-staging/instances", &admin, None).await).await;
    assert_eq!(by_provider(&staging), [("do-staging".to_owned(), 3)].into(), "still served");

    // Act: start it again from what is stored
    let restarted = send(&app, Method::POST, "/api/v1/providers/do-staging/initialize", &admin, None).await;
    assert_eq!(restarted.status(), 200);
    let restarted = json(restarted).await;
    assert_eq!(
        (restarted["status"].as_str(), restarted["default_region"].as_str()),
        (Some("ready"), Some("ams3"))
    );

    // Act: remove
    let removed = send(&app, Method::DELETE, "/api/v1/providers/do-staging", &admin, None).await;
    assert_eq!(removed.status(), 204);
    let list = json(send(&app, Method::GET, "/api/v1/providers", &admin, None).await).await;
    assert_eq!(names(&list), ["digitalocean"]);
    assert_eq!(
        send(&app, Method::GET, "/api/v1/providers/do-staging/instances", &admin, None).await.status(),
        404
    );

    // Assert: the audit has each step
    let audit = json(send(&app, Method::GET, "/api/v1/audit", &admin, None).await).await;
    let steps: Vec<(String, String, u64)> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["path"].as_str().is_some_and(|p| p.starts_with("/api/v1/providers")) && e["method"] != "GET"
        })
        .map(|e| {
            (
                e["method"].as_str().unwrap_or_default().to_owned(),
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    for wanted in [
        ("POST", "/api/v1/providers", 201),
        ("PATCH", "/api/v1/providers/do-staging", 422),
        ("PATCH", "/api/v1/providers/do-staging", 200),
        ("DELETE", "/api/v1/providers/do-staging", 204),
    ] {
        assert!(
            steps.iter().any(|(m, p, s)| (m.as_str(), p.as_str(), *s) == wanted),
            "{wanted:?} in {steps:?}"
        );
    }
    assert!(!audit.to_string().contains(STAGING_TOKEN));

    // Assert: the outbox told of each change once, in order, with the fingerprint, never the token
    let events = json(
        send(&app, Method::GET, "/api/v1/events?type=nephele.account.added&limit=100", &admin, None).await,
    )
    .await;
    let all = json(send(&app, Method::GET, "/api/v1/events?limit=1000", &admin, None).await).await;
    let changes: Vec<(String, String)> = all["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("nephele.account.")))
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["source"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("nephele.account.added", "do-staging"),
            ("nephele.account.updated", "do-staging"),
            ("nephele.account.removed", "do-staging")
        ]
        .map(|(t, s)| (t.to_owned(), s.to_owned())),
        "{all}"
    );
    assert_eq!(events["events"][0]["data"]["fingerprint"].as_str(), Some(fingerprint), "{events}");
    assert!(!all.to_string().contains(STAGING_TOKEN));
}

#[tokio::test]
async fn refusals_name_what_is_wrong_and_store_nothing() {
    use reqwest::Method;
    let app = spawn_on(two_account_sim(0, 1).await, "", &secrets()).await;
    let admin = issue(&app, Role::Admin, None).await;
    let post = |body: Value| send(&app, Method::POST, "/api/v1/providers", &admin, Some(body));

    let wrong = post(staging_body(&app, "do-staging", "dop_v1_not_a_token_the_cloud_knows")).await;
    assert_eq!(wrong.status(), 422);
    let wrong = json(wrong).await;
    assert_eq!(wrong["code"], "credentials_rejected");
    assert!(!wrong.to_string().contains("not_a_token"), "never the credential: {wrong}");

    let bad_name = json(post(staging_body(&app, "Do_Staging", STAGING_TOKEN)).await).await;
    assert_eq!(bad_name["code"], "invalid_input");
    assert_eq!(bad_name["errors"][0]["field"], "name", "{bad_name}");

    let mut unknown = staging_body(&app, "x", STAGING_TOKEN);
    unknown["type"] = json!("gcp");
    let unknown = json(post(unknown).await).await;
    assert_eq!(unknown["errors"][0]["field"], "type", "{unknown}");
    assert!(
        unknown["errors"][0]["message"].as_str().expect("message").contains("known types: digitalocean"),
        "{unknown}"
    );

    let mut setting = staging_body(&app, "x", STAGING_TOKEN);
    setting["settings"]["regoin"] = json!("nyc1");
    let setting = json(post(setting).await).await;
    assert_eq!(setting["errors"][0]["field"], "settings.regoin", "{setting}");

    let taken = post(staging_body(&app, "digitalocean", STAGING_TOKEN)).await;
    assert_eq!(taken.status(), 409, "the file's account");
    assert_eq!(json(taken).await["code"], "account_exists");
    assert_eq!(post(staging_body(&app, "do-staging", STAGING_TOKEN)).await.status(), 201);
    let again = post(staging_body(&app, "do-staging", STAGING_TOKEN)).await;
    assert_eq!(again.status(), 409);
    assert_eq!(json(again).await["code"], "account_exists");

    let list = json(send(&app, Method::GET, "/api/v1/providers", &admin, None).await).await;
    assert_eq!(names(&list), ["digitalocean", "do-staging"], "nothing else was stored");
    let mut details = Vec::new();
    for path in ["/dev/zero", "/no/such/file", "/etc/hostname"] {
        let rotate =
            send(&app, Method::POST, "/api/v1/secrets/rotate", &admin, Some(json!({"new_key_file": path})))
                .await;
        assert_eq!(rotate.status(), 422, "{path}");
        let problem = json(rotate).await;
        assert_eq!(problem["errors"][0]["field"], "new_key_file");
        details.push(problem["detail"].clone());
    }
    assert!(details.iter().all(|d| d == &details[0]), "one answer for every reason: {details:?}");
    let in_file = send(&app, Method::DELETE, "/api/v1/providers/digitalocean", &admin, None).await;
    assert_eq!(in_file.status(), 409);
    assert_eq!(json(in_file).await["code"], "account_in_file");
    let in_file =
        send(&app, Method::PATCH, "/api/v1/providers/digitalocean", &admin, Some(json!({"settings": {}})))
            .await;
    assert_eq!(json(in_file).await["code"], "account_in_file");
}

#[tokio::test]
async fn viewers_and_operators_cannot_add_change_or_remove_accounts() {
    use reqwest::Method;
    let app = spawn_on(two_account_sim(0, 1).await, "", &secrets()).await;
    let admin = issue(&app, Role::Admin, None).await;
    assert_eq!(
        send(
            &app,
            Method::POST,
            "/api/v1/providers",
            &admin,
            Some(staging_body(&app, "do-staging", STAGING_TOKEN))
        )
        .await
        .status(),
        201
    );
    for role in [Role::Viewer, Role::Operator] {
        let key = issue(&app, role, None).await;
        let add = send(
            &app,
            Method::POST,
            "/api/v1/providers",
            &key,
            Some(staging_body(&app, "do-other", STAGING_TOKEN)),
        )
        .await;
        assert_eq!(add.status(), 403, "{role:?} adds");
        let change =
            send(&app, Method::PATCH, "/api/v1/providers/do-staging", &key, Some(json!({"settings": {}})))
                .await;
        assert_eq!(change.status(), 403, "{role:?} changes");
        let remove = send(&app, Method::DELETE, "/api/v1/providers/do-staging", &key, None).await;
        assert_eq!(remove.status(), 403, "{role:?} removes");
        let list = send(&app, Method::GET, "/api/v1/providers", &key, None).await;
        assert!(!list.text().await.expect("text").contains(STAGING_TOKEN));
    }
}

#[tokio::test]
async fn without_a_master_key_file_accounts_run_and_runtime_ones_are_refused_saying_how() {
    use reqwest::Method;
    let app = spawn_on(two_account_sim(1, 1).await, "", "").await;
    let admin = issue(&app, Role::Admin, None).await;
    let refused = send(
        &app,
        Method::POST,
        "/api/v1/providers",
        &admin,
        Some(staging_body(&app, "do-staging", STAGING_TOKEN)),
    )
    .await;
    assert_eq!(refused.status(), 409);
    let refused = json(refused).await;
    assert_eq!(refused["code"], "master_key_missing");
    assert!(refused["detail"].as_str().expect("detail").contains("secrets.master_key"), "{refused}");
    let fleet = json(send(&app, Method::GET, "/api/v1/instances", &admin, None).await).await;
    assert_eq!(by_provider(&fleet), [("digitalocean".to_owned(), 1)].into());
}

#[tokio::test]
async fn removing_an_account_with_operations_under_way_needs_force_which_fails_them_by_name() {
    use reqwest::Method;
    // Droplets take a minute to boot: a create stays running.
    let app = spawn_on(two_account_sim_with(0, 0, Duration::from_secs(60)).await, "", &secrets()).await;
    let admin = issue(&app, Role::Admin, None).await;
    assert_eq!(
        send(
            &app,
            Method::POST,
            "/api/v1/providers",
            &admin,
            Some(staging_body(&app, "do-staging", STAGING_TOKEN))
        )
        .await
        .status(),
        201
    );
    let create =
        json!({"name": "slow", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"});
    let created =
        json(send(&app, Method::POST, "/api/v1/providers/do-staging/instances", &admin, Some(create)).await)
            .await;
    let operation =
        created["operation"]["id"].as_str().or(created["id"].as_str()).expect("operation id").to_owned();

    let busy = send(&app, Method::DELETE, "/api/v1/providers/do-staging", &admin, None).await;
    assert_eq!(busy.status(), 409);
    assert_eq!(json(busy).await["code"], "account_busy");
    let removed = "/api/v1/events?type=nephele.account.removed&limit=100";
    let told = json(send(&app, Method::GET, removed, &admin, None).await).await;
    assert_eq!(told["events"], json!([]), "a refused removal is no removal: {told}");
    let forced = send(&app, Method::DELETE, "/api/v1/providers/do-staging?force=true", &admin, None).await;
    assert_eq!(forced.status(), 204);
    let told = json(send(&app, Method::GET, removed, &admin, None).await).await;
    assert_eq!(told["events"].as_array().map(Vec::len), Some(1), "{told}");
    assert_eq!(told["events"][0]["source"], "do-staging", "{told}");

    let failed =
        wait_until(&app, &format!("/api/v1/operations/{operation}"), &admin, Duration::from_secs(5), |op| {
            op["state"] == "failed"
        })
        .await;
    assert_eq!(failed["error"]["code"], "account_removed", "{failed}");
}

/// A server (replica) on `database_url` whose seed account is on `base_url`; its address.
async fn replica(base_url: &str, database_url: &str) -> String {
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {base_url}\ndatabase:\n  url: {database_url}\noperations:\n  poll_interval_ms: 50\n{}",
        secrets()
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    base
}

/// Replicas on one PostgreSQL database: an account added on A is served by B within 5 s, its
/// new credentials too, and its removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_added_on_one_replica_is_served_by_the_other_within_five_seconds() {
    use reqwest::Method;
    // Arrange
    let database = crate::postgres::TestDatabase::create().await;
    let sim = two_account_sim(1, 4).await;
    let a = replica(&sim.base_url(), &database.url).await;
    let b = replica(&sim.base_url(), &database.url).await;
    let store = Store::open(&database.url).await.expect("store");
    let admin = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    let http = reqwest::Client::new();
    let call = |base: &str, method: Method, path: &str, body: Option<Value>| {
        let mut request = http.request(method, format!("{base}{path}")).bearer_auth(&admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let body = json!({
        "name": "do-staging",
        "type": "digitalocean",
        "settings": {"region": "nyc1", "base_url": sim.base_url()},
        "credentials": {"api_token": STAGING_TOKEN},
    });
    let listed_on_b = |wanted: usize| {
        let call = &call;
        let b = &b;
        async move {
            let started = std::time::Instant::now();
            loop {
                let response =
                    call(b, Method::GET, "/api/v1/providers/do-staging/instances", None).await.expect("sent");
                if response.status() == 200 {
                    let list: Value = response.json().await.expect("json");
                    if list["instances"].as_array().is_some_and(|i| i.len() == wanted) {
                        return started.elapsed();
                    }
                }
                assert!(started.elapsed() < Duration::from_secs(10), "replica B never served do-staging");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    // Act: add on A
    let added = call(&a, Method::POST, "/api/v1/providers", Some(body)).await.expect("sent");
    assert_eq!(added.status(), 201);
    let took = listed_on_b(4).await;

    // Assert
    eprintln!("replica B listed the account's instances {} ms after it was added on A", took.as_millis());
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // Act: change credentials on A (the same token again: a new sealed row), then remove on A
    let changed = call(
        &a,
        Method::PATCH,
        "/api/v1/providers/do-staging",
        Some(json!({"credentials": {"api_token": STAGING_TOKEN}})),
    )
    .await
    .expect("sent");
    assert_eq!(changed.status(), 200);
    listed_on_b(4).await;
    let removed = call(&a, Method::DELETE, "/api/v1/providers/do-staging", None).await.expect("sent");
    assert_eq!(removed.status(), 204);
    let started = std::time::Instant::now();
    loop {
        let status = call(&b, Method::GET, "/api/v1/providers/do-staging/instances", None)
            .await
            .expect("sent")
            .status();
        if status == 404 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "replica B still serves the removed account");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audit: Value =
        call(&b, Method::GET, "/api/v1/audit", None).await.expect("sent").json().await.expect("json");
    let methods: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["path"].as_str().is_some_and(|p| p.starts_with("/api/v1/providers")) && e["method"] != "GET"
        })
        .filter_map(|e| e["method"].as_str())
        .collect();
    assert_eq!(methods.len(), 3, "{audit}");
    database.cleanup().await;
}

/// A server on the SQLite database `database_url` whose seed account is on `base_url`, with a
/// master key: its address and state (to stop its engine).
async fn serve_sqlite(
    base_url: &str,
    database_url: &str,
) -> (String, std::sync::Arc<nephele_server::AppState>) {
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {base_url}\ndatabase:\n  url: {database_url}\nauth:\n  required: false\n{}",
        secrets()
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    let state = app.state();
    tokio::spawn(app.run());
    (base, state)
}

/// A stored account whose credentials do not open — its ciphertext swapped with another row's,
/// or one byte flipped — is served as `unreadable` with the reason, and nothing is sent to the
/// cloud for it; the other accounts are not affected.
#[tokio::test]
async fn a_swapped_or_flipped_ciphertext_makes_that_account_unreadable_and_sends_nothing() {
    use sqlx::Row;
    // Arrange: three accounts of three simulator accounts.
    nephele_digitalocean::install_crypto_provider();
    let tokens = [
        "dop_v1_first000000000000000000000",
        "dop_v1_second00000000000000000000",
        "dop_v1_third000000000000000000000",
    ];
    let sim = Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        accounts: ["first", "second", "third"]
            .iter()
            .zip(tokens)
            .map(|(name, token)| AccountSpec {
                name: (*name).to_owned(),
                tokens: vec![token.to_owned()],
                droplets: 1,
            })
            .collect(),
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("dosim");
    let data = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/nephele.db", data.path().display());
    let (first_server, first_state) = serve_sqlite(&sim.base_url(), &database_url).await;
    let http = reqwest::Client::new();
    for (name, token) in ["first", "second", "third"].iter().zip(tokens) {
        let body = json!({"name": format!("do-{name}"), "type": "digitalocean", "settings": {"base_url": sim.base_url()}, "credentials": {"api_token": token}});
        let added =
            http.post(format!("{first_server}/api/v1/providers")).json(&body).send().await.expect("sent");
        assert_eq!(added.status(), 201);
    }
    first_state.engine.stop().await;

    // Act: swap first's and second's ciphertexts, flip one byte of third's.
    let store = sqlx::SqlitePool::connect(&database_url).await.expect("sqlite");
    let rows = sqlx::query("SELECT name, ciphertext FROM accounts ORDER BY name")
        .fetch_all(&store)
        .await
        .expect("rows");
    let text = |i: usize| rows[i].get::<String, _>("ciphertext");
    let (first, second, third) = (text(0), text(1), text(2));
    // One base64 digit changed: one byte of the sealed credentials differs.
    let mut flipped = third.into_bytes();
    flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    for (name, ciphertext) in [("do-first", &second), ("do-second", &first), ("do-third", &flipped)] {
        sqlx::query("UPDATE accounts SET ciphertext = ? WHERE name = ?")
            .bind(ciphertext)
            .bind(name)
            .execute(&store)
            .await
            .expect("tamper");
    }
    store.close().await;
    let before = sim.stats().accounts.clone();
    let (server, _state) = serve_sqlite(&sim.base_url(), &database_url).await;
    let list: Value = http
        .get(format!("{server}/api/v1/providers"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let listed =
        http.get(format!("{server}/api/v1/providers/do-first/instances")).send().await.expect("sent");
    let fleet: Value = http
        .get(format!("{server}/api/v1/instances"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");

    // Assert
    let status = |name: &str| {
        let account = list["providers"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["name"] == name)
            .expect("listed")
            .clone();
        (
            account["status"].as_str().unwrap_or_default().to_owned(),
            account["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    for name in ["do-first", "do-second", "do-third"] {
        let (status, reason) = status(name);
        assert_eq!(status, "unreadable", "{name}: {list}");
        assert!(reason.contains("do not open"), "{name}: {reason}");
    }
    assert_eq!(status("digitalocean").0, "ready", "the other accounts are not affected");
    assert_eq!(listed.status(), 503);
    assert_eq!(by_provider(&fleet), std::collections::BTreeMap::new(), "{fleet}");
    assert_eq!(fleet["errors"].as_array().map(Vec::len), Some(3), "{fleet}");
    let after = sim.stats().accounts;
    for name in ["first", "second", "third"] {
        assert_eq!(after[name].requests, before[name].requests, "nothing was sent for {name}");
    }
}

/// Flips one base64 digit of account `name`'s stored ciphertext in the SQLite database.
async fn flip_ciphertext(database_url: &str, name: &str) {
    use sqlx::Row;
    let store = sqlx::SqlitePool::connect(database_url).await.expect("sqlite");
    let row = sqlx::query("SELECT ciphertext FROM accounts WHERE name = ?")
        .bind(name)
        .fetch_one(&store)
        .await
        .expect("row");
    let mut text = row.get::<String, _>("ciphertext").into_bytes();
    text[30] = if text[30] == b'A' { b'B' } else { b'A' };
    sqlx::query("UPDATE accounts SET ciphertext = ? WHERE name = ?")
        .bind(String::from_utf8(text).expect("ascii"))
        .bind(name)
        .execute(&store)
        .await
        .expect("tamper");
    store.close().await;
}

/// An account whose stored credentials do not open does not make the whole server unready:
/// `/readyz` stays 200 and names it `unreadable` with the reason, `GET /api/v1/providers`
/// shows it unreadable, and `nephele.account.unreadable` is told once per transition (not again
/// at a restart; again after new credentials made it readable and it broke once more).
#[tokio::test]
async fn an_unreadable_account_leaves_the_server_ready_and_is_told_once_per_transition() {
    // Arrange: one runtime account, its ciphertext then flipped.
    let sim = two_account_sim(1, 1).await;
    let data = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/nephele.db", data.path().display());
    let http = reqwest::Client::new();
    let (server, state) = serve_sqlite(&sim.base_url(), &database_url).await;
    let body = json!({"name": "do-staging", "type": "digitalocean", "settings": {"base_url": sim.base_url()}, "credentials": {"api_token": STAGING_TOKEN}});
    let added = http.post(format!("{server}/api/v1/providers")).json(&body).send().await.expect("sent");
    assert_eq!(added.status(), 201);
    state.engine.stop().await;
    flip_ciphertext(&database_url, "do-staging").await;
    let unreadable_events = |server: String| {
        let http = http.clone();
        async move {
            let page: Value = http
                .get(format!("{server}/api/v1/events?type=nephele.account.unreadable&limit=100"))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            page["events"].as_array().expect("events").clone()
        }
    };

    // Act: serve the tampered database.
    let (server, state) = serve_sqlite(&sim.base_url(), &database_url).await;
    let ready = http.get(format!("{server}/readyz")).send().await.expect("sent");
    let ready_status = ready.status();
    let ready: Value = ready.json().await.expect("json");
    let list: Value = http
        .get(format!("{server}/api/v1/providers"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");

    // Assert: ready, the account named unreadable with the reason, told once.
    assert_eq!(ready_status, 200, "{ready}");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["providers"]["digitalocean"], "ok", "{ready}");
    let shown = ready["providers"]["do-staging"].as_str().unwrap_or_default();
    assert!(shown.starts_with("unreadable: ") && shown.contains("do not open"), "{ready}");
    let staging = list["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["name"] == "do-staging")
        .expect("listed")
        .clone();
    assert_eq!(staging["status"], "unreadable", "{staging}");
    assert!(staging["error"].as_str().unwrap_or_default().contains("do not open"), "{staging}");
    let told = unreadable_events(server.clone()).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["source"], "do-staging");
    assert_eq!(told[0]["data"]["status"], "unreadable");
    assert!(told[0]["data"]["reason"].as_str().unwrap_or_default().contains("do not open"), "{told:?}");
    assert!(!Value::Array(told.clone()).to_string().contains(STAGING_TOKEN));

    // A restart finds it unreadable still: no new transition, no new event.
    state.engine.stop().await;
    let (server, state) = serve_sqlite(&sim.base_url(), &database_url).await;
    assert_eq!(unreadable_events(server.clone()).await.len(), 1, "told again at a restart");

    // New credentials make it readable; broken again, it is told again.
    let change = json!({"credentials": {"api_token": STAGING_TOKEN}});
    let changed =
        http.patch(format!("{server}/api/v1/providers/do-staging")).json(&change).send().await.expect("sent");
    assert_eq!(changed.status(), 200);
    state.engine.stop().await;
    flip_ciphertext(&database_url, "do-staging").await;
    let (server, _state) = serve_sqlite(&sim.base_url(), &database_url).await;
    let told = unreadable_events(server.clone()).await;
    assert_eq!(told.len(), 2, "{told:?}");
}

/// A removed account's series leave `/metrics`: its provider calls and its inventory are no
/// longer reported, while the other accounts' stay.
#[tokio::test]
async fn a_removed_account_leaves_the_metrics() {
    use reqwest::Method;
    // Arrange: a runtime account whose instances were listed (its calls are counted).
    let app = spawn_on(two_account_sim(1, 2).await, "", &secrets()).await;
    let admin = issue(&app, Role::Admin, None).await;
    let added = send(
        &app,
        Method::POST,
        "/api/v1/providers",
        &admin,
        Some(staging_body(&app, "do-staging", STAGING_TOKEN)),
    )
    .await;
    assert_eq!(added.status(), 201);
    let listed = send(&app, Method::GET, "/api/v1/providers/do-staging/instances", &admin, None).await;
    assert_eq!(listed.status(), 200);
    let metrics = |app: &TestApp| {
        let request = app.http.get(app.url("/metrics")).bearer_auth(&admin);
        async move { request.send().await.expect("sent").text().await.expect("text") }
    };
    let before = metrics(&app).await;
    assert!(before.contains("provider=\"do-staging\""), "{before}");

    // Act
    let removed = send(&app, Method::DELETE, "/api/v1/providers/do-staging", &admin, None).await;
    assert_eq!(removed.status(), 204, "{}", removed.text().await.unwrap_or_default());
    let after = metrics(&app).await;

    // Assert
    let left: Vec<&str> = after.lines().filter(|l| l.contains("do-staging")).collect();
    assert!(left.is_empty(), "series of the removed account remain: {left:?}");
    assert!(after.contains("provider=\"digitalocean\""), "the other account's series stay");
}

/// A measurement (`cargo nextest run -p nephele-server --test api --run-ignored only
/// thousand --no-capture`): 1,000 runtime accounts re-wrapped under a new master key while a
/// client lists the fleet every 100 ms; then a server with only the new key opens every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of 1,000 accounts; run on purpose"]
async fn rotating_a_thousand_accounts_while_a_client_lists_every_100_ms() {
    use nephele_engine::secrets::{Binding, Keyring, MasterKey};
    use nephele_engine::store::AccountRow;
    const ACCOUNTS: usize = 1000;
    let sim = two_account_sim(0, 1).await;
    let data = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/nephele.db", data.path().display());
    // Seeded as the API stores them (sealed under the master key), without a thousand pings.
    let store = Store::open(&database_url).await.expect("store");
    let keyring = Keyring::new(MasterKey::from_base64(MASTER_KEY).expect("key"));
    let seeded = std::time::Instant::now();
    for i in 0..ACCOUNTS {
        let id = uuid::Uuid::new_v4().to_string();
        let credentials = serde_json::to_vec(&json!({"api_token": STAGING_TOKEN})).expect("json");
        let sealed = keyring
            .seal(&Binding { account_id: &id, provider_type: "digitalocean", version: 1 }, &credentials)
            .expect("seal");
        let settings = json!({"base_url": sim.base_url(), "region": "nyc1"});
        let row = AccountRow {
            id,
            name: format!("acct-{i:04}"),
            provider_type: "digitalocean".to_owned(),
            settings: settings.as_object().cloned().expect("object"),
            sealed,
            credentials_version: 1,
            fingerprint: "…0000".to_owned(),
            created_by: "seed".to_owned(),
            created_at: "2026-12-02T00:00:00Z".to_owned(),
            updated_at: "2026-12-02T00:00:00Z".to_owned(),
            row_version: 1,
        };
        store.insert_account(&row, &[]).await.expect("insert");
    }
    eprintln!("seeded {ACCOUNTS} accounts in {} ms", seeded.elapsed().as_millis());
    let started = std::time::Instant::now();
    let (server, state) = serve_sqlite(&sim.base_url(), &database_url).await;
    eprintln!("a server with {ACCOUNTS} runtime accounts started in {} ms", started.elapsed().as_millis());
    let http = reqwest::Client::new();

    // A client lists the fleet every 100 ms throughout.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lister = {
        let (http, server, stop) = (http.clone(), server.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match http.get(format!("{server}/api/v1/instances")).send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (ok, failed)
        })
    };
    let new_key = data.path().join("new.key");
    std::fs::write(&new_key, "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleTA=").expect("key file");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rotation_started = std::time::Instant::now();
    let rotated: Value = http
        .post(format!("{server}/api/v1/secrets/rotate"))
        .json(&json!({"new_key_file": new_key.display().to_string()}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let took = rotation_started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = lister.await.expect("lister");
    eprintln!(
        "rotation of {ACCOUNTS} accounts: {} ms ({rotated}); lists during it: {ok} ok, {failed} failed",
        took.as_millis()
    );
    assert_eq!(rotated["rewrapped"], ACCOUNTS as u64, "{rotated}");
    assert!(took < Duration::from_secs(60));
    assert_eq!(failed, 0);
    state.engine.stop().await;

    // A server with only the new key opens every account.
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    base_url: {}\ndatabase:\n  url: {database_url}\nauth:\n  required: false\nsecrets:\n  master_key_file: {}\n",
        sim.base_url(),
        new_key.display()
    );
    let app = App::build(Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config"))
        .await
        .expect("app");
    let after = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    let list: Value =
        http.get(format!("{after}/api/v1/providers")).send().await.expect("sent").json().await.expect("json");
    let providers = list["providers"].as_array().expect("list");
    assert_eq!(providers.len(), ACCOUNTS + 1);
    let unreadable = providers.iter().filter(|p| p["status"] == "unreadable").count();
    assert_eq!(unreadable, 0, "every account opens with only the new key");
}
