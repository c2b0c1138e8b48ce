//! `/api/v1/providers`: what is configured and whether it answers (as of the last readiness
//! check: listing providers never calls them).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nephele_core::Provider;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::Principal;
use crate::readiness::Checked;

fn describe(name: &str, provider: &dyn Provider, checked: &Checked) -> Value {
    let info = provider.info();
    let problem = checked.providers.get(name).cloned().unwrap_or_else(|| Some("not checked yet".to_owned()));
    json!({
        "name": name,
        "display_name": info.display_name,
        "version": info.version,
        "default_region": info.default_region,
        "capabilities": info.capabilities,
        "reachable": problem.is_none(),
        "error": problem,
        "checked_secs_ago": checked.at.elapsed().as_secs(),
        "links": { "self": format!("/api/v1/providers/{name}") },
    })
}

/// The providers this key may use.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Json<Value> {
    let checked = state.readiness.current(&state.providers).await;
    let visible = state
        .providers
        .all()
        .filter(|(name, _)| principal.may_use(name))
        .map(|(name, provider)| describe(name, provider.as_ref(), &checked))
        .collect::<Vec<_>>();
    Json(json!({ "providers": visible }))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let checked = state.readiness.current(&state.providers).await;
    Ok(Json(describe(&name, provider.as_ref(), &checked)))
}

/// `POST /api/v1/providers/{name}/initialize` (admin): starts the provider again from the
/// configuration file as it is now (a plugin is restarted with its new settings, a built-in
/// provider rebuilt) and answers what it says it is, or a problem saying why it did not start.
pub async fn initialize(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let slot = state
        .providers
        .slot(&name)
        .ok_or_else(|| ApiError::unknown_provider(&name, &state.providers.names()))?;
    let config = match &state.startup_config.source {
        Some(path) => crate::Config::load(Some(path)).map(|(config, _)| config).map_err(|e| {
            ApiError::new(
                StatusCode::CONFLICT,
                "invalid_configuration",
                "The configuration file cannot be used",
                e.to_string(),
            )
        })?,
        None => state.startup_config.clone(),
    };
    let started = slot.initialize(&config).await;
    state.catalog.forget(&name).await;
    let checked = state.readiness.recheck(&state.providers).await;
    match started {
        Ok(_) => Ok(Json(describe(&name, slot.as_ref(), &checked))),
        Err(reason) => Err(ApiError {
            retry_after: None,
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                "The provider could not be started",
                format!("provider {name}: {reason}"),
            )
        }),
    }
}
