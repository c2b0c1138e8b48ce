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

/// Every problem code the API answers with: its status and title are fixed here, so a code
/// means one thing wherever it is used, and the OpenAPI document lists them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 422: fields of a well-formed request are wrong (`errors` names them).
    InvalidInput,
    /// 400: the body is not JSON.
    MalformedJson,
    /// 400: the body could not be read.
    UnreadableBody,
    /// 400: the request is malformed in another way.
    BadRequest,
    /// 400: a path parameter is malformed.
    BadPath,
    /// 413: the body is larger than `server.max_body_bytes`.
    BodyTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 401: no API key, or one that is unknown, revoked or expired.
    Unauthorized,
    /// 403: the key's role or provider scope does not cover this.
    Forbidden,
    /// 404.
    NotFound,
    /// 404: no provider of that name is configured.
    UnknownProvider,
    /// 405.
    MethodNotAllowed,
    /// 409: the resource's state does not allow this (the provider said so).
    Conflict,
    /// 409: the configuration file cannot be loaded.
    InvalidConfiguration,
    /// 409: a request with this Idempotency-Key is still running.
    IdempotencyKeyInUse,
    /// 422: this Idempotency-Key was used for a different request.
    IdempotencyKeyReused,
    /// 429: the API key holds too many live Idempotency-Keys.
    IdempotencyQuotaExceeded,
    /// 503: the provider's rate limit is spent (`Retry-After` says when to come back).
    ProviderRateLimited,
    /// 503: the provider (or its plugin) cannot be reached now.
    ProviderUnavailable,
    /// 502: the provider refused Nephele's credentials.
    ProviderUnauthorized,
    /// 502: the provider answered something unusable.
    ProviderBadResponse,
    /// 503: Nephele's database cannot be reached.
    StoreUnavailable,
    /// 500: a fault of Nephele's own.
    InternalError,
    /// 400: the request names a host this server does not answer for (`server.allowed_hosts`).
    HostNotAllowed,
}

impl ErrorCode {
    pub const fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidInput | IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            MalformedJson | UnreadableBody | BadRequest | BadPath | HostNotAllowed => StatusCode::BAD_REQUEST,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound | UnknownProvider => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict | InvalidConfiguration | IdempotencyKeyInUse => StatusCode::CONFLICT,
            IdempotencyQuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            ProviderRateLimited | ProviderUnavailable | StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProviderUnauthorized | ProviderBadResponse => StatusCode::BAD_GATEWAY,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub const fn title(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidInput => "Invalid input",
            MalformedJson => "Malformed JSON",
            UnreadableBody => "Unreadable body",
            BadRequest => "Bad request",
            BadPath => "Malformed path",
            BodyTooLarge => "Request body too large",
            UnsupportedMediaType => "Unsupported media type",
            Unauthorized => "Authentication required",
            Forbidden => "Forbidden",
            NotFound => "Not found",
            UnknownProvider => "Unknown provider",
            MethodNotAllowed => "Method not allowed",
            Conflict => "Conflict with the resource's state",
            InvalidConfiguration => "The configuration file cannot be used",
            IdempotencyKeyInUse => "Request in progress",
            IdempotencyKeyReused => "Idempotency key reused",
            IdempotencyQuotaExceeded => "Too many idempotency keys",
            ProviderRateLimited => "Provider rate limit reached",
            ProviderUnavailable => "Provider unavailable",
            ProviderUnauthorized => "Provider refused Nephele's credentials",
            ProviderBadResponse => "Provider sent an unusable answer",
            StoreUnavailable => "Store unavailable",
            InternalError => "Internal error",
            HostNotAllowed => "Host not allowed",
        }
    }

    /// The name used in problem documents and their `type` URI.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidInput => "invalid_input",
            MalformedJson => "malformed_json",
            UnreadableBody => "unreadable_body",
            BadRequest => "bad_request",
            BadPath => "bad_path",
            BodyTooLarge => "body_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not_found",
            UnknownProvider => "unknown_provider",
            MethodNotAllowed => "method_not_allowed",
            Conflict => "conflict",
            InvalidConfiguration => "invalid_configuration",
            IdempotencyKeyInUse => "idempotency_key_in_use",
            IdempotencyKeyReused => "idempotency_key_reused",
            IdempotencyQuotaExceeded => "idempotency_quota_exceeded",
            ProviderRateLimited => "provider_rate_limited",
            ProviderUnavailable => "provider_unavailable",
            ProviderUnauthorized => "provider_unauthorized",
            ProviderBadResponse => "provider_bad_response",
            StoreUnavailable => "store_unavailable",
            InternalError => "internal_error",
            HostNotAllowed => "host_not_allowed",
        }
    }
}

