//! Events (issue 22) through the API: the outbox written with the changes it reports, the list
//! and the resumable stream, and the inventory's diff that sees changes made outside Nephele.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{DO_TOKEN, TestApp, json, spawn_app_configured};

/// How long a test waits for a state a timer produces.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Every event of `event_type` (all types with `None`), oldest first, read page by page.
pub async fn all_events(app: &TestApp, event_type: Option<&str>) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = "/api/v1/events?limit=1000".to_owned();
        if let Some(t) = event_type {
            path.push_str(&format!("&type={t}"));
        }
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let page = json(app.get(&path).await).await;
        let batch = page["events"].as_array().expect("events").clone();
        if batch.is_empty() {
            return events;
        }
        after = page["next"].as_str().map(str::to_owned);
        events.extend(batch);
    }
}

/// Waits until `check` holds for the events of `event_type`, and returns them.
pub async fn wait_for_events(
    app: &TestApp,
    event_type: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let events = all_events(app, Some(event_type)).await;
        if check(&events) {
            return events;
        }
        assert!(started.elapsed() < DEADLINE, "events of {event_type} never came right: {events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes `n` API keys (each writes `nephele.api_key.created`), `parallel` at a time.
pub async fn make_keys(app: &TestApp, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let requests = chunk.iter().map(|i| {
            app.post("/api/v1/keys", json!({"role": "viewer", "description": format!("event {i}")}))
        });
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.status(), 201);
        }
    }
}

async fn open_app(droplets: usize, rest: &str) -> TestApp {
    spawn_app_configured(droplets, Duration::from_millis(150), &format!("auth:\n  required: false\n{rest}"))
        .await
}

#[tokio::test]
async fn an_operation_writes_its_events_with_the_data_the_api_shows_and_user_data_redacted() {
    let app = open_app(0, "").await;
    let created = app
        .post(
            "/api/v1/providers/digitalocean/instances",
            json!({"name": "evt-web", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64",
                   "user_data": "#cloud-config\npassword: hunter2hunter2"}),
        )
        .await;
    assert_eq!(created.status(), 202);
    let operation_id = json(created).await["operation_id"].as_str().expect("operation id").to_owned();
    let operation = app.wait_for_operation(&operation_id, None).await;
    assert_eq!(operation["state"], "succeeded", "{operation}");

    let subject = format!("operations/{operation_id}");
    let mine = |events: &[Value]| {
        events.iter().filter(|e| e["subject"] == subject.as_str()).cloned().collect::<Vec<_>>()
    };
    let succeeded = wait_for_events(&app, "nephele.operation.succeeded", |e| !mine(e).is_empty()).await;
    let accepted = mine(&all_events(&app, Some("nephele.operation.accepted")).await);
    assert_eq!(accepted.len(), 1, "one accepted event: {accepted:?}");
    assert_eq!(mine(&succeeded).len(), 1, "one succeeded event");
    let every = mine(&all_events(&app, None).await);
    let types: Vec<_> = every.iter().map(|e| e["type"].as_str().expect("type")).collect();
    assert_eq!(types.first(), Some(&"nephele.operation.accepted"), "{types:?}");
    assert_eq!(types.last(), Some(&"nephele.operation.succeeded"), "{types:?}");
    assert!(types.contains(&"nephele.operation.step"), "the provider accepting it is a step: {types:?}");

    // CloudEvents attributes; data is the operation as the API shows it (updated_at aside: the
    // row and the event are stamped by separate clock reads).
    let event = &mine(&succeeded)[0];
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["source"], "digitalocean");
    assert!(event["id"].as_str().expect("id").starts_with("evt_"));
    let mut shown = event["data"].clone();
    let mut api = operation.clone();
    shown.as_object_mut().expect("object").remove("updated_at");
    api.as_object_mut().expect("object").remove("updated_at");
    assert_eq!(shown, api);
    let text = every.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains("hunter2"), "user_data never in an event");
    assert_eq!(event["data"]["request"]["user_data"], json!({"redacted": true, "bytes": 38}));
}

