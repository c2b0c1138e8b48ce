//! The clock a test controls (`/_sim/clock`): it stamps what is made, stands still until moved,
//! and never goes backwards.

use dosim::SimConfig;
use serde_json::json;
use time::macros::datetime;

use crate::helpers::{config, json, spawn_sim};

#[tokio::test]
async fn the_set_clock_stamps_creations_actions_and_deletions_and_stands_still() {
    let app = spawn_sim(SimConfig { clock: Some(datetime!(2026-02-14 09:30 UTC)), ..config() }).await;
    let set = app.set_clock("2026-03-01T00:00:00Z").await;
    assert_eq!(set.status(), 200);
    assert_eq!(json(set).await, json!({"now": "2026-03-01T00:00:00Z", "simulated": true}));

    let web = app.active_droplet("web", "nyc1").await;
    let droplet = json(app.get(&format!("/v2/droplets/{web}")).await).await;
    assert_eq!(
        droplet["droplet"]["created_at"], "2026-03-01T00:00:00Z",
        "real time passed, the clock did not"
    );
    app.advance(90).await;
    let off =
        json(app.post(&format!("/v2/droplets/{web}/actions"), json!({"type": "power_off"})).await).await;
    assert_eq!(off["action"]["started_at"], "2026-03-01T00:01:30Z");
    app.wait_until(&format!("/v2/droplets/{web}"), "off", |b| b["droplet"]["status"] == "off").await;
    let action = json(app.get(&format!("/v2/actions/{}", off["action"]["id"])).await).await;
    assert_eq!(
        action["action"]["completed_at"], "2026-03-01T00:01:30Z",
        "a transition takes real time but no simulated time"
    );
    app.advance(3600).await;
    assert_eq!(app.delete(&format!("/v2/droplets/{web}")).await.status(), 204);
    let retired = app.retired().await;
    assert_eq!(retired[0]["deleted_at"], "2026-03-01T01:01:30Z");
    assert_eq!(retired[0]["history"][0], json!({"at": "2026-03-01T00:01:30Z", "change": "powered_off"}));
}

#[tokio::test]
async fn the_clock_never_goes_backwards_and_refuses_what_it_cannot_read() {
    let app = spawn_sim(SimConfig { clock: Some(datetime!(2026-03-01 12:00 UTC)), ..config() }).await;
    let clock = json(app.http.get(app.url("/_sim/clock")).send().await.expect("sent")).await;
    assert_eq!(clock, json!({"now": "2026-03-01T12:00:00Z", "simulated": true}));
    assert_eq!(app.sim.now(), datetime!(2026-03-01 12:00 UTC));

    let back = app.set_clock("2026-03-01T11:59:59Z").await;
    assert_eq!(back.status(), 409);
    assert_eq!(json(back).await["id"], "conflict");
    assert_eq!(app.set_clock("not a time").await.status(), 400);
    let unknown =
        app.http.post(app.url("/_sim/clock")).json(&json!({"advance": 5})).send().await.expect("sent");
    assert_eq!(unknown.status(), 400, "an unknown field is refused");
    let negative =
        app.http.post(app.url("/_sim/clock")).json(&json!({"advance_secs": -5})).send().await.expect("sent");
    assert_eq!(negative.status(), 400, "seconds are never negative");
    let far = app.http.post(app.url("/_sim/clock")).json(&json!({"advance_secs": u64::MAX})).send().await;
    assert_eq!(far.expect("sent").status(), 422, "at most a century ahead");
    assert_eq!(app.sim.now(), datetime!(2026-03-01 12:00 UTC), "refused moves change nothing");

    // An offset is read as the instant it names, and kept in UTC.
    let later = app.set_clock("2026-03-01T14:00:00+01:00").await;
    assert_eq!(json(later).await["now"], "2026-03-01T13:00:00Z");
    app.advance(60).await;
    assert_eq!(app.sim.now(), datetime!(2026-03-01 13:01 UTC));
    let balance = json(app.get("/v2/customers/my/balance").await).await;
    assert_eq!(balance["generated_at"], "2026-03-01T13:01:00Z");
}

#[tokio::test]
async fn without_a_set_clock_dosim_reads_the_real_one() {
    let app = spawn_sim(config()).await;
    let before = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("whole second");
    let clock = json(app.http.get(app.url("/_sim/clock")).send().await.expect("sent")).await;
    assert_eq!(clock["simulated"], false);
    let now = time::OffsetDateTime::parse(
        clock["now"].as_str().expect("now"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert!(now >= before && now <= time::OffsetDateTime::now_utc(), "{now} is the real time");
    assert_eq!(app.set_clock("2020-01-01T00:00:00Z").await.status(), 409, "the real past is the past too");
}
