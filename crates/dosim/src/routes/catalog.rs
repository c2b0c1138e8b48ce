//! `/v2/regions` and `/v2/sizes`: the fixed catalogue, paginated like any list.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::BaseUrl;
use crate::catalog::{REGIONS, SIZES};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::sim::Sim;

pub async fn regions(
    State(_sim): State<Arc<Sim>>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let items = REGIONS[page.range(REGIONS.len())].iter().map(render::region).collect::<Vec<_>>();
    Ok(Json(list_body("regions", items, page, REGIONS.len(), &base, "/v2/regions", &query)).into_response())
}

pub async fn sizes(
    State(_sim): State<Arc<Sim>>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let items = SIZES[page.range(SIZES.len())].iter().map(render::size).collect::<Vec<_>>();
    Ok(Json(list_body("sizes", items, page, SIZES.len(), &base, "/v2/sizes", &query)).into_response())
}
