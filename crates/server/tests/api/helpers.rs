//! `spawn_app()`: a fresh simulator and a server configured against it, on free ports.

use std::path::Path;
use std::time::Duration;

use dosim::{Limits, RunningSim, SimConfig, Simulator};
use nephele_server::{App, Config};
use reqwest::Response;
use serde_json::Value;

pub const DO_TOKEN: &str = "dop_v1_servertest0000000000000000000000000000000000000000000000000";

pub struct TestApp {
    pub base: String,
    pub sim: RunningSim,
    pub http: reqwest::Client,
    /// Holds the SQLite database for the app's lifetime.
    pub _data: tempfile::TempDir,
    pub database_url: String,
}

pub async fn spawn_app_with(droplets: usize, transition: Duration) -> TestApp {
    spawn_app_configured(droplets, transition, "auth:\n  required: false\n").await
}

/// A server on a fresh SQLite database, with `extra` YAML appended to its config.
pub async fn spawn_app_configured(droplets: usize, transition: Duration, extra: &str) -> TestApp {
    spawn_app_extra(droplets, transition, Extra { rest: extra, ..Extra::default() }).await
}

/// YAML added to a test server's configuration: lines for its `server:`,
/// `providers.digitalocean:` and `operations:` sections, and whole sections after those.
#[derive(Default, Clone, Copy)]
pub struct Extra<'a> {
    pub server: &'a str,
    pub provider: &'a str,
    pub operations: &'a str,
    pub rest: &'a str,
}

fn indented(lines: &str, by: usize) -> String {
    lines.lines().map(|l| format!("{}{l}\n", " ".repeat(by))).collect()
}

/// A server on its own simulator (with `droplets`), configured with `extra`.
pub async fn spawn_app_extra(droplets: usize, transition: Duration, extra: Extra<'_>) -> TestApp {
    let sim = start_sim(droplets, transition).await;
    let base_url = sim.base_url();
    spawn_app_on(sim, &base_url, extra).await
}

/// A simulator holding `droplets` active droplets, accepting [`DO_TOKEN`], with no rate limit.
pub async fn start_sim(droplets: usize, transition: Duration) -> RunningSim {
    nephele_digitalocean::install_crypto_provider();
    Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        transition,
        droplets,
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("bind dosim")
}

/// A server whose DigitalOcean is at `base_url` (the simulator itself, or something in front of
/// it), on a fresh SQLite database, with `extra` YAML appended to its config.
pub async fn spawn_app_on(sim: RunningSim, base_url: &str, extra: Extra<'_>) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/nephele.db", data.path().display());
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  max_body_bytes: 8192\n{}providers:\n  digitalocean:\n{}    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {}\n{}{}database:\n  url: sqlite://{}/nephele.db\noperations:\n  poll_interval_ms: 50\n{}{}",
        indented(extra.server, 2),
        plugin_line(),
        base_url,
        // No rate limit to speak of, unless the test sets its own.
        if extra.provider.contains("rate_limit_per_minute") {
            ""
        } else {
            "    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\n"
        },
        indented(extra.provider, 4),
        data.path().display(),
        indented(extra.operations, 2),
        extra.rest,
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    TestApp { base, sim, http: reqwest::Client::new(), _data: data, database_url }
}

/// `NEPHELE_TEST_DIGITALOCEAN=plugin` runs every test of this suite with DigitalOcean as a
/// plugin (`make test` runs the suite both ways); otherwise it is built in.
pub fn digitalocean_as_plugin() -> bool {
    match std::env::var("NEPHELE_TEST_DIGITALOCEAN").as_deref() {
        Ok("plugin") => true,
        Ok("in-process") | Err(_) => false,
        Ok(other) => panic!("NEPHELE_TEST_DIGITALOCEAN must be plugin or in-process, not {other:?}"),
    }
}

/// The `nephele-provider-digitalocean` binary beside this test's own (the Makefile builds it).
pub fn digitalocean_plugin_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let path = dir.join("nephele-provider-digitalocean");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p nephele-digitalocean --features plugin` (make test does)",
        path.display()
    );
    path
}

fn plugin_line() -> String {
    if digitalocean_as_plugin() {
        format!("    plugin: {}\n", digitalocean_plugin_path().display())
    } else {
        String::new()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(0, Duration::from_millis(150)).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).json(&body).send().await.expect("request")
    }

    /// Waits until an operation has finished and returns it.
    pub async fn wait_for_operation(&self, id: &str, key: Option<&str>) -> Value {
        for _ in 0..400 {
            let mut request = self.http.get(self.url(&format!("/api/v1/operations/{id}")));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let body: Value = request.send().await.expect("request").json().await.expect("json");
            if body["state"] == "succeeded" || body["state"] == "failed" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("operation {id} never finished");
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.http.delete(self.url(path)).send().await.expect("request")
    }

    /// Upstream requests dosim saw for one operationId.
    pub fn upstream(&self, operation_id: &str) -> u64 {
        self.sim.stats().requests.get(operation_id).copied().unwrap_or(0)
    }

    /// Upstream requests other than the inventory's own list loads (which start with the
    /// server, and read droplets and every resource kind): what callers' requests cost.
    pub fn upstream_for_callers(&self) -> u64 {
        let inventory: u64 = [
            "droplets_list",
            "volumes_list",
            "snapshots_list",
            "volumeSnapshots_list",
            "sshKeys_list",
            "firewalls_list",
            "reservedIPs_list",
            "vpcs_list",
        ]
        .iter()
        .map(|op| self.upstream(op))
        .sum();
        self.upstream_total() - inventory
    }

    pub fn upstream_total(&self) -> u64 {
        self.sim.stats().requests.values().sum()
    }

    /// Polls an instance until its status is `wanted`.
    pub async fn wait_for_status(&self, id: &str, wanted: &str) -> Value {
        for _ in 0..150 {
            let response = self.get(&format!("/api/v1/providers/digitalocean/instances/{id}")).await;
            let body: Value = response.json().await.expect("json");
            if body["status"] == wanted {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("instance {id} never became {wanted}");
    }
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("json body")
}
