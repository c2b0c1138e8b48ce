//! `/api/v1/providers/{p}/regions`, `instance-types` and `images`, from the cached catalogue.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};

use super::error::ApiError;
use super::views::{ImageList, ImageView, InstanceTypeList, InstanceTypeView, RegionList, RegionView};
use crate::app::AppState;

#[utoipa::path(get, path = "/api/v1/providers/{provider}/regions", tag = "catalogue",
    params(("provider" = String, Path, description = "A configured provider's name")),
    responses((status = 200, description = "The provider's regions", body = RegionList)))]
#[tracing::instrument(skip_all)]
pub async fn regions(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<RegionList>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let regions = state.catalog.regions(&name, provider.as_ref()).await?;
    Ok(Json(RegionList { regions: regions.iter().map(RegionView::from).collect() }))
}

#[utoipa::path(get, path = "/api/v1/providers/{provider}/instance-types", tag = "catalogue",
    params(("provider" = String, Path, description = "A configured provider's name")),
    responses((status = 200, description = "The provider's instance types and list prices", body = InstanceTypeList)))]
#[tracing::instrument(skip_all)]
pub async fn instance_types(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<InstanceTypeList>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let types = state.catalog.instance_types(&name, provider.as_ref()).await?;
    Ok(Json(InstanceTypeList { instance_types: types.iter().map(InstanceTypeView::from).collect() }))
}

#[utoipa::path(get, path = "/api/v1/providers/{provider}/images", tag = "catalogue",
    params(("provider" = String, Path, description = "A configured provider's name")),
    responses((status = 200, description = "The images instances can be made from", body = ImageList)))]
#[tracing::instrument(skip_all)]
pub async fn images(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<ImageList>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let images = state.catalog.images(&name, provider.as_ref()).await?;
    Ok(Json(ImageList { images: images.iter().map(ImageView::from).collect() }))
}
