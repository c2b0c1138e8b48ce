//! The operations engine against a provider that turns hostile mid-way: it backs off, then
//! fails with the provider's reason, never polling in a loop.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Extra, json, spawn_app_extra, spawn_app_on, start_sim};
use crate::hostile::{Behaviour, HostileUpstream};

#[tokio::test]
async fn a_token_revoked_while_a_create_is_followed_backs_off_then_fails_with_the_reason() {
    // Droplets take 30 s to boot, so the create is still being followed when the token goes.
    let sim = start_sim(0, Duration::from_secs(30)).await;
    let hostile = HostileUpstream::start(&sim.base_url(), Behaviour::Honest).await;
    let extra =
        Extra { operations: "max_attempts: 5", rest: "auth:\n  required: false\n", ..Extra::default() };
    let app = spawn_app_on(sim, &hostile.base_url, extra).await;
    let created = app
        .post(
            "/api/v1/providers/digitalocean/instances",
            json!({"name": "web", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}),
        )
        .await;
    assert_eq!(created.status(), 202);
    let operation = json(created).await["operation_id"].as_str().expect("operation").to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;

    hostile.set(Behaviour::EchoTokenUnauthorized);
    let revoked_at = hostile.seen().len();
    let done = app.wait_for_operation(&operation, None).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "attempts_exhausted", "{done}");
    let message = done["error"]["message"].as_str().expect("message");
    assert!(message.contains("credentials"), "the provider's reason is kept: {message}");
    let polls_after = hostile.seen().len() - revoked_at;
    assert!((2..=20).contains(&polls_after), "{polls_after} upstream calls after the token went");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(hostile.seen().len() - revoked_at, polls_after, "a failed operation is left alone");
}

/// Writes an operation row straight into the app's database, as a row of an earlier version
/// (or a damaged one) would be, due at once and leased to nobody.
async fn write_row(
    database_url: &str,
    id: &str,
    kind: &str,
    request: &str,
    state: &str,
    error: Option<&str>,
) {
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(database_url).await.expect("open the app's database");
    let now = time::OffsetDateTime::now_utc();
    let text = now.format(&time::format_description::well_known::Rfc3339).expect("time");
    let ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).expect("ms");
    sqlx::query(
        "INSERT INTO operations (id, provider, kind, request, state, error, principal, attempts, created_at, updated_at, created_ms, next_attempt_ms) VALUES ($1, 'digitalocean', $2, $3, $4, $5, 'anonymous', 0, $6, $6, $7, 0)",
    )
    .bind(id)
    .bind(kind)
    .bind(request)
    .bind(state)
    .bind(error)
    .bind(text)
    .bind(ms)
    .execute(&mut db)
    .await
    .expect("insert the row");
}

