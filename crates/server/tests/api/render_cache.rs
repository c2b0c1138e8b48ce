//! Rendered lists: one entry per filter however it is spelled, a parameter given twice refused,
//! and an answer above the cache's bound written out as it is sent rather than kept whole.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Extra, TestApp, json, spawn_app_extra};

const LIST: &str = "/api/v1/providers/digitalocean/instances";

async fn app(droplets: usize, server: &str) -> TestApp {
    let extra = Extra { server, rest: "auth:\n  required: false\n", ..Extra::default() };
    spawn_app_extra(droplets, Duration::from_millis(100), extra).await
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn a_filter_given_twice_is_refused_naming_it() {
    let app = app(3, "").await;
    for (query, field) in [("fresh=false&fresh=false", "fresh"), ("region=nyc1&name=a&region=nyc1", "region")]
    {
        for path in [LIST, "/api/v1/instances"] {
            let response = app.get(&format!("{path}?{query}")).await;
            assert_eq!(response.status(), 422, "{path}?{query}");
            let problem = json(response).await;
            assert_eq!(problem["code"], "invalid_input");
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
            assert_eq!(problem["errors"].as_array().expect("errors").len(), 1, "named once: {problem}");
        }
    }
}

#[tokio::test]
async fn spellings_of_one_filter_share_one_etag() {
    let app = app(3, "").await;
    for path in [LIST, "/api/v1/instances"] {
        let mut tags = Vec::new();
        for query in [
            "region=nyc1&status=running",
            "status=running&region=nyc1",
            "region=%6Eyc1&status=running&fresh=false",
            "status=running&fresh=false&region=nyc%31",
        ] {
            tags.push(etag(&app.get(&format!("{path}?{query}")).await));
        }
        assert!(tags.iter().all(|t| *t == tags[0]), "{path}: {tags:?}");
        let other = etag(&app.get(&format!("{path}?region=ams3&status=running")).await);
        assert_ne!(other, tags[0], "{path}: another filter, another answer");
    }
}

#[tokio::test]
async fn an_answer_above_the_bound_is_written_as_it_is_sent_and_not_kept() {
    // A 256 KiB cache keeps answers up to 64 KiB; 600 droplets make about 450 KB.
    let app = app(600, "list_cache_bytes: 262144").await;
    let full = app.get(LIST).await;
    assert_eq!(full.status(), 200);
    assert!(full.headers().get("content-length").is_none(), "streamed, not held whole: {:?}", full.headers());
    let body: Value = full.json().await.expect("one JSON document");
    assert_eq!(body["instances"].as_array().expect("list").len(), 600);
    assert_eq!(body["stale"], false);
    assert_eq!(body["errors"], serde_json::json!([]));

    // Small answers are rendered whole and kept, as before.
    let one = app.get(&format!("{LIST}?name=sim-000042")).await;
    assert!(one.headers().get("content-length").is_some(), "{:?}", one.headers());
    assert_eq!(json(one).await["instances"].as_array().expect("list").len(), 1);
}
