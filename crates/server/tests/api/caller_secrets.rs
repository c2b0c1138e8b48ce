//! What callers can read that they should not (issue 18, finding 8): a broken configuration file
//! is reported without the values in it, and `/metrics` (run-rates, instance counts) needs a key
//! when keys are required.

use std::time::Duration;

use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use nephele_server::{App, Config};

use crate::helpers::{DO_TOKEN, TestApp, json, spawn_app, spawn_app_configured, start_sim};

/// A server started from a configuration *file* (so `initialize` reads it again), open.
async fn serve_from_file(dir: &std::path::Path, base_url: &str) -> (String, std::path::PathBuf) {
    let path = dir.join("config.yaml");
    std::fs::write(&path, config_text(dir, base_url, "")).expect("write config");
    let (config, _) = Config::load(Some(&path)).expect("config");
    let app = App::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run());
    (base, path)
}

fn config_text(dir: &std::path::Path, base_url: &str, provider_extra: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\nproviders:\n  digitalocean:\n    api_token: {DO_TOKEN}\n    base_url: {base_url}\n{provider_extra}database:\n  url: sqlite://{}/nephele.db\nauth:\n  required: false\n",
        dir.display()
    )
}

#[tokio::test]
async fn initialize_reports_a_broken_configuration_by_place_without_its_values() {
    let sim = start_sim(0, Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (base, path) = serve_from_file(dir.path(), &sim.base_url()).await;
    let http = reqwest::Client::new();
    // A type error next to the token, a type error in the token's own key, a syntax error after it.
    let broken = [
        config_text(dir.path(), &sim.base_url(), "    region: [nyc1]\n"),
        config_text(dir.path(), &sim.base_url(), "")
            .replace(&format!("api_token: {DO_TOKEN}"), &format!("api_token: {{value: {DO_TOKEN}}}")),
        config_text(dir.path(), &sim.base_url(), "    region: \"nyc1\n"),
        config_text(dir.path(), &sim.base_url(), &format!("    rate_limit_per_minute: {DO_TOKEN}\n")),
    ];
    let secret = &DO_TOKEN[7..];
    for text in broken {
        std::fs::write(&path, &text).expect("write config");
        let answer =
            http.post(format!("{base}/api/v1/providers/digitalocean/initialize")).send().await.expect("sent");
        assert_eq!(answer.status(), 409);
        let body = answer.text().await.expect("text");
        assert!(!body.contains(secret), "the token is in the answer: {body}");
        let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(problem["code"], "invalid_configuration");
        let detail = problem["detail"].as_str().expect("detail");
        let place = detail.split_once("config.yaml").map(|(_, after)| after).unwrap_or_default();
        assert!(
            place.starts_with(':') || place.starts_with(": `"),
            "names the file and a line or key: {detail}"
        );
        assert!(
            place[1..].starts_with(|c: char| c.is_ascii_digit()) || detail.contains("providers.digitalocean"),
            "names the line or the key: {detail}"
        );
        assert!(!detail.contains("\n"), "no snippet: {detail}");
    }
}

async fn metrics_status(app: &TestApp, key: Option<&str>) -> u16 {
    let mut request = app.http.get(app.url("/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("sent").status().as_u16()
}

#[tokio::test]
async fn metrics_need_a_key_of_any_role_for_every_provider_when_keys_are_required() {
    let app = spawn_app_configured(0, Duration::from_millis(100), "auth:\n  required: true\n").await;
    let store = Store::open(&app.database_url).await.expect("store");
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("key").key;
    let scoped =
        issue_key(&store, Role::Admin, Some(&["digitalocean".to_owned()]), None).await.expect("key").key;

    assert_eq!(metrics_status(&app, None).await, 401);
    assert_eq!(metrics_status(&app, Some("nph_000000000000_forged")).await, 401);
    assert_eq!(metrics_status(&app, Some(&viewer)).await, 200);
    assert_eq!(metrics_status(&app, Some(&scoped)).await, 403, "the text covers every provider");

    let open = spawn_app().await;
    assert_eq!(metrics_status(&open, None).await, 200, "open while the API runs open");
    let document = json(open.get("/api/v1/openapi.json").await).await;
    assert_eq!(document["paths"]["/metrics"]["get"]["x-nephele-role"], "viewer");
}
