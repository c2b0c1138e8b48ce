//! `ApiError`: every failure the API reports, as an RFC 9457 problem document.
//!
//! Use it for anything a handler returns as an error. The `From` impls below decide, in one
//! place, which status each kind of failure gets: the caller's mistakes are 4xx with the field at
//! fault; a provider refusing or failing is mapped by kind; nothing a caller sends becomes a 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nephele_core::ProviderError;
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
#[derive(Debug)]
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
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self { status, code, title, detail: detail.into(), errors: Vec::new(), retry_after: None }
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

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        // The provider's own words go to the log with its request id; the caller gets them too,
        // since they are about the caller's request (no credentials are ever in them).
        tracing::warn!(code = error.code(), detail = ?error.detail(), "provider error: {error}");
        match error {
            ProviderError::NotFound { message, .. } => Self::not_found(message),
            ProviderError::InvalidInput { field, message, .. } => {
                Self::invalid(vec![FieldError::new(field.unwrap_or_else(|| "body".to_owned()), message)])
            }
            ProviderError::Conflict { message, .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", "Conflict with the resource's state", message)
            }
            ProviderError::RateLimited { retry_after, .. } => Self {
                retry_after: Some(retry_after.after.as_secs().max(1)),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "provider_rate_limited",
                    "Provider rate limit reached",
                    format!(
                        "the provider's rate limit is exhausted; retry after {} seconds",
                        retry_after.after.as_secs().max(1)
                    ),
                )
            },
            ProviderError::Unauthorized { message, .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "provider_unauthorized",
                "Provider refused Nephele's credentials",
                format!("the provider refused the configured credentials: {message}"),
            ),
            ProviderError::Unavailable { message, .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "provider_unavailable", "Provider unavailable", message)
            }
        }
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
