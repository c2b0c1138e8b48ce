//! The HTTP side of idempotency keys: the `Idempotency-Key` header, answers kept as
//! [`StoredReply`]s and written back out (marked `Idempotent-Replayed` on a replay), and the
//! 202 that names an operation when the whole answer cannot be kept. What happens with a key
//! is the engine's (`nephele_engine::operations::idempotency`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nephele_engine::Engine;
use nephele_engine::operations::idempotency::{self as keys, IdempotencyKey, Keyed, StoredReply};
use nephele_engine::store::{NewOperation, OperationState};

use super::error::ApiError;
use super::views::Accepted;
use crate::auth::access::StartedOperation;

pub use keys::KeyKind;

/// The request's `Idempotency-Key`, checked, when it has one.
pub fn key_from(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else { return Ok(None) };
    Ok(Some(IdempotencyKey::parse(raw.to_str().ok())?))
}

/// A typed answer, kept as JSON so that it can be stored and replayed.
pub fn reply(status: StatusCode, body: &impl serde::Serialize) -> StoredReply {
    StoredReply {
        status: status.as_u16(),
        body: Some(serde_json::to_value(body).unwrap_or_default()),
        location: None,
        operation_id: None,
    }
}

/// A failure's answer (its problem document), kept like any other.
pub fn problem(error: &ApiError) -> StoredReply {
    StoredReply { body: Some(error.problem_json()), ..reply(error.status(), &()) }
}

/// A 202 that names the operation: what a replay answers when the whole answer was too large to
/// keep, or when the first request died before it could answer.
pub fn operation_reference(operation_id: &str, state: OperationState) -> StoredReply {
    StoredReply {
        operation_id: Some(operation_id.to_owned()),
        ..reply(StatusCode::ACCEPTED, &Accepted::new(operation_id, state))
    }
}

/// An answer as it goes out.
pub struct Answer(pub StoredReply);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut reply = self.0;
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match reply.body.take() {
            Some(body) => (status, axum::Json(body)).into_response(),
            None => status.into_response(),
        };
        let headers = response.headers_mut();
        if status.is_client_error() || status.is_server_error() {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        }
        if let Some(location) = reply.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        if let Some(id) = reply.operation_id {
            response.extensions_mut().insert(StartedOperation(id));
        }
        response
    }
}

/// A kept answer as the response to a replay.
pub fn replayed(reply: StoredReply) -> Response {
    mark_replayed(Answer(reply).into_response())
}

/// Says on `response` that it answers a replay (`idempotent-replayed: true`).
pub fn mark_replayed(mut response: Response) -> Response {
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// What [`begin`] says.
pub enum Begin {
    /// Go ahead: this request is the first with its key (or has none); its operation is recorded.
    Proceed,
    /// Answer with this (see [`replayed`]).
    Replay(StoredReply),
}

/// Records `operation` (if any) together with the request's key (if any); see the engine's
/// `begin`. A first request that died before it answered is answered with its operation.
pub async fn begin(
    engine: &Engine,
    principal: &str,
    key: Option<&IdempotencyKey>,
    request: Keyed<'_>,
    operation: Option<NewOperation<'_>>,
) -> Result<Begin, ApiError> {
    Ok(match keys::begin(engine, principal, key, request, operation).await? {
        keys::Begin::Proceed => Begin::Proceed,
        keys::Begin::Replay(reply) => Begin::Replay(reply),
        keys::Begin::Orphaned(op) => {
            let reply = operation_reference(&op.id, op.state);
            if let Some(key) = key {
                keys::store(engine, principal, key, &reply).await;
            }
            Begin::Replay(reply)
        }
    })
}

/// Keeps `reply` as the key's answer (if there is a key) and turns it into the response.
pub async fn finish(
    engine: &Engine,
    principal: &str,
    key: Option<&IdempotencyKey>,
    reply: StoredReply,
) -> Response {
    store(engine, principal, key, &reply).await;
    Answer(reply).into_response()
}

/// Keeps `reply` as the key's answer. One larger than `max_stored_response_bytes` is kept as its
/// operation's reference (which the caller can follow), or, with no operation, not at all (the
/// key then stays reserved until it expires, and a replay waits and then answers 409).
pub async fn store(engine: &Engine, principal: &str, key: Option<&IdempotencyKey>, reply: &StoredReply) {
    let Some(key) = key else { return };
    if reply.to_stored().len() <= engine.operations.idempotency.max_stored_response_bytes {
        keys::store(engine, principal, key, reply).await;
        return;
    }
    let Some(operation_id) = reply.operation_id.as_deref() else {
        tracing::warn!("a response too large to store for replay was not stored");
        return;
    };
    keys::store(engine, principal, key, &operation_reference(operation_id, OperationState::Pending)).await;
}
