//! A DigitalOcean that lies, breaks, or is not DigitalOcean: the token stays home, reads stay
//! bounded in size, count and time, and nothing it says reaches a caller unfiltered.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{DO_TOKEN, Extra, TestApp, json, spawn_app_extra, spawn_app_on, start_sim};
use crate::hostile::{Behaviour, Catcher, HostileUpstream};

const LIST: &str = "/api/v1/providers/digitalocean/instances";

/// Nephele, open, against a hostile upstream in front of a simulator with three droplets.
async fn behind_hostile(behaviour: Behaviour, provider: &str) -> (TestApp, HostileUpstream) {
    let sim = start_sim(3, Duration::from_millis(100)).await;
    let hostile = HostileUpstream::start(&sim.base_url(), behaviour).await;
    let extra = Extra { provider, rest: "auth:\n  required: false\n", ..Extra::default() };
    let app = spawn_app_on(sim, &hostile.base_url, extra).await;
    (app, hostile)
}

#[tokio::test]
async fn a_next_link_to_another_host_is_read_as_a_page_number_and_the_token_stays_home() {
    let catcher = Catcher::start().await;
    let (app, hostile) =
        behind_hostile(Behaviour::NextLinkTo(format!("{}/steal", catcher.base_url)), "").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 200);
    assert_eq!(json(list).await["instances"].as_array().expect("list").len(), 3);
    assert!(catcher.requests().is_empty(), "the other host got {:?}", catcher.requests());
    assert!(
        hostile.seen().iter().any(|s| s.path_and_query.contains("page=2")),
        "page 2 was asked of the configured origin instead"
    );
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let catcher = Catcher::start().await;
    let (app, _hostile) = behind_hostile(Behaviour::RedirectTo(catcher.base_url.clone()), "").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 502);
    let problem = json(list).await;
    assert_eq!(problem["code"], "provider_bad_response", "{problem}");
    assert!(catcher.requests().is_empty(), "the redirect target got {:?}", catcher.requests());
}

#[tokio::test]
async fn an_endless_body_is_cut_off_at_the_limit_and_answered_502() {
    let (app, hostile) = behind_hostile(Behaviour::EndlessBody, "max_response_bytes: 1048576").await;

    let started = Instant::now();
    let list = app.get(LIST).await;
    assert_eq!(list.status(), 502);
    let problem = json(list).await;
    assert_eq!(problem["code"], "provider_bad_response");
    assert!(problem["detail"].as_str().expect("detail").contains("max_response_bytes"), "{problem}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    // What was sent beyond 1 MiB sat in socket buffers; nothing like an endless read happened.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = hostile.bytes_sent();
    assert!(sent < 16 * 1024 * 1024, "the fake managed to send {sent} bytes");
}

#[tokio::test]
async fn a_huge_declared_body_is_refused_unread() {
    let (app, hostile) = behind_hostile(Behaviour::HugeDeclaredBody, "").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 502);
    assert_eq!(json(list).await["code"], "provider_bad_response");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = hostile.bytes_sent();
    assert!(sent < 16 * 1024 * 1024, "of a declared 500 MB, {sent} bytes were sent");
}

#[tokio::test]
async fn a_link_back_to_a_page_already_read_ends_the_list() {
    let (app, hostile) = behind_hostile(Behaviour::SamePageForever, "").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 200);
    assert_eq!(json(list).await["instances"].as_array().expect("list").len(), 3);
    assert_eq!(hostile.droplet_lists(), 2, "page 1, page 2, and no more");
}

#[tokio::test]
async fn pages_that_bring_nothing_new_end_the_list() {
    let behaviour = Behaviour::EndlessPages { fresh: false, delay: Duration::ZERO };
    let (app, hostile) = behind_hostile(behaviour, "").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 200);
    assert_eq!(json(list).await["instances"].as_array().expect("list").len(), 3, "each droplet once");
    assert_eq!(hostile.droplet_lists(), 2, "the repeated page was the last one read");
}

#[tokio::test]
async fn a_list_past_max_list_pages_is_refused() {
    let behaviour = Behaviour::EndlessPages { fresh: true, delay: Duration::ZERO };
    let (app, hostile) = behind_hostile(behaviour, "max_list_pages: 5").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 502);
    let problem = json(list).await;
    assert!(problem["detail"].as_str().expect("detail").contains("max_list_pages"), "{problem}");
    assert!(hostile.droplet_lists() <= 5, "{} pages were asked for", hostile.droplet_lists());
}

#[tokio::test]
async fn a_total_beyond_reason_is_not_believed() {
    let (app, hostile) = behind_hostile(Behaviour::HugeTotal, "").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 502);
    let problem = json(list).await;
    assert_eq!(problem["code"], "provider_bad_response");
    assert!(problem["detail"].as_str().expect("detail").contains("1000000000000"), "{problem}");
    assert_eq!(hostile.droplet_lists(), 1, "only the first page was read");
}

