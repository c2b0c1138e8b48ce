//! What a key may see and do: scope on every route, secrets never shown, no escalation through
//! keys, permissions by route (not by path string), and the bearer scheme in any case.

use std::time::Duration;

use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_configured};

const INSTANCES: &str = "/api/v1/providers/digitalocean/instances";

struct Keys {
    admin: String,
    operator: String,
    viewer: String,
    /// An admin limited to a provider this server does not run.
    aws_admin: String,
    /// An admin limited to DigitalOcean.
    do_admin: String,
}

async fn app_with_keys() -> (TestApp, Keys) {
    let app = spawn_app_configured(2, Duration::from_millis(100), "auth:\n  required: true\n").await;
    let store = Store::open(&app.database_url).await.expect("store");
    let aws = ["aws".to_owned()];
    let digitalocean = ["digitalocean".to_owned()];
    let keys = Keys {
        admin: issue_key(&store, Role::Admin, None, None).await.expect("key").key,
        operator: issue_key(&store, Role::Operator, None, None).await.expect("key").key,
        viewer: issue_key(&store, Role::Viewer, None, None).await.expect("key").key,
        aws_admin: issue_key(&store, Role::Admin, Some(&aws), None).await.expect("key").key,
        do_admin: issue_key(&store, Role::Admin, Some(&digitalocean), None).await.expect("key").key,
    };
    (app, keys)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn create_body(user_data: &str) -> Value {
    json!({"name": "web", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64", "user_data": user_data})
}

#[tokio::test]
async fn a_key_sees_nothing_of_providers_outside_its_scope() {
    let (app, keys) = app_with_keys().await;
    let (status, created) =
        call(&app, Method::POST, INSTANCES, &keys.operator, Some(create_body("#!/bin/sh\ntrue\n"))).await;
    assert_eq!(status, 202, "{created}");
    let operation = created["operation_id"].as_str().expect("operation").to_owned();

    let (_, fleet) = call(&app, Method::GET, "/api/v1/instances", &keys.aws_admin, None).await;
    assert_eq!(fleet["instances"], json!([]), "{fleet}");
    assert_eq!(fleet["errors"], json!([]));
    let (_, operations) = call(&app, Method::GET, "/api/v1/operations", &keys.aws_admin, None).await;
    assert_eq!(operations["operations"], json!([]), "{operations}");
    let (status, _) =
        call(&app, Method::GET, &format!("/api/v1/operations/{operation}"), &keys.aws_admin, None).await;
    assert_eq!(status, 404, "an operation outside the scope does not exist for the key");
    let (_, providers) = call(&app, Method::GET, "/api/v1/providers", &keys.aws_admin, None).await;
    assert_eq!(providers["providers"], json!([]));
    let (_, costs) = call(&app, Method::GET, "/api/v1/costs", &keys.aws_admin, None).await;
    assert_eq!(costs["instances"], 0, "{costs}");
    let (status, _) = call(&app, Method::GET, INSTANCES, &keys.aws_admin, None).await;
    assert_eq!(status, 403);
    let (_, audit) = call(&app, Method::GET, "/api/v1/audit", &keys.aws_admin, None).await;
    let entries = audit["entries"].as_array().expect("entries");
    assert!(entries.iter().all(|e| e["provider"] == "aws"), "{audit}");

    // The same routes show everything to an unlimited key, and DigitalOcean's to its admin.
    let (_, fleet) = call(&app, Method::GET, "/api/v1/instances", &keys.viewer, None).await;
    assert_eq!(fleet["instances"].as_array().expect("list").len(), 3);
    let (status, _) =
        call(&app, Method::GET, &format!("/api/v1/operations/{operation}"), &keys.do_admin, None).await;
    assert_eq!(status, 200);
    let (_, audit) = call(&app, Method::GET, "/api/v1/audit", &keys.do_admin, None).await;
    assert!(
        audit["entries"].as_array().expect("entries").iter().any(|e| e["operation_id"] == operation.as_str()),
        "{audit}"
    );
}

#[tokio::test]
async fn user_data_is_never_shown_only_its_size_and_digest() {
    let (app, keys) = app_with_keys().await;
    let secret = "#cloud-config\nchpasswd:\n  list: root:Sup3rS3cretPassw0rd\n";
    let (status, created) =
        call(&app, Method::POST, INSTANCES, &keys.operator, Some(create_body(secret))).await;
    assert_eq!(status, 202, "{created}");
    assert!(!created.to_string().contains("Sup3rS3cret"));
    let operation = created["operation_id"].as_str().expect("operation");

    for key in [&keys.viewer, &keys.operator, &keys.admin] {
        let (_, shown) = call(&app, Method::GET, &format!("/api/v1/operations/{operation}"), key, None).await;
        assert!(!shown.to_string().contains("Sup3rS3cret"), "{shown}");
        assert_eq!(shown["request"]["user_data"]["redacted"], true);
        assert_eq!(shown["request"]["user_data"]["bytes"], secret.len());
        let (_, listed) = call(&app, Method::GET, "/api/v1/operations", key, None).await;
        assert!(!listed.to_string().contains("Sup3rS3cret"));
    }
    // Stored, though: the droplet got it (a resumed create needs it too).
    let done = app.wait_for_operation(operation, Some(&keys.viewer)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
}

#[tokio::test]
async fn a_key_makes_lists_and_revokes_only_keys_within_its_own_role_and_scope() {
    let (app, keys) = app_with_keys().await;
    let make = |key: &str, body: Value| {
        let key = key.to_owned();
        let app = &app;
        async move { call(app, Method::POST, "/api/v1/keys", &key, Some(body)).await }
    };
    let (status, refused) = make(&keys.do_admin, json!({"role": "admin"})).await;
    assert_eq!(status, 403, "a scoped admin cannot make an unscoped key: {refused}");
    let (status, _) = make(&keys.do_admin, json!({"role": "admin", "providers": ["digitalocean"]})).await;
    assert_eq!(status, 201, "but can make one within its scope");
    let (status, _) = make(&keys.aws_admin, json!({"role": "viewer", "providers": ["digitalocean"]})).await;
    assert_eq!(status, 403, "nor one for another provider");
    let (status, _) = make(&keys.operator, json!({"role": "operator"})).await;
    assert_eq!(status, 403, "only admins make keys");

    let (_, listed) = call(&app, Method::GET, "/api/v1/keys", &keys.do_admin, None).await;
    let listed = listed["keys"].as_array().expect("keys");
    assert!(listed.iter().all(|k| k["providers"] == json!(["digitalocean"])), "{listed:?}");
    let (_, everything) = call(&app, Method::GET, "/api/v1/keys", &keys.admin, None).await;
    let unscoped_admin = everything["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["role"] == "admin" && k["providers"].is_null())
        .expect("the unscoped admin")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) =
        call(&app, Method::DELETE, &format!("/api/v1/keys/{unscoped_admin}"), &keys.do_admin, None).await;
    assert_eq!(status, 404, "a wider key does not exist for a scoped admin");
    let (status, _) = call(&app, Method::GET, "/api/v1/keys", &keys.admin, None).await;
    assert_eq!(status, 200, "and the unscoped admin still works");
}

#[tokio::test]
async fn permissions_follow_the_route_not_the_path_string() {
    let (app, keys) = app_with_keys().await;
    let path = format!("{INSTANCES}/cost-estimate");
    let (status, problem) = call(&app, Method::DELETE, &path, &keys.viewer, None).await;
    assert_eq!(status, 403, "a delete needs an operator, whatever the id: {problem}");
    let (_, operations) = call(&app, Method::GET, "/api/v1/operations", &keys.admin, None).await;
    assert_eq!(operations["operations"], json!([]), "nothing was recorded");

    let (status, _) = call(&app, Method::DELETE, &path, &keys.operator, None).await;
    assert!(status.is_client_error(), "no instance has that id: {status}");
    let (_, audit) = call(&app, Method::GET, "/api/v1/audit", &keys.admin, None).await;
    let entries: Vec<&Value> =
        audit["entries"].as_array().expect("entries").iter().filter(|e| e["path"] == path.as_str()).collect();
    assert_eq!(entries.len(), 2, "the denied delete and the operator's delete are both audited: {entries:?}");
    assert!(entries.iter().any(|e| e["status"] == 403 && e["role"] == "viewer"));
    assert!(entries.iter().any(|e| e["role"] == "operator" && e["outcome"] == "failed"));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (app, keys) = app_with_keys().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .http
            .get(app.url(INSTANCES))
            .header("authorization", format!("{scheme} {}", keys.viewer))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{scheme}");
    }
}
