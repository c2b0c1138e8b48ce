//! Accounts: several accounts of one cloud, from the configuration file and added at runtime,
//! each listed, costed and scoped on its own, with credentials sealed at rest.

use std::path::Path;
use std::time::Duration;

use dosim::{AccountSpec, Limits, RunningSim, SimConfig, Simulator};
use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use nephele_server::{App, Config};
use serde_json::Value;

use crate::helpers::{DO_TOKEN, TestApp, json};

/// The second DigitalOcean account's token on the simulator.
pub const STAGING_TOKEN: &str = "dop_v1_staging00000000000000000000000000000000000000000000000000000";

/// A simulator with the default account (`DO_TOKEN`, `default_droplets`) and the account
/// `staging` (`STAGING_TOKEN`, `staging_droplets`), kept apart as DigitalOcean keeps accounts.
pub async fn two_account_sim(default_droplets: usize, staging_droplets: usize) -> RunningSim {
    nephele_digitalocean::install_crypto_provider();
    Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        droplets: default_droplets,
        accounts: vec![AccountSpec {
            name: "staging".to_owned(),
            tokens: vec![STAGING_TOKEN.to_owned()],
            droplets: staging_droplets,
        }],
        transition: Duration::from_millis(100),
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
