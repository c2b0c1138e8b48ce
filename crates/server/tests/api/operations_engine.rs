//! The operations engine against a provider that turns hostile mid-way: it backs off, then
//! fails with the provider's reason, never polling in a loop.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Extra, json, spawn_app_on, start_sim};
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
