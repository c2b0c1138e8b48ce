//! AWS EC2 as a plugin (`nephele-provider-aws`) against moto, through a real `nephele serve`
//! next to DigitalOcean (dosim): the fleet across regions, the lifecycle, exactly-once creates,
//! prices, the fleet views with both providers, the CLI and `nephele plugin check`.

mod accounts;
mod answers;
mod moto;
mod proxy;
mod resources;
mod secrets;
mod tamper;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{DO_TOKEN, Server, nephele, simulator};
use moto::{Moto, aws_plugin};
use proxy::{Mischief, Proxy};

const AWS: &str = "/api/v1/providers/aws";

fn aws_section(endpoint: &str, regions: &[&str]) -> String {
    format!(
        "  aws:\n    plugin: {}\n    region: us-east-1\n    regions: [{}]\n    access_key_id: testing\n    secret_access_key: moto-secret-never-logged\n    endpoint_url: {endpoint}\n    call_deadline_secs: 60\n",
        aws_plugin().display(),
        regions.join(", ")
    )
}

/// A server with AWS (at `endpoint`) and DigitalOcean (a fresh dosim with no droplets).
fn config(dir: &Path, aws: &str, digitalocean_url: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  readiness_interval_secs: 1\nproviders:\n{aws}  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {digitalocean_url}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\ndatabase:\n  url: sqlite://{}/n.db\nauth:\n  required: false\noperations:\n  poll_interval_ms: 50\ninventory:\n  read_budget_ms: 30000\n",
        dir.display()
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.expect("request");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut request = http.post(url).json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("request");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn settle(http: &reqwest::Client, base: &str, operation: &Value) -> Value {
    let id = operation.as_str().expect("operation id");
    let started = Instant::now();
    loop {
        let (_, body) = get(http, &format!("{base}/api/v1/operations/{id}")).await;
        if matches!(body["state"].as_str(), Some("succeeded" | "failed")) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "operation {id} never settled: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        list.as_array().expect("list").iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_250_in_two_regions_is_listed_once_each_next_to_digitalocean() {
    let mut moto = Moto::start();
    // Many reservations of different sizes: moto pages DescribeInstances by reservation.
    let east: Vec<u32> = (1..=15).collect(); // 120 instances in 15 reservations
    let west = [10u32; 13]; // 130 instances in 13 reservations
    let mut seeded = Vec::new();
    for (region, counts) in [("us-east-1", json!(east)), ("eu-west-1", json!(west))] {
        let made = moto.ask("seed", region, &[&counts.to_string()]);
        seeded.extend(made.as_array().expect("ids").iter().map(|v| v.as_str().expect("id").to_owned()));
    }
    seeded.sort();
    assert_eq!(seeded.len(), 250);

    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&moto.url, &["us-east-1", "eu-west-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();

    let (status, list) = get(&http, &format!("{}{AWS}/instances", server.url)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list["instances"]), seeded, "every instance exactly once");
    let west_only = get(&http, &format!("{}{AWS}/instances?region=eu-west-1", server.url)).await.1;
    assert_eq!(west_only["instances"].as_array().expect("list").len(), 130);
    let first = &list["instances"][0];
    assert_eq!((first["status"].as_str(), first["type"].as_str()), (Some("running"), Some("t3.micro")));
    assert_eq!(first["memory_mib"], 1024, "memory comes from DescribeInstanceTypes: {first}");

    // The fleet views show both providers.
    let created = post(
        &http,
        &format!("{}/api/v1/providers/digitalocean/instances", server.url),
        json!({"name": "do-1", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}),
        None,
    )
    .await;
    assert_eq!(created.0, 202, "{}", created.1);
    let (_, fleet) = get(&http, &format!("{}/api/v1/instances", server.url)).await;
    let providers: std::collections::BTreeSet<&str> =
        fleet["instances"].as_array().expect("list").iter().filter_map(|i| i["provider"].as_str()).collect();
    assert!(providers.contains("aws") && providers.contains("digitalocean"), "{providers:?}");
    let (_, costs) = get(&http, &format!("{}/api/v1/costs", server.url)).await;
    let by_provider = costs["by_provider"].to_string();
    assert!(by_provider.contains("aws") && by_provider.contains("digitalocean"), "{costs}");
    assert_eq!(costs["errors"], json!([]), "every AWS instance is priced: {costs}");
    let aws_costs = |costs: &Value| {
        costs["by_provider"].as_array().expect("list").iter().find(|p| p["provider"] == "aws").cloned()
    };
    assert_eq!(aws_costs(&costs).expect("aws")["instances"], 250, "{costs}");

    // Stopped EC2 instances cost nothing for their compute: they leave the run-rate.
    let stopped: Vec<&str> = seeded.iter().take(10).map(String::as_str).collect();
    let in_east: Vec<&str> = stopped
        .iter()
        .copied()
        .filter(|id| {
            list["instances"]
                .as_array()
                .expect("list")
                .iter()
                .any(|i| i["id"] == *id && i["region"] == "us-east-1")
        })
        .collect();
    moto.ask("stop", "us-east-1", &[&json!(in_east).to_string()]);
    let (_, _) = get(&http, &format!("{}{AWS}/instances?fresh=true", server.url)).await;
    let (_, costs) = get(&http, &format!("{}/api/v1/costs", server.url)).await;
    let expected = 250 - in_east.len();
    assert!(!in_east.is_empty());
    assert_eq!(aws_costs(&costs).expect("aws")["instances"], expected, "{costs}");

    // AWS gone: listed under errors, DigitalOcean still answers.
    moto.stop();
    let (status, fleet) = get(&http, &format!("{}/api/v1/instances?fresh=true", server.url)).await;
    assert_eq!(status, 200, "{fleet}");
    assert!(fleet["errors"].to_string().contains("aws"), "{fleet}");
    assert!(
        fleet["instances"].as_array().expect("list").iter().any(|i| i["provider"] == "digitalocean"),
        "{fleet}"
    );
    server.stop();
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    assert!(!log.contains("moto-secret-never-logged"), "the secret key never reaches the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_stop_start_delete_and_exactly_once_creates() {
    let moto = Moto::start();
    let image = moto.ask("ami", "us-east-1", &[]);
    let image = image.as_str().expect("ami").to_owned();
    let proxy = Proxy::start(&moto.url, Mischief::LoseFirstRun).await;
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&proxy.url, &["us-east-1", "eu-west-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let base = server.url.clone();
    let create =
        |name: &str| json!({"name": name, "type": "t3.micro", "region": "us-east-1", "image_id": image});

    // The first RunInstances answer is lost on its way back: the instance exists once all the same.
    let (status, lost) = post(&http, &format!("{base}{AWS}/instances"), create("lost"), None).await;
    assert_eq!(status, 202, "{lost}");
    let done = settle(&http, &base, &lost["operation_id"]).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(
        proxy.mischief_done.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the proxy did drop an answer"
    );
    assert_eq!(moto.named("us-east-1", "lost").len(), 1, "one instance, though the answer was lost");

    // The seed's create, retried with its Idempotency-Key: one instance.
    let url = format!("{base}{AWS}/instances");
    let (first_status, first) = post(&http, &url, create("web"), Some("create-web-1")).await;
    let (again_status, again) = post(&http, &url, create("web"), Some("create-web-1")).await;
    assert_eq!((first_status, again_status), (202, 202), "{first} {again}");
    assert_eq!(first["operation_id"], again["operation_id"]);
    let id = first["id"].as_str().expect("id").to_owned();
    assert_eq!(settle(&http, &base, &first["operation_id"]).await["state"], "succeeded");
    assert_eq!(moto.named("us-east-1", "web").len(), 1);

    let status_of = |body: &Value| body["status"].as_str().unwrap_or_default().to_owned();
    assert_eq!(status_of(&get(&http, &format!("{url}/{id}")).await.1), "running");
    for (action, wanted, state) in [("power_off", "stopped", "stopped"), ("power_on", "running", "running")] {
        let (status, body) = post(&http, &format!("{url}/{id}/actions"), json!({"type": action}), None).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(settle(&http, &base, &body["operation_id"]).await["state"], "succeeded", "{action}");
        assert_eq!(status_of(&get(&http, &format!("{url}/{id}")).await.1), wanted, "{action}");
        let listed = get(&http, &format!("{url}?name=web")).await.1;
        assert_eq!(listed["instances"][0]["status"], wanted, "the list shows it: {listed}");
        assert_eq!(moto.named("us-east-1", "web")[0].1, state);
    }
    let deleted = http.delete(format!("{url}/{id}")).send().await.expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let started = Instant::now();
    while moto.named("us-east-1", "web")[0].1 != "terminated" {
        assert!(started.elapsed() < Duration::from_secs(30), "never terminated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = get(&http, &format!("{url}?name=web")).await.1;
    assert_eq!(listed["instances"], json!([]), "a deleted instance leaves the list at once: {listed}");
    let (status, gone) = get(&http, &format!("{url}/{id}")).await;
    assert_eq!(
        (status, gone["status"].as_str()),
        (200, Some("archived")),
        "EC2 shows terminated ones a while"
    );

    let (_, operations) = get(&http, &format!("{base}/api/v1/operations")).await;
    let kinds: Vec<&str> = operations["operations"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|o| o["provider"] == "aws")
        .filter_map(|o| o["kind"].as_str())
        .collect();
    for kind in ["create", "power_off", "power_on", "delete"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_use_the_regional_price_and_refuse_an_unknown_one() {
    let moto = Moto::start();
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let regions = ["us-east-1", "eu-west-1", "eu-central-1"];
    let config = config(dir.path(), &aws_section(&moto.url, &regions), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let url = format!("{}{AWS}/cost-estimate", server.url);

    let (status, day) = post(
        &http,
        &url,
        json!({"instance_type": "t3.micro", "region": "us-east-1", "duration": "1d"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{day}");
    // 24 h x $0.0104 (Libcloud 3.9.1, us-east-1).
    assert_eq!(day["total_exact"], "0.2496", "{day}");
    assert_eq!(day["cost"], 0.25);
    assert_eq!(day["price_hourly"], "0.0104");
    assert_eq!(day["billing_policy"], "per_second", "{day}");
    assert!(day["assumptions"].to_string().contains("IPv4"), "what is not included is said: {day}");
    let (_, ireland) = post(
        &http,
        &url,
        json!({"instance_type": "t3.micro", "region": "eu-west-1", "duration": "1d"}),
        None,
    )
    .await;
    assert_eq!(ireland["price_hourly"], "0.0114", "the region's own price: {ireland}");
    // The catalogue shows the same prices by region (the dashboard prices each instance so).
    let types: Value = http
        .get(format!("{}{AWS}/instance-types", server.url))
        .send()
        .await
        .expect("types")
        .json()
        .await
        .expect("json");
    let micro =
        types["instance_types"].as_array().expect("list").iter().find(|t| t["id"] == "t3.micro").cloned();
    let micro = micro.expect("t3.micro listed");
    assert_eq!(micro["regional_prices"]["eu-west-1"]["hourly"], "0.0114", "{micro}");
    assert_eq!(micro["regional_prices"]["us-east-1"]["hourly"], "0.0104", "{micro}");

    // Libcloud's 0.0 for t3.micro in eu-central-1 means unknown: no estimate.
    let (status, unknown) = post(
        &http,
        &url,
        json!({"instance_type": "t3.micro", "region": "eu-central-1", "duration": "1d"}),
        None,
    )
    .await;
    assert_eq!(status, 422, "{unknown}");
    assert!(unknown.to_string().contains("no price is known"), "{unknown}");

    // The CLI, with --provider aws.
    let out = tokio::task::spawn_blocking({
        let server = server.url.clone();
        move || {
            let regions = nephele(&["--server", &server, "regions", "--provider", "aws"]);
            let estimate = nephele(&[
                "--server",
                &server,
                "cost-estimate",
                "--provider",
                "aws",
                "--type",
                "t3.micro",
                "--region",
                "us-east-1",
                "--duration",
                "1d",
            ]);
            (regions, estimate)
        }
    })
    .await
    .expect("join");
    let ((regions_status, regions, _), (estimate_status, estimate, _)) = out;
    assert!(regions_status.success() && regions.contains("US East (N. Virginia)"), "{regions}");
    assert!(estimate_status.success() && estimate.contains("0.25 USD"), "{estimate}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_check_passes_against_moto() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, format!("providers:\n{}", aws_section(&moto.url, &["us-east-1", "eu-west-1"])))
        .expect("write");
    let plugin = aws_plugin().display().to_string();
    let config = path.display().to_string();
    let (status, out, err) = tokio::task::spawn_blocking(move || {
        nephele(&[
            "plugin",
            "check",
            &plugin,
            "--config",
            &config,
            "--type",
            "t3.micro",
            "--region",
            "us-east-1",
        ])
    })
    .await
    .expect("join");
    assert!(status.success(), "{out}\n{err}");
    // 21, and per resource kind its list and a missing one's get, and the price list.
    assert!(out.contains("34 checks passed"), "{out}");
    drop(moto);
}

/// EC2 answering `RequestLimitExceeded`: the list waits and retries, and the metrics count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_reads_are_retried_and_counted() {
    let moto = Moto::start();
    moto.ask("seed", "us-east-1", &["[3]"]);
    let proxy = Proxy::start(&moto.url, Mischief::Throttle(3)).await;
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&proxy.url, &["us-east-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let (status, list) = get(&http, &format!("{}{AWS}/instances?fresh=true", server.url)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["instances"].as_array().expect("list").len(), 3);
    let metrics = http
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let counter = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{provider=\"aws\"}}")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
    };
    assert_eq!(counter("nephele_provider_throttled_total"), Some(3), "{metrics}");
    assert!(counter("nephele_provider_retries_total").is_some_and(|n| n >= 3), "{metrics}");
    server.stop();
}

/// A list whose pages never end (the same next-page token again and again) is refused after the
/// second page, not followed forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_never_ends_is_refused() {
    let moto = Moto::start();
    moto.ask("seed", "us-east-1", &["[2]"]);
    let proxy = Proxy::start(&moto.url, Mischief::EndlessList).await;
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&proxy.url, &["us-east-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let (status, problem) = get(&http, &format!("{}{AWS}/instances?fresh=true", server.url)).await;
    assert_eq!((status, problem["code"].as_str()), (502, Some("provider_bad_response")), "{problem}");
    let followed = proxy.mischief_done.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=4).contains(&followed), "the loop was followed {followed} times, not forever");
    server.stop();
}
