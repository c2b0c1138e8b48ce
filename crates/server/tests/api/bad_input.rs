//! Bad input: a precise problem document, never a 500, and no upstream call spent.

use serde_json::json;

use crate::helpers::{json, spawn_app};

const CREATE: &str = "/api/v1/providers/digitalocean/instances";

fn seed_body() -> serde_json::Value {
    json!({"name": "my-droplet", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-20-04-x64"})
}

#[tokio::test]
async fn an_unknown_provider_is_404_naming_the_configured_ones() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/providers/aws/instances").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem = json(response).await;
    assert_eq!(problem["code"], "unknown_provider");
    assert!(problem["detail"].as_str().expect("detail").contains("digitalocean"));
    assert_eq!(app.upstream_for_callers(), 0);
}

#[tokio::test]
async fn a_name_digitalocean_would_reject_is_422_before_any_call() {
    let app = spawn_app().await;
    let mut body = seed_body();
    body["name"] = json!("my_droplet!");
    let response = app.post(CREATE, body).await;
    assert_eq!(response.status(), 422);
    let problem = json(response).await;
    assert_eq!(problem["errors"][0]["field"], "name");
    assert!(problem["errors"][0]["message"].as_str().expect("message").contains("'_'"));
    assert_eq!(app.upstream_for_callers(), 0, "no upstream call at all");
}

#[tokio::test]
async fn unknown_type_region_and_image_are_422_with_close_matches() {
    let app = spawn_app().await;
    let response = app
        .post(
            CREATE,
            json!({"name": "x", "type": "s-1vcpu-1g", "region": "nyc2", "image_id": "ubuntu-24-04"}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let problem = json(response).await;
    let errors = problem["errors"].as_array().expect("errors");
    let by_field = |f: &str| {
        errors.iter().find(|e| e["field"] == f).unwrap_or_else(|| panic!("no error for {f}: {errors:?}"))
    };
    assert_eq!(by_field("type")["suggestions"][0], "s-1vcpu-1gb");
    assert!(by_field("region")["suggestions"].as_array().expect("list").contains(&json!("nyc1")));
    assert!(
        by_field("image_id")["suggestions"].as_array().expect("list").contains(&json!("ubuntu-24-04-x64"))
    );
    assert_eq!(app.upstream("droplets_create"), 0);
}

#[tokio::test]
async fn a_bad_duration_is_422_and_1m_is_refused_as_ambiguous() {
    let app = spawn_app().await;
    let estimate = |duration: &str| {
        app.post(
            "/api/v1/providers/digitalocean/cost-estimate",
            json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": duration}),
        )
    };
    let ambiguous = estimate("1m").await;
    assert_eq!(ambiguous.status(), 422);
    let problem = json(ambiguous).await;
    assert_eq!(problem["errors"][0]["field"], "duration");
    assert_eq!(problem["errors"][0]["suggestions"], json!(["1min", "1mo"]));
    let far = app
        .post(
            "/api/v1/providers/digitalocean/cost-estimate",
            json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "100y", "start": "9999-12-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(far.status(), 422, "a far-future start is refused, not a crash");
    assert_eq!(json(far).await["errors"][0]["field"], "start");
    let nonsense = json(estimate("soon").await).await;
    assert!(
        nonsense["errors"][0]["message"].as_str().expect("message").contains("1mo"),
        "lists the accepted forms"
    );
    assert_eq!(app.upstream("sizes_list"), 0, "no price list fetched for a bad duration");
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies() {
    let app = spawn_app().await;
    let malformed = app
        .http
        .post(app.url(CREATE))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), 400);
    assert_eq!(json(malformed).await["code"], "malformed_json");

    let form = app
        .http
        .post(app.url(CREATE))
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .expect("sent");
    assert_eq!(form.status(), 415);

    let mut huge = seed_body();
    huge["user_data"] = json!("x".repeat(10_000));
    let too_large = app.post(CREATE, huge).await;
    assert_eq!(too_large.status(), 413, "the test server accepts 8 KiB");

    let wrong_type = app.post(CREATE, json!({"name": "x", "type": 5, "image_id": "debian-12-x64"})).await;
    assert_eq!(wrong_type.status(), 422);
    assert_eq!(json(wrong_type).await["errors"][0]["field"], "type");

    let unknown_field = app
        .post(
            CREATE,
            json!({"name": "x", "type": "s-1vcpu-1gb", "image_id": "debian-12-x64", "colour": "red"}),
        )
        .await;
    assert_eq!(unknown_field.status(), 422);

    let bad_count = app
        .post(CREATE, json!({"name": "x", "type": "s-1vcpu-1gb", "image_id": "debian-12-x64", "count": 11}))
        .await;
    assert_eq!(bad_count.status(), 422);
    assert_eq!(json(bad_count).await["errors"][0]["field"], "count");

    let bad_action =
        app.post("/api/v1/providers/digitalocean/instances/1/actions", json!({"type": "explode"})).await;
    assert_eq!(bad_action.status(), 422);
    let bad_filter = app.get("/api/v1/instances?status=melting").await;
    assert_eq!(bad_filter.status(), 422);
    assert_eq!(app.upstream_for_callers(), 0, "none of these reached DigitalOcean");
}

#[tokio::test]
async fn durations_whose_sums_pass_u64_are_refused_not_wrapped() {
    let app = spawn_app().await;
    for duration in [
        "18446744073709551615mo2mo",
        "PT18446744073709551615S2S",
        "18446744073709551615s1s",
        "P1537228672809129302Y",
    ] {
        let response = app
            .post(
                "/api/v1/providers/digitalocean/cost-estimate",
                json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": duration}),
            )
            .await;
        assert_eq!(response.status(), 422, "{duration}");
        let problem = json(response).await;
        assert_eq!(problem["errors"][0]["field"], "duration", "{problem}");
    }
}

#[tokio::test]
async fn every_rejection_is_a_problem_document() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/operations/%FF",
        "/api/v1/providers/%FF/instances",
        "/api/v1/providers/digitalocean/instances/%C3%28",
        "/api/v1/keys/%FF",
    ] {
        let method =
            if path.starts_with("/api/v1/keys") { reqwest::Method::DELETE } else { reqwest::Method::GET };
        let response = app.http.request(method, app.url(path)).send().await.expect("sent");
        let status = response.status();
        assert!(status.is_client_error(), "{path}: {status}");
        let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
        assert_eq!(content_type, "application/problem+json", "{path}");
        let problem = json(response).await;
        assert_eq!(problem["status"], status.as_u16(), "{path}: {problem}");
        assert!(problem["code"].is_string() && problem["detail"].is_string(), "{path}: {problem}");
    }
}

/// Every answer carries a request id (the caller's, when sane; a new one otherwise), and a
/// problem document quotes it.
#[tokio::test]
async fn every_answer_carries_its_request_id_and_problems_quote_it() {
    let app = crate::helpers::spawn_app().await;
    let problem = app
        .http
        .get(app.url("/api/v1/providers/digitalocean/instances/999999999"))
        .header("x-request-id", "support-ticket-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(problem.status(), 404);
    assert_eq!(problem.headers()["x-request-id"], "support-ticket-42");
    let body: serde_json::Value = problem.json().await.expect("json");
    assert_eq!(body["request_id"], "support-ticket-42", "{body}");
    assert!(body["code"].is_string(), "still the same problem document: {body}");

    let made_up = app.get("/api/v1/providers").await;
    let id = made_up.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert_eq!(id.len(), 36, "a UUID when the caller sent none: {id}");
    let refused = app
        .http
        .get(app.url("/api/v1/nowhere"))
        .header("x-request-id", "x".repeat(200))
        .send()
        .await
        .expect("sent");
    let replaced = refused.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert_eq!(replaced.len(), 36, "an unreasonable id is replaced");
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["request_id"], replaced.as_str());
}
