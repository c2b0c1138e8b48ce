//! `ApiError`: every failure the API reports, as an RFC 9457 problem document.
//!
//! Use it for anything a handler returns as an error. The `From` impls below decide, in one
//! place, which status each kind of failure gets: the caller's mistakes are 4xx with the field at
//! fault; a provider refusing or failing is mapped by kind; nothing a caller sends becomes a 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use nephele_core::ErrorCode;
use nephele_core::ProviderError;
use nephele_core::error::UpstreamDetail;
pub use nephele_engine::{Failure, FieldError};
use serde::Serialize;

/// Every code a caller can see is one of core's [`ErrorCode`]s (status, title and meaning are
/// fixed there). This type stands for it in the OpenAPI document: a string enum of every code,
/// with each one's status and meaning in the description.
pub struct ErrorCodeSchema;

impl utoipa::PartialSchema for ErrorCodeSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let table: String = ErrorCode::ALL
            .iter()
            .map(|code| format!("\n- `{}` ({}): {}", code.as_str(), code.status(), code.meaning()))
            .collect();
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
            .description(Some(format!(
                "Every failure Nephele reports has one of these codes, wherever it is shown (problem documents, operation errors, fleet errors):{table}"
            )))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCodeSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ErrorCode")
    }
}

/// The HTTP status of a code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// One field's problem.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorView {
    /// Dotted path to the field (`name`, `tags[2]`).
    pub field: String,
    pub message: String,
    /// Close matches for an unknown value, best first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

impl From<&FieldError> for FieldErrorView {
    fn from(error: &FieldError) -> Self {
        Self {
            field: error.field.clone(),
            message: error.message.clone(),
            suggestions: error.suggestions.clone(),
        }
    }
}

/// A failed request: the engine's [`Failure`], answered as a problem document.
#[derive(Debug, Clone)]
pub struct ApiError(pub Failure);

impl std::ops::Deref for ApiError {
    type Target = Failure;

    fn deref(&self) -> &Failure {
        &self.0
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        Self(failure)
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        Self(error.into())
    }
}

impl From<nephele_engine::store::StoreError> for ApiError {
    fn from(error: nephele_engine::store::StoreError) -> Self {
        Self(error.into())
    }
}

impl From<&nephele_engine::operations::record::OperationError> for ApiError {
    fn from(error: &nephele_engine::operations::record::OperationError) -> Self {
        Self(error.into())
    }
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
    #[schema(value_type = ErrorCodeSchema)]
    pub code: ErrorCode,
    /// The fields at fault, for `invalid_input`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldErrorView>,
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
        Self(Failure::new(code, detail))
    }

    /// The same failure with a more precise title than its code's.
    pub fn titled(self, title: &'static str) -> Self {
        Self(self.0.titled(title))
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    /// 422: the request is well-formed but these fields are wrong.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self(Failure::invalid(errors))
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(Failure::invalid_field(field, message))
    }

    pub fn unknown_provider(name: &str, configured: &[String]) -> Self {
        Self(Failure::unknown_provider(name, configured))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self(Failure::not_found(detail))
    }
}

/// A provider that failed while a list was gathered: the list answers with the rest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderFailure {
    pub provider: String,
    /// The problem code the failure would have had on its own.
    #[schema(value_type = ErrorCodeSchema)]
    pub code: ErrorCode,
    pub message: String,
    /// The instance it concerns, when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamView>,
}

impl From<&nephele_engine::failure::ProviderIssue> for ProviderFailure {
    fn from(issue: &nephele_engine::failure::ProviderIssue) -> Self {
        Self {
            provider: issue.provider.clone(),
            code: issue.code,
            message: issue.message.clone(),
            instance: issue.instance.clone(),
            upstream: issue.upstream.as_ref().map(UpstreamView::from),
        }
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
            errors: self.errors.iter().map(FieldErrorView::from).collect(),
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
        StatusCode::URI_TOO_LONG => ErrorCode::UriTooLong,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorCode::HeadersTooLarge,
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

/// The whole HTTP answer (head and problem document) to a request head hyper could not read and
/// answered `status` on its own, without the router (see [`crate::listener`]); the connection
/// closes after it.
pub fn unreadable_head(status: StatusCode, request_id: &str) -> Vec<u8> {
    let (code, detail) = match status {
        StatusCode::URI_TOO_LONG => {
            (ErrorCode::UriTooLong, "the request's URI is longer than the server reads")
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::HeadersTooLarge,
            "the request's head is larger than the server reads (too many or too large headers)",
        ),
        _ => (ErrorCode::BadRequest, "the request's head is not valid HTTP/1.1"),
    };
    let mut problem = ApiError::new(code, detail).problem();
    problem.request_id = Some(request_id.to_owned());
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len(),
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// Answers a request whose handling panicked with 500 `internal_error`, like any other fault of
/// ours: the caller gets a problem document with the request's id (never the panic's text,
/// which goes to stderr), and the connection stays usable.
pub async fn panics_as_problems(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("answering a request panicked (its message is on stderr); answered 500");
            ApiError::new(
                ErrorCode::InternalError,
                "Nephele failed on its side while answering; quote the request id to find it in its log",
            )
            .into_response()
        }
    }
}
