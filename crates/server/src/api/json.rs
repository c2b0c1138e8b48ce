//! `ApiJson<T>`: our JSON body extractor, so every body problem gets our error shape.
//!
//! Wrong content type is 415, an oversized body 413, malformed JSON 400, and JSON of the wrong
//! shape 422 naming the field (via `serde_path_to_error`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode, FieldError};

/// The parsed body, and the same body as a JSON value (for idempotency fingerprints).
pub struct ApiJson<T>(pub T, pub serde_json::Value);

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if !is_json(content_type.as_deref()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "the body must be JSON with `Content-Type: application/json`, got {}",
                    content_type
                        .as_deref()
                        .map(|c| format!("{c:?}"))
                        .unwrap_or_else(|| "no content type".to_owned())
                ),
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::BodyTooLarge,
                    "the request body is larger than the server accepts (server.max_body_bytes)",
                )
            } else {
                ApiError::new(ErrorCode::UnreadableBody, rejection.body_text())
            }
        })?;
        let malformed = |inner: &serde_json::Error| {
            ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {inner}"))
        };
        // One parse: syntax is checked into a Value (kept for idempotency fingerprints), and the
        // shape is read from that Value, with the path of the field at fault.
        let raw: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| malformed(&e))?;
        let value = from_value(&raw)?;
        Ok(Self(value, raw))
    }
}

/// `raw` read as a `T`, or a 422 naming the field at fault (`body` for the whole).
pub fn from_value<T: DeserializeOwned>(raw: &serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(raw).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid(vec![FieldError::new(field, strip_position(&error.into_inner().to_string()))])
    })
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
