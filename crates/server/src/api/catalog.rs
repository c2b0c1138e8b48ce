//! `/api/v1/providers/{p}/regions`, `instance-types` and `images`, from the cached catalogue.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::error::ApiError;
use super::views::{InstanceTypeView, RegionView};
use crate::app::AppState;

pub async fn regions(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let regions = state.catalog.regions(&name, provider.as_ref()).await?;
    let views: Vec<RegionView> = regions.iter().map(RegionView::from).collect();
    Ok(Json(json!({ "regions": views })))
}

pub async fn instance_types(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let types = state.catalog.instance_types(&name, provider.as_ref()).await?;
    let views: Vec<InstanceTypeView> = types.iter().map(InstanceTypeView::from).collect();
    Ok(Json(json!({ "instance_types": views })))
}

pub async fn images(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let images = state.catalog.images(&name, provider.as_ref()).await?;
    Ok(Json(json!({ "images": images.as_ref() })))
}
