//! An EC2 endpoint that echoes the request's credentials in its error (the session token from
//! `x-amz-security-token`, the whole `Authorization` header) gets none of them into a caller's
//! answer or the server's log.

use std::time::Duration;

use super::moto::{Moto, aws_plugin};
use super::tamper::{Tamper, Tampering};
use super::{AWS, config, get};
use crate::support::{Server, simulator};

const SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDnephelesessiontoken+AbCdEf==";
const ACCESS_KEY_ID: &str = "ASIAEXAMPLEKEYID0001";
const SECRET: &str = "moto-secret-never-logged";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_session_token_and_signature_reach_neither_the_answer_nor_the_log() {
    let moto = Moto::start();
    let proxy = Tampering::start(&moto.url, Tamper::Honest).await;
    let sim = simulator(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let section = format!(
        "  aws:\n    plugin: {}\n    region: us-east-1\n    access_key_id: {ACCESS_KEY_ID}\n    secret_access_key: {SECRET}\n    session_token: \"{SESSION_TOKEN}\"\n    endpoint_url: {}\n",
        aws_plugin().display(),
        proxy.url
    );
    let config = config(dir.path(), &section, &sim.base_url());
    let server = Server::start(&config, &dir.path().join("server.log"));
    let http = reqwest::Client::new();

    proxy.set(Tamper::EchoCredentials);
    let mut answers = Vec::new();
    for path in [format!("{AWS}/instances?fresh=true"), "/api/v1/instances?fresh=true".to_owned()] {
        let (status, body) = get(&http, &format!("{}{path}", server.url)).await;
        answers.push(format!("{status} {body}"));
    }
    let (status, body) = get(&http, &format!("{}{AWS}/instances?fresh=true", server.url)).await;
    assert_eq!(status, 422, "EC2's InvalidParameterValue is passed on with its message: {body}");
    answers.push(body.to_string());
    server.stop();
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("log");

    let echoed: Vec<_> = proxy.seen().into_iter().filter(|s| !s.authorization.is_empty()).collect();
    assert!(!echoed.is_empty(), "the proxy saw signed requests");
    let mut secrets = vec![SESSION_TOKEN.to_owned(), ACCESS_KEY_ID.to_owned(), SECRET.to_owned()];
    for seen in echoed {
        let signature = seen.authorization.rsplit_once("Signature=").map(|(_, s)| s.to_owned());
        secrets.extend(signature);
        secrets.push(seen.authorization);
    }
    for secret in &secrets {
        for answer in &answers {
            assert!(!answer.contains(secret.as_str()), "an answer holds {secret}: {answer}");
        }
        assert!(!log.contains(secret.as_str()), "the log holds {secret}");
    }
    assert!(!log.contains("wEaCXVzLWVhc3QtMSJHMEUCIQD"), "nor a piece of the token");
    assert!(answers.iter().all(|a| a.contains("[redacted]")), "the echo did arrive, scrubbed: {answers:?}");
}
