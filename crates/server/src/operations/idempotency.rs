//! The handler side of idempotency keys: reserve (with the operation, in one transaction),
//! replay, wait, or refuse; then store the response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api::ApiError;
use crate::api::ErrorCode;
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::access::StartedOperation;
use crate::store::{KeyRequest, NewOperation, Reservation};

/// How long a request waits for an earlier one with the same key before answering 409.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(20);
const MAX_KEY_LEN: usize = 255;

/// An `Idempotency-Key` header, checked against exactly what the document allows: a bare key
/// of 1-255 visible ASCII characters not starting with `"`, or the draft's structured-field
/// string, `"` + 1-255 visible characters other than `"` and `\\` + `"` (the key is what is
/// inside the quotes). Anything else is refused, never trimmed or guessed at.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else { return Ok(None) };
    let refused = || {
        ApiError::invalid_field(
            "Idempotency-Key",
            format!(
                "must be 1 to {MAX_KEY_LEN} visible ASCII characters not starting with a double quote, or such characters (without double quotes or backslashes) inside double quotes"
            ),
        )
    };
    let raw = raw.to_str().map_err(|_| refused())?;
    let key = match raw.strip_prefix('"') {
        Some(quoted) => quoted
            .strip_suffix('"')
            .filter(|inner| inner.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'))
            .ok_or_else(refused)?,
        None => raw.bytes().all(|b| b.is_ascii_graphic()).then_some(raw).ok_or_else(refused)?,
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(refused());
    }
    Ok(Some(key.to_owned()))
}

/// Fingerprint of a request: method, path and the body as canonical JSON (so formatting and key
/// order do not matter, but any value does).
pub fn fingerprint(method: &str, path: &str, body: &Value) -> String {
    crate::digest::sha256_hex(format!("{method} {path}\n{body}").as_bytes())
}

/// A response as stored and replayed: status, JSON body, and the headers worth keeping.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub location: Option<String>,
    pub operation_id: Option<String>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self { status, body: Some(body), location: None, operation_id: None }
    }

    /// A typed answer, kept as JSON so that it can be stored and replayed.
    pub fn of(status: StatusCode, body: &impl serde::Serialize) -> Self {
        Self::json(status, serde_json::to_value(body).unwrap_or_default())
    }

    /// A 202 that names the operation: what a replay answers when the full response was too
    /// large to keep, or when the first request died before it could answer.
    pub fn operation_reference(operation_id: &str, state: crate::store::OperationState) -> Self {
        let body = crate::api::views::Accepted::new(operation_id, state);
        Self { operation_id: Some(operation_id.to_owned()), ..Self::of(StatusCode::ACCEPTED, &body) }
    }

    fn to_stored(&self) -> String {
        serde_json::json!({ "body": self.body, "location": self.location, "operation_id": self.operation_id })
            .to_string()
    }

    fn from_stored(status: u16, stored: &str) -> Self {
        let v: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: Some(v["body"].clone()).filter(|b| !b.is_null()),
            location: v["location"].as_str().map(str::to_owned),
            operation_id: v["operation_id"].as_str().map(str::to_owned),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match &self.body {
            Some(body) => (self.status, axum::Json(body.clone())).into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if self.status.is_client_error() || self.status.is_server_error() {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        }
        if let Some(location) = self.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        if let Some(id) = self.operation_id {
            response.extensions_mut().insert(StartedOperation(id));
        }
        response
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        let status = error.status();
        Self { status, body: Some(error.problem_json()), location: None, operation_id: None }
    }
}

/// The outcome of [`begin`].
pub enum Begin {
    /// Go ahead: this request is the first with its key (or has none); its operation is recorded.
    Proceed,
    /// Answer with this: what was stored for the first request with the key (see [`replayed`]).
    Replay(Reply),
}

/// A stored reply as the response to a replay.
pub fn replayed(reply: Reply) -> Response {
    let mut response = reply.into_response();
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// What a request is, for its key's quota: operations' keys are refused past the quota,
/// estimates' are forgotten oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Operation,
    Estimate,
}

