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

#[tokio::test]
async fn the_page_has_the_accounts_resources_waste_and_paging_controls() {
    let app = spawn_app().await;
    let html = app.get("/").await.text().await.expect("html");
    // The Accounts panel is for admins: the page hides it until the script knows the key's role.
    assert!(
        html.contains(r#"<section id="accounts-section" aria-labelledby="accounts-title" hidden>"#),
        "{html}"
    );
    // The credential is typed into a password field, never a text field.
    assert!(
        html.contains(r#"<input id="account-credential" type="password" required autocomplete="off""#),
        "{html}"
    );
    for id in [
        "filter-provider",
        "fleet-page-size",
        "account-type",
        "account-name",
        "account-credential",
        "resource-kind",
        "resource-account",
        "resource-create-account",
        "resource-page-size",
        "waste-account",
        "waste-kind",
    ] {
        assert!(html.contains(&format!(r#"<label for="{id}">"#)), "{id} has no label");
    }
    for id in [
        "fleet-next",
        "fleet-prev",
        "resource-next",
        "resource-prev",
        "waste-total",
        "detail-volumes",
        "detail-ips",
        "detail-firewalls",
    ] {
        assert!(html.contains(&format!(r#"id="{id}""#)), "{id} missing");
    }
    assert!(html.contains(r#"<dialog id="ask""#), "the dialog that asks for an action's values");
    let script = app.get("/dashboard.js").await.text().await.expect("js");
    // Lists are read a page at a time, not drawn at most 500 rows.
    assert!(script.contains("cursor") && script.contains("limit") && !script.contains("MAX_ROWS"));
}
