//! `/api/v1/providers`: what is configured and whether it answers (as of the last readiness
//! check: listing providers never calls them).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use nephele_core::Provider;
use serde::Serialize;

use super::error::{ApiError, ErrorCode};
use super::views::Links;
use crate::app::AppState;
use crate::auth::Principal;
use nephele_engine::readiness::Checked;

/// An account (what `/api/v1/providers/{name}` names) and whether it answered at the last
/// readiness check. Its credentials are never shown; an account added through the API shows
/// their fingerprint.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub name: String,
    /// The provider type: `digitalocean`, `aws`, a plugin's type.
    #[serde(rename = "type")]
    pub provider_type: String,
    /// `ready`, `unavailable` (see `error`), `unreadable` (its stored credentials do not open;
    /// nothing is sent for it), or `unchecked`.
    pub status: String,
    /// `file` (changed only in `config.yaml`) or `api`.
    pub defined_in: String,
    /// The credentials' last four characters and a digest prefix (accounts added through the API).
    pub fingerprint: Option<String>,
    /// What is not secret (accounts added through the API).
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// The API key that added it.
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub display_name: String,
    pub version: String,
    pub default_region: Option<String>,
    /// What it can do (`instances`, `power_actions`, `images`, ...).
    pub capabilities: Vec<String>,
    /// Most instances one create may make (its `count`).
    pub max_instances_per_create: u32,
    pub reachable: bool,
    /// Why it is not reachable.
    pub error: Option<String>,
    pub checked_secs_ago: u64,
    pub links: Links,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderView>,
}

fn describe(state: &AppState, name: &str, provider: &dyn Provider, checked: &Checked) -> ProviderView {
    let account = state.providers.slot(name).map(|slot| nephele_engine::accounts::AccountInfo {
        name: name.to_owned(),
        provider_type: slot.provider_type().to_owned(),
        defined_in: slot.defined_in(),
        unreadable: slot.unreadable(),
        settings: None,
        fingerprint: None,
        created_by: None,
        created_at: None,
        updated_at: None,
    });
    match account {
        Some(account) => describe_account(
            &account,
            provider,
            checked.providers.get(name).cloned(),
            checked.at.elapsed().as_secs(),
        ),
        None => describe_account(&unknown(name), provider, None, 0),
    }
}

fn unknown(name: &str) -> nephele_engine::accounts::AccountInfo {
    nephele_engine::accounts::AccountInfo {
        name: name.to_owned(),
        provider_type: String::new(),
        defined_in: nephele_engine::providers::DefinedIn::File,
        unreadable: None,
        settings: None,
        fingerprint: None,
        created_by: None,
        created_at: None,
        updated_at: None,
    }
}

/// An account as shown; `checked` is its last readiness check (`None`: not checked yet).
pub fn describe_account(
    account: &nephele_engine::accounts::AccountInfo,
    provider: &dyn Provider,
    checked: Option<Option<String>>,
    checked_secs_ago: u64,
) -> ProviderView {
    let info = provider.info();
    let name = account.name.as_str();
    let (status, problem) = match (&account.unreadable, checked) {
        (Some(reason), _) => ("unreadable", Some(reason.clone())),
        (None, None) => ("unchecked", Some("not checked yet".to_owned())),
        (None, Some(None)) => ("ready", None),
        (None, Some(Some(problem))) => ("unavailable", Some(problem)),
    };
    ProviderView {
        name: name.to_owned(),
        provider_type: account.provider_type.clone(),
        status: status.to_owned(),
        defined_in: account.defined_in.as_str().to_owned(),
        fingerprint: account.fingerprint.clone(),
        settings: account.settings.clone(),
        created_by: account.created_by.clone(),
        created_at: account.created_at.clone(),
        updated_at: account.updated_at.clone(),
        display_name: info.display_name,
        version: info.version,
        default_region: info.default_region,
        capabilities: info.capabilities,
        max_instances_per_create: info.max_instances_per_create,
        reachable: problem.is_none(),
        error: problem,
        checked_secs_ago,
        links: Links { this: format!("/api/v1/providers/{name}") },
    }
}