/// One field's problem.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
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
    pub code: ErrorCode,
    /// The title, when this use of the code has a more precise one than [`ErrorCode::title`].
    pub title: Option<&'static str>,
    /// What went wrong, for the caller.
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for 503s caused by the provider's rate limit.
    pub retry_after: Option<u64>,
    /// The provider's own error code and request id, when a provider failure caused this.
    pub upstream: Option<Box<UpstreamDetail>>,
}

/// An RFC 9457 problem document: what every error answer carries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://nephele.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    /// The fields at fault, for `invalid_input`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The provider's status, code and request id, when a provider failure caused this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamView>,
    /// The request's `x-request-id`, to quote when asking about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What a provider said of a failure: safe to show (no free text but its code).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpstreamView {
    /// HTTP status of the provider's answer, when there was one.
    pub status: Option<u16>,
    /// The provider's own error code.
    pub code: Option<String>,
    /// The provider's id for the request, to quote to its support.
    pub request_id: Option<String>,
}

impl From<&UpstreamDetail> for UpstreamView {
    fn from(detail: &UpstreamDetail) -> Self {
        Self { status: detail.status, code: detail.code.clone(), request_id: detail.request_id.clone() }
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            title: None,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            upstream: None,
        }
    }

    /// The same failure with a more precise title than its code's.
    pub fn titled(self, title: &'static str) -> Self {
        Self { title: Some(title), ..self }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// 422: the request is well-formed but these fields are wrong.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail =
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Self { errors, ..Self::new(ErrorCode::InvalidInput, detail) }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    pub fn unknown_provider(name: &str, configured: &[String]) -> Self {
        let list = if configured.is_empty() { "none".to_owned() } else { configured.join(", ") };
        Self::new(
            ErrorCode::UnknownProvider,
            format!("no provider named {name:?} is configured; configured: {list}"),
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
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

/// A provider that failed while a list was gathered: the list answers with the rest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderFailure {
    pub provider: String,
    /// The problem code the failure would have had on its own.
    pub code: String,
    pub message: String,
    /// The instance it concerns, when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamView>,
}

/// A provider's failure as listed in a fleet answer's `errors`.
pub fn provider_failure(provider: &str, error: &ProviderError) -> ProviderFailure {
    tracing::warn!(provider, code = error.code(), detail = ?error.detail(), "provider error: {error}");
    ProviderFailure {
        provider: provider.to_owned(),
        code: error.code().to_owned(),
        message: caller_message(error),
        instance: None,
        upstream: Some(UpstreamView::from(error.detail())),
    }
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
            ProviderError::Conflict { .. } => Self::new(ErrorCode::Conflict, message),
            ProviderError::RateLimited { retry_after, .. } => Self {
                retry_after: Some(retry_after.after.as_secs().max(1)),
                ..Self::new(ErrorCode::ProviderRateLimited, message)
            },
            ProviderError::Unauthorized { .. } => Self::new(ErrorCode::ProviderUnauthorized, message),
            // 503, not 502: the provider (or its plugin) is down for now, and the caller may try
            // again shortly.
            ProviderError::Unavailable { .. } => Self {
                retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECS),
                ..Self::new(ErrorCode::ProviderUnavailable, message)
            },
            ProviderError::InvalidResponse { .. } => Self::new(ErrorCode::ProviderBadResponse, message),
        };
        Self { upstream, ..api }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::error!(error = %error, "store error");
        Self::new(
            ErrorCode::StoreUnavailable,
            "Nephele cannot reach its database right now; nothing was changed, retry later",
        )
    }
}

impl ApiError {
    /// The RFC 9457 problem document.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://nephele.dev/problems/{}", self.code.as_str().replace('_', "-")),
            title: self.title.unwrap_or(self.code.title()).to_owned(),
            status: self.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            errors: self.errors.clone(),
            upstream: self.upstream.as_deref().map(UpstreamView::from),
            request_id: None,
        }
    }

    /// The problem document as JSON (kept by idempotent replies).
    pub fn problem_json(&self) -> serde_json::Value {
        serde_json::to_value(self.problem()).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
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
    // Problem documents, and JSON answers a route documents for its error statuses (`/readyz`'s
    // 503 names what is not ready), pass as they are.
    let is_json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/problem+json") || v.as_bytes().starts_with(b"application/json")
    });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_owned();
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        s if s.is_client_error() => ErrorCode::BadRequest,
        _ => ErrorCode::InternalError,
    };
    let detail = if detail.is_empty() { code.title().to_owned() } else { detail };
    let mut document = ApiError::new(code, detail).problem();
    // The status the inner answer chose stands, in the header and the document alike.
    document.status = status.as_u16();
    let mut problem =
        (status, [(header::CONTENT_TYPE, "application/problem+json")], axum::Json(document)).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    *problem.extensions_mut() = parts.extensions;
    problem
}
