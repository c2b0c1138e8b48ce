//! `/v2/volumes`: block storage volumes, their actions (by id and by name) and their snapshots.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_id, parse_required_body, region_query};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::state::{NewVolume, VolumeAction};
use crate::wire::{VolumeActionBody, VolumeCreateBody, VolumeSnapshotCreateBody};

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let region = region_query(&query)?;
    let name = query.get("name");
    let world = account.world();
    let matching = world
        .volumes
        .values()
        .filter(|v| name.is_none_or(|n| v.name == n))
        .filter(|v| region.is_none_or(|r| v.region.slug == r))
        .collect::<Vec<_>>();
    let total = matching.len();
    let items = page.take(matching.into_iter(), total).map(render::volume).collect::<Vec<_>>();
    Ok(Json(list_body("volumes", items, page, total, &base, "/v2/volumes", &query)).into_response())
}

pub async fn create(Tenant(account): Tenant, body: Bytes) -> Result<Response, DoError> {
    let request: VolumeCreateBody = parse_required_body(&body)?;
    let new = NewVolume {
        name: request.name.ok_or_else(|| DoError::unprocessable("name is required."))?,
        size_gib: request
            .size_gigabytes
            .ok_or_else(|| DoError::unprocessable("size_gigabytes is required."))?,
        region: request.region.ok_or_else(|| DoError::unprocessable("region is required."))?,
        description: request.description.unwrap_or_default(),
        snapshot_id: request.snapshot_id,
        filesystem_type: request.filesystem_type,
        filesystem_label: request.filesystem_label,
        tags: request.tags.unwrap_or_default(),
    };
    let mut world = account.world();
    let id = world.create_volume(new)?;
    let volume = world.volumes.get(&id).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::CREATED, Json(json!({ "volume": render::volume(volume) }))).into_response())
}

pub async fn get(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let world = account.world();
    let volume = world.volumes.get(&id).ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "volume": render::volume(volume) })).into_response())
}

pub async fn delete(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    account.world().delete_volume(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v2/volumes?name=&region=`: both are needed to name one volume.
pub async fn delete_by_name(Tenant(account): Tenant, RawQuery(raw): RawQuery) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let region = region_query(&query)?;
    let (Some(name), Some(region)) = (query.get("name"), region) else {
        return Err(DoError::unprocessable("name and region are both needed to delete a volume by name."));
    };
    let mut world = account.world();
    let id = world.volume_by_name(name, region).map(|v| v.id.clone()).ok_or_else(DoError::not_found)?;
    world.delete_volume(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn volume_action(request: &VolumeActionBody) -> Result<VolumeAction, DoError> {
    let droplet = || request.droplet_id.ok_or_else(|| DoError::unprocessable("droplet_id is required."));
    match request.kind.as_str() {
        "attach" => Ok(VolumeAction::Attach { droplet_id: droplet()? }),
        "detach" => Ok(VolumeAction::Detach { droplet_id: droplet()? }),
        "resize" => Ok(VolumeAction::Resize {
            gib: request
                .size_gigabytes
                .ok_or_else(|| DoError::unprocessable("size_gigabytes is required."))?,
        }),
        other => Err(DoError::unprocessable(format!(
            "'{other}' is not a valid volume action (attach, detach, resize)."
        ))),
    }
}

fn action_answer(world: &crate::state::World, action_id: u64, now: Instant) -> Result<Response, DoError> {
    let action = world.actions.get(&action_id).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "action": render::action(action, now) }))).into_response())
}

/// The spec gives the action operations `page` and `per_page` (which page nothing); they are
/// still checked like any list's.
fn check_page(raw: Option<&str>) -> Result<(), DoError> {
    Page::from_query(&Query::parse(raw)).map(|_| ())
}

pub async fn post_action(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, DoError> {
    check_page(raw.as_deref())?;
    let request: VolumeActionBody = parse_required_body(&body)?;
    let action = volume_action(&request)?;
    let now = Instant::now();
    let mut world = account.world();
    let action_id = world.start_volume_action(&id, action, request.region.as_deref(), now)?;
    action_answer(&world, action_id, now)
}

/// `POST /v2/volumes/actions`: attach or detach the volume named `volume_name` in `region`.
pub async fn post_action_by_name(
    Tenant(account): Tenant,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, DoError> {
    check_page(raw.as_deref())?;
    let request: VolumeActionBody = parse_required_body(&body)?;
    let action = volume_action(&request)?;
    if matches!(action, VolumeAction::Resize { .. }) {
        return Err(DoError::unprocessable("Only attach and detach can name a volume by name."));
    }
    let (Some(name), Some(region)) = (request.volume_name.as_deref(), request.region.as_deref()) else {
        return Err(DoError::unprocessable("volume_name and region are both needed to name a volume."));
    };
    let now = Instant::now();
    let mut world = account.world();
    let id = world
        .volume_by_name(name, region)
        .map(|v| v.id.clone())
        .ok_or_else(|| DoError::unprocessable("No volume of that name in that region."))?;
    let action_id = world.start_volume_action(&id, action, Some(region), now)?;
    action_answer(&world, action_id, now)
}

pub async fn list_actions(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let now = Instant::now();
    let world = account.world();
    let volume = world.volumes.get(&id).ok_or_else(DoError::not_found)?;
    let total = volume.action_ids.len();
    let items = page
        .take(volume.action_ids.iter(), total)
        .filter_map(|a| world.actions.get(a))
        .map(|a| render::action(a, now))
        .collect::<Vec<_>>();
    let path = format!("/v2/volumes/{id}/actions");
    Ok(Json(list_body("actions", items, page, total, &base, &path, &query)).into_response())
}

pub async fn get_action(
    Tenant(account): Tenant,
    Path((id, action_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    check_page(raw.as_deref())?;
    let action_id = parse_id(&action_id)?;
    let world = account.world();
    let volume = world.volumes.get(&id).ok_or_else(DoError::not_found)?;
    let action = volume
        .action_ids
        .contains(&action_id)
        .then(|| world.actions.get(&action_id))
        .flatten()
        .ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "action": render::action(action, Instant::now()) })).into_response())
}

pub async fn list_snapshots(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    if !world.volumes.contains(&id) {
        return Err(DoError::not_found());
    }
    let matching = world.volume_snapshots.values().filter(|s| s.volume_id == id).collect::<Vec<_>>();
    let total = matching.len();
    let items = page.take(matching.into_iter(), total).map(render::volume_snapshot).collect::<Vec<_>>();
    let path = format!("/v2/volumes/{id}/snapshots");
    Ok(Json(list_body("snapshots", items, page, total, &base, &path, &query)).into_response())
}

pub async fn create_snapshot(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    let request: VolumeSnapshotCreateBody = parse_required_body(&body)?;
    let mut world = account.world();
    if !world.volumes.contains(&id) {
        return Err(DoError::not_found());
    }
    let name = request.name.ok_or_else(|| DoError::unprocessable("name is required."))?;
    let snapshot_id = world.snapshot_volume(&id, name, request.tags.unwrap_or_default())?;
    let snapshot = world.volume_snapshots.get(&snapshot_id).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::CREATED, Json(json!({ "snapshot": render::volume_snapshot(snapshot) }))).into_response())
}

pub async fn get_snapshot(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let world = account.world();
    let snapshot = world.volume_snapshots.get(&id).ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "snapshot": render::volume_snapshot(snapshot) })).into_response())
}

pub async fn delete_snapshot(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    account.world().delete_volume_snapshot(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
