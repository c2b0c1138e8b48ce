//! The dashboard's page and assets as HTTP answers (the browser tests drive the page itself).

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = page.text().await.expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains(r#"<script src="/dashboard.js" defer>"#), "scripts from this origin");
    assert!(html.contains(r#"<script src="/spend.js" defer>"#), "the spend panel's script");
    assert_eq!(html.matches("<script").count(), 2, "no inline script");
    for label in [r#"<label for="api-key">"#, r#"<label for="search">"#, r#"<label for="create-name">"#] {
        assert!(html.contains(label), "{label} missing");
    }
    // The page holds no data: it needs no key, and a key is never asked for in a URL.
    assert!(!html.contains("digitalocean"), "no provider data in the page itself");
    for asset in ["/dashboard.js", "/spend.js", "/dashboard.css"] {
        let answer = app.get(asset).await;
        assert_eq!(answer.status(), 200, "{asset}");
        assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
    }
    let script = app.get("/dashboard.js").await.text().await.expect("js");
    assert!(
        script.contains("sessionStorage") && script.contains("Authorization"),
        "the key goes in a header"
    );
}
