//! Idempotency keys: reserve a key (with the request's operation, in one transaction), replay
//! what the first request answered, wait for it while it runs, or refuse; then keep the answer.
//!
//! The answers themselves are opaque here ([`StoredReply`]: a status and a JSON body the HTTP
//! layer wrote); this module decides only what happens with a key.

use std::time::{Duration, Instant};

use nephele_core::ErrorCode;
use serde_json::Value;

use crate::Engine;
use crate::failure::Failure;
use crate::store::{KeyRequest, NewOperation, Operation, Reservation};

/// How long a request waits for an earlier one with the same key before it is refused.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(20);
const MAX_KEY_LEN: usize = 255;

/// An `Idempotency-Key`, checked against exactly what the API document allows: a bare key of
/// 1-255 visible ASCII characters not starting with `"`, or the draft's structured-field
/// string, `"` + 1-255 visible characters other than `"` and `\` + `"` (the key is what is
/// inside the quotes). Anything else is refused, never trimmed or guessed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key a header value holds (`None` when the value is not text at all).
    pub fn parse(raw: Option<&str>) -> Result<Self, Failure> {
        let refused = || {
            Failure::invalid_field(
                "Idempotency-Key",
                format!(
                    "must be 1 to {MAX_KEY_LEN} visible ASCII characters not starting with a double quote, or such characters (without double quotes or backslashes) inside double quotes"
                ),
            )
        };
        let raw = raw.ok_or_else(refused)?;
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
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Fingerprint of a request: method, path and the body as canonical JSON (so formatting and key
/// order do not matter, but any value does).
pub fn fingerprint(method: &str, path: &str, body: &Value) -> String {
    crate::digest::sha256_hex(format!("{method} {path}\n{body}").as_bytes())
}

/// An answer as kept for replay: its status, JSON body, and the headers worth keeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReply {
    pub status: u16,
    pub body: Option<Value>,
    pub location: Option<String>,
    pub operation_id: Option<String>,
}

impl StoredReply {
    /// The stored text (the status has a column of its own).
    pub fn to_stored(&self) -> String {
        serde_json::json!({ "body": self.body, "location": self.location, "operation_id": self.operation_id })
            .to_string()
    }

    fn from_stored(status: u16, stored: &str) -> Self {
        let v: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
        Self {
            status,
            body: Some(v["body"].clone()).filter(|b| !b.is_null()),
            location: v["location"].as_str().map(str::to_owned),
            operation_id: v["operation_id"].as_str().map(str::to_owned),
        }
    }
}

/// The outcome of [`begin`].
pub enum Begin {
    /// Go ahead: this request is the first with its key (or has none); its operation is recorded.
    Proceed,
    /// Answer with this: what was kept for the first request with the key.
    Replay(StoredReply),
    /// The first request with this key died with its server before it answered; its operation
    /// is on record and the workers carry it on. Answer with that operation (and keep the
    /// answer as the key's, with [`store`]).
    Orphaned(Box<Operation>),
}

/// What a request is, for its key's quota: operations' keys are refused past the quota,
/// estimates' are forgotten oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Operation,
    Estimate,
}

/// A request as its key's fingerprint sees it.
pub struct Keyed<'a> {
    pub kind: KeyKind,
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a Value,
}

/// Records `operation` (if any) together with the request's key (if any).
pub async fn begin(
    engine: &Engine,
    principal: &str,
    key: Option<&IdempotencyKey>,
    request: Keyed<'_>,
    operation: Option<NewOperation<'_>>,
) -> Result<Begin, Failure> {
    let Some(key) = key else {
        if let Some(op) = operation {
            engine.store.insert_operation(op).await?;
        }
        return Ok(Begin::Proceed);
    };
    let hash = fingerprint(request.method, request.path, request.body);
    let limits = &engine.operations.idempotency;
    let max_live = clamp_i64(match request.kind {
        KeyKind::Operation => limits.max_keys_per_api_key,
        KeyKind::Estimate => limits.max_estimate_keys_per_api_key,
    });
    let reservation = KeyRequest {
        principal,
        key: key.as_str(),
        method: request.method,
        path: request.path,
        request_hash: &hash,
        ttl_ms: clamp_i64(limits.ttl_hours.saturating_mul(3_600_000)),
        estimate: request.kind == KeyKind::Estimate,
        max_live,
    };
    let existing = match engine.store.reserve_key(reservation, operation).await? {
        Reservation::Reserved => return Ok(Begin::Proceed),
        Reservation::Existing(existing) => existing,
        Reservation::QuotaExceeded => {
            return Err(Failure::new(
                ErrorCode::IdempotencyQuotaExceeded,
                format!(
                    "this API key holds {} live Idempotency-Keys (idempotency.max_keys_per_api_key); they expire after {} hours, or send the request without one",
                    limits.max_keys_per_api_key, limits.ttl_hours
                ),
            ));
        }
    };
    if existing.request_hash != hash {
        return Err(Failure::new(
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
            return Ok(Begin::Replay(StoredReply::from_stored(status, stored)));
        }
        // A reservation older than a lease whose operation nobody holds belongs to a request
        // that died with its server (a live request renews its operation's lease while its step
        // runs).
        if crate::store::now_ms() - record.created_ms > engine.operations.lease_ms
            && let Some(operation_id) = &record.operation_id
            && let Some(op) = engine.store.get_operation(operation_id).await?
            && op.lease_until_ms.is_none_or(|until| until < crate::store::now_ms())
        {
            return Ok(Begin::Orphaned(Box::new(op)));
        }
        if started.elapsed() > WAIT_FOR_FIRST {
            return Err(Failure::new(
                ErrorCode::IdempotencyKeyInUse,
                "a request with this Idempotency-Key is still being processed; retry later",
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        record = match engine.store.get_key(principal, key.as_str()).await? {
            Some(r) => r,
            None => return Err(Failure::new(ErrorCode::IdempotencyKeyInUse, "retry the request")),
        };
    }
}

fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Keeps `reply` as the key's answer. The caller keeps it within
/// `idempotency.max_stored_response_bytes` (see [`Engine::operations`]).
pub async fn store(engine: &Engine, principal: &str, key: &IdempotencyKey, reply: &StoredReply) {
    if let Err(e) = engine.store.complete_key(principal, key.as_str(), reply.status, &reply.to_stored()).await
    {
        tracing::error!(error = %e, "cannot store the response of an idempotent request");
    }
}
