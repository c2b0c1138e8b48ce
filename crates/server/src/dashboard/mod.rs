//! The dashboard at `/`: one page, served by the same binary.
//!
//! The page is rendered here ([`page`]); its script (`assets/dashboard.js`, plain JavaScript,
//! no build step) reads and changes everything through the public API with the API key the user
//! enters once (kept in the tab's `sessionStorage`, sent as `Authorization: Bearer`, never put in
//! a URL). So the dashboard can do exactly what the key can, and nothing the API does not check.

mod page;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

/// Only this origin's own script and style; no inline code, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn with_headers(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn index() -> Response {
    with_headers(Html(page::render().into_string()).into_response(), "text/html; charset=utf-8")
}

async fn script() -> Response {
    with_headers(SCRIPT.into_response(), "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    with_headers(STYLE.into_response(), "text/css; charset=utf-8")
}

/// `/`, `/dashboard.js` and `/dashboard.css`: public, as they hold no data.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard.js", get(script))
        .route("/dashboard.css", get(style))
}
