//! `/api/v1/providers`: what is configured and whether it answers.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use nephele_core::Provider;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::app::AppState;

async fn describe(name: &str, provider: &dyn Provider) -> Value {
    let info = provider.info();
    let reachable = tokio::time::timeout(Duration::from_secs(5), provider.ping()).await;
    let (reachable, error) = match reachable {
        Ok(Ok(())) => (true, None),
        Ok(Err(e)) => (false, Some(e.to_string())),
        Err(_) => (false, Some("no answer within 5 s".to_owned())),
    };
    json!({
        "name": name,
        "display_name": info.display_name,
        "version": info.version,
        "default_region": info.default_region,
        "capabilities": info.capabilities,
        "reachable": reachable,
        "error": error,
        "links": { "self": format!("/api/v1/providers/{name}") },
    })
}

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let all = state.providers.all().map(|(name, provider)| describe(name, provider.as_ref()));
    Json(json!({ "providers": futures_util::future::join_all(all).await }))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = super::provider(&state, &name)?;
    Ok(Json(describe(&name, provider.as_ref()).await))
}
