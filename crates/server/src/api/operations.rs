//! `/api/v1/operations`: every mutating request and where it stands.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::AppState;
use crate::store::{OperationRecord, OperationState};

/// An operation with a link to itself.
pub fn view(op: &OperationRecord) -> Value {
    let mut v = serde_json::to_value(op).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("links".to_owned(), json!({ "self": format!("/api/v1/operations/{}", op.id) }));
    }
    v
}

pub async fn list(
    State(state): State<Arc<AppState>>,
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
    let ops = state.store.list_operations(wanted, limit).await?;
    Ok(Json(json!({ "operations": ops.iter().map(view).collect::<Vec<_>>() })))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let op = state
        .store
        .get_operation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no operation {id}")))?;
    Ok(Json(view(&op)))
}
