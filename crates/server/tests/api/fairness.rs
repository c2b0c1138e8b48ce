//! One key's flood does not hold another key's request back for more than a few seconds.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use serde_json::{Value, json};

use crate::helpers::{Extra, spawn_app_extra};

const CREATE: &str = "/api/v1/providers/digitalocean/instances";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_submitting_200_creates_does_not_hold_back_another_keys_create() {
    // Droplets boot slowly, so A's creates keep being followed (and polled) throughout.
    // DigitalOcean's pace: 240 a minute (one every 250 ms) after a burst of 5.
    let extra = Extra {
        provider: "rate_limit_per_minute: 240\nrate_limit_burst: 5",
        rest: "auth:\n  required: true\n",
        ..Extra::default()
    };
    let app = spawn_app_extra(0, Duration::from_secs(30), extra).await;
    let store = Store::open(&app.database_url).await.expect("store");
    let a = issue_key(&store, Role::Operator, None, Some("busy")).await.expect("key").key;
    let b = issue_key(&store, Role::Operator, None, Some("quiet")).await.expect("key").key;
    let create = |http: reqwest::Client, url: String, key: String, name: String| async move {
        http.post(url)
            .bearer_auth(key)
            .json(&json!({"name": name, "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}))
            .send()
            .await
            .expect("sent")
    };

    // Key A's 200 creates, 50 at a time, still going when key B asks.
    let flood = {
        let (http, url, a) = (app.http.clone(), app.url(CREATE), a.clone());
        tokio::spawn(async move {
            futures_util::stream::iter(0..200)
                .map(|i| create(http.clone(), url.clone(), a.clone(), format!("busy-{i}")))
                .buffer_unordered(50)
                .map(|r| r.status().as_u16())
                .collect::<Vec<u16>>()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let asked = Instant::now();
    let quiet = create(app.http.clone(), app.url(CREATE), b, "quiet".to_owned()).await;
    let waited = asked.elapsed();
    assert_eq!(quiet.status(), 202);
    let body: Value = quiet.json().await.expect("json");
    let statuses = flood.await.expect("flood");
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    eprintln!("another key's create, asked during 200 creates from one key, answered in {waited:?}");
    assert!(body["id"].is_string(), "the quiet key's create was made at once, not queued: {body}");
    assert!(waited < Duration::from_secs(5), "the quiet key waited {waited:?}");
}
