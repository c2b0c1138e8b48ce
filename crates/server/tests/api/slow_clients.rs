//! Callers that send slowly or too much: a body that trickles is cut off, connections stuck in
//! a body do not lock others out at the connection limit, and a head hyper will not read (a URI
//! too long, headers too large, a malformed head) is answered with a problem document.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Extra, TestApp, spawn_app_extra};

const ESTIMATE: &str = "/api/v1/providers/digitalocean/cost-estimate";

async fn app(server: &str) -> TestApp {
    let extra = Extra { server, rest: "auth:\n  required: false\n", ..Extra::default() };
    spawn_app_extra(0, Duration::from_millis(100), extra).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connect")
}

/// A request head for a JSON body of `length` bytes, and the body's first byte.
fn slow_body_start(length: usize) -> String {
    format!(
        "POST {ESTIMATE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    )
}

/// Everything the server sends until it closes the connection (or 20 s pass): status and body.
async fn answer(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received)).await;
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.as_bytes().to_vec())
}

#[tokio::test]
async fn a_body_that_trickles_is_cut_off_at_its_deadline() {
    let app = app("body_read_timeout_secs: 1").await;
    let mut stream = connect(&app).await;
    stream.write_all(slow_body_start(1000).as_bytes()).await.expect("head");
    let started = Instant::now();
    let trickle = async {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    // One byte every 300 ms earns nothing at 1024 bytes a second: it is cut off after ~1 s.
    let _ = tokio::time::timeout(Duration::from_secs(3), trickle).await;
    let (status, head, body) = answer(&mut stream).await;
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(status, 400, "{head}");
    assert!(head.contains("content-type: application/problem+json"), "{head}");
    let problem: Value = serde_json::from_slice(&body).expect("a problem document");
    assert_eq!(problem["code"], "unreadable_body");
    assert!(problem["detail"].as_str().expect("detail").contains("body_read_timeout_secs"), "{problem}");
}

#[tokio::test]
async fn bodies_stuck_at_the_connection_limit_do_not_lock_out_healthz() {
    // The deadline is far off: only the connection limit's choice of whom to close is tested.
    let app = app("max_connections: 16\nbody_read_timeout_secs: 600").await;
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut stream = connect(&app).await;
        stream.write_all(slow_body_start(1000).as_bytes()).await.expect("head");
        held.push(stream);
    }
    // Let every one of them reach the handler that reads its body.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let started = Instant::now();
    loop {
        match client.get(app.url("/healthz")).send().await {
            Ok(response) if response.status() == 200 => break,
            outcome => assert!(
                started.elapsed() < Duration::from_secs(35),
                "/healthz is still locked out after {:?}: {outcome:?}",
                started.elapsed()
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("/healthz served {:?} after 16 stuck bodies", started.elapsed());
    drop(held);
}

/// What the server answers to `request` (sent whole), as status and problem document.
async fn problem_for(app: &TestApp, request: &[u8]) -> (u16, String, Value) {
    let mut stream = connect(app).await;
    // The server may answer (and close) before it has read everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    let (status, head, body) = answer(&mut stream).await;
    let problem = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, head, problem)
}

#[tokio::test]
async fn heads_hyper_will_not_read_are_answered_with_problem_documents() {
    let app = app("").await;
    let long_uri = format!("GET /api/v1/{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n",
        (0..200).map(|i| format!("x-filler-{i}: {i}\r\n")).collect::<String>()
    );
    let huge_header =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: {}\r\n\r\n", "b".repeat(600_000));
    for (request, status, code) in [
        (long_uri, 414, "uri_too_long"),
        (many_headers, 431, "headers_too_large"),
        (huge_header, 431, "headers_too_large"),
        ("GET /healthz HTTP/1.1\r\nnot a header\r\n\r\n".to_owned(), 400, "bad_request"),
    ] {
        let (answered, head, problem) = problem_for(&app, request.as_bytes()).await;
        assert_eq!(answered, status, "{head}");
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status);
        let id = problem["request_id"].as_str().expect("a request id");
        assert!(head.contains(&format!("x-request-id: {id}")), "{head}");
    }
    // The server goes on serving, on a connection of its own.
    assert_eq!(app.get("/healthz").await.status(), 200);
}
