//! `nephele serve --log-format json`: one JSON object a line, each request's lines under its
//! request id, and no secret anywhere.

use std::time::Duration;

use serde_json::Value;

use crate::support::{DO_TOKEN, Server, make_key, simulator, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_no_secret() {
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}/logs.db", dir.path().display());
    let config = write_config(dir.path(), &sim, &database_url, 5);
    let key = make_key(&config, "operator");
    let log = dir.path().join("server.log");
    // reqwest's own debug lines are written inside the provider call's span.
    let server =
        Server::start_with(&config, &log, &["--log-format", "json"], "info,reqwest=debug,hyper_util=debug");
    let http = reqwest::Client::new();
    let instances = format!("{}/api/v1/providers/digitalocean/instances", server.url);
    let listed = http
        .get(&instances)
        .bearer_auth(&key)
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    let refused = http
        .post(&instances)
        .bearer_auth(&key)
        .header("x-request-id", "trace-me-2")
        .json(&serde_json::json!({"name": "x", "type": "s-1vcpu-1g", "region": "nyc1", "image_id": "debian-12-x64"}))
        .send()
        .await
        .expect("create");
    assert_eq!(refused.status(), 422);
    let missing = http
        .get(format!("{instances}/99999999"))
        .bearer_auth(&key)
        .header("x-request-id", "trace-me-3")
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    let problem: Value = missing.json().await.expect("problem");
    let upstream_id =
        problem["upstream"]["request_id"].as_str().expect("DigitalOcean's request id").to_owned();
    let wrong_key = http.get(&instances).bearer_auth("nph_wrong_key").send().await.expect("list");
    assert_eq!(wrong_key.status(), 401);
    assert!(server.stop().success());

    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{text}");
    let request_line = |id: &str| {
        lines.iter().find(|l| l["fields"]["message"] == "request" && l["span"]["request_id"] == id).cloned()
    };
    let list = request_line("trace-me-1").unwrap_or_else(|| panic!("no request line for trace-me-1: {text}"));
    assert_eq!(list["fields"]["status"], 200);
    assert_eq!(request_line("trace-me-2").expect("the refused create is logged")["fields"]["status"], 422);
    // The provider's failure is logged once, under our request id, next to DigitalOcean's own.
    let in_request = |l: &Value, id: &str| {
        l["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s["request_id"] == id))
    };
    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| in_request(l, "trace-me-3") && l.to_string().contains(&upstream_id))
        .collect();
    assert_eq!(failures.len(), 1, "{failures:#?}\n{text}");
    // A line written deep inside the call to DigitalOcean still carries the request's id.
    let in_call = |l: &Value| {
        l["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s["name"] == "provider_call"))
    };
    let deep = lines.iter().find(|l| in_call(l) && in_request(l, "trace-me-3"));
    assert!(deep.is_some(), "no line from inside the provider call carries trace-me-3:\n{text}");
    assert!(!text.contains(DO_TOKEN), "the DigitalOcean token is never logged");
    assert!(!text.contains(&key), "API keys are never logged");
}
