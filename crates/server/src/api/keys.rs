//! `/api/v1/keys`: API keys, for admins. A key is shown once, when it is made.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::{Role, issue_key};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    role: String,
    providers: Option<Vec<String>>,
    description: Option<String>,
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    ApiJson(body, _): ApiJson<CreateKeyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if headers.contains_key("idempotency-key") {
        // Replaying the answer would mean storing the key's secret in clear.
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "not accepted here: a key's secret is never stored, so its creation cannot be replayed",
        ));
    }
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::invalid_field("role", "must be viewer, operator or admin"))?;
    if let Some(unknown) = body.providers.iter().flatten().find(|p| state.providers.get(p).is_none()) {
        return Err(ApiError::invalid_field(
            "providers",
            format!("no provider named {unknown:?} is configured"),
        ));
    }
    let issued =
        issue_key(&state.store, role, body.providers.as_deref(), body.description.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": issued.id, "key": issued.key, "role": role.as_str(), "providers": body.providers }),
        ),
    ))
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "keys": state.store.list_api_keys().await? })))
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.revoke_api_key(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no active key {id}")))
    }
}
