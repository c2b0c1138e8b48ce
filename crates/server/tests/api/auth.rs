//! API keys and roles: 401 without a valid key, 403 without the right, all in the audit log.

use std::time::Duration;

use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json, spawn_app_configured};

async fn app_with_keys() -> (TestApp, String, String, String, String) {
    let config = "auth:\n  required: true\naudit:\n  failed_auth_window_secs: 1\n";
    let app = spawn_app_configured(0, Duration::from_millis(100), config).await;
    let store = Store::open(&app.database_url).await.expect("store");
    let admin = issue_key(&store, Role::Admin, None, Some("test admin")).await.expect("admin").key;
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("viewer").key;
    let operator = issue_key(&store, Role::Operator, None, None).await.expect("operator").key;
    let elsewhere =
        issue_key(&store, Role::Operator, Some(&["aws".to_owned()]), None).await.expect("scoped").key;
    (app, admin, viewer, operator, elsewhere)
}

const INSTANCES: &str = "/api/v1/providers/digitalocean/instances";

fn create_body() -> Value {
    json!({"name": "keyed", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"})
}

#[tokio::test]
async fn roles_decide_who_may_do_what_and_every_attempt_is_audited() {
    let (app, admin, viewer, operator, elsewhere) = app_with_keys().await;
    let post = |key: Option<&str>| {
        let mut request = app.http.post(app.url(INSTANCES)).json(&create_body());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };

    let anonymous = post(None).await.expect("sent");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(json(anonymous).await["code"], "unauthorized");
    assert_eq!(post(Some("nph_000000000000_forged")).await.expect("sent").status(), 401);
    let tampered = format!("{}x", &operator[..operator.len() - 1]);
    assert_eq!(post(Some(&tampered)).await.expect("sent").status(), 401, "a near-miss key is still bad");

    let as_viewer = post(Some(&viewer)).await.expect("sent");
    assert_eq!(as_viewer.status(), 403, "a viewer cannot create");
    assert!(json(as_viewer).await["detail"].as_str().expect("detail").contains("operator"));
    let viewer_reads = app.http.get(app.url(INSTANCES)).bearer_auth(&viewer).send().await.expect("sent");
    assert_eq!(viewer_reads.status(), 200, "but can read");
    let viewer_estimates = app
        .http
        .post(app.url("/api/v1/providers/digitalocean/cost-estimate"))
        .bearer_auth(&viewer)
        .json(&json!({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1d"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(viewer_estimates.status(), 200, "and can estimate costs");

    assert_eq!(post(Some(&elsewhere)).await.expect("sent").status(), 403, "an operator of another provider");
    let created = post(Some(&operator)).await.expect("sent");
    assert_eq!(created.status(), 202, "an operator can create");
    assert_eq!(app.upstream("droplets_create"), 1, "and only that request reached DigitalOcean");

    assert_eq!(
        app.http.get(app.url("/api/v1/audit")).bearer_auth(&operator).send().await.expect("sent").status(),
        403
    );
    let audit =
        json(app.http.get(app.url("/api/v1/audit")).bearer_auth(&admin).send().await.expect("sent")).await;
    let entries = audit["entries"].as_array().expect("entries");
    let count = |status: u64, outcome: &str| {
        entries
            .iter()
            .filter(|e| e["status"] == status && e["outcome"] == outcome && e["path"] == INSTANCES)
            .count()
    };
    // No key, forged key, tampered key: one source, so one entry now and the rest summed later.
    assert_eq!(count(401, "denied"), 1, "failed authentication is sampled per source");
    assert_eq!(count(403, "denied"), 2, "viewer and the other provider's operator");
    assert_eq!(count(202, "succeeded"), 1);
    let success = entries.iter().find(|e| e["status"] == 202).expect("the create");
    assert!(success["operation_id"].is_string(), "the audit names the operation");
    assert!(success["source"].as_str().expect("source").starts_with("127.0.0.1:"));
    assert!(
        entries.iter().any(|e| e["status"] == 403 && e["path"] == "/api/v1/audit"),
        "denied reads are audited too"
    );

    // When the source's window ends, the other two are written as one entry with their count.
    let summary = 'wait: {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let audit =
                json(app.http.get(app.url("/api/v1/audit")).bearer_auth(&admin).send().await.expect("sent"))
                    .await;
            if let Some(entry) = audit["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .find(|e| e["principal"] == "unauthenticated")
            {
                break 'wait entry.clone();
            }
        }
        panic!("no failed-authentication summary was written");
    };
    assert_eq!(summary["count"], 2, "{summary}");
    assert_eq!(summary["source"], "127.0.0.1");
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&admin).send().await.expect("sent");
    let metrics = metrics.text().await.expect("text");
    assert!(metrics.contains("nephele_failed_authentications_total 3"), "{metrics}");

    // Health stays open.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn admins_issue_and_revoke_keys_over_the_api() {
    let (app, admin, viewer, ..) = app_with_keys().await;
    let issued = app
        .http
        .post(app.url("/api/v1/keys"))
        .bearer_auth(&admin)
        .json(&json!({"role": "viewer", "description": "dashboard"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(issued.status(), 201);
    let issued = json(issued).await;
    let key = issued["key"].as_str().expect("key shown once").to_owned();
    assert_eq!(app.http.get(app.url(INSTANCES)).bearer_auth(&key).send().await.expect("sent").status(), 200);

    let listed =
        json(app.http.get(app.url("/api/v1/keys")).bearer_auth(&admin).send().await.expect("sent")).await;
    let text = listed.to_string();
    assert!(!text.contains(&key) && !text.contains("hash"), "keys are never shown again");
    assert_eq!(
        app.http
            .post(app.url("/api/v1/keys"))
            .bearer_auth(&viewer)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .expect("sent")
            .status(),
        403
    );

    let revoked = app
        .http
        .delete(app.url(&format!("/api/v1/keys/{}", issued["id"].as_str().expect("id"))))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.http.get(app.url(INSTANCES)).bearer_auth(&key).send().await.expect("sent").status(), 401);
}
