//! `/api/v1/operations`: every mutating request and where it stands.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::views::Links;
use crate::app::AppState;
use crate::auth::Principal;
use crate::store::{OperationRecord, OperationState};

/// Request fields that may hold secrets (passwords and keys in cloud-init user data). They are
/// stored, because a resumed create needs them, but never shown: only their size and digest.
const SECRET_REQUEST_FIELDS: &[&str] = &["user_data"];

/// What is shown of a secret: that it is there, its size and its digest.
#[derive(Serialize)]
struct Redacted {
    redacted: bool,
    bytes: usize,
    sha256: String,
}

/// `request` with every secret field replaced by `{redacted, bytes, sha256}`.
fn redacted(request: &Value) -> Value {
    let mut shown = request.clone();
    if let Some(fields) = shown.as_object_mut() {
        for name in SECRET_REQUEST_FIELDS {
            if let Some(Value::String(secret)) = fields.get(*name) {
                let digest = crate::digest::sha256_hex(secret.as_bytes());
                let summary = Redacted { redacted: true, bytes: secret.len(), sha256: digest };
                fields.insert((*name).to_owned(), serde_json::to_value(summary).unwrap_or_default());
            }
        }
    }
    shown
}

/// A mutating request (create, delete, power action) and where it stands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationView {
    pub id: String,
    pub provider: String,
    /// `create`, `delete` or a power action (`power_off`, `reboot`, ...).
    pub kind: String,
    /// What it was asked to do; secret fields show only `{redacted, bytes, sha256}`.
    #[schema(value_type = Object)]
    pub request: Value,
    pub state: OperationState,
    /// What it made or started (`instance_ids`, `action_id`), once it has.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Why it failed (`code`, `message`), when it did.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// The API key that asked.
    pub principal: String,
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
    pub links: Links,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationList {
    pub operations: Vec<OperationView>,
}

/// An operation as shown: secrets redacted, with a link to itself.
pub fn view(op: &OperationRecord) -> OperationView {
    OperationView {
        id: op.id.clone(),
        provider: op.provider.clone(),
        kind: op.kind.clone(),
        request: redacted(&op.request),
        state: op.state,
        result: op.result.clone(),
        error: op.error.clone(),
        principal: op.principal.clone(),
        attempts: op.attempts,
        created_at: op.created_at.clone(),
        updated_at: op.updated_at.clone(),
        links: Links { this: format!("/api/v1/operations/{}", op.id) },
    }
}

/// Operations on the providers this key may use.
#[utoipa::path(get, path = "/api/v1/operations", tag = "operations",
    params(
        ("state" = Option<OperationState>, Query, description = "Only operations in this state"),
        ("limit" = Option<i64>, Query, description = "At most this many (1-5000, default 500)", minimum = 1, maximum = 5000)),
    responses((status = 200, description = "Operations, newest first", body = OperationList)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<OperationList>, ApiError> {
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
    Ok(Json(OperationList { operations: ops.iter().map(view).collect() }))
}

/// One operation; one on a provider outside the key's scope does not exist for it (404).
#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "operations",
    params(("id" = String, Path, description = "The operation's id")),
    responses((status = 200, description = "The operation", body = OperationView)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
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
    use serde_json::json;

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
