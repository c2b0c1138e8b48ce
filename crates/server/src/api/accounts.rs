//! Accounts added, changed and removed at runtime (admins only, audited):
//! `POST /api/v1/providers`, `PATCH` and `DELETE /api/v1/providers/{provider}`, and the
//! master-key rotation `POST /api/v1/secrets/rotate`. The engine does the work
//! ([`nephele_engine::accounts`]); this module parses and answers.
//!
//! Credentials go in once and never come back: answers carry a fingerprint at most.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nephele_core::Secret;
use nephele_engine::accounts::{AccountChange, NewAccount};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{ApiError, ErrorCode};
use super::json::ApiJson;
use super::providers::{ProviderView, describe_account};
use super::query::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;

/// Settings and credentials are small: a larger body is refused before it is looked at.
const MAX_ENTRIES: usize = 64;

/// The document's form of `settings`: an object of at most [`MAX_ENTRIES`] keys.
fn settings_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Object)
        .max_properties(Some(MAX_ENTRIES))
        .description(Some(
            "What is not secret: `region`, `base_url`, ... (DigitalOcean's keys as in `config.yaml`); at most 64 keys.",
        ))
        .build()
}

/// The document's form of `credentials`: an object of 1 to [`MAX_ENTRIES`] keys.
fn credentials_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Object)
        .min_properties(Some(1))
        .max_properties(Some(MAX_ENTRIES))
        .description(Some(
            "The credentials, sent once and never shown again: `{\"api_token\": \"dop_v1_...\"}` for DigitalOcean, the plugin's own keys otherwise; 1 to 64 keys.",
        ))
        .build()
}

/// A field that may be left out but, when given, is a value (`null` is refused, naming the
/// field, as the document says: the field is an object, not a nullable one).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A new account.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    /// 1-32 of a-z, 0-9 and -; the account's URL segment.
    name: String,
    /// `digitalocean`, or a plugin type the configuration file names.
    #[serde(rename = "type")]
    provider_type: String,
    /// What is not secret: `region`, `base_url`, ... (DigitalOcean's keys as in `config.yaml`).
    #[serde(default)]
    #[schema(schema_with = settings_schema)]
    settings: Map<String, Value>,
    /// The credentials, sent once and never shown again: `{"api_token": "dop_v1_..."}` for
    /// DigitalOcean, the plugin's own keys otherwise.
    #[schema(schema_with = credentials_schema)]
    credentials: Secret<Map<String, Value>>,
}

/// A change of an account: new settings, new credentials, or both (at least one of them; a
/// `null` is refused like any other non-object).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct AccountChangeBody {
    /// Replaces the settings whole.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = settings_schema)]
    settings: Option<Map<String, Value>>,
    /// Replaces the credentials, once they are tried.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = credentials_schema)]
    credentials: Option<Secret<Map<String, Value>>>,
}

fn bounded(field: &str, map: &Map<String, Value>) -> Result<(), ApiError> {
    if map.len() > MAX_ENTRIES {
        return Err(ApiError::invalid_field(field, format!("must hold at most {MAX_ENTRIES} keys")));
    }
    Ok(())
}

/// Adds an account: its credentials are tried first (a refusal is `credentials_rejected` and
/// nothing is stored), then sealed, stored and served, here at once and on every replica within
/// a few seconds. Needs a master key (`secrets.master_key`).
#[utoipa::path(post, path = "/api/v1/providers", tag = "providers", request_body = NewAccountBody,
    responses((status = 201, description = "The account, served (its credentials only as a fingerprint)", body = ProviderView)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiJson(body, _): ApiJson<NewAccountBody>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    bounded("settings", &body.settings)?;
    bounded("credentials", body.credentials.expose())?;
    if !principal.may_use(&body.name) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this key is limited to other accounts; it cannot add one outside its scope",
        ));
    }
    let new = NewAccount {
        name: body.name,
        provider_type: body.provider_type,
        settings: body.settings,
        credentials: body.credentials,
    };
    let info = state.add_account(new, &principal.id).await?;
    let provider = super::provider(&state, &info.name)?;
    // Its credentials were tried a moment ago.
    let view = describe_account(&info, provider.as_ref(), Some(None), 0);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Changes an account added through the API: new credentials are tried before they replace
