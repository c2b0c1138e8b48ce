//! Pages for a browser and the names the server answers for (issue 18, finding 11): `/docs`
//! carries the dashboard's security headers, and a server running open refuses requests
//! addressed to a host name that is not its own (DNS rebinding).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Extra, TestApp, spawn_app, spawn_app_configured, spawn_app_extra};

#[tokio::test]
async fn the_api_reference_carries_the_dashboards_security_headers() {
    let app = spawn_app().await;
    for path in ["/docs/", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js", "/"] {
        let answer = app.get(path).await;
        assert_eq!(answer.status(), 200, "{path}");
        let headers = answer.headers();
        let policy = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy:?}");
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"), "{path}: {policy:?}");
        assert!(policy.contains("default-src 'none'"), "{path}: {policy:?}");
        assert_eq!(headers.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]), "{path}");
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
    }
}

/// The status of `GET path` sent with `Host: host` (raw, so nothing rewrites the header).
async fn status_for_host(app: &TestApp, path: &str, host: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn an_open_server_refuses_requests_for_a_foreign_host_name() {
    let app = spawn_app().await;
    let port = app.base.rsplit(':').next().expect("port").to_owned();
    for path in ["/healthz", "/api/v1/providers", "/", "/docs/"] {
        let (status, answer) = status_for_host(&app, path, &format!("rebound.example:{port}")).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(
            answer.contains("application/problem+json") && answer.contains("host_not_allowed"),
            "{answer}"
        );
    }
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "[::1]".to_owned()] {
        assert_eq!(status_for_host(&app, "/api/v1/providers", &host).await.0, 200, "{host}");
    }
}

#[tokio::test]
async fn with_keys_required_any_host_is_answered_unless_a_list_is_set() {
    let secured = spawn_app_configured(0, Duration::from_millis(100), "auth:\n  required: true\n").await;
    assert_eq!(status_for_host(&secured, "/healthz", "rebound.example").await.0, 200);
    assert_eq!(status_for_host(&secured, "/api/v1/providers", "rebound.example").await.0, 401);

    let extra = Extra {
        server: "allowed_hosts: [nephele.internal]",
        rest: "auth:\n  required: true\n",
        ..Extra::default()
    };
    let listed = spawn_app_extra(0, Duration::from_millis(100), extra).await;
    assert_eq!(status_for_host(&listed, "/healthz", "nephele.internal:8443").await.0, 200);
    assert_eq!(status_for_host(&listed, "/healthz", "rebound.example").await.0, 400);
    assert_eq!(
        status_for_host(&listed, "/healthz", "127.0.0.1").await.0,
        400,
        "the list replaces the defaults"
    );
}