/// Nephele behind a fake that is honest until the background's first load is done, then
/// serves `behaviour`: what follows is the caller's own work, not the background's.
async fn turning_hostile(behaviour: Behaviour, provider: &str) -> (TestApp, HostileUpstream) {
    let (app, hostile) = behind_hostile(Behaviour::Honest, provider).await;
    for _ in 0..100 {
        if hostile.droplet_lists() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    hostile.set(behaviour);
    (app, hostile)
}

#[tokio::test]
async fn the_call_deadline_ends_a_list_that_keeps_going() {
    let behaviour = Behaviour::EndlessPages { fresh: true, delay: Duration::from_millis(50) };
    let (app, hostile) = turning_hostile(behaviour, "call_deadline_secs: 1").await;

    let started = Instant::now();
    let list = app.get(&format!("{LIST}?fresh=true")).await;
    assert_eq!(list.status(), 503, "a call cut off by its deadline is the provider being unavailable");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let pages = hostile.droplet_lists();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(hostile.droplet_lists() <= pages + 1, "reading went on past the deadline");
}

/// A fetch is not the caller's: it goes on when they leave (later readers get what it brings),
/// but callers that leave one after another never start a second one beside it, and it ends at
/// the call deadline.
#[tokio::test]
async fn callers_that_leave_share_one_fetch_that_ends_at_its_deadline() {
    let behaviour = Behaviour::EndlessPages { fresh: true, delay: Duration::from_millis(50) };
    let (app, hostile) = turning_hostile(behaviour, "call_deadline_secs: 2").await;

    let started = Instant::now();
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
    for _ in 0..5 {
        assert!(
            impatient.get(app.url(&format!("{LIST}?fresh=true"))).send().await.is_err(),
            "the caller gives up"
        );
    }
    // Five callers, 1.5 s: one fetch reads a page every 50 ms or so; five would read five times
    // as many.
    let pages = hostile.droplet_lists();
    let one_fetch = usize::try_from(started.elapsed().as_millis() / 50).expect("small") + 5;
    assert!(pages <= one_fetch, "{pages} pages in {:?}: more than one fetch", started.elapsed());
    // And it ends at its deadline, 2 s after it began.
    tokio::time::sleep(Duration::from_millis(2500).saturating_sub(started.elapsed())).await;
    let at_deadline = hostile.droplet_lists();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = hostile.droplet_lists();
    assert!(later <= at_deadline + 1, "{at_deadline} pages at the deadline, {later} a second later");
}

fn assert_no_token(what: &str, body: &Value) {
    let text = body.to_string();
    assert!(!text.contains(DO_TOKEN), "{what} carries the token: {text}");
    assert!(!text.contains(&DO_TOKEN[..20]), "{what} carries part of the token: {text}");
}

#[tokio::test]
async fn an_upstream_error_quoting_the_token_reaches_no_caller() {
    let (app, _hostile) = behind_hostile(Behaviour::EchoTokenUnauthorized, "").await;

    let list = app.get(LIST).await;
    assert_eq!(list.status(), 502);
    let problem = json(list).await;
    assert_no_token("the 502", &problem);
    assert_eq!(problem["code"], "provider_unauthorized");
    assert_eq!(problem["upstream"]["code"], "unauthorized", "DigitalOcean's id passes through");
    assert_eq!(problem["upstream"]["request_id"], "hostile-req-1", "and its request id");

    let fleet = json(app.get("/api/v1/instances").await).await;
    assert_eq!(
        fleet["errors"][0]["code"], "provider_unauthorized",
        "the same code as the list alone: {fleet}"
    );
    assert_no_token("the fleet's errors", &fleet);
    assert_no_token("readiness", &json(app.get("/readyz").await).await);
    assert_no_token("the provider list", &json(app.get("/api/v1/providers").await).await);
    let costs = json(app.get("/api/v1/costs").await).await;
    assert_no_token("the costs' errors", &costs);
    let create = app
        .post(
            LIST,
            serde_json::json!({"name": "x", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"}),
        )
        .await;
    assert_no_token("a create", &json(create).await);
}

/// The `kind` actions the simulator holds for one droplet.
async fn actions_of(app: &TestApp, droplet: u64, kind: &str) -> usize {
    let url = format!("{}/v2/droplets/{droplet}/actions?per_page=200", app.sim.base_url());
    let body: Value =
        app.http.get(url).bearer_auth(DO_TOKEN).send().await.expect("sim").json().await.expect("json");
    body["actions"].as_array().expect("actions").iter().filter(|a| a["type"] == kind).count()
}

#[tokio::test]
async fn a_power_action_whose_answer_is_lost_happens_once() {
    let extra = Extra { rest: "auth:\n  required: false\n", ..Extra::default() };
    let app = spawn_app_extra(6, Duration::from_millis(100), extra).await;
    let droplets: Vec<u64> = json(app.get(LIST).await).await["instances"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["id"].as_str().expect("id").parse().expect("number"))
        .collect();
    assert_eq!(droplets.len(), 6);

    // Half of all answers are lost after DigitalOcean has acted (dropped connections).
    app.sim.set_faults(dosim::Faults { drop_rate: 0.5, ..dosim::Faults::default() });
    let mut operations = Vec::new();
    for droplet in &droplets {
        let path = format!("{LIST}/{droplet}/actions");
        let answer = app.post(&path, serde_json::json!({"type": "power_cycle"})).await;
        let status = answer.status();
        let body = json(answer).await;
        assert!(status == 202 || status == 502, "{status} {body}");
        if let Some(id) = body["operation_id"].as_str() {
            operations.push(id.to_owned());
        }
    }
    assert_eq!(operations.len(), droplets.len(), "every request got its operation");
    for id in &operations {
        let done = app.wait_for_operation(id, None).await;
        assert_eq!(done["state"], "succeeded", "{done}");
    }
    app.sim.set_faults(dosim::Faults::default());
    for droplet in &droplets {
        assert_eq!(
            actions_of(&app, *droplet, "power_cycle").await,
            1,
            "droplet {droplet}: one request, one action"
        );
    }
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("nephele_provider_ambiguous_actions_total"),
        "lost answers are counted: {metrics}"
    );
}
