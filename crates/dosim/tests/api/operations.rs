//! Every operation of DigitalOcean's resources document is routed, behind auth, and counted
//! under its own operationId.

use serde_json::Value;

use crate::helpers::{TOKEN, config, spawn_sim};

const DOCUMENT: &str = include_str!("../../../../spec/digitalocean/openapi-resources.yaml");

/// `(method, path, operationId)` for each operation, read from the document's own layout
/// (paths at two spaces, methods at four, `operationId` at six).
fn operations() -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let (mut path, mut method) = (String::new(), String::new());
    let mut in_paths = false;
    for line in DOCUMENT.lines() {
        if line == "paths:" {
            in_paths = true;
        } else if in_paths && !line.starts_with(' ') && !line.is_empty() {
            break;
        } else if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = format!("/{p}");
        } else if let Some(m) = line.strip_prefix("    ").and_then(|m| m.strip_suffix(':'))
            && ["get", "post", "put", "patch", "delete"].contains(&m)
        {
            method = m.to_uppercase();
        } else if let Some(id) = line.strip_prefix("      operationId: ") {
            found.push((method.clone(), path.clone(), id.trim().to_owned()));
        }
    }
    found
}

#[tokio::test]
async fn every_operation_is_routed_behind_auth_and_counted_under_its_operation_id() {
    let all = operations();
    assert_eq!(all.len(), 89, "the resources document has 89 operations");
    let app = spawn_sim(config()).await;
    let mut served = 0;
    for (method, path, operation_id) in &all {
        let url = app.url(&path.replace('{', "x").replace('}', ""));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let anonymous = app.http.request(method.clone(), &url).send().await.expect("sent");
        let response = app.http.request(method, &url).bearer_auth(TOKEN).send().await.expect("sent");
        served += 1;
        assert_eq!(anonymous.status(), 401, "{operation_id} without a token");
        assert_ne!(response.status(), 405, "{operation_id} is routed");
        let stats: Value =
            app.http.get(app.url("/_sim/stats")).send().await.expect("sent").json().await.expect("json");
        assert_eq!(stats["requests"][operation_id], 2, "{operation_id} counted under its own name");
    }
    assert_eq!(served, 89);
}