#[tokio::test]
async fn a_droplet_deleted_outside_nephele_emits_instance_deleted_exactly_once() {
    let app = open_app(3, "inventory:\n  max_age_secs: 1\n").await;
    let listed = json(app.get("/api/v1/providers/digitalocean/instances").await).await;
    let id = listed["instances"][0]["id"].as_str().expect("id").to_owned();
    // Let the inventory record its baseline (the first refresh emits nothing) and one more.
    let first_as_of = listed["as_of"].clone();
    let started = Instant::now();
    while json(app.get("/api/v1/providers/digitalocean/instances").await).await["as_of"] == first_as_of {
        assert!(started.elapsed() < DEADLINE, "the inventory never refreshed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        all_events(&app, Some("nephele.instance.appeared")).await.is_empty(),
        "the baseline emits nothing"
    );

    // Deleted directly at the cloud, and one made there too.
    let deleted = app
        .http
        .delete(format!("{}/v2/droplets/{id}", app.sim.base_url()))
        .bearer_auth(DO_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    let made = app
        .http
        .post(format!("{}/v2/droplets", app.sim.base_url()))
        .bearer_auth(DO_TOKEN)
        .json(&json!({"name": "made-elsewhere", "region": "nyc1", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(made.status(), 202);
    let made_id = json(made).await["droplet"]["id"].to_string();

    let subject = format!("instances/{id}");
    let gone = wait_for_events(&app, "nephele.instance.deleted", |e| {
        e.iter().any(|e| e["subject"] == subject.as_str())
    })
    .await;
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0]["source"], "digitalocean");
    assert_eq!(gone[0]["data"]["id"], id.as_str(), "the last view of the instance");
    let appeared = wait_for_events(&app, "nephele.instance.appeared", |e| !e.is_empty()).await;
    assert_eq!(appeared.len(), 1, "{appeared:?}");
    assert_eq!(appeared[0]["subject"], format!("instances/{made_id}"));
    assert_eq!(appeared[0]["data"]["name"], "made-elsewhere");

    // Three more refreshes: still once each.
    for _ in 0..3 {
        next_refresh(&app).await;
    }
    assert_eq!(all_events(&app, Some("nephele.instance.deleted")).await.len(), 1, "deleted exactly once");
    let appeared = all_events(&app, Some("nephele.instance.appeared")).await;
    assert_eq!(appeared.len(), 1, "appeared exactly once");
}

#[tokio::test]
async fn api_keys_made_and_revoked_are_events_without_secrets() {
    let app = open_app(0, "").await;
    let made = json(app.post("/api/v1/keys", json!({"role": "viewer"})).await).await;
    let key_id = made["id"].as_str().expect("id");
    assert_eq!(app.delete(&format!("/api/v1/keys/{key_id}")).await.status(), 204);
    let created = all_events(&app, Some("nephele.api_key.created")).await;
    let revoked = all_events(&app, Some("nephele.api_key.revoked")).await;
    assert_eq!(created.len(), 1);
    assert_eq!(revoked.len(), 1);
    assert_eq!(created[0]["source"], "nephele");
    assert_eq!(revoked[0]["subject"], format!("keys/{key_id}"));
    assert!(revoked[0]["data"]["revoked_at"].is_string());
    let secret = made["key"].as_str().expect("key");
    assert!(!created[0].to_string().contains(secret), "the key's secret is never in an event");
}

#[tokio::test]
async fn event_lists_refuse_bad_cursors_and_filters_naming_the_field() {
    let app = open_app(0, "").await;
    for (query, field) in [
        ("after=nope", "after"),
        ("after=evt_00000000000000ff00000000", "after"),
        ("type=instance.deleted", "type"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("colour=red", "colour"),
    ] {
        let answer = app.get(&format!("/api/v1/events?{query}")).await;
        assert_eq!(answer.status(), 422, "{query}");
        let problem = json(answer).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let stream = app
        .http
        .get(app.url("/api/v1/events/stream"))
        .header("last-event-id", "garbage")
        .send()
        .await
        .expect("sent");
    assert_eq!(stream.status(), 422);
}

/// An SSE client: the frames of one stream, parsed as they come.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
    pub heartbeats: usize,
}

/// One SSE frame with an event.
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseClient {
    pub async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = app.http.get(app.url(path));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream opened");
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/event-stream"));
        Self { response, buffer: String::new(), heartbeats: 0 }
    }

    /// The next event frame, within `DEADLINE`.
    pub async fn next(&mut self) -> Frame {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame { id: None, event: None, data: String::new() };
                let mut is_event = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.heartbeats += 1;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        frame.id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        frame.event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        frame.data.push_str(v.trim_start());
                        is_event = true;
                    }
                }
                if is_event {
                    return frame;
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .expect("a frame within the deadline")
                .expect("the stream stays up")
                .expect("the stream did not end");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn a_stream_client_gone_while_500_events_happen_resumes_with_exactly_those_500_in_order() {
    // The 30 s of the issue are shortened to the time the 500 events take to happen (a few
    // seconds): the server keeps nothing per client, so what a resume gets depends only on the
    // cursor and on what was written since, not on how long the client was away.
    let app = open_app(0, "events:\n  heartbeat_secs: 1\n").await;
    let mut stream = SseClient::open(&app, "/api/v1/events/stream", None).await;
    make_keys(&app, 3).await;
    let mut last = None;
    for _ in 0..3 {
        let frame = stream.next().await;
        assert_eq!(frame.event.as_deref(), Some("nephele.api_key.created"));
        last = frame.id;
    }
    let last = last.expect("an id line on every event");
    drop(stream);

    make_keys(&app, 500).await;
    let written: Vec<String> = {
        let page = json(app.get(&format!("/api/v1/events?after={last}&limit=1000")).await).await;
        page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(written.len(), 500);

    let mut resumed = SseClient::open(&app, "/api/v1/events/stream", Some(&last)).await;
    let mut got = Vec::new();
    for _ in 0..500 {
        let frame = resumed.next().await;
        let body: Value = serde_json::from_str(&frame.data).expect("JSON data");
        assert_eq!(frame.id.as_deref(), body["id"].as_str(), "the id line is the event's id");
        got.push(frame.id.expect("id"));
    }
    assert_eq!(got, written, "exactly the 500 missed, in order, none twice");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, got, "ids sort in the order events happened");

    // Quiet now: heartbeats (1 s here, 15 s by default) keep the stream alive, and the next
    // event follows them.
    let started = Instant::now();
    while resumed.heartbeats == 0 {
        assert!(started.elapsed() < DEADLINE, "no heartbeat");
        let quiet = tokio::time::timeout(Duration::from_millis(500), resumed.next()).await;
        assert!(quiet.is_err(), "no event while nothing happens");
    }
    make_keys(&app, 1).await;
    let after = resumed.next().await;
    assert_eq!(after.event.as_deref(), Some("nephele.api_key.created"));
    assert!(after.id.expect("id") > got[499], "the next event, after the 500");
}

#[tokio::test]
async fn a_stream_filters_by_type_and_a_scoped_key_sees_only_its_accounts() {
    let app = spawn_app_configured(0, Duration::from_millis(150), "auth:\n  required: true\n").await;
    let store = nephele_engine::store::Store::open(&app.database_url).await.expect("store");
    let admin = nephele_engine::auth::issue_key(&store, nephele_engine::auth::Role::Admin, None, None)
        .await
        .expect("admin")
        .key;
    let viewer: Value = app
        .http
        .post(app.url("/api/v1/keys"))
        .bearer_auth(&admin)
        .json(&json!({"role": "viewer", "providers": ["digitalocean"]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let viewer = viewer["key"].as_str().expect("key").to_owned();
    let seen: Value = app
        .http
        .get(app.url("/api/v1/events"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(
        seen["events"].as_array().expect("events").iter().all(|e| e["source"] == "digitalocean"),
        "a key limited to digitalocean sees none of the server's own events: {seen}"
    );
    let unscoped_viewer =
        nephele_engine::auth::issue_key(&store, nephele_engine::auth::Role::Viewer, None, None)
            .await
            .expect("viewer")
            .key;
    let as_viewer: Value = app
        .http
        .get(app.url("/api/v1/events"))
        .bearer_auth(&unscoped_viewer)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(
        as_viewer["events"].as_array().expect("events").iter().all(|e| e["source"] != "nephele"),
        "API key events are for admins, who alone list keys: {as_viewer}"
    );
    let all: Value = app
        .http
        .get(app.url("/api/v1/events"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(all["events"].as_array().expect("events").iter().any(|e| e["type"] == "nephele.api_key.created"));
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_is_refused_with_a_clear_problem() {
    let app = open_app(0, "").await;
    make_keys(&app, 3).await;
    let first = all_events(&app, None).await[0]["id"].as_str().expect("id").to_owned();
    // The retention passing, as housekeeping would purge after events.retention_days.
    let store = nephele_engine::store::Store::open(&app.database_url).await.expect("store");
    store.purge_events(nephele_engine::store::now_ms() + 1).await.expect("purge");
    make_keys(&app, 1).await;

    let answer = app.get(&format!("/api/v1/events?after={first}")).await;
    assert_eq!(answer.status(), 410);
    let problem = json(answer).await;
    assert_eq!(problem["code"], "event_cursor_expired", "{problem}");
    assert!(problem["detail"].as_str().expect("detail").contains("retention"), "{problem}");
    let stream = app
        .http
        .get(app.url("/api/v1/events/stream"))
        .header("last-event-id", &first)
        .send()
        .await
        .expect("sent");
    assert_eq!(stream.status(), 410);
    // Without a cursor the list starts at the oldest kept.
    assert_eq!(all_events(&app, None).await.len(), 1);
}

/// Issue 22's list: `nephele.instance.status_changed` when a refresh sees an instance in another
/// status, and `nephele.operation.failed` when an operation ends in failure (here a power action
/// on a droplet deleted at the cloud after Nephele last saw it).
#[tokio::test]
async fn a_status_change_and_a_failed_operation_are_events() {
    const LIST: &str = "/api/v1/providers/digitalocean/instances";
    let app = open_app(2, "inventory:\n  max_age_secs: 1\n").await;
    let listed = json(app.get(LIST).await).await;
    let (kept, doomed) = (
        listed["instances"][0]["id"].as_str().expect("id").to_owned(),
        listed["instances"][1]["id"].as_str().expect("id").to_owned(),
    );
    // The first refresh recorded is the baseline; wait for the next, so the change is a diff.
    let started = Instant::now();
    while json(app.get(LIST).await).await["as_of"] == listed["as_of"] {
        assert!(started.elapsed() < DEADLINE, "the inventory never refreshed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let off = json(app.post(&format!("{LIST}/{kept}/actions"), json!({"type": "power_off"})).await).await;
    let done = app.wait_for_operation(off["operation_id"].as_str().expect("operation"), None).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let subject = format!("instances/{kept}");
    let changed = wait_for_events(&app, "nephele.instance.status_changed", |e| {
        e.iter().any(|e| e["subject"] == subject.as_str())
    })
    .await;
    let changed: Vec<_> = changed.iter().filter(|e| e["subject"] == subject.as_str()).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["data"]["status"], "stopped", "{}", changed[0]);

    let deleted = app
        .http
        .delete(format!("{}/v2/droplets/{doomed}", app.sim.base_url()))
        .bearer_auth(DO_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 204);
    let action = app.post(&format!("{LIST}/{doomed}/actions"), json!({"type": "reboot"})).await;
    // The action is recorded, its first step runs at once and the cloud answers 404: the answer
    // says so, and the operation ends failed.
    assert_eq!(action.status(), 404, "the cloud no longer has it");
    let failed = wait_for_events(&app, "nephele.operation.failed", |e| {
        e.iter().any(|e| e["data"]["request"].to_string().contains(&doomed))
    })
    .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["data"]["state"], "failed");
    assert!(failed[0]["data"]["error"].is_object(), "data.error says why: {}", failed[0]);
    let subject = failed[0]["subject"].as_str().expect("subject");
    let operation = subject.strip_prefix("operations/").expect("an operation's event");
    let accepted = all_events(&app, Some("nephele.operation.accepted")).await;
    assert!(accepted.iter().any(|e| e["subject"] == subject), "accepted first: {accepted:?}");
    assert_eq!(json(app.get(&format!("/api/v1/operations/{operation}")).await).await["state"], "failed");
}

/// Waits (with a deadline) for one more refresh of the inventory than the one it holds now.
async fn next_refresh(app: &TestApp) {
    let before = json(app.get("/api/v1/providers/digitalocean/instances").await).await["as_of"].clone();
    let started = Instant::now();
    while json(app.get("/api/v1/providers/digitalocean/instances").await).await["as_of"] == before {
        assert!(started.elapsed() < DEADLINE, "the inventory stopped refreshing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn volumes_and_reserved_ips_changed_outside_nephele_are_events_of_their_kind() {
    let app = open_app(2, "inventory:\n  max_age_secs: 1\n").await;
    let droplet = json(app.get("/api/v1/providers/digitalocean/instances").await).await["instances"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The baseline (first list of each kind) emits nothing.
    next_refresh(&app).await;
    next_refresh(&app).await;
    let sim = app.sim.base_url();
    let made = app
        .http
        .post(format!("{sim}/v2/volumes"))
        .bearer_auth(DO_TOKEN)
        .json(&json!({"name": "made-elsewhere", "size_gigabytes": 10, "region": "nyc1"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(made.status(), 201);
    let volume = json(made).await["volume"]["id"].as_str().expect("volume id").to_owned();
    let subject = format!("volumes/{volume}");
    let appeared = wait_for_events(&app, "nephele.volume.appeared", |e| !e.is_empty()).await;
    assert_eq!(appeared.len(), 1, "{appeared:?}");
    assert_eq!(appeared[0]["subject"], subject.as_str());
    assert_eq!(appeared[0]["source"], "digitalocean");
    assert_eq!(appeared[0]["data"]["name"], "made-elsewhere");
    assert_eq!(
        appeared[0]["data"]["links"]["self"],
        format!("/api/v1/providers/digitalocean/volumes/{volume}")
    );

    // Attached at the cloud: the volume's status changed.
    let attach = app
        .http
        .post(format!("{sim}/v2/volumes/{volume}/actions"))
        .bearer_auth(DO_TOKEN)
        .json(&json!({"type": "attach", "droplet_id": droplet.parse::<u64>().expect("numeric"), "region": "nyc1"}))
        .send()
        .await
        .expect("sent");
    assert!(attach.status().is_success(), "{}", attach.status());
    let changed = wait_for_events(&app, "nephele.volume.status_changed", |e| !e.is_empty()).await;
    assert_eq!(changed[0]["subject"], subject.as_str());
    assert_eq!(changed[0]["data"]["attached_to"], json!([droplet]), "{changed:?}");

    // A reserved IP made and released there: appeared, then deleted, with its last view.
    let reserved = app
        .http
        .post(format!("{sim}/v2/reserved_ips"))
        .bearer_auth(DO_TOKEN)
        .json(&json!({"region": "nyc1"}))
        .send()
        .await
        .expect("sent");
    assert!(reserved.status().is_success(), "{}", reserved.status());
    let address = json(reserved).await["reserved_ip"]["ip"].as_str().expect("ip").to_owned();
    let ip_appeared = wait_for_events(&app, "nephele.reserved_ip.appeared", |e| !e.is_empty()).await;
    assert_eq!(ip_appeared.len(), 1, "{ip_appeared:?}");
    let ip_subject = ip_appeared[0]["subject"].as_str().expect("subject").to_owned();
    assert!(ip_subject.starts_with("reserved-ips/"), "{ip_subject}");
    let released = app
        .http
        .delete(format!("{sim}/v2/reserved_ips/{address}"))
        .bearer_auth(DO_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(released.status(), 204);
    let gone = wait_for_events(&app, "nephele.reserved_ip.deleted", |e| !e.is_empty()).await;
    assert_eq!(gone[0]["subject"], ip_subject.as_str());
    assert_eq!(gone[0]["data"]["address"], address.as_str(), "the last view held");

    // More refreshes: each change reported once.
    next_refresh(&app).await;
    next_refresh(&app).await;
    assert_eq!(all_events(&app, Some("nephele.volume.appeared")).await.len(), 1);
    assert_eq!(all_events(&app, Some("nephele.volume.status_changed")).await.len(), 1);
    assert_eq!(all_events(&app, Some("nephele.reserved_ip.deleted")).await.len(), 1);
}
