//! Webhooks (issue 22) through the API, delivering to `tests/webhook_receiver.py`, which checks
//! every delivery with the stock Standard Webhooks verifier (`standardwebhooks` 1.1.0 from PyPI,
//! unchanged; `make webhooks-peer` installs it into `.venv`). Without it these tests fail and
//! say what to run; they never skip.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::events::{DEADLINE, make_keys};
use crate::helpers::{DO_TOKEN, TestApp, json, spawn_app_configured, start_sim};

const INSTALL_HINT: &str = "run `make webhooks-peer` (installs standardwebhooks==1.1.0 from scripts/requirements-webhooks.txt into .venv)";

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(python.exists(), "{} is missing: {INSTALL_HINT}", python.display());
    python
}

/// `tests/webhook_receiver.py`, killed when dropped.
pub struct Receiver {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl Receiver {
    pub fn start() -> Self {
        nephele_digitalocean::install_crypto_provider();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhook_receiver.py");
        let mut child = Command::new(venv_python())
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Python receiver");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the Python receiver did not start ({INSTALL_HINT}):\n{stderr}");
        };
        Self { child, port, http: reqwest::Client::new() }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Sets the secrets deliveries may verify with, and how to answer them.
    pub async fn steer(&self, settings: Value) {
        let answer = self
            .http
            .post(format!("http://127.0.0.1:{}/_control", self.port))
            .json(&settings)
            .send()
            .await
            .expect("steer the receiver");
        assert_eq!(answer.status(), 204);
    }

    /// Every delivery so far, in arrival order.
    pub async fn results(&self) -> Vec<Value> {
        self.http
            .get(format!("http://127.0.0.1:{}/_results", self.port))
            .send()
            .await
            .expect("ask the receiver")
            .json()
            .await
            .expect("JSON results")
    }

    /// Waits until `check` holds for the deliveries, and returns them.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let results = self.results().await;
            if check(&results) {
                return results;
            }
            assert!(started.elapsed() < DEADLINE, "{what}: never; deliveries so far: {results:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const OPEN_NETWORK: &str = "webhooks:\n  allow_http: true\n  allow_private_networks: true\n";

/// The master key the test servers seal signing secrets with (32 bytes, base64).
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn with_key(webhooks: &str) -> String {
    format!("auth:\n  required: false\nsecrets:\n  master_key: {MASTER_KEY}\n{webhooks}")
}

async fn app_with(webhooks: &str) -> TestApp {
    spawn_app_configured(0, Duration::from_millis(150), &with_key(webhooks)).await
}

/// A server on the SQLite database in `data` (kept from an earlier server, to restart on it),
/// configured with `rest`, and its state (to stop its engine).
async fn serve_on(
    data: tempfile::TempDir,
    rest: &str,
) -> (TestApp, std::sync::Arc<nephele_server::AppState>) {
    let sim = start_sim(0, Duration::from_millis(150)).await;
    let database_url = format!("sqlite://{}/nephele.db", data.path().display());
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    region: nyc1\n    base_url: {}\n    rate_limit_per_minute: 100000\n    rate_limit_per_hour: 1000000\ndatabase:\n  url: {database_url}\noperations:\n  poll_interval_ms: 50\n{rest}",
        sim.base_url()
    );
    let config = nephele_server::Config::parse(&yaml, Path::new("test.yaml"), |_| None).expect("config");
    let app = nephele_server::App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    let state = app.state();
    tokio::spawn(app.run());
    (TestApp { base, sim, http: reqwest::Client::new(), _data: data, database_url }, state)
}

/// Stops `app`'s engine and hands back its database directory.
async fn stop(app: TestApp, state: std::sync::Arc<nephele_server::AppState>) -> tempfile::TempDir {
    state.engine.stop().await;
    let TestApp { _data, .. } = app;
    _data
}

async fn database(app: &TestApp) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&app.database_url).await.expect("open the app's database")
}

/// The `secret` column of webhook `id`.
async fn stored_secret(app: &TestApp, id: &str) -> String {
    use sqlx::Row;
    let db = database(app).await;
    let row =
        sqlx::query("SELECT secret FROM webhooks WHERE id = ?").bind(id).fetch_one(&db).await.expect("row");
    db.close().await;
    row.get("secret")
}

