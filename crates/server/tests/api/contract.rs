//! The OpenAPI document: served, committed, complete, and in agreement with the answers.

use std::collections::BTreeSet;

use crate::helpers::{json, spawn_app};

/// The committed copy, next to the README's other docs.
fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// The served document equals `docs/openapi.json`; `NEPHELE_UPDATE_OPENAPI=1` (or
/// `make openapi`) writes it instead, so an API change shows as a diff of that file.
#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served = response.text().await.expect("text");
    let path = committed_path();
    if std::env::var_os("NEPHELE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json differs from the served document; run `make openapi` and commit the diff"
    );
}

#[tokio::test]
async fn the_document_names_every_route_its_role_and_every_problem_code() {
    let app = spawn_app().await;
    let document = json(app.get("/api/v1/openapi.json").await).await;
    assert_eq!(document["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = document["paths"].as_object().expect("paths");
    let mut seen = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            seen.insert(format!("{method} {path}"));
            let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} repeats");
            let role = operation["x-nephele-role"].as_str().unwrap_or_default();
            assert!(
                ["public", "viewer", "operator", "admin"].contains(&role),
                "{method} {path}: role {role:?}"
            );
            assert!(operation["responses"]["default"].is_object(), "{method} {path}: no problem response");
        }
    }
    // A sample of the routes, with the roles the route table gives them.
    for (route, role) in [
        ("get /api/v1/providers/{provider}/instances", "viewer"),
        ("post /api/v1/providers/{provider}/instances", "operator"),
        ("delete /api/v1/providers/{provider}/instances/{id}", "operator"),
        ("post /api/v1/providers/{provider}/cost-estimate", "viewer"),
        ("get /api/v1/audit", "admin"),
        ("post /api/v1/keys", "admin"),
        ("get /api/v1/events/stream", "viewer"),
        ("post /api/v1/webhooks/{id}/rotate-secret", "admin"),
        ("get /api/v1/webhooks/{id}/deliveries", "admin"),
        ("get /healthz", "public"),
    ] {
        let (method, path) = route.split_once(' ').expect("route");
        assert_eq!(document["paths"][path][method]["x-nephele-role"], role, "{route}");
    }
    assert_eq!(seen.len(), 56, "{seen:#?}");
    // Every schema the document points at is in it (parameters do not bring their schemas along,
    // and a dangling $ref stops every client generator and fuzzer that reads the document).
    let text = document.to_string();
    let defined = document["components"]["schemas"].as_object().expect("schemas");
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(defined.contains_key(name), "#/components/schemas/{name} is not in the document");
    }
    // Every problem code, each a value of the one enum.
    let codes: Vec<&str> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    // Every code of the one vocabulary, and nothing else.
    let all: Vec<&str> = nephele_core::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all, "the document lists exactly the codes of ErrorCode");
    // Wherever a code is shown — problems, operation errors, fleet errors — it is that enum.
    let schemas = &document["components"]["schemas"];
    for (schema, field) in [("Problem", "code"), ("OperationErrorView", "code"), ("ProviderFailure", "code")]
    {
        assert_eq!(
            schemas[schema]["properties"][field]["$ref"], "#/components/schemas/ErrorCode",
            "{schema}.{field}"
        );
    }
    // Request bodies are named types.
    assert_eq!(
        document["paths"]["/api/v1/providers/{provider}/instances"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/CreateBody"
    );
}

/// Every problem the API answers carries a code the document lists.
#[tokio::test]
async fn problem_codes_are_the_documents() {
    let app = spawn_app().await;
    let document = json(app.get("/api/v1/openapi.json").await).await;
    let codes = document["components"]["schemas"]["ErrorCode"]["enum"].clone();
    for response in [
        app.get("/api/v1/providers/nowhere/instances").await,
        app.post(
            "/api/v1/providers/digitalocean/cost-estimate",
            serde_json::json!({ "instance_type": "x", "duration": "1d" }),
        )
        .await,
        app.get("/api/v1/no-such-route").await,
    ] {
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem = json(response).await;
        assert!(codes.as_array().expect("codes").contains(&problem["code"]), "{problem}");
        assert!(problem["request_id"].is_string(), "{problem}");
    }
}

/// `/docs` serves Swagger UI from the binary, pointed at the document.
#[tokio::test]
async fn the_reference_is_served_without_a_cdn() {
    let app = spawn_app().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the page loads nothing from elsewhere: {html}");
    let init = app.get("/docs/swagger-initializer.js").await.text().await.expect("js");
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.expect("bundle").len() > 100_000);
}

/// The role each operation states in the document is the one its guard enforces: for every
/// documented operation, no key gets 401 (unless it is public), and a key one role short of it
/// gets 403 before anything else is looked at.
#[tokio::test]
async fn every_documented_role_is_the_one_enforced() {
    use nephele_engine::auth::{Role, issue_key};
    use nephele_engine::store::Store;

    let config = "auth:\n  required: true\n";
    let app = crate::helpers::spawn_app_configured(0, std::time::Duration::from_millis(100), config).await;
    let store = Store::open(&app.database_url).await.expect("store");
    let key = |role| {
        let store = &store;
        async move { issue_key(store, role, None, None).await.expect("key").key }
    };
    let (viewer, operator) = (key(Role::Viewer).await, key(Role::Operator).await);
    let document = json(app.get("/api/v1/openapi.json").await).await;
    let mut checked = 0;
    for (template, item) in document["paths"].as_object().expect("paths") {
        let path = template
            .replace("{provider}", "digitalocean")
            .replace("{id}", "1")
            .replace("{action_id}", "1")
            .replace("{delivery_id}", "1")
            .replace("{kind}", "volumes");
        for (method, operation) in item.as_object().expect("item") {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let send = |key: Option<&str>| {
                let mut request =
                    app.http.request(method.clone(), app.url(&path)).json(&serde_json::json!({}));
                if let Some(key) = key {
                    request = request.bearer_auth(key);
                }
                request.send()
            };
            let anonymous = send(None).await.expect("sent").status().as_u16();
            let role = operation["x-nephele-role"].as_str().expect("role");
            let short_of_it = match role {
                "public" => {
                    assert_ne!(anonymous, 401, "{method} {template} is documented public");
                    checked += 1;
                    continue;
                }
                "viewer" => None,
                "operator" => Some(&viewer),
                "admin" => Some(&operator),
                other => panic!("{method} {template}: role {other}"),
            };
            assert_eq!(anonymous, 401, "{method} {template} needs a key");
            if let Some(key) = short_of_it {
                let status = send(Some(key)).await.expect("sent").status().as_u16();
                assert_eq!(status, 403, "{method} {template} is documented as {role}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 56);
}
