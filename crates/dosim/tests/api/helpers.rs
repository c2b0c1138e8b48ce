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

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.http.put(self.url(path)).bearer_auth(TOKEN).json(&body).send().await.expect("request sent")
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.http.patch(self.url(path)).bearer_auth(TOKEN).json(&body).send().await.expect("request sent")
    }

    /// A DELETE with a JSON body, as the firewall, tag and destroy operations take.
    pub async fn delete_with(&self, path: &str, body: Value) -> Response {
        self.http.delete(self.url(path)).bearer_auth(TOKEN).json(&body).send().await.expect("request sent")
    }

    /// GETs `path` until `done` holds for its JSON body, or panics after ten seconds.
    pub async fn wait_until(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let body = json(self.get(path).await).await;
            if done(&body) {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "{path} never showed {what}: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Creates a droplet in `region` and waits until it is active; returns its id.
    pub async fn active_droplet(&self, name: &str, region: &str) -> u64 {
        let response = self
            .post(
                "/v2/droplets",
                json!({"name": name, "size": "s-1vcpu-1gb", "region": region, "image": "ubuntu-24-04-x64"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let id = json(response).await["droplet"]["id"].as_u64().expect("id");
        self.wait_until(&format!("/v2/droplets/{id}"), "active", |b| b["droplet"]["status"] == "active")
            .await;
        id
    }

    /// Creates a volume and returns its id.
    pub async fn volume(&self, name: &str, gib: u64, region: &str) -> String {
        let response =
            self.post("/v2/volumes", json!({"name": name, "size_gigabytes": gib, "region": region})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create volume {name}");
        json(response).await["volume"]["id"].as_str().expect("id").to_owned()
    }

    /// Starts an action on a volume and returns the answer.
    pub async fn volume_action(&self, volume_id: &str, body: Value) -> Response {
        self.post(&format!("/v2/volumes/{volume_id}/actions"), body).await
    }

    /// The deleted resources of the default account, from `/_sim/lifetimes`.
    pub async fn retired(&self) -> Vec<Value> {
        let body = json(self.http.get(self.url("/_sim/lifetimes")).send().await.expect("sent")).await;
        body["retired"].as_array().expect("retired").clone()
    }

    /// Moves the simulator's clock `seconds` forward (`POST /_sim/clock`).
    pub async fn advance(&self, seconds: u64) {
        let response = self
            .http
            .post(self.url("/_sim/clock"))
            .json(&json!({"advance_secs": seconds}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK, "advance the clock by {seconds} s");
    }

    /// Sets the simulator's clock (`PUT /_sim/clock`) and returns the answer.
    pub async fn set_clock(&self, rfc3339: &str) -> Response {
        self.http
            .put(self.url("/_sim/clock"))
            .json(&json!({"now": rfc3339}))
            .send()
            .await
            .expect("request sent")
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
