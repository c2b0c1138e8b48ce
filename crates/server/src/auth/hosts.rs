//! The Host check: refuses requests addressed to a name the server does not answer for (its
//! defence against DNS rebinding; which names are allowed is `nephele_engine::auth::hosts`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use nephele_engine::auth::hosts::AllowedHosts;

use crate::api::{ApiError, ErrorCode};

/// What the check needs, shared by every request: `None` when no check applies.
pub type HostCheck = Arc<Option<AllowedHosts>>;

/// The middleware: refuses a request addressed to a name that is not allowed.
pub async fn check(State(hosts): State<HostCheck>, request: Request, next: Next) -> Response {
    let Some(hosts) = hosts.as_ref() else { return next.run(request).await };
    // HTTP/2 (and an absolute-form request line) names the host in the URI; HTTP/1.1 in `Host`.
    let named = match request.uri().authority() {
        Some(authority) => Some(authority.as_str().to_owned()),
        None => {
            request.headers().get(header::HOST).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        }
    };
    match named {
        Some(host) if !hosts.allows(&host) => ApiError::new(
            ErrorCode::HostNotAllowed,
            "this server does not answer for that host name; an operator can add it to server.allowed_hosts",
        )
        .into_response(),
        _ => next.run(request).await,
    }
}
