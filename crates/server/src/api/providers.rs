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

/// A configured provider and whether it answered at the last readiness check.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub name: String,
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

fn describe(name: &str, provider: &dyn Provider, checked: &Checked) -> ProviderView {
    let info = provider.info();
    let problem = checked.providers.get(name).cloned().unwrap_or_else(|| Some("not checked yet".to_owned()));
    ProviderView {
        name: name.to_owned(),
        display_name: info.display_name,
        version: info.version,
        default_region: info.default_region,
        capabilities: info.capabilities,
        max_instances_per_create: info.max_instances_per_create,
        reachable: problem.is_none(),
        error: problem,
        checked_secs_ago: checked.at.elapsed().as_secs(),
        links: Links { this: format!("/api/v1/providers/{name}") },
    }
}

/// The providers this key may use.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses((status = 200, description = "The providers this key may use", body = ProviderList)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Json<ProviderList> {
    let checked = state.readiness.current(&state.providers).await;
    let providers = state
        .providers
        .all()
        .filter(|(name, _)| principal.may_use(name))
        .map(|(name, provider)| describe(&name, provider.as_ref(), &checked))
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
    Ok(Json(describe(&name, provider.as_ref(), &checked)))
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
        Ok(_) => Ok(Json(describe(&name, slot.as_ref(), &checked))),
        Err(reason) => {
            Err(ApiError::new(ErrorCode::ProviderUnavailable, format!("provider {name}: {reason}"))
                .titled("The provider could not be started"))
        }
    }
}
