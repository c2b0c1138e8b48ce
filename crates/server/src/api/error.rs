//! `ApiError`: every failure the API reports, as an RFC 9457 problem document.
//!
//! Use it for anything a handler returns as an error. The `From` impls below decide, in one
//! place, which status each kind of failure gets: the caller's mistakes are 4xx with the field at
//! fault; a provider refusing or failing is mapped by kind; nothing a caller sends becomes a 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nephele_core::ProviderError;
use nephele_core::error::UpstreamDetail;
use serde::Serialize;

/// One field's problem.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    /// Dotted path to the field (`name`, `tags[2]`).
    pub field: String,
    pub message: String,
    /// Close matches for an unknown value, best first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), suggestions: Vec::new() }
    }

    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.suggestions = suggestions;
        self
    }
}

/// A failed request.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine-readable code (`invalid_input`, `unknown_provider`).
    pub code: &'static str,
    pub title: &'static str,
    /// What went wrong, for the caller.
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for 503s caused by the provider's rate limit.
    pub retry_after: Option<u64>,
    /// The provider's own error code and request id, when a provider failure caused this.
    pub upstream: Option<Box<UpstreamDetail>>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<&'a UpstreamDetail>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            upstream: None,
        }
    }

    /// 422: the request is well-formed but these fields are wrong.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail =
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "Invalid input", detail)
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    pub fn unknown_provider(name: &str, configured: &[String]) -> Self {
        let list = if configured.is_empty() { "none".to_owned() } else { configured.join(", ") };
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            "Unknown provider",
            format!("no provider named {name:?} is configured; configured: {list}"),
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found", detail)
    }
}

/// What a caller is told of a provider's failure. A provider's words are untrusted text: they are
/// passed on only where they are about the caller's own request (not found, invalid input, a
/// conflict), already cleaned and bounded by the provider; a refusal of Nephele's credentials or
/// an outage is described in Nephele's words, with the provider's code and request id beside it.
pub fn caller_message(error: &ProviderError) -> String {
    match error {
        ProviderError::NotFound { message, .. }
        | ProviderError::InvalidInput { message, .. }
        | ProviderError::Conflict { message, .. } => message.clone(),
        ProviderError::RateLimited { retry_after, .. } => format!(
            "the provider's rate limit is exhausted; retry after {} seconds",
            retry_after.after.as_secs().max(1)
        ),
        ProviderError::Unauthorized { .. } => {
            "the provider refused Nephele's configured credentials; an operator must check them".to_owned()
        }
        ProviderError::Unavailable { .. } => {
            "the provider could not be reached or failed; nothing was lost, retry later".to_owned()
        }
        ProviderError::InvalidResponse { message, .. } => message.clone(),
    }
}

/// A provider's failure as listed in a fleet answer's `errors`.
pub fn provider_failure(provider: &str, error: &ProviderError) -> serde_json::Value {
    tracing::warn!(provider, code = error.code(), detail = ?error.detail(), "provider error: {error}");
    serde_json::json!({
        "provider": provider,
        "code": error.code(),
        "message": caller_message(error),
        "upstream": error.detail(),
    })
}

/// Seconds a caller is told to wait after `provider_unavailable` (a plugin restarts within them).
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        // The whole error, in the provider's words, goes to the log; the caller gets
        // `caller_message` and the provider's code and request id.
        tracing::warn!(code = error.code(), detail = ?error.detail(), "provider error: {error}");
        let message = caller_message(&error);
        let upstream = Some(error.detail())
            .filter(|d| d.code.is_some() || d.request_id.is_some())
            .map(|d| Box::new(d.clone()));
        let api = match error {
            ProviderError::NotFound { .. } => Self::not_found(message),
            ProviderError::InvalidInput { field, .. } => {
                Self::invalid(vec![FieldError::new(field.unwrap_or_else(|| "body".to_owned()), message)])
            }
            ProviderError::Conflict { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", "Conflict with the resource's state", message)
            }
            ProviderError::RateLimited { retry_after, .. } => Self {
                retry_after: Some(retry_after.after.as_secs().max(1)),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "provider_rate_limited",
                    "Provider rate limit reached",
                    message,
                )
            },
            ProviderError::Unauthorized { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "provider_unauthorized",
                "Provider refused Nephele's credentials",
                message,
            ),
            // 503, not 502: the provider (or its plugin) is down for now, and the caller may try
            // again shortly.
            ProviderError::Unavailable { .. } => Self {
                retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "provider_unavailable",
                    "Provider unavailable",
                    message,
                )
            },
            ProviderError::InvalidResponse { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "provider_bad_response",
                "Provider sent an unusable answer",
                message,
            ),
        };
        Self { upstream, ..api }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::error!(error = %error, "store error");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "Store unavailable",
            "Nephele cannot reach its database right now; nothing was changed, retry later",
        )
    }
}

impl ApiError {
    /// The RFC 9457 problem document, as JSON.
    pub fn problem_json(&self) -> serde_json::Value {
        let problem = Problem {
            kind: format!("https://nephele.dev/problems/{}", self.code.replace('_', "-")),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            errors: &self.errors,
            upstream: self.upstream.as_deref(),
        };
        serde_json::to_value(&problem).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem_json()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Makes every error answer a problem document: a rejection from an extractor we do not own
/// (a path that is not UTF-8, say) arrives as `text/plain` and leaves as `application/problem+json`
/// with the same status and its text as the detail.
/// A problem document with the request's id in it (`request_id`), so a caller can quote it.
pub async fn with_request_id(response: Response, id: &str) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Problem documents are small; one that is not is passed on as it was.
    let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let mut document: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(document) => document,
        Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
    };
    if let Some(fields) = document.as_object_mut() {
        fields.insert("request_id".to_owned(), serde_json::Value::String(id.to_owned()));
    }
    let body = serde_json::to_vec(&document).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

pub async fn problems_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_owned();
    let (code, title) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "Bad request"),
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "Request body too large"),
        s if s.is_client_error() => ("bad_request", "Bad request"),
        _ => ("internal_error", "Internal error"),
    };
    let detail = if detail.is_empty() { title.to_owned() } else { detail };
    let mut problem = ApiError::new(status, code, title, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    *problem.extensions_mut() = parts.extensions;
    problem
}
