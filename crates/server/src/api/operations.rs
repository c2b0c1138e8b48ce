//! `/api/v1/operations`: every mutating request and where it stands.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::Principal;
use crate::store::{OperationRecord, OperationState};

/// Request fields that may hold secrets (passwords and keys in cloud-init user data). They are
/// stored, because a resumed create needs them, but never shown: only their size and digest.
const SECRET_REQUEST_FIELDS: &[&str] = &["user_data"];

/// `request` with every secret field replaced by `{redacted, bytes, sha256}`.
fn redacted(request: &Value) -> Value {
    let mut shown = request.clone();
    if let Some(fields) = shown.as_object_mut() {
        for name in SECRET_REQUEST_FIELDS {
            if let Some(Value::String(secret)) = fields.get(*name) {
                let digest = crate::digest::sha256_hex(secret.as_bytes());
                let summary = json!({ "redacted": true, "bytes": secret.len(), "sha256": digest });
                fields.insert((*name).to_owned(), summary);
            }
        }
    }
    shown
}

/// An operation as shown: secrets redacted, with a link to itself.
pub fn view(op: &OperationRecord) -> Value {
    let mut v = serde_json::to_value(op).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("request".to_owned(), redacted(&op.request));
        o.insert("links".to_owned(), json!({ "self": format!("/api/v1/operations/{}", op.id) }));
    }
    v
}

/// Operations on the providers this key may use.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut wanted = None;
    let mut limit = 500i64;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "state" => {
                wanted = Some(OperationState::parse(&value).ok_or_else(|| {
                    ApiError::invalid_field("state", "must be pending, running, succeeded or failed")
                })?)
            }
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=5000).contains(n))
                    .ok_or_else(|| ApiError::invalid_field("limit", "must be a number from 1 to 5000"))?
            }
            other => return Err(ApiError::invalid_field(other, "unknown filter; expected state or limit")),
        }
    }
    let ops = state.store.list_operations(wanted, principal.scope(), limit).await?;
    Ok(Json(json!({ "operations": ops.iter().map(view).collect::<Vec<_>>() })))
}

/// One operation; one on a provider outside the key's scope does not exist for it (404).
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let op = state
        .store
        .get_operation(&id)
        .await?
        .filter(|op| principal.may_use(&op.provider))
        .ok_or_else(|| ApiError::not_found(format!("no operation {id}")))?;
    Ok(Json(view(&op)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_shown_only_as_its_size_and_digest() {
        let request = json!({ "names": ["web"], "user_data": "#cloud-config\npassword: hunter2hunter2" });
        let shown = redacted(&request);
        assert!(!shown.to_string().contains("hunter2"), "{shown}");
        assert_eq!(shown["user_data"]["redacted"], true);
        assert_eq!(shown["user_data"]["bytes"], 38);
        assert_eq!(shown["names"], json!(["web"]));
    }
}