#[tokio::test]
async fn a_stored_operation_with_a_corrupt_instance_id_fails_by_name_and_reaches_no_provider() {
    let extra = Extra { rest: "auth:\n  required: false\n", ..Extra::default() };
    let app = spawn_app_extra(2, Duration::from_millis(50), extra).await;
    let corrupt = [
        ("delete", r#"{"instance_id": ""}"#),
        ("delete", r#"{"instance_id": 500000001}"#),
        ("power_off", r#"{"instance_id": "500000001", "action": "reboot"}"#),
        ("delete", "not json at all"),
    ];
    let mut ids = Vec::new();
    for (kind, request) in corrupt {
        let id = uuid::Uuid::new_v4().to_string();
        write_row(&app.database_url, &id, kind, request, "pending", None).await;
        ids.push(id);
    }
    for id in &ids {
        let done = app.wait_for_operation(id, None).await;
        assert_eq!(done["state"], "failed", "{done}");
        assert_eq!(done["error"]["code"], "operation_unreadable", "{done}");
        assert!(done["request"]["unreadable"].is_string(), "the view says why: {done}");
    }
    assert_eq!(app.upstream("droplets_destroy"), 0, "nothing was deleted");
    assert_eq!(app.upstream("dropletActions_post"), 0, "no action was sent");
    let listed = json(app.get("/api/v1/providers/digitalocean/instances").await).await;
    assert_eq!(listed["instances"].as_array().map(Vec::len), Some(2), "both droplets are still there");
}

#[tokio::test]
async fn rows_written_before_typed_records_load_and_finish() {
    let extra = Extra { rest: "auth:\n  required: false\n", ..Extra::default() };
    let app = spawn_app_extra(1, Duration::from_millis(50), extra).await;
    let listed = json(app.get("/api/v1/providers/digitalocean/instances").await).await;
    let droplet = listed["instances"][0]["id"].as_str().expect("a droplet").to_owned();
    // A delete as the code before typed records wrote it, still pending.
    let pending = uuid::Uuid::new_v4().to_string();
    let request = format!(r#"{{"instance_id":"{droplet}","action":null}}"#);
    write_row(&app.database_url, &pending, "delete", &request, "pending", None).await;
    // A create that failed then, with the provider's kinds as its codes and `detail`.
    let failed = uuid::Uuid::new_v4().to_string();
    let create = format!(
        r#"{{"operation_id":"{failed}","names":["old-web"],"instance_type":"s-1vcpu-1gb","region":"nyc1","image":"ubuntu-24-04-x64","ssh_keys":[],"tags":[],"user_data":"secret-cloud-init","backups":false,"ipv6":false,"monitoring":false,"vpc_uuid":null}}"#
    );
    let old_error = r#"{"code":"attempts_exhausted","message":"gave up after 5 attempts","last_error":{"code":"unauthorized","message":"the provider refused Nephele's configured credentials","detail":{"status":401,"code":"unauthorized","request_id":"r-7"}}}"#;
    write_row(&app.database_url, &failed, "create", &create, "failed", Some(old_error)).await;

    let deleted = app.wait_for_operation(&pending, None).await;
    assert_eq!(deleted["state"], "succeeded", "{deleted}");
    assert_eq!(deleted["request"], json!({ "instance_id": droplet, "action": null }));
    assert_eq!(app.upstream("droplets_destroy"), 1);

    let old = json(app.get(&format!("/api/v1/operations/{failed}")).await).await;
    assert_eq!(old["state"], "failed");
    assert_eq!(old["request"]["names"], json!(["old-web"]));
    assert_eq!(old["request"]["user_data"], json!({ "redacted": true, "bytes": 17 }), "{old}");
    assert_eq!(old["error"]["code"], "attempts_exhausted");
    assert_eq!(
        old["error"]["last_error"]["code"], "provider_unauthorized",
        "old codes read in today's words"
    );
    assert_eq!(old["error"]["last_error"]["detail"]["request_id"], "r-7");
}

#[tokio::test]
async fn a_revoked_token_has_one_code_on_every_route() {
    let sim = start_sim(1, Duration::from_millis(50)).await;
    let hostile = HostileUpstream::start(&sim.base_url(), Behaviour::Honest).await;
    let extra = Extra { rest: "auth:\n  required: false\n", ..Extra::default() };
    let app = spawn_app_on(sim, &hostile.base_url, extra).await;
    // The catalogue (which a create is checked against) is read while the token is good.
    for path in ["instances", "regions", "instance-types", "images"] {
        assert_eq!(app.get(&format!("/api/v1/providers/digitalocean/{path}")).await.status(), 200);
    }
    hostile.set(Behaviour::EchoTokenUnauthorized);

    let created = app
        .post(
            "/api/v1/providers/digitalocean/instances",
            json!({"name": "web", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}),
        )
        .await;
    let refused = json(created).await;
    assert_eq!(refused["code"], "provider_unauthorized", "the create's answer: {refused}");
    let ops = json(app.get("/api/v1/operations?limit=1").await).await;
    assert_eq!(ops["operations"][0]["error"]["code"], "provider_unauthorized", "its operation: {ops}");

    let list = json(app.get("/api/v1/providers/digitalocean/instances?fresh=true").await).await;
    assert_eq!(list["code"], "provider_unauthorized", "the provider's list: {list}");
    let fleet = json(app.get("/api/v1/instances?fresh=true").await).await;
    assert_eq!(fleet["errors"][0]["code"], "provider_unauthorized", "the fleet: {fleet}");
}
