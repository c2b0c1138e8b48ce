//! What a caller can make the server store: every field bounded before it is written, a key's
//! refused requests written up to a budget and then summarised, and the audit listing bounded in
//! bytes as well as rows (issue 18, finding 1).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::{AuditEntry, Store};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{TestApp, json, spawn_app, spawn_app_configured};

/// The path segment of the finding: 64,950 bytes where a provider's name goes.
fn huge_provider() -> String {
    "A".repeat(64_950)
}

async fn secured(extra: &str) -> (TestApp, Store) {
    let config = format!("auth:\n  required: true\n{extra}");
    let app = spawn_app_configured(0, Duration::from_millis(100), &config).await;
    let store = Store::open(&app.database_url).await.expect("store");
    (app, store)
}

/// Bytes of the SQLite file once its write-ahead log is folded into it (the log is scratch
/// space SQLite reuses, not data).
async fn database_bytes(app: &TestApp) -> u64 {
    let mut connection = sqlx::AnyConnection::connect(&app.database_url).await.expect("connect");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut connection).await.expect("checkpoint");
    connection.close().await.expect("close");
    let path = app.database_url.trim_start_matches("sqlite://");
    std::fs::metadata(path).expect("database file").len()
}

/// Sends every request, `concurrency` at a time; (status, body length) of each.
async fn send_all(requests: Vec<reqwest::RequestBuilder>, concurrency: usize) -> Vec<(u16, usize)> {
    futures_util::stream::iter(requests.into_iter().map(|request| async move {
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").len())
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await
}

async fn audit(app: &TestApp, admin: &str, query: &str) -> (usize, Value) {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/audit{query}")))
        .bearer_auth(admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.expect("body");
    (bytes.len(), serde_json::from_slice(&bytes).expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewers_refused_requests_with_64_kb_paths_grow_the_database_by_little_and_are_summarised() {
    const WINDOW_SECS: u64 = 3;
    let extra =
        format!("audit:\n  max_refusals_per_key_per_window: 100\n  refusals_window_secs: {WINDOW_SECS}\n");
    let (app, store) = secured(&extra).await;
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("key");
    let admin = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    let path = format!("/api/v1/providers/{}/instances", huge_provider());
    let before = database_bytes(&app).await;

    let requests =
        (0..300).map(|_| app.http.post(app.url(&path)).bearer_auth(&viewer.key).json(&json!({}))).collect();
    let started = Instant::now();
    let answers = send_all(requests, 20).await;
    // The budget is per window: on a slow machine the flood may span more than one.
    let windows = started.elapsed().as_secs() / WINDOW_SECS + 1;

    assert!(answers.iter().all(|(status, _)| *status == 403), "{:?}", &answers[..3]);
    assert!(
        answers.iter().all(|(_, bytes)| *bytes < 2048),
        "the answer repeats no path: {:?}",
        &answers[..3]
    );
    // Every request is accounted for: one by one within the budget, the rest in summaries
    // written when their window ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let entries = loop {
        let (_, log) = audit(&app, &admin, "?limit=1000").await;
        let mine: Vec<Value> = log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["principal"] == viewer.id)
            .cloned()
            .collect();
        if mine.iter().filter_map(|e| e["count"].as_u64()).sum::<u64>() == 300 {
            break mine;
        }
        assert!(Instant::now() < deadline, "the refused requests were never all accounted for: {mine:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (summaries, written): (Vec<&Value>, Vec<&Value>) = entries.iter().partition(|e| e["path"] == "*");
    assert!(
        written.len() >= 100 && written.len() as u64 <= 100 * windows,
        "{} rows one by one in {windows} window(s)",
        written.len()
    );
    if windows == 1 {
        assert_eq!(summaries.len(), 1, "{summaries:?}");
        assert_eq!(summaries[0]["count"], 200);
    }
    for summary in &summaries {
        assert_eq!((summary["status"].as_u64(), summary["outcome"].as_str()), (Some(403), Some("denied")));
    }
    let entry = written[0];
    assert_eq!(entry["provider"], Value::Null, "a malformed provider is not recorded");
    let stored = entry["path"].as_str().expect("path");
    assert!(stored.len() < 400, "{} bytes of path stored", stored.len());
    assert!(stored.ends_with(&format!("…[truncated, {} bytes]", path.len())), "{stored}");
    let grown = database_bytes(&app).await.saturating_sub(before);
    assert!(grown < 2 * 1024 * 1024, "300 refused requests grew the database by {grown} bytes");
}

#[tokio::test]
async fn anonymous_requests_with_64_kb_paths_store_only_a_bounded_prefix() {
    let (app, store) = secured("").await;
    let admin = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    let path = format!("/api/v1/providers/digitalocean/instances/{}", huge_provider());
    let requests = (0..200).map(|_| app.http.get(app.url(&path))).collect();
    let answers = send_all(requests, 20).await;
    assert!(answers.iter().all(|(status, bytes)| *status == 401 && *bytes < 2048), "{:?}", &answers[..3]);

    let (_, log) = audit(&app, &admin, "").await;
    let entries = log["entries"].as_array().expect("entries");
    assert!(!entries.is_empty(), "the first failure is written at once");
    for entry in entries {
        let stored = entry["path"].as_str().expect("path");
        assert!(stored.len() < 400, "{} bytes of path stored", stored.len());
    }
}

#[tokio::test]
async fn a_provider_that_is_no_provider_name_is_answered_404_without_being_repeated() {
    let (app, store) = secured("").await;
    let viewer = issue_key(&store, Role::Viewer, None, None).await.expect("key").key;
    let operator = issue_key(&store, Role::Operator, None, None).await.expect("key").key;
    let admin = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    let path = format!("/api/v1/providers/{}/instances", huge_provider());

    let read = app.http.get(app.url(&path)).bearer_auth(&viewer).send().await.expect("sent");
    assert_eq!(read.status(), 404);
    let text = read.text().await.expect("text");
    assert!(text.len() < 1024, "{} bytes answered", text.len());
    assert_eq!(serde_json::from_str::<Value>(&text).expect("json")["code"], "unknown_provider");

    let revoke = app
        .http
        .delete(app.url(&format!("/api/v1/keys/{}", huge_provider())))
        .bearer_auth(&admin)
        .send()
        .await;
    let revoke = revoke.expect("sent");
    assert_eq!(revoke.status(), 404);
    assert!(revoke.bytes().await.expect("body").len() < 1024, "a key id is not repeated back at length");

    let create =
        app.http.post(app.url(&path)).bearer_auth(&operator).json(&json!({})).send().await.expect("sent");
    assert_eq!(create.status(), 404);
    assert!(create.bytes().await.expect("body").len() < 1024);
    let (_, log) = audit(&app, &admin, "").await;
    let failed = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["method"] == "POST")
        .cloned()
        .expect("the change is audited");
    assert_eq!(failed["status"], 404);
    assert_eq!(failed["provider"], Value::Null);
    assert!(failed["path"].as_str().expect("path").len() < 400);
}

#[tokio::test]
async fn a_creates_tags_and_ssh_keys_are_capped_before_anything_is_stored() {
    let app = spawn_app().await;
    let create = |extra: Value| {
        let mut body = json!({"name": "capped", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"});
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        app.post("/api/v1/providers/digitalocean/instances", body)
    };
    let cases = [
        (json!({"tags": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()}), "tags"),
        (json!({"tags": (0..20).map(|i| format!("{i:0>250}")).collect::<Vec<_>>()}), "tags"),
        (json!({"ssh_keys": (0..33).map(|i| i.to_string()).collect::<Vec<_>>()}), "ssh_keys"),
        (json!({"ssh_keys": ["k".repeat(129)]}), "ssh_keys[0]"),
    ];
    for (extra, field) in cases {
        let answer = create(extra).await;
        assert_eq!(answer.status(), 422);
        let problem = json(answer).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let operations = json(app.get("/api/v1/operations").await).await;
    assert_eq!(operations["operations"].as_array().map(Vec::len), Some(0), "nothing was stored");
    assert_eq!(app.upstream("droplets_create"), 0);

    // Within the caps, a create goes ahead.
    let fifty = (0..50).map(|i| format!("tag-{i}")).collect::<Vec<_>>();
    assert_eq!(create(json!({"tags": fifty})).await.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_listing_is_bounded_in_bytes_and_says_where_the_next_page_starts() {
    let (app, store) = secured("").await;
    let admin = issue_key(&store, Role::Admin, None, None).await.expect("key").key;
    // 10,000 entries of the largest kind a caller can cause (a path cut at its bound).
    let path = format!("/api/v1/providers/digitalocean/instances/{}", "9".repeat(1000));
    futures_util::stream::iter((0..10_000).map(|_| {
        let store = store.clone();
        let path = path.clone();
        async move {
            let entry = AuditEntry {
                principal: "0123456789ab".to_owned(),
                role: Some("viewer".to_owned()),
                method: "DELETE".to_owned(),
                path,
                source: Some("127.0.0.1:40000".to_owned()),
                ..AuditEntry::new(403, "denied")
            };
            store.append_audit(&entry).await.expect("append");
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<()>>()
    .await;

    let (bytes, first) = audit(&app, &admin, "?limit=10000").await;
    assert!(bytes <= 4 * 1024 * 1024 + 1024, "{bytes} bytes in one answer");
    let page = first["entries"].as_array().expect("entries").len();
    assert!(page < 10_000, "the bound in bytes cut the page ({page} entries)");
    // Following `next` reads every entry once.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut answer = first;
    loop {
        for entry in answer["entries"].as_array().expect("entries") {
            assert!(seen.insert(entry["id"].as_str().expect("id").to_owned()), "{} repeats", entry["id"]);
        }
        let Some(next) = answer["next"].as_str() else { break };
        let query = next.trim_start_matches("/api/v1/audit").to_owned();
        answer = audit(&app, &admin, &query).await.1;
    }
    assert_eq!(seen.len(), 10_000);
    let (_, small) = audit(&app, &admin, "?limit=3").await;
    assert_eq!(small["entries"].as_array().map(Vec::len), Some(3));
    assert!(small["next"].as_str().is_some_and(|n| n.contains("before=")), "{}", small["next"]);
    let unknown =
        app.http.get(app.url("/api/v1/audit?before=nope")).bearer_auth(&admin).send().await.expect("sent");
    assert_eq!(unknown.status(), 404);
}
