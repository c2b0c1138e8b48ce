//! Droplet actions (`/v2/droplets/{id}/actions`) and the global `/v2/actions/{id}`.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_body, parse_id};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::wire::DropletActionBody;

pub async fn list_for_droplet(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(droplet_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let now = Instant::now();
    let world = account.world();
    let droplet = world.droplets.get(&droplet_id).ok_or_else(DoError::not_found)?;
    let range = page.range(droplet.action_ids.len());
    let actions = droplet.action_ids[range]
        .iter()
        .filter_map(|id| world.actions.get(id))
        .map(|a| render::action(a, now))
        .collect::<Vec<_>>();
    let path = format!("/v2/droplets/{droplet_id}/actions");
    Ok(Json(list_body("actions", actions, page, droplet.action_ids.len(), &base, &path, &query))
        .into_response())
}

pub async fn post(
    Tenant(account): Tenant,
    Path(droplet_id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    let request: DropletActionBody = parse_body(&body)?;
    let now = Instant::now();
    let mut world = account.world();
    let action_id = world.start_action(droplet_id, request, now)?;
    let action = world.actions.get(&action_id).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::CREATED, Json(json!({ "action": render::action(action, now) }))).into_response())
}

pub async fn get_for_droplet(
    Tenant(account): Tenant,
    Path((droplet_id, action_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    let action_id = parse_id(&action_id)?;
    let world = account.world();
    let action = world
        .actions
        .get(&action_id)
        .filter(|a| a.is_for_droplet(droplet_id))
        .ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "action": render::action(action, Instant::now()) })))
}

pub async fn get(
    Tenant(account): Tenant,
    Path(action_id): Path<String>,
) -> Result<Json<serde_json::Value>, DoError> {
    let action_id = parse_id(&action_id)?;
    let world = account.world();
    let action = world.actions.get(&action_id).ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "action": render::action(action, Instant::now()) })))
}