/// Standard base64 decoded (the tests' own: the crate has no base64 dependency of its own).
fn unbase64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c).expect("base64 digit");
        buffer = (buffer << 6) | u32::try_from(value).expect("small");
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).expect("byte"));
        }
    }
    out
}

/// Every form a secret could be found in on disk: as given, its base64, and its key in hex.
fn secret_forms(secret: &str) -> Vec<String> {
    let encoded = secret.strip_prefix("whsec_").expect("whsec_");
    let key = unbase64(encoded);
    assert_eq!(key.len(), 32, "the key is 32 bytes");
    let lower: String = key.iter().map(|b| format!("{b:02x}")).collect();
    vec![secret.to_owned(), encoded.to_owned(), lower.to_uppercase(), lower]
}

/// Fails if a file of the SQLite database (main file, WAL, shared memory) holds `secret` in any form.
fn assert_not_on_disk(app: &TestApp, secret: &str) {
    let main = app.database_url.strip_prefix("sqlite://").expect("a SQLite URL").to_owned();
    let mut read = 0;
    for path in [main.clone(), format!("{main}-wal"), format!("{main}-shm")] {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        read += bytes.len();
        for form in secret_forms(secret) {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "{path} holds a signing secret in plain ({} characters)",
                form.len()
            );
        }
    }
    assert!(read > 0, "the database files were read");
}

