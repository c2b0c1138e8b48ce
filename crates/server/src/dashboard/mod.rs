//! The dashboard at `/`: one page, served by the same binary.
//!
//! The page is rendered here ([`page`]); its script (`assets/dashboard.js`, plain JavaScript,
//! no build step) reads and changes everything through the public API with the API key the user
//! enters once (kept in the tab's `sessionStorage`, sent as `Authorization: Bearer`, never put in
//! a URL). So the dashboard can do exactly what the key can, and nothing the API does not check.
//! It follows `GET /api/v1/events/stream` to update itself (read with `fetch`, as `EventSource`
//! cannot send the key in a header; resumed with `Last-Event-ID` after a cut), and polls every
//! 10 s only while the stream is down.
//!
//! Every page Nephele serves to a browser (this one and the API reference at `/docs`) carries the
//! same security headers ([`secured`]): a content security policy that allows only this origin's
//! own files and no framing, `X-Frame-Options: DENY` for browsers that predate
//! `frame-ancestors`, `nosniff`, and no referrer.

mod page;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");
/// The spend panel (budgets, cost history, bills), using the API helper `dashboard.js` exposes.
const SPEND_SCRIPT: &str = include_str!("assets/spend.js");

/// Only this origin's own script and style; no inline code, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The API reference (Swagger UI): its own files only, as the dashboard; its icons are inline
/// images, and it reads the document and sends "try it out" requests to this origin. The one
/// inline style it needs (the colours of its logo, an SVG with a `<style>` inside, in Swagger
/// UI 5.32.6) is allowed by its hash, not by `'unsafe-inline'`; another version's logo would
/// only lose its colours.
pub const REFERENCE_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; connect-src 'self'; img-src 'self' data:; \
     font-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every page for a browser carries, with its content security policy.
fn security_headers(headers: &mut HeaderMap, policy: &'static str) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// `router` with the security headers (and `policy`) on every answer it gives.
pub fn secured<S: Clone + Send + Sync + 'static>(router: Router<S>, policy: &'static str) -> Router<S> {
    router.layer(axum::middleware::map_response(move |mut response: Response| async move {
        security_headers(response.headers_mut(), policy);
        response
    }))
}

fn with_headers(mut response: Response, content_type: &'static str) -> Response {
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn index() -> Response {
    with_headers(Html(page::render().into_string()).into_response(), "text/html; charset=utf-8")
}

async fn script() -> Response {
    with_headers(SCRIPT.into_response(), "text/javascript; charset=utf-8")
}

async fn spend_script() -> Response {
    with_headers(SPEND_SCRIPT.into_response(), "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    with_headers(STYLE.into_response(), "text/css; charset=utf-8")
}

/// `/`, `/dashboard.js`, `/spend.js` and `/dashboard.css`: public, as they hold no data.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let pages = Router::new()
        .route("/", get(index))
        .route("/dashboard.js", get(script))
        .route("/spend.js", get(spend_script))
        .route("/dashboard.css", get(style));
    secured(pages, CONTENT_SECURITY_POLICY)
}
