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
}

pub async fn spawn_app_with(droplets: usize, transition: Duration) -> TestApp {
    nephele_digitalocean::install_crypto_provider();
    let sim = Simulator::new(SimConfig {
        tokens: vec![DO_TOKEN.to_owned()],
        transition,
        droplets,
        limits: Limits { per_minute: 1_000_000, per_hour: 1_000_000, ..Limits::default() },
        ..SimConfig::default()
    })
    .bind(([127, 0, 0, 1], 0).into())
    .await
    .expect("bind dosim");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\n  max_body_bytes: 8192\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {}\n",
        sim.base_url()
    );
    let config = Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    TestApp { base, sim, http: reqwest::Client::new() }
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

    pub async fn delete(&self, path: &str) -> Response {
        self.http.delete(self.url(path)).send().await.expect("request")
    }

    /// Upstream requests dosim saw for one operationId.
    pub fn upstream(&self, operation_id: &str) -> u64 {
        self.sim.stats().requests.get(operation_id).copied().unwrap_or(0)
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
