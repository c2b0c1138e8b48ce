//! One attempt against endpoints that answer every way a receiver can: what is sent, how the
//! answer is classified, and that the answer is read within 4 KiB and the time limit.

use std::time::Duration;

use nephele_webhooks::{
    Failure, LookupError, Outcome, RESPONSE_EXCERPT_LIMIT, Sender, SenderConfig, SigningKeys, SigningSecret,
    TargetPolicy, USER_AGENT, Url, sign,
};

use crate::endpoint::{Answer, Endpoint, eventually};
use crate::{DEADLINE, TableResolver, fresh_keys, message, sender, sender_with};

#[tokio::test]
async fn a_delivery_posts_the_exact_body_bytes_with_the_standard_webhooks_headers() {
    let endpoint = Endpoint::start(Answer::status(204)).await;
    let keys = SigningKeys::new(SigningSecret::generate().expect("random"))
        .and_previous(SigningSecret::generate().expect("random"));
    // Spacing, key order and escapes a re-serialisation would change.
    let body = "{ \"type\":\"nephele.instance.created\",  \"data\":{\"name\":\"web-é\",\"n\":1.0e2,\"s\":\"\\u00e9\"}}\n";
    let message = message("evt_01JD8X4T9W", body);

    let attempt =
        sender(true).attempt_at(&endpoint.url("/hooks/in?x=1"), &message, &keys, 1_700_000_000).await;

    assert_eq!(attempt.outcome, Outcome::Delivered);
    assert_eq!(attempt.status, Some(204));
    assert_eq!(attempt.reason(), None);
    assert_eq!(attempt.timestamp, 1_700_000_000);
    let requests = endpoint.requests();
    let [received] = requests.as_slice() else { panic!("{} requests", requests.len()) };
    assert_eq!(received.method, "POST");
    assert_eq!(received.target, "/hooks/in?x=1");
    assert_eq!(received.body, body.as_bytes());
    assert_eq!(received.header("content-type"), Some("application/json"));
    assert_eq!(received.header("webhook-id"), Some("evt_01JD8X4T9W"));
    assert_eq!(received.header("webhook-timestamp"), Some("1700000000"));
    let expected_signature = sign(&message.id, 1_700_000_000, body.as_bytes(), &keys);
    assert_eq!(received.header("webhook-signature"), Some(expected_signature.as_str()));
    assert_eq!(received.header("webhook-signature").map(|s| s.split(' ').count()), Some(2));
    assert_eq!(received.header("user-agent"), Some(USER_AGENT));
    assert_eq!(USER_AGENT, concat!("nephele-webhooks/", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn answers_are_classified_by_status_and_retry_after() {
    let max_retry_after = Duration::from_secs(3600);
    let sender = sender_with(true, |config| config.max_retry_after = max_retry_after);
    let in_two_minutes = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
    let cases: Vec<(Answer, Outcome)> = vec![
        (Answer::status(200), Outcome::Delivered),
        (Answer::status(202), Outcome::Delivered),
        (Answer::status(410), Outcome::Gone),
        (
            Answer::status(429).header("retry-after", "120"),
            Outcome::RetryAfter { delay: Duration::from_secs(120), asked: Duration::from_secs(120) },
        ),
        (
            Answer::status(503).header("retry-after", "86400"),
            Outcome::RetryAfter { delay: max_retry_after, asked: Duration::from_secs(86_400) },
        ),
        (
            Answer::status(429).header("retry-after", "0"),
            Outcome::RetryAfter { delay: Duration::from_secs(1), asked: Duration::ZERO },
        ),
        (Answer::status(503), Outcome::Failed(Failure::RetryWithoutRetryAfter { status: 503 })),
        (
            Answer::status(429).header("retry-after", "soon"),
            Outcome::Failed(Failure::RetryWithoutRetryAfter { status: 429 }),
        ),
        (Answer::status(500).header("retry-after", "5"), Outcome::Failed(Failure::Status { status: 500 })),
        (Answer::status(404), Outcome::Failed(Failure::Status { status: 404 })),
        (Answer::status(301), Outcome::Failed(Failure::Redirect { status: 301, location: None })),
    ];
    for (answer, expected) in cases {
        let endpoint = Endpoint::start(answer.clone()).await;
        let attempt = sender.attempt(&endpoint.url("/"), &message("msg_1", "{}"), &fresh_keys()).await;
        assert_eq!(attempt.outcome, expected, "{answer:?}");
        assert!(attempt.status.is_some());
    }

    // An HTTP-date: the wait until then (the clock moved on a little since it was written).
    let endpoint = Endpoint::start(Answer::status(503).header("retry-after", &in_two_minutes)).await;
    let attempt = sender.attempt(&endpoint.url("/"), &message("msg_1", "{}"), &fresh_keys()).await;
    let Outcome::RetryAfter { delay, .. } = attempt.outcome else { panic!("{:?}", attempt.outcome) };
    assert!(delay <= Duration::from_secs(120) && delay >= Duration::from_secs(100), "{delay:?}");
    assert_eq!(
        attempt.reason().unwrap_or_default(),
        format!(
            "the endpoint answered 503 with Retry-After {} s; next attempt in {} s",
            delay.as_secs(),
            delay.as_secs()
        )
    );
}

#[tokio::test]
async fn an_error_answer_is_kept_escaped_with_its_status() {
    let endpoint =
        Endpoint::start(Answer::status(500).body("\x1b[31mboom\x1b[0m\r\nstack: at line 3\u{202E}")).await;
    let attempt = sender(true).attempt(&endpoint.url("/"), &message("msg_1", "{}"), &fresh_keys()).await;
    assert_eq!(attempt.outcome, Outcome::Failed(Failure::Status { status: 500 }));
    assert_eq!(attempt.reason().as_deref(), Some("the endpoint answered 500"));
    assert_eq!(attempt.response.text, "\\u{001b}[31mboom\\u{001b}[0m\\r\\nstack: at line 3\\u{202e}");
    assert!(!attempt.response.truncated);
}

#[tokio::test]
async fn an_endless_answer_is_read_to_4_kib_and_its_connection_closed() {
    let endpoint = Endpoint::start(Answer::Endless).await;
    let timeout = Duration::from_secs(60);
    let sender = sender_with(true, |config| config.timeout = timeout);

    let attempt = sender.attempt(&endpoint.url("/"), &message("msg_1", "{}"), &fresh_keys()).await;

    assert_eq!(attempt.outcome, Outcome::Delivered);
    assert_eq!(attempt.response.bytes_read, RESPONSE_EXCERPT_LIMIT);
    assert_eq!(attempt.response.text, "x".repeat(RESPONSE_EXCERPT_LIMIT));
    assert!(attempt.response.truncated);
    assert!(attempt.duration < timeout, "the attempt ran into its timeout instead of stopping at 4 KiB");
    // The sender hung up instead of draining the rest: the endpoint's writes start failing.
    eventually("the endless endpoint sees its connection closed", DEADLINE, || {
        endpoint.closed_by_peer() == 1
    })
    .await;
}

#[tokio::test]
async fn a_large_answer_is_cut_at_4_kib() {
    let endpoint = Endpoint::start(Answer::status(400).body(vec![b'e'; 1 << 20])).await;
    let attempt = sender(true).attempt(&endpoint.url("/"), &message("msg_1", "{}"), &fresh_keys()).await;
    assert_eq!(attempt.outcome, Outcome::Failed(Failure::Status { status: 400 }));
    assert_eq!(attempt.response.bytes_read, RESPONSE_EXCERPT_LIMIT);
    assert!(attempt.response.truncated);

    let exact = Endpoint::start(Answer::status(200).body(vec![b'k'; RESPONSE_EXCERPT_LIMIT])).await;
    let attempt = sender(true).attempt(&exact.url("/"), &message("msg_1", "{}"), &fresh_keys()).await;
    assert_eq!(attempt.response.bytes_read, RESPONSE_EXCERPT_LIMIT);
    assert!(!attempt.response.truncated, "a body of exactly 4 KiB, declared so, is whole");
}

#[tokio::test]
async fn a_silent_endpoint_fails_at_the_configured_timeout() {
    let endpoint = Endpoint::start(Answer::Silent).await;
    let timeout = Duration::from_secs(1);
    let sender = sender_with(true, |config| config.timeout = timeout);

    let attempt = sender.attempt(&endpoint.url("/"), &message("msg_1", "{}"), &fresh_keys()).await;

    assert_eq!(attempt.outcome, Outcome::Failed(Failure::TimedOut { after: timeout }));
    assert_eq!(attempt.reason().as_deref(), Some("no complete answer within 1000 ms"));
    assert_eq!(attempt.status, None);
    assert!(attempt.duration >= timeout, "{:?}", attempt.duration);
    assert_eq!(endpoint.requests().len(), 1, "the request was sent before the wait");
}

#[tokio::test]
async fn a_closed_port_is_a_connection_failure_whose_reason_leaves_out_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let url = Url::parse(&format!("http://127.0.0.1:{port}/hook?token=s3cr3t-receiver-token")).expect("URL");

    let attempt = sender(true).attempt(&url, &message("msg_1", "{}"), &fresh_keys()).await;

    let Outcome::Failed(Failure::Connect(detail)) = &attempt.outcome else { panic!("{:?}", attempt.outcome) };
    assert!(detail.to_lowercase().contains("refused"), "{detail}");
    let reason = attempt.reason().unwrap_or_default();
    assert!(!reason.contains("s3cr3t") && !reason.contains("/hook"), "{reason}");
}

#[tokio::test]
async fn https_to_a_server_that_speaks_plain_http_is_a_tls_failure() {
    let endpoint =
        Endpoint::start(Answer::Raw(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n".to_vec())).await;
    let url = Url::parse(&format!("https://127.0.0.1:{}/hook", endpoint.addr.port())).expect("URL");
    let https_only = sender_with(true, |config| config.policy.allow_http = false);

    let attempt = https_only.attempt(&url, &message("msg_1", "{}"), &fresh_keys()).await;

    assert!(matches!(attempt.outcome, Outcome::Failed(Failure::Tls(_))), "{:?}", attempt.outcome);
    assert!(attempt.reason().unwrap_or_default().starts_with("TLS failed: "));
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_failure_to_retry_not_a_refusal() {
    let resolver = TableResolver::answering("known.example.test", vec![vec![]]);
    let config = SenderConfig {
        policy: TargetPolicy { allow_http: true, allow_private_networks: false },
        ..Default::default()
    };
    let sender = Sender::with_resolver(config, resolver).expect("sender");

    let unknown = Url::parse("http://unknown.example.test/hook").expect("URL");
    let attempt = sender.attempt(&unknown, &message("msg_1", "{}"), &fresh_keys()).await;
    assert!(
        matches!(&attempt.outcome, Outcome::Failed(Failure::Lookup(LookupError::Failed { host, .. })) if host == "unknown.example.test"),
        "{:?}",
        attempt.outcome
    );

    let empty = Url::parse("http://known.example.test/hook").expect("URL");
    let attempt = sender.attempt(&empty, &message("msg_1", "{}"), &fresh_keys()).await;
    assert_eq!(
        attempt.outcome,
        Outcome::Failed(Failure::Lookup(LookupError::NoAddresses { host: "known.example.test".into() }))
    );
}
