//! DigitalOcean's error answers: `{"id", "message", "request_id"}` with the matching status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::wire::ErrorBody;

/// An error answer exactly as DigitalOcean would send it.
#[derive(Debug)]
pub struct DoError {
    pub status: StatusCode,
    pub id: &'static str,
    pub message: String,
    /// Seconds, for the `retry-after` header of burst-limit 429s.
    pub retry_after: Option<u64>,
}

impl DoError {
    pub fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> Self {
        Self { status, id, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unable to authenticate you.")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "The resource you were accessing could not be found.")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "The method is not allowed for the requested URL.",
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable_entity", message)
    }

    pub fn too_many_requests(retry_after: Option<u64>) -> Self {
        Self {
            retry_after,
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "API rate limit exceeded.")
        }
    }

    /// A server-side failure with the status given (500, 502, 503), as fault injection sends.
    pub fn server_side(status: StatusCode) -> Self {
        let (id, message) = match status.as_u16() {
            502 => ("bad_gateway", "Bad gateway."),
            503 => ("service_unavailable", "The service is temporarily unavailable."),
            _ => ("server_error", "Unexpected server-side error"),
        };
        Self::new(status, id, message)
    }
}

impl IntoResponse for DoError {
    fn into_response(self) -> Response {
        let body = ErrorBody { id: self.id, message: self.message, request_id: Uuid::new_v4().to_string() };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
