//! `/api/v1/keys`: API keys, for admins. A key is shown once, when it is made.
//!
//! An admin key limited to some providers manages only keys within its own scope: it can make
//! keys of at most its own role for (a subset of) its providers, and lists and revokes only
//! keys whose providers it covers. No key can make a key with more rights than its own, nor
//! make one after it is revoked: the minting key is checked again in the statement that stores
//! the new one ([`nephele_engine::store::Store::insert_api_key`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorCode};
use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::{Principal, Role};
use nephele_engine::auth::{issue_key, issue_key_by};

/// A new key's role, and optionally the providers it is limited to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// At most the calling key's own role.
    #[schema(value_type = RoleName)]
    role: String,
    /// Limits the key to these providers (at most 64); absent for all.
    providers: Option<Vec<String>>,
    /// At most 256 bytes.
    description: Option<String>,
}

/// Bytes of a key's description kept.
const MAX_DESCRIPTION_BYTES: usize = 256;
/// Providers one key may be limited to.
const MAX_KEY_PROVIDERS: usize = 64;

/// The roles, least first (the document's name for them).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    /// Reads and estimates.
    Viewer,
    /// Also creates, deletes and powers instances.
    Operator,
    /// Also keys, audit and provider restarts.
    Admin,
}

/// A key just made: `key` is its secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    pub id: String,
    pub key: String,
    pub role: String,
    pub providers: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<super::views::KeyView>,
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = CreateKeyBody,
    responses((status = 201, description = "The key, with its secret (shown once)", body = IssuedKey)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: axum::http::HeaderMap,
    ApiJson(body, _): ApiJson<CreateKeyBody>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    if headers.contains_key("idempotency-key") {
        // Replaying the answer would mean storing the key's secret in clear.
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "not accepted here: a key's secret is never stored, so its creation cannot be replayed",
        ));
    }
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::invalid_field("role", "must be viewer, operator or admin"))?;
    if role > principal.role {
        return Err(forbidden(format!(
            "a {} key cannot make a {} key",
            principal.role.as_str(),
            role.as_str()
        )));
    }
    if body.description.as_ref().is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES) {
        return Err(ApiError::invalid_field("description", "must be at most 256 bytes"));
    }
    if body.providers.as_ref().is_some_and(|p| p.len() > MAX_KEY_PROVIDERS) {
        return Err(ApiError::invalid_field("providers", "must list at most 64 providers"));
    }
    if let Some(unknown) = body.providers.iter().flatten().find(|p| state.providers.get(p).is_none()) {
        // A configured name is short; anything else is not repeated back.
        let shown = if nephele_core::is_valid_account_name(unknown) {
            format!("no provider named {unknown:?} is configured")
        } else {
            "names a provider that is not configured".to_owned()
        };
        return Err(ApiError::invalid_field("providers", shown));
    }
    if !principal.covers(body.providers.as_deref()) {
        return Err(forbidden(format!(
            "this key is limited to {}; it can only make keys limited to those (set `providers`)",
            principal.scope().unwrap_or_default().join(", ")
        )));
    }
    let (providers, description) = (body.providers.as_deref(), body.description.as_deref());
    let issued = if state.auth_required {
        issue_key_by(&state.store, &principal.id, role, providers, description).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthorized, "the API key is not valid (unknown, revoked or mistyped)")
        })?
    } else {
        // The open API has no key to revoke.
        issue_key(&state.store, role, providers, description).await?
    };
    Ok((
        StatusCode::CREATED,
        Json(IssuedKey {
            id: issued.id,
            key: issued.key,
            role: role.as_str().to_owned(),
            providers: body.providers,
        }),
    ))
}

fn forbidden(detail: String) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, detail)
}

/// The keys whose providers this key covers (all, for an unlimited key).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, description = "Keys, without their secrets", body = KeyList)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<KeyList>, ApiError> {
    let keys: Vec<_> = state
        .store
        .list_api_keys()
        .await?
        .into_iter()
        .filter(|k| principal.covers(k.providers.as_deref()))
        .map(Into::into)
        .collect();
    Ok(Json(KeyList { keys }))
}

/// Revokes a key this key covers; any other does not exist for it (404).
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked")))]
#[tracing::instrument(skip_all)]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let visible =
        state.store.find_api_key(&id).await?.is_some_and(|k| principal.covers(k.providers.as_deref()));
    if visible && nephele_engine::auth::revoke(&state.guards.keys, &state.store, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        // Key ids are 12 characters; anything much longer is not repeated back.
        let shown = if id.len() <= 64 { id.as_str() } else { "with that id" };
        Err(ApiError::not_found(format!("no active key {shown}")))
    }
}