/// The accounts this key may use, each with its type, status, last error and where it is
/// defined (`file` or `api`).
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses((status = 200, description = "The accounts this key may use", body = ProviderList)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Json<ProviderList> {
    let checked = state.readiness.current(&state.providers).await;
    let ago = checked.at.elapsed().as_secs();
    let providers = state
        .list_accounts()
        .await
        .iter()
        .filter(|account| principal.may_use(&account.name))
        .filter_map(|account| {
            let provider = state.providers.get(&account.name)?;
            Some(describe_account(
                account,
                provider.as_ref(),
                checked.providers.get(&account.name).cloned(),
                ago,
            ))
        })
        .collect::<Vec<_>>();
    Json(ProviderList { providers })
}

/// One provider.
#[utoipa::path(get, path = "/api/v1/providers/{provider}", tag = "providers",
    params(("provider" = String, Path, description = "A configured provider's name")),
    responses((status = 200, description = "The provider", body = ProviderView)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<ProviderView>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let checked = state.readiness.current(&state.providers).await;
    match state.account_info(&name).await {
        Some(account) => Ok(Json(describe_account(
            &account,
            provider.as_ref(),
            checked.providers.get(&name).cloned(),
            checked.at.elapsed().as_secs(),
        ))),
        None => Ok(Json(describe(&state, &name, provider.as_ref(), &checked))),
    }
}

/// `POST /api/v1/providers/{name}/initialize` (admin): starts the provider again from the
/// configuration file as it is now (a plugin is restarted with its new settings, a built-in
/// provider rebuilt) and answers what it says it is, or a problem saying why it did not start.
/// A configuration file that cannot be used is answered 409 naming its file, key and line, never
/// the value found there (it may be a token).
#[utoipa::path(post, path = "/api/v1/providers/{provider}/initialize", tag = "providers",
    params(("provider" = String, Path, description = "A configured provider's name")),
    responses((status = 200, description = "The provider, started again", body = ProviderView)))]
#[tracing::instrument(skip_all)]
pub async fn initialize(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<ProviderView>, ApiError> {
    let slot = state
        .providers
        .slot(&name)
        .ok_or_else(|| ApiError::unknown_provider(&name, &state.providers.names()))?;
    if slot.defined_in() == nephele_engine::providers::DefinedIn::Api {
        // A runtime account starts again from what is stored, not from the file.
        let started = state.restart_account(&name).await;
        state.catalog.forget(&name).await;
        let checked = state.readiness.recheck(&state.providers).await;
        return match (started, state.account_info(&name).await) {
            (Ok(()), Some(account)) => {
                Ok(Json(describe_account(&account, slot.as_ref(), checked.providers.get(&name).cloned(), 0)))
            }
            (Ok(()), None) => Err(ApiError::unknown_provider(&name, &state.providers.names())),
            (Err(reason), _) => {
                Err(ApiError::new(ErrorCode::ProviderUnavailable, format!("provider {name}: {reason}"))
                    .titled("The provider could not be started"))
            }
        };
    }
    let config = match &state.config.source {
        Some(path) => crate::Config::load(Some(path)).map(|(config, _)| config).map_err(|e| {
            tracing::warn!(provider = %name, error = %e, "the configuration file cannot be used");
            ApiError::new(ErrorCode::InvalidConfiguration, e.to_string())
        })?,
        None => state.config.clone(),
    };
    let started = slot.initialize(&config).await;
    state.catalog.forget(&name).await;
    let checked = state.readiness.recheck(&state.providers).await;
    match started {
        Ok(_) => Ok(Json(describe(&state, &name, slot.as_ref(), &checked))),
        Err(reason) => {
            Err(ApiError::new(ErrorCode::ProviderUnavailable, format!("provider {name}: {reason}"))
                .titled("The provider could not be started"))
        }
    }
}
