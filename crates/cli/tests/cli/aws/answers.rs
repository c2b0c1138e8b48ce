//! What the AWS plugin makes of answers that are not EC2's (through a tampering proxy in front of
//! moto): an HTML page with status 200 is an unusable answer (502) that fails readiness and makes
//! the exactly-once create look again rather than create again; a redirect is a 502
//! `provider_bad_response`; a plain `http://` endpoint off this machine is refused at start, naming the key.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::moto::Moto;
use super::tamper::{Tamper, Tampering, Which};
use super::{AWS, aws_section, config, get, post, settle};
use crate::support::{Server, simulator};

/// Polls `url` until its status is `wanted`, within `within`; the last answer.
async fn wait_for_status(http: &reqwest::Client, url: &str, wanted: u16, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(http, url).await;
        if status == wanted {
            return body;
        }
        assert!(started.elapsed() < within, "{url} never answered {wanted}; last {status}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_with_status_200_is_a_502_and_fails_readiness_until_ec2_answers_again() {
    let moto = Moto::start();
    let proxy = Tampering::start(&moto.url, Tamper::Honest).await;
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&proxy.url, &["us-east-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    let readyz = format!("{}/readyz", server.url);
    wait_for_status(&http, &readyz, 200, Duration::from_secs(30)).await;

    proxy.set(Tamper::Html(Which::Every));
    let (status, problem) = get(&http, &format!("{}{AWS}/instances?fresh=true", server.url)).await;
    assert_eq!(status, 502, "an HTML page is not an empty list: {problem}");
    assert_eq!(problem["code"], "provider_bad_response", "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("<html>")), "{problem}");
    let not_ready = wait_for_status(&http, &readyz, 503, Duration::from_secs(30)).await;
    assert!(not_ready.to_string().contains("aws"), "{not_ready}");

    proxy.set(Tamper::Honest);
    wait_for_status(&http, &readyz, 200, Duration::from_secs(30)).await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_502_provider_bad_response() {
    let moto = Moto::start();
    let proxy = Tampering::start(&moto.url, Tamper::Honest).await;
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&proxy.url, &["us-east-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();

    proxy.set(Tamper::Redirect);
    let (status, problem) = get(&http, &format!("{}{AWS}/instances?fresh=true", server.url)).await;
    assert_eq!((status, problem["code"].as_str()), (502, Some("provider_bad_response")), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("redirect")), "{problem}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_tag_lookup_meets_html_creates_nothing_until_ec2_answers_then_once() {
    let moto = Moto::start();
    let image = moto.ask("ami", "us-east-1", &[]);
    let image = image.as_str().expect("ami").to_owned();
    let proxy = Tampering::start(&moto.url, Tamper::Honest).await;
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &aws_section(&proxy.url, &["us-east-1"]), &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();
    // The catalogue is read while EC2 is honest (a create checks its type and region).
    let (status, _) = get(&http, &format!("{}{AWS}/instance-types", server.url)).await;
    assert_eq!(status, 200);

    proxy.set(Tamper::Html(Which::DescribeInstances));
    let body = json!({"name": "once", "type": "t3.micro", "region": "us-east-1", "image_id": image});
    let (status, accepted) = post(&http, &format!("{}{AWS}/instances", server.url), body, None).await;
    assert_eq!(status, 202, "{accepted}");
    let operation = accepted["operation_id"].as_str().expect("operation").to_owned();
    let tag_lookups = || {
        proxy
            .seen()
            .iter()
            .filter(|s| s.action() == "DescribeInstances" && s.body.contains(&operation))
            .count()
    };
    let started = Instant::now();
    while tag_lookups() < 2 && proxy.count("RunInstances") == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the operation never looked its tag up twice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(proxy.count("RunInstances"), 0, "garbage was read as 'nothing made yet'");
    let (_, pending) = get(&http, &format!("{}/api/v1/operations/{operation}", server.url)).await;
    assert_ne!(pending["state"], "succeeded", "{pending}");

    proxy.set(Tamper::Honest);
    let done = settle(&http, &server.url, &Value::String(operation)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(moto.named("us-east-1", "once").len(), 1, "made once");
    assert_eq!(proxy.count("RunInstances"), 1);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_endpoint_off_this_machine_is_refused_at_start_naming_the_key() {
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let section = aws_section("http://192.0.2.10:5000", &["us-east-1"]);
    let config = config(dir.path(), &section, &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();

    let (status, providers) = get(&http, &format!("{}/api/v1/providers", server.url)).await;
    assert_eq!(status, 200);
    let aws = providers["providers"].as_array().expect("list").iter().find(|p| p["name"] == "aws").cloned();
    let refusal = aws.as_ref().and_then(|p| p["error"].as_str()).unwrap_or_default().to_owned();
    assert!(
        refusal.contains("endpoint_url is plain http://") && refusal.contains("allow_insecure_http"),
        "{providers}"
    );
    let (status, _) = get(&http, &format!("{}{AWS}/instances", server.url)).await;
    assert_ne!(status, 200, "no call goes to the endpoint");
    server.stop();
}