/// Records `operation` (if any) together with the request's key (if any).
#[allow(clippy::too_many_arguments)]
pub async fn begin(
    state: &Arc<AppState>,
    principal: &Principal,
    key: Option<&str>,
    kind: KeyKind,
    method: &str,
    path: &str,
    body: &Value,
    operation: Option<NewOperation<'_>>,
) -> Result<Begin, ApiError> {
    let Some(key) = key else {
        if let Some(op) = operation {
            state.store.insert_operation(op).await.map_err(ApiError::from)?;
        }
        return Ok(Begin::Proceed);
    };
    let hash = fingerprint(method, path, body);
    let limits = &state.idempotency;
    let max_live = clamp_i64(match kind {
        KeyKind::Operation => limits.max_keys_per_api_key,
        KeyKind::Estimate => limits.max_estimate_keys_per_api_key,
    });
    let request = KeyRequest {
        principal: &principal.id,
        key,
        method,
        path,
        request_hash: &hash,
        ttl_ms: clamp_i64(limits.ttl_hours.saturating_mul(3_600_000)),
        estimate: kind == KeyKind::Estimate,
        max_live,
    };
    let existing = match state.store.reserve_key(request, operation).await.map_err(ApiError::from)? {
        Reservation::Reserved => return Ok(Begin::Proceed),
        Reservation::Existing(existing) => existing,
        Reservation::QuotaExceeded => {
            return Err(ApiError::new(
                ErrorCode::IdempotencyQuotaExceeded,
                format!(
                    "this API key holds {} live Idempotency-Keys (idempotency.max_keys_per_api_key); they expire after {} hours, or send the request without one",
                    limits.max_keys_per_api_key, limits.ttl_hours
                ),
            ));
        }
    };
    if existing.request_hash != hash {
        return Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            format!(
                "this Idempotency-Key was first used for a different request ({} {}); use a new key for a new request",
                existing.method, existing.path
            ),
        ));
    }
    let started = Instant::now();
    let mut record = existing;
    loop {
        if let (Some(status), Some(stored)) = (record.response_status, record.response_body.as_deref()) {
            return Ok(Begin::Replay(Reply::from_stored(status, stored)));
        }
        // A reservation older than a lease whose operation nobody holds belongs to a request
        // that died with its server (a live request renews its operation's lease while its step
        // runs). Its operation is on record and carried on by the workers: answer with it, and
        // keep that as the key's response.
        if crate::store::now_ms() - record.created_ms > state.lease_ms
            && let Some(operation_id) = &record.operation_id
            && let Some(op) = state.store.get_operation(operation_id).await.map_err(ApiError::from)?
            && op.lease_until_ms.is_none_or(|until| until < crate::store::now_ms())
        {
            let reply = Reply::operation_reference(&op.id, op.state);
            store_reply(state, principal, Some(key), &reply).await;
            return Ok(Begin::Replay(reply));
        }
        if started.elapsed() > WAIT_FOR_FIRST {
            return Err(ApiError::new(
                ErrorCode::IdempotencyKeyInUse,
                "a request with this Idempotency-Key is still being processed; retry later",
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        record = match state.store.get_key(&principal.id, key).await.map_err(ApiError::from)? {
            Some(r) => r,
            None => {
                return Err(ApiError::new(ErrorCode::IdempotencyKeyInUse, "retry the request"));
            }
        };
    }
}

fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Stores `reply` under the key (if any) and turns it into the response.
pub async fn finish(
    state: &Arc<AppState>,
    principal: &Principal,
    key: Option<&str>,
    reply: Reply,
) -> Response {
    store_reply(state, principal, key, &reply).await;
    reply.into_response()
}

/// Stores `reply` as the key's response. One larger than `max_stored_response_bytes` is kept as
/// its operation's reference (which the caller can follow), or, with no operation, not at all
/// (the key then stays reserved until it expires, and a replay waits and then answers 409).
pub async fn store_reply(state: &Arc<AppState>, principal: &Principal, key: Option<&str>, reply: &Reply) {
    let Some(key) = key else { return };
    let mut stored = reply.to_stored();
    if stored.len() > state.idempotency.max_stored_response_bytes {
        let Some(operation_id) = reply.operation_id.as_deref() else {
            tracing::warn!(bytes = stored.len(), "a response too large to store for replay was not stored");
            return;
        };
        stored = Reply::operation_reference(operation_id, crate::store::OperationState::Pending).to_stored();
    }
    if let Err(e) = state.store.complete_key(&principal.id, key, reply.status.as_u16(), &stored).await {
        tracing::error!(error = %e, "cannot store the response of an idempotent request");
    }
}
