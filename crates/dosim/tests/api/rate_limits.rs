//! Per-token sliding-window limits and the `ratelimit-*` headers.

use dosim::Limits;

use crate::helpers::{config, header_u64, json, spawn_sim};

#[tokio::test]
async fn the_251st_request_in_a_minute_gets_429_with_retry_after() {
    let app = spawn_sim(dosim::SimConfig { limits: Limits::default(), ..config() }).await;
    let mut previous_remaining = None;
    for i in 1..=250u64 {
        let response = app.get("/v2/regions").await;
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(header_u64(&response, "ratelimit-limit"), 5000);
        let remaining = header_u64(&response, "ratelimit-remaining");
        if i < 250 {
            assert_eq!(remaining, 5000 - i, "the hourly budget counts down by one per request");
        } else {
            assert_eq!(remaining, 0, "the burst limit is reached with the 250th request");
        }
        if let Some(previous) = previous_remaining {
            assert!(remaining < previous);
        }
        previous_remaining = Some(remaining);
    }
    let refused = app.get("/v2/regions").await;
    assert_eq!(refused.status(), 429);
    let retry_after = header_u64(&refused, "retry-after");
    assert!((1..=60).contains(&retry_after), "retry-after {retry_after}");
    let reset = header_u64(&refused, "ratelimit-reset");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    assert!(reset > now && reset <= now + 3600, "reset is when the oldest request expires");
    assert_eq!(json(refused).await["id"], "too_many_requests");
    assert_eq!(app.sim.stats().rate_limited, 1);
}

#[tokio::test]
async fn the_hourly_limit_refuses_without_retry_after() {
    let app = spawn_sim(dosim::SimConfig {
        limits: Limits { per_minute: 1000, per_hour: 5, ssh_keys_per_minute: 10, ..Limits::default() },
        ..config()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(app.get("/v2/sizes").await.status(), 200);
    }
    let refused = app.get("/v2/sizes").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_none());
}