/// the old ones (operations under way go on); the file's accounts are changed in the file (409).
///
/// Refused with 422 naming the field: a body with neither `settings` nor `credentials`, either
/// of them `null` or not an object, more than 64 keys in either, empty `credentials`, or any
/// other field.
#[utoipa::path(patch, path = "/api/v1/providers/{provider}", tag = "providers", request_body = AccountChangeBody,
    params(("provider" = String, Path, description = "An account's name")),
    responses((status = 200, description = "The account, changed", body = ProviderView),
        (status = 409, description = "The account is defined in the configuration file (`account_in_file`), or was changed meanwhile (`conflict`)",
            body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is wrong (`invalid_input` naming it), or the cloud refused the new credentials (`credentials_rejected`)",
            body = super::error::Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ApiJson(body, _): ApiJson<AccountChangeBody>,
) -> Result<Json<ProviderView>, ApiError> {
    if let Some(settings) = &body.settings {
        bounded("settings", settings)?;
    }
    if let Some(credentials) = &body.credentials {
        bounded("credentials", credentials.expose())?;
    }
    if body.settings.is_none() && body.credentials.is_none() {
        return Err(ApiError::invalid_field("settings", "give settings, credentials, or both"));
    }
    let change = AccountChange { settings: body.settings, credentials: body.credentials };
    let info = state.update_account(&name, change).await?;
    let provider = super::provider(&state, &info.name)?;
    Ok(Json(describe_account(&info, provider.as_ref(), Some(None), 0)))
}

/// `?force=true` removes an account with operations under way.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Fail the account's pending and running operations (`account_removed`) and remove it.
    force: Option<bool>,
}

/// Removes an account added through the API: refused (409 `account_busy`) while it has
/// operations pending or running, unless `?force=true`; its plugin stops and its inventory
/// goes; its operations and audit entries stay.
#[utoipa::path(delete, path = "/api/v1/providers/{provider}", tag = "providers", params(("provider" = String, Path, description = "An account's name"), RemoveQuery),
    responses((status = 204, description = "Removed")))]
#[tracing::instrument(skip_all)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    state.remove_account(&name, query.force.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where the new master key is: a file on the server's host (the key never crosses the API).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// A file holding the new master key, 32 bytes in base64, readable by the server.
    new_key_file: String,
}

/// What a rotation did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RotationView {
    /// The id of the master key every readable account is now wrapped under.
    pub key_id: String,
    pub rewrapped: u64,
    /// Already wrapped under the new key (a rotation run again).
    pub already: u64,
    /// Changed during the rotation (sealed under the new key by their change).
    pub changed_meanwhile: u64,
    /// Accounts whose credentials do not open, left as they were.
    pub unreadable: Vec<String>,
    pub took_ms: u64,
}

/// Re-wraps every account's data key under a new master key while the server serves: from the
/// start this server seals with the new key and opens with both. Then make the new key every
/// replica's `secrets.master_key_file` (with several replicas, do that first, the old key as
/// `secrets.previous_key_file`, so each opens what any other seals) and drop the old one.
#[utoipa::path(post, path = "/api/v1/secrets/rotate", tag = "secrets", request_body = RotateBody,
    responses((status = 200, description = "Every readable account re-wrapped", body = RotationView)))]
#[tracing::instrument(skip_all)]
pub async fn rotate(
    State(state): State<Arc<AppState>>,
    ApiJson(body, _): ApiJson<RotateBody>,
) -> Result<Json<RotationView>, ApiError> {
    // One answer for every reason (missing, unreadable, not a key): the route must not tell an
    // admin key what files the server can read, nor how long they are. The log says which.
    let unusable = || {
        ApiError::invalid_field(
            "new_key_file",
            "cannot be used: it must be a file the server can read holding a key of 32 bytes in base64 (nephele secrets generate writes one)",
        )
    };
    // Off the async threads, and bounded in time: the path may name a pipe nobody writes to.
    let path = std::path::PathBuf::from(&body.new_key_file);
    let read = tokio::task::spawn_blocking(move || nephele_engine::secrets::MasterKey::from_file(&path));
    let key = match tokio::time::timeout(std::time::Duration::from_secs(5), read).await {
        Ok(Ok(Ok(key))) => key,
        Ok(Ok(Err(e))) => {
            tracing::warn!(reason = %e, "the new master key file cannot be used");
            return Err(unusable());
        }
        _ => {
            tracing::warn!("the new master key file could not be read within 5 s");
            return Err(unusable());
        }
    };
    let done = state.rotate_master_key(key.clone()).await?;
    // Webhooks' signing secrets are sealed under the same master key (their counts are logged).
    nephele_engine::events::webhooks::rotate_master_key(&state.engine, key).await?;
    Ok(Json(RotationView {
        key_id: done.key_id,
        rewrapped: done.rewrapped,
        already: done.already,
        changed_meanwhile: done.changed_meanwhile,
        unreadable: done.unreadable,
        took_ms: done.took_ms,
    }))
}
