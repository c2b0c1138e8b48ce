//! `spawn_sim()`: a fresh simulator on a free port, with typed request helpers.

use std::time::Duration;

use dosim::{Limits, RunningSim, SimConfig, Simulator};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub const TOKEN: &str = "test-token";

pub struct TestSim {
    pub sim: RunningSim,
    pub http: reqwest::Client,
}

pub fn config() -> SimConfig {
    SimConfig {
        tokens: vec![TOKEN.to_owned()],
        transition: Duration::from_millis(150),
        droplets: 0,
        limits: Limits {
            per_minute: 100_000,
            per_hour: 100_000,
            ssh_keys_per_minute: 10,
            ..Limits::default()
        },
        ..SimConfig::default()
    }
}

/// See the `rustls` dev-dependency: reqwest must find a crypto provider.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn spawn_sim(config: SimConfig) -> TestSim {
    let sim = Simulator::new(config).bind(([127, 0, 0, 1], 0).into()).await.expect("bind a free port");
    TestSim { sim, http: http_client() }
}

impl TestSim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(TOKEN).send().await.expect("request sent")
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).bearer_auth(TOKEN).json(&body).send().await.expect("request sent")
    }

    /// A request made with another account's (or no known account's) token.
    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await.expect("request sent")
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> Response {
        self.http.delete(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.http.delete(self.url(path)).bearer_auth(TOKEN).send().await.expect("request sent")
    }

    pub async fn create_droplet(&self, name: &str, tags: &[&str]) -> Value {
        let response = self
            .post(
                "/v2/droplets",
                json!({"name": name, "size": "s-1vcpu-1gb", "region": "nyc1", "image": "ubuntu-24-04-x64", "tags": tags}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json().await.expect("json body")
    }

    pub async fn droplet_status(&self, id: u64) -> String {
        let body: Value = self.get(&format!("/v2/droplets/{id}")).await.json().await.expect("json");
        body["droplet"]["status"].as_str().expect("status").to_owned()
    }
}

/// Reads a numeric header.
pub fn header_u64(response: &Response, name: &str) -> u64 {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number")
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("json body")
}
