//! The `nephele` binary, run as a user runs it, against a live server and simulator.

mod accounts;
mod aws;
mod crash_recovery;
mod events;
mod graceful_stop;
mod logs;
mod plugins;
mod postgres;
mod replicas;
mod spend;
mod store_backends;
mod support;
mod webhook_delivery;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use dosim::{Limits, RunningSim, SimConfig, Simulator};
use nephele_server::{App, Config};
use serde_json::Value;

const TOKEN: &str = "dop_v1_clitest";

struct Live {
    server: String,
    _sim: RunningSim,
    _data: tempfile::TempDir,
}

async fn live_server() -> Live {
    nephele_digitalocean::install_crypto_provider();
    let sim = Simulator::new(SimConfig {
        tokens: vec![TOKEN.to_owned()],
        transition: Duration::from_millis(300),
        droplets: 2,
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("dosim");
    let data = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {TOKEN}\n    region: nyc1\n    base_url: {}\ndatabase:\n  url: sqlite://{}/n.db\nauth:\n  required: false\n",
        sim.base_url(),
        data.path().display()
    );
    let app = App::build(Config::parse(&yaml, Path::new("cli.yaml"), |_| None).expect("config"))
        .await
        .expect("app");
    let server = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    Live { server, _sim: sim, _data: data }
}

fn nephele(server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nephele"))
        .arg("--server")
        .arg(server)
        .args(args)
        .output()
        .expect("run nephele")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// Multi-threaded so the server keeps serving while the test thread waits on the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_wait_list_power_and_delete_through_the_cli() {
    let live = live_server().await;
    let s = live.server.as_str();

    let created = nephele(
        s,
        &[
            "instances",
            "create",
            "--name",
            "cli-1",
            "--type",
            "s-1vcpu-1gb",
            "--image",
            "debian-12-x64",
            "--wait",
            "--timeout",
            "20",
            "-o",
            "json",
        ],
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let body: Value = serde_json::from_slice(&created.stdout).expect("json output");
    assert_eq!(body["instances"][0]["status"], "running", "--wait waited");
    let id = body["instances"][0]["id"].as_str().expect("id").to_owned();
    assert!(String::from_utf8_lossy(&created.stderr).contains("1/1 running"), "progress is shown");

    let list = nephele(s, &["instances", "list"]);
    assert!(list.status.success());
    let table = stdout(&list);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("cli-1") && table.contains("running") && table.contains("sim-000001"), "{table}");

    let off = nephele(s, &["instances", "power-off", &id]);
    assert!(off.status.success(), "{}", String::from_utf8_lossy(&off.stderr));
    assert!(stdout(&off).contains("power_off on"));

    let filtered = nephele(s, &["instances", "list", "--name", "cli-1", "-o", "json"]);
    let filtered: Value = serde_json::from_slice(&filtered.stdout).expect("json");
    assert_eq!(filtered["instances"].as_array().expect("list").len(), 1);

    let deleted = nephele(s, &["instances", "delete", &id]);
    assert!(deleted.status.success());
    let gone = nephele(s, &["instances", "get", &id]);
    assert!(!gone.status.success(), "getting a deleted instance fails");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("HTTP 404"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_and_reserved_ips_through_the_cli_and_the_waste_they_leave() {
    let live = live_server().await;
    let s = live.server.as_str();
    let made =
        nephele(s, &["volumes", "create", "--set", "name=cli-data", "--set", "size_gib=50", "-o", "json"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let made: Value = serde_json::from_slice(&made.stdout).expect("json");
    assert_eq!(made["operation"]["state"], "succeeded", "{made}");
    let volume = made["answer"]["resource"]["id"].as_str().expect("id").to_owned();
    let grown = nephele(s, &["volumes", "action", &volume, "resize", "--set", "size_gib=60"]);
    assert!(grown.status.success(), "{}", String::from_utf8_lossy(&grown.stderr));
    assert!(stdout(&grown).contains("succeeded"), "{}", stdout(&grown));
    let ip = nephele(s, &["reserved-ips", "create", "--set", "region=nyc1"]);
    assert!(ip.status.success(), "{}", String::from_utf8_lossy(&ip.stderr));

    let list = stdout(&nephele(s, &["volumes", "list"]));
    assert!(list.contains("cli-data") && list.contains("60 GiB"), "{list}");
    let all = stdout(&nephele(s, &["volumes", "list", "--all"]));
    assert!(all.contains("cli-data"), "{all}");
    let waste = stdout(&nephele(s, &["waste"]));
    // 60 GiB at $0.10 and an unassigned IP at $5.00.
    assert!(waste.contains("6.00 USD") && waste.contains("5.00 USD"), "{waste}");
    assert!(waste.contains("total a month: 11.00 USD"), "{waste}");
    let ips = stdout(&nephele(s, &["waste", "--kind", "reserved_ip"]));
    assert!(!ips.contains("cli-data"), "{ips}");

    let deleted = nephele(s, &["volumes", "delete", &volume]);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    assert!(!stdout(&nephele(s, &["volumes", "list"])).contains("cli-data"));
    let wrong = nephele(s, &["volumes", "create", "--set", "size_gib"]);
    assert!(!wrong.status.success(), "a field without a value is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_and_cost_commands_print_tables_and_errors_help() {
    let live = live_server().await;
    let s = live.server.as_str();
    let types = stdout(&nephele(s, &["types"]));
    assert!(types.contains("s-1vcpu-1gb") && types.contains("$0.00893"), "{types}");
    let regions = stdout(&nephele(s, &["regions"]));
    assert!(regions.contains("New York 1"), "{regions}");
    assert!(stdout(&nephele(s, &["images"])).contains("ubuntu-24-04-x64"));

    let cost = nephele(
        s,
        &[
            "cost-estimate",
            "--type",
            "s-1vcpu-1gb",
            "--region",
            "nyc1",
            "--duration",
            "45d",
            "--start",
            "2026-01-15T00:00:00Z",
        ],
    );
    assert!(cost.status.success());
    assert!(stdout(&cost).contains("9.64 USD"), "{}", stdout(&cost));
    // Month lines to the cent (the exact figures are 3.64344 and 6).
    assert!(
        stdout(&cost).contains("2026-01: 3.64\n") && stdout(&cost).contains("2026-02: 6.00\n"),
        "{}",
        stdout(&cost)
    );

    let typo = nephele(
        s,
        &["instances", "create", "--name", "x", "--type", "s-1vcpu-1g", "--image", "debian-12-x64"],
    );
    assert_eq!(typo.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(stderr.contains("s-1vcpu-1gb") && stderr.contains("HTTP 422"), "{stderr}");

    let ambiguous = nephele(s, &["cost-estimate", "--type", "s-1vcpu-1gb", "--duration", "1m"]);
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("1mo"));

    let nowhere = nephele("http://127.0.0.1:9", &["regions"]);
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("cannot reach"));
}

/// `nephele serve` with no token, in an empty directory: demo mode, loudly.
fn start_demo(dir: &Path) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nephele"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("DIGITALOCEAN_TOKEN")
        .env_remove("NEPHELE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nephele serve");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).expect("read") > 0 {
        banner.push_str(&line);
        if line.starts_with("nephele listening on ") {
            break;
        }
        line.clear();
    }
    let url = line.trim().trim_start_matches("nephele listening on ").to_owned();
    (child, url, banner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_a_token_runs_demo_mode_and_the_seeds_requests_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, url, banner) = start_demo(dir.path());
    assert!(banner.contains("DEMO MODE"), "{banner}");
    assert!(banner.contains("providers.aws"), "the banner says how to add AWS: {banner}");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    nephele_digitalocean::install_crypto_provider();
    let http = reqwest::Client::new();

    let list = http.get(format!("{url}/api/v1/providers/digitalocean/instances")).send().await.expect("list");
    let regions =
        http.get(format!("{url}/api/v1/providers/digitalocean/regions")).send().await.expect("regions");
    let create = http
        .post(format!("{url}/api/v1/providers/digitalocean/instances"))
        .header("Content-Type", "application/json")
        .body(r#"{"name": "my-droplet", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-20-04-x64"}"#)
        .send()
        .await
        .expect("create");
    let estimate = http
        .post(format!("{url}/api/v1/providers/digitalocean/cost-estimate"))
        .header("Content-Type", "application/json")
        .body(r#"{"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1d"}"#)
        .send()
        .await
        .expect("estimate");
    let statuses = [list.status(), regions.status(), create.status(), estimate.status()];
    let estimate: Value = estimate.json().await.expect("json");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 200, 202, 200]);
    assert_eq!(estimate["cost"].as_f64(), Some(0.21));
}

#[tokio::test]
async fn keys_create_refuses_a_provider_the_config_does_not_run() {
    let sim = support::simulator(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/keys.db", dir.path().display());
    let config = support::write_config(dir.path(), &sim, &database_url, 5);
    let run = |provider: &str| {
        Command::new(env!("CARGO_BIN_EXE_nephele"))
            .args(["keys", "create", "--role", "viewer", "--provider", provider, "--config"])
            .arg(&config)
            .output()
            .expect("run nephele keys create")
    };
    let refused = run("aws");
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("\"aws\"") && message.contains("digitalocean"), "{message}");
    assert!(refused.stdout.is_empty(), "no key was printed");
    assert!(run("digitalocean").status.success(), "a configured provider is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_and_the_audit_log_from_the_cli() {
    let live = live_server().await;
    let s = live.server.as_str();
    let created = nephele(
        s,
        &[
            "instances",
            "create",
            "--name",
            "ops-1",
            "--type",
            "s-1vcpu-1gb",
            "--image",
            "debian-12-x64",
            "-o",
            "json",
        ],
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let body: Value = serde_json::from_slice(&created.stdout).expect("json");
    let operation = body["operation_id"].as_str().expect("operation id").to_owned();

    let waited = nephele(s, &["operations", "wait", &operation, "--timeout", "20"]);
    assert!(waited.status.success(), "{}", String::from_utf8_lossy(&waited.stderr));
    let table = stdout(&waited);
    assert!(table.contains(&operation) && table.contains("succeeded") && table.contains("create"), "{table}");

    let listed = nephele(s, &["operations", "list", "--state", "succeeded", "-o", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert!(listed["operations"].as_array().expect("list").iter().any(|o| o["id"] == operation.as_str()));

    let audit = nephele(s, &["audit", "--limit", "5"]);
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));
    assert!(
        stdout(&audit).contains("/api/v1/providers/digitalocean/instances")
            && stdout(&audit).contains(&operation),
        "{}",
        stdout(&audit)
    );

    let missing = nephele(s, &["operations", "get", "no-such-operation"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("HTTP 404"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