/// Makes a webhook for `receiver` of API key events, and gives the receiver its secret.
async fn hook_for(app: &TestApp, receiver: &Receiver, steering: Value) -> (String, String) {
    let made = app
        .post("/api/v1/webhooks", json!({"url": receiver.url(), "event_types": ["nephele.api_key.created"]}))
        .await;
    assert_eq!(made.status(), 201);
    let made = json(made).await;
    let secret = made["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let mut steering = steering;
    steering["secrets"] = json!([secret]);
    receiver.steer(steering).await;
    (made["id"].as_str().expect("id").to_owned(), secret)
}

async fn deliveries(app: &TestApp, hook: &str) -> Vec<Value> {
    json(app.get(&format!("/api/v1/webhooks/{hook}/deliveries?limit=1000")).await).await["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

async fn wait_for_deliveries(app: &TestApp, hook: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let log = deliveries(app, hook).await;
        if check(&log) {
            return log;
        }
        assert!(started.elapsed() < DEADLINE, "the delivery log never came right: {log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verified(results: &[Value]) -> usize {
    results.iter().filter(|r| r["verified"] == true).count()
}

#[tokio::test]
async fn every_delivery_verifies_with_the_stock_verifier_including_during_a_rotation() {
    let app = app_with(OPEN_NETWORK).await;
    let receiver = Receiver::start();
    let (hook, old_secret) = hook_for(&app, &receiver, json!({})).await;
    make_keys(&app, 5).await;
    receiver.wait_for("5 deliveries", |r| r.len() >= 5).await;

    let rotated =
        app.http.post(app.url(&format!("/api/v1/webhooks/{hook}/rotate-secret"))).send().await.expect("sent");
    assert_eq!(rotated.status(), 200);
    let rotated = json(rotated).await;
    let new_secret = rotated["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["previous_secret_expires_at"].is_string(), "{rotated}");

    // A receiver still on the old secret accepts what is signed during the overlap ...
    make_keys(&app, 5).await;
    receiver.wait_for("10 deliveries", |r| r.len() >= 10).await;
    // ... and one that switched to the new secret does too.
    receiver.steer(json!({"secrets": [new_secret]})).await;
    make_keys(&app, 5).await;
    let results = receiver.wait_for("15 deliveries", |r| r.len() >= 15).await;
    assert_eq!(verified(&results), 15, "every delivery verifies: {results:?}");

    // webhook-id is the event id, and every delivery is logged as delivered.
    let events = crate::events::all_events(&app, Some("nephele.api_key.created")).await;
    let mut event_ids: Vec<_> = events.iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    let mut delivered_ids: Vec<_> =
        results.iter().map(|r| r["id"].as_str().expect("webhook-id").to_owned()).collect();
    event_ids.sort();
    delivered_ids.sort();
    assert_eq!(delivered_ids, event_ids);
    let log = wait_for_deliveries(&app, &hook, |log| log.iter().all(|d| d["state"] == "delivered")).await;
    assert_eq!(log.len(), 15);
    assert!(log.iter().all(|d| d["attempts"] == 1 && d["last_status"] == 204), "{log:?}");
    assert!(
        !app.get("/api/v1/webhooks").await.text().await.expect("text").contains("whsec_"),
        "never listed"
    );
    // Sealed at rest: neither secret is in the database file or its WAL, in any form.
    assert!(stored_secret(&app, &hook).await.starts_with("sealed:v1:"));
    assert_not_on_disk(&app, &old_secret);
    assert_not_on_disk(&app, &new_secret);
}

#[tokio::test]
async fn an_endpoint_answering_410_is_disabled_and_an_event_says_so() {
    let app = app_with(OPEN_NETWORK).await;
    let receiver = Receiver::start();
    let (hook, _) = hook_for(&app, &receiver, json!({"status": 410})).await;
    make_keys(&app, 1).await;
    wait_for_deliveries(&app, &hook, |log| log.first().is_some_and(|d| d["state"] == "failed")).await;
    let shown = json(app.get(&format!("/api/v1/webhooks/{hook}")).await).await;
    assert_eq!(shown["enabled"], false);
    assert!(shown["disabled_reason"].as_str().expect("reason").contains("410"), "{shown}");
    let disabled = crate::events::all_events(&app, Some("nephele.webhook.disabled")).await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["subject"], format!("webhooks/{hook}"));

    // Events written while it is disabled are not for it; once enabled, it gets the next ones.
    make_keys(&app, 2).await;
    assert_eq!(deliveries(&app, &hook).await.len(), 1, "nothing queued for a disabled webhook");
    receiver.steer(json!({"status": 204})).await;
    let enabled = app
        .http
        .patch(app.url(&format!("/api/v1/webhooks/{hook}")))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .expect("sent");
    let enabled = json(enabled).await;
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
    make_keys(&app, 1).await;
    let log =
        wait_for_deliveries(&app, &hook, |log| log.first().is_some_and(|d| d["state"] == "delivered")).await;
    assert_eq!(log.len(), 2, "{log:?}");
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_then_failed_and_a_manual_retry_delivers() {
    let app = app_with(&format!("{OPEN_NETWORK}  retry_delays_secs: [1, 1]\n")).await;
    let receiver = Receiver::start();
    let (hook, _) = hook_for(&app, &receiver, json!({"status": 500})).await;
    make_keys(&app, 1).await;
    let log =
        wait_for_deliveries(&app, &hook, |log| log.first().is_some_and(|d| d["state"] == "failed")).await;
    let delivery = &log[0];
    assert_eq!(delivery["attempts"], 3, "the first attempt and one per listed delay: {delivery}");
    assert_eq!(delivery["last_status"], 500);
    assert!(delivery["last_error"].as_str().expect("why").contains("500"), "{delivery}");
    assert_eq!(delivery["last_response"], "ok", "the answer's body is kept");
    let results = receiver.results().await;
    assert_eq!(results.len(), 3);
    let gaps: Vec<f64> = results
        .windows(2)
        .map(|w| w[1]["at"].as_f64().expect("time") - w[0]["at"].as_f64().expect("time"))
        .collect();
    assert!(gaps.iter().all(|g| *g >= 0.45), "retries wait (1 s, equal jitter: at least 0.5 s): {gaps:?}");
    assert!(results.iter().all(|r| r["id"] == results[0]["id"]), "the same webhook-id on every attempt");

    receiver.steer(json!({"status": 200})).await;
    let id = delivery["id"].as_str().expect("id");
    let retried = app
        .http
        .post(app.url(&format!("/api/v1/webhooks/{hook}/deliveries/{id}/retry")))
        .send()
        .await
        .expect("sent");
    assert_eq!(retried.status(), 202);
    wait_for_deliveries(&app, &hook, |log| log[0]["state"] == "delivered").await;
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for family in [
        "nephele_webhook_attempts_total{outcome=\"failed\"} 3",
        "nephele_webhook_deliveries_total{outcome=\"retried\"} 2",
        "nephele_webhook_deliveries_total{outcome=\"delivered\"} 1",
        "nephele_webhook_queue_depth 0",
        "nephele_webhook_oldest_undelivered_age_seconds 0",
    ] {
        assert!(metrics.contains(family), "{family} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_tried_again_after_it() {
    let app = app_with(OPEN_NETWORK).await;
    let receiver = Receiver::start();
    let (hook, _) = hook_for(&app, &receiver, json!({"status": 429, "retry_after": 2})).await;
    make_keys(&app, 1).await;
    receiver.wait_for("the first attempt", |r| r.len() == 1).await;
    receiver.steer(json!({"status": 204})).await;
    let log = wait_for_deliveries(&app, &hook, |log| log[0]["state"] == "delivered").await;
    assert_eq!(log[0]["attempts"], 2);
    let results = receiver.results().await;
    let gap = results[1]["at"].as_f64().expect("time") - results[0]["at"].as_f64().expect("time");
    assert!(gap >= 1.9, "Retry-After: 2 was honoured ({gap} s)");
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_the_others() {
    let app = app_with(&format!("{OPEN_NETWORK}  max_in_flight_per_endpoint: 2\n")).await;
    let slow = Receiver::start();
    let fast = Receiver::start();
    let (slow_hook, _) = hook_for(&app, &slow, json!({"delay_ms": 2000})).await;
    let (_fast_hook, _) = hook_for(&app, &fast, json!({})).await;
    let started = Instant::now();
    make_keys(&app, 20).await;
    fast.wait_for("20 deliveries to the fast endpoint", |r| r.len() == 20).await;
    let fast_done = started.elapsed();
    // The slow one takes 2 s per delivery, two at a time: 20 s for all of them.
    assert!(fast_done < Duration::from_secs(8), "the fast endpoint waited for the slow one: {fast_done:?}");
    let slow_so_far = deliveries(&app, &slow_hook).await.iter().filter(|d| d["state"] == "delivered").count();
    assert!(slow_so_far < 20, "the slow endpoint is still going ({slow_so_far} delivered)");
}

#[tokio::test]
async fn targets_on_private_networks_are_refused_with_the_reason() {
    let app = app_with("").await;
    for (url, reason) in [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://10.0.0.1/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://localhost/hook", "localhost resolves to"),
        ("http://example.com/hook", "plain http is not allowed"),
        ("ftp://example.com/hook", "not a webhook scheme"),
        ("not a url", "not an absolute URL"),
    ] {
        let answer = app.post("/api/v1/webhooks", json!({"url": url})).await;
        assert_eq!(answer.status(), 422, "{url}");
        let problem = json(answer).await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
        let message = problem["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(reason), "{url}: {message}");
    }
    assert!(json(app.get("/api/v1/webhooks").await).await["webhooks"].as_array().expect("list").is_empty());
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_the_log_says_where_it_pointed() {
    // The guard's refusal of a redirect to loopback with the switch off is the webhooks crate's
    // test (tests/delivery/ssrf.rs); here, with it on, a redirect is still never followed.
    let app = app_with(&format!("{OPEN_NETWORK}  retry_delays_secs: [1]\n")).await;
    let receiver = Receiver::start();
    let (hook, _) =
        hook_for(&app, &receiver, json!({"status": 307, "location": "http://127.0.0.1:1/elsewhere"})).await;
    make_keys(&app, 1).await;
    let log =
        wait_for_deliveries(&app, &hook, |log| log.first().is_some_and(|d| d["state"] == "failed")).await;
    let why = log[0]["last_error"].as_str().expect("why");
    assert!(why.contains("redirect not followed") && why.contains("127.0.0.1:1"), "{why}");
    assert_eq!(receiver.results().await.len(), 2, "two attempts, both at the receiver, none followed");
}

#[tokio::test]
async fn webhooks_are_made_changed_tested_and_deleted_with_bad_input_named() {
    let app = app_with(OPEN_NETWORK).await;
    let receiver = Receiver::start();
    for (body, field) in [
        (json!({"url": receiver.url(), "event_types": []}), "event_types"),
        (json!({"url": receiver.url(), "event_types": ["instance.deleted"]}), "event_types"),
        (json!({"url": receiver.url(), "accounts": ["nowhere"]}), "accounts"),
        (json!({"url": receiver.url(), "description": "x".repeat(300)}), "description"),
        (json!({"url": receiver.url(), "colour": "red"}), "colour"),
    ] {
        let answer = app.post("/api/v1/webhooks", body.clone()).await;
        assert_eq!(answer.status(), 422, "{body}");
        assert_eq!(json(answer).await["errors"][0]["field"], field, "{body}");
    }
    let with_key = app
        .http
        .post(app.url("/api/v1/webhooks"))
        .header("idempotency-key", "k1")
        .json(&json!({"url": receiver.url()}))
        .send()
        .await
        .expect("sent");
    assert_eq!(with_key.status(), 422, "a secret is never kept for a replay");

    let (hook, _) = hook_for(&app, &receiver, json!({})).await;
    let tested = app.http.post(app.url(&format!("/api/v1/webhooks/{hook}/test"))).send().await.expect("sent");
    assert_eq!(tested.status(), 202);
    let event_id = json(tested).await["event_id"].as_str().expect("event id").to_owned();
    let results = receiver.wait_for("the test event", |r| !r.is_empty()).await;
    assert_eq!(results[0]["id"], event_id.as_str());
    assert_eq!(results[0]["type"], "nephele.webhook.test", "sent though the webhook lists other types");

    let changed = app
        .http
        .patch(app.url(&format!("/api/v1/webhooks/{hook}")))
        .json(&json!({"event_types": null, "description": "all of it"}))
        .send()
        .await
        .expect("sent");
    let changed = json(changed).await;
    assert_eq!(changed["event_types"], Value::Null);
    assert_eq!(changed["description"], "all of it");

    assert_eq!(app.delete(&format!("/api/v1/webhooks/{hook}")).await.status(), 204);
    assert_eq!(app.get(&format!("/api/v1/webhooks/{hook}")).await.status(), 404);
    assert_eq!(app.delete(&format!("/api/v1/webhooks/{hook}")).await.status(), 404);
    // A witness gets the next event; the deleted webhook does not.
    let witness = Receiver::start();
    hook_for(&app, &witness, json!({})).await;
    make_keys(&app, 1).await;
    witness.wait_for("the witness's delivery", |r| r.len() == 1).await;
    assert_eq!(receiver.results().await.len(), 1, "a deleted webhook gets nothing more");
}

#[tokio::test]
async fn without_a_master_key_a_webhook_is_refused_saying_how_to_set_one() {
    let app = spawn_app_configured(
        0,
        Duration::from_millis(150),
        &format!("auth:\n  required: false\n{OPEN_NETWORK}"),
    )
    .await;
    let answer = app.post("/api/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook"})).await;
    assert_eq!(answer.status(), 409);
    let problem = json(answer).await;
    assert_eq!(problem["code"], "master_key_missing", "{problem}");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains("secrets.master_key") && detail.contains("signing secret"), "{detail}");
    assert!(json(app.get("/api/v1/webhooks").await).await["webhooks"].as_array().expect("list").is_empty());
}

/// Flips one base64 digit of the sealed text's last part (the sealed secret itself).
fn flipped(sealed: &str) -> String {
    let mut bytes = sealed.as_bytes().to_vec();
    let at = bytes.len() - 6;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

#[tokio::test]
async fn a_tampered_or_moved_secret_fails_that_webhooks_deliveries_with_the_reason_and_sends_nothing() {
    // Arrange: three webhooks; one's sealed secret gets a flipped byte, another gets the first's
    // sealed secret (moved from another row), the third is left alone.
    let app = app_with(&format!("{OPEN_NETWORK}  retry_delays_secs: [1]\n")).await;
    let (tampered, moved, witness) = (Receiver::start(), Receiver::start(), Receiver::start());
    let (tampered_hook, _) = hook_for(&app, &tampered, json!({})).await;
    let (moved_hook, _) = hook_for(&app, &moved, json!({})).await;
    let (witness_hook, _) = hook_for(&app, &witness, json!({})).await;
    let sealed = stored_secret(&app, &tampered_hook).await;
    let db = database(&app).await;
    for (hook, secret) in [(&tampered_hook, flipped(&sealed)), (&moved_hook, sealed.clone())] {
        sqlx::query("UPDATE webhooks SET secret = ? WHERE id = ?")
            .bind(secret)
            .bind(hook)
            .execute(&db)
            .await
            .expect("tamper");
    }
    db.close().await;

    // Act
    make_keys(&app, 1).await;

    // Assert: the witness gets its delivery; the other two fail, saying why, and hear nothing.
    witness.wait_for("the witness's delivery", |r| r.len() == 1).await;
    for hook in [&tampered_hook, &moved_hook] {
        let log =
            wait_for_deliveries(&app, hook, |log| log.first().is_some_and(|d| d["state"] == "failed")).await;
        let why = log[0]["last_error"].as_str().expect("why");
        assert!(why.contains("signing secret does not open") && why.contains("nothing was sent"), "{why}");
        assert!(!why.contains("whsec_") && !why.contains("sealed:"), "{why}");
        assert_eq!(log[0]["last_status"], Value::Null, "nothing was sent");
    }
    wait_for_deliveries(&app, &witness_hook, |log| log.first().is_some_and(|d| d["state"] == "delivered"))
        .await;
    assert!(tampered.results().await.is_empty() && moved.results().await.is_empty(), "nothing sent");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("nephele_webhook_attempts_total{outcome=\"unsigned\"} 2"), "{metrics}");
}

#[tokio::test]
async fn an_old_plain_row_keeps_signing_and_is_sealed_when_a_server_with_a_key_starts() {
    use sqlx::Row;
    // Arrange: a database as the code before sealing left it (migration 0009 not applied), with
    // a webhook whose secret and rotated-out secret are in plain.
    let receiver = Receiver::start();
    let (app, state) = serve_on(tempfile::tempdir().expect("temp dir"), &with_key(OPEN_NETWORK)).await;
    let db = database(&app).await;
    let data = stop(app, state).await;
    let (current, previous) = (
        "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "whsec_ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
    );
    sqlx::query("ALTER TABLE webhooks DROP COLUMN secret_version").execute(&db).await.expect("drop");
    sqlx::query("DELETE FROM schema_migrations WHERE version = 9").execute(&db).await.expect("unmigrate");
    let until = nephele_engine::store::now_ms() + 3_600_000;
    sqlx::query(
        "INSERT INTO webhooks (id, url, event_types, accounts, description, enabled, secret, old_secret, old_secret_until_ms, created_at, updated_at, deleted) VALUES ('wh_legacy', ?, '[\"nephele.api_key.created\"]', NULL, NULL, 1, ?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 0)",
    )
    .bind(receiver.url())
    .bind(current)
    .bind(previous)
    .bind(until)
    .execute(&db)
    .await
    .expect("a plain row");
    db.close().await;

    // Act: the new code starts on it, with a master key.
    let (app, _state) = serve_on(data, &with_key(OPEN_NETWORK)).await;

    // Assert: both secrets sealed, and deliveries verify with either plain secret.
    let started = Instant::now();
    let (secret, old) = loop {
        let db = database(&app).await;
        let row = sqlx::query("SELECT secret, old_secret FROM webhooks WHERE id = 'wh_legacy'")
            .fetch_one(&db)
            .await
            .expect("row");
        db.close().await;
        let (secret, old): (String, String) = (row.get("secret"), row.get("old_secret"));
        if secret.starts_with("sealed:v1:") && old.starts_with("sealed:v1:") {
            break (secret, old);
        }
        assert!(started.elapsed() < DEADLINE, "never sealed: {}", secret.starts_with("whsec_"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(secret, old);
    for (steer, n) in [(current, 1), (previous, 2)] {
        receiver.steer(json!({"secrets": [steer]})).await;
        make_keys(&app, 1).await;
        let results = receiver.wait_for("a delivery", |r| r.len() == n).await;
        assert_eq!(results[n - 1]["verified"], true, "verifies with the plain secret: {results:?}");
    }
    let shown = json(app.get("/api/v1/webhooks/wh_legacy").await).await;
    assert!(shown["previous_secret_expires_at"].is_string(), "{shown}");
}

#[tokio::test]
async fn a_master_key_rotation_rewraps_webhook_secrets_and_a_server_with_only_the_new_key_signs() {
    // Arrange: a server whose master key is in a file, with a webhook.
    let keys = tempfile::tempdir().expect("temp dir");
    let (old_key, new_key) = (keys.path().join("old.key"), keys.path().join("new.key"));
    std::fs::write(&old_key, MASTER_KEY).expect("old key");
    std::fs::write(&new_key, "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=").expect("new key");
    let secrets = |key: &Path| {
        format!("auth:\n  required: false\nsecrets:\n  master_key_file: {}\n{OPEN_NETWORK}", key.display())
    };
    let receiver = Receiver::start();
    let (app, state) = serve_on(tempfile::tempdir().expect("temp dir"), &secrets(&old_key)).await;
    let (hook, secret) = hook_for(&app, &receiver, json!({})).await;
    let before = stored_secret(&app, &hook).await;

    // Act
    let rotated =
        app.post("/api/v1/secrets/rotate", json!({"new_key_file": new_key.display().to_string()})).await;
    assert_eq!(rotated.status(), 200);
    let key_id = json(rotated).await["key_id"].as_str().expect("key id").to_owned();

    // Assert: the data key is wrapped under the new key, the secret's ciphertext unchanged; a
    // server holding only the new key signs with it.
    let after = stored_secret(&app, &hook).await;
    assert!(after.starts_with(&format!("sealed:v1:{key_id}:")), "re-wrapped under {key_id}");
    assert_ne!(before.split(':').nth(2), Some(key_id.as_str()));
    assert_eq!(before.rsplit(':').next(), after.rsplit(':').next(), "only the data key is re-wrapped");
    let data = stop(app, state).await;
    let (app, _state) = serve_on(data, &secrets(&new_key)).await;
    make_keys(&app, 1).await;
    let results = receiver.wait_for("a delivery", |r| r.len() == 1).await;
    assert_eq!(results[0]["verified"], true, "{results:?}");
    assert_not_on_disk(&app, &secret);
}

/// Issue 22's SSRF line "a redirect to loopback ... refused with the reason when the
/// private-network switch is off", as near as this machine allows through the server: with the
/// switch off, no target this test can run is reachable at all (its only addresses are loopback,
/// 192.0.2.2 and fd00::2, each refused), so the first hop cannot answer a redirect. Shown
/// instead, on one webhook and one database: with the switch on, a 307 to a loopback listener is
/// not followed (the listener hears nothing) and the delivery log says where it pointed; after a
/// restart with the switch off, the same webhook's next delivery is refused before connecting,
/// the log saying it is loopback. The guard's own refusal of a redirect to loopback with the
/// switch off is the webhooks crate's test (tests/delivery/ssrf.rs).
#[tokio::test]
async fn a_redirect_to_loopback_is_not_followed_and_with_the_switch_off_the_delivery_is_refused_saying_why() {
    // Arrange
    let (first, second) = (Receiver::start(), Receiver::start());
    let open = with_key(&format!("{OPEN_NETWORK}  retry_delays_secs: [1]\n"));
    let (app, state) = serve_on(tempfile::tempdir().expect("temp dir"), &open).await;
    let (hook, _) = hook_for(&app, &first, json!({"status": 307, "location": second.url()})).await;

    // Act: one event with the switch on, one after a restart with it off.
    make_keys(&app, 1).await;
    let log =
        wait_for_deliveries(&app, &hook, |log| log.first().is_some_and(|d| d["state"] == "failed")).await;
    let data = stop(app, state).await;
    let closed = with_key(
        "webhooks:\n  allow_http: true\n  allow_private_networks: false\n  retry_delays_secs: [1]\n",
    );
    let (app, _state) = serve_on(data, &closed).await;
    make_keys(&app, 1).await;
    let after = wait_for_deliveries(&app, &hook, |log| {
        log.len() == 2 && log[0]["state"] == "failed" && log[0]["attempts"] == 2
    })
    .await;

    // Assert
    let why = log[0]["last_error"].as_str().expect("why");
    assert!(why.contains(&format!("redirect not followed (307 to {}", second.url())), "{why}");
    assert_eq!(log[0]["last_status"], 307);
    let refused = after[0]["last_error"].as_str().expect("why");
    assert!(refused.contains("refused") && refused.contains("loopback"), "{refused}");
    assert_eq!(after[0]["last_status"], Value::Null, "nothing was sent");
    assert_eq!(first.results().await.len(), 2, "the first hop answered the two attempts with the switch on");
    assert!(second.results().await.is_empty(), "the redirect's loopback target heard nothing");
}
