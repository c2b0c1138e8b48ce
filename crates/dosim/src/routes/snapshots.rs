//! `/v2/snapshots` (droplet and volume snapshots together) and a droplet's own snapshots and
//! backups.
//!
//! A droplet snapshot is a private image of type `snapshot`; an id that names a custom image
//! instead is "not a snapshot" (400), as the spec documents.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_id};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::state::World;
use crate::wire::{DropletSnapshotJson, SnapshotJson};

fn not_a_snapshot() -> DoError {
    DoError::bad_request("the resource is not a snapshot")
}

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let (droplets, volumes) = match query.get("resource_type") {
        None => (true, true),
        Some("droplet") => (true, false),
        Some("volume") => (false, true),
        Some(other) => {
            return Err(DoError::bad_request(format!(
                "resource_type must be droplet or volume, got {other:?}"
            )));
        }
    };
    let now = Instant::now();
    let world = account.world();
    let droplet_snapshots = world.private_images.values().filter(|i| droplets && i.kind == "snapshot");
    let total = droplet_snapshots.clone().count() + if volumes { world.volume_snapshots.len() } else { 0 };
    let volume_snapshots = world.volume_snapshots.values().filter(|_| volumes);
    let all = droplet_snapshots
        .map(|i| render::droplet_snapshot_listed(i, now))
        .chain(volume_snapshots.map(render::volume_snapshot));
    let items: Vec<SnapshotJson> = page.take(all, total).collect();
    Ok(Json(list_body("snapshots", items, page, total, &base, "/v2/snapshots", &query)).into_response())
}

/// A snapshot by id: a number names a droplet snapshot, anything else a volume snapshot.
fn find(world: &World, id: &str, now: Instant) -> Result<SnapshotJson, DoError> {
    match id.parse::<u64>() {
        Ok(image_id) => {
            let image = world.private_images.get(&image_id).ok_or_else(DoError::not_found)?;
            if image.kind != "snapshot" {
                return Err(not_a_snapshot());
            }
            Ok(render::droplet_snapshot_listed(image, now))
        }
        Err(_) => world.volume_snapshots.get(id).map(render::volume_snapshot).ok_or_else(DoError::not_found),
    }
}

pub async fn get(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let snapshot = find(&account.world(), &id, Instant::now())?;
    Ok(Json(json!({ "snapshot": snapshot })).into_response())
}

pub async fn delete(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let mut world = account.world();
    find(&world, &id, Instant::now())?;
    match id.parse::<u64>() {
        Ok(image_id) => world.delete_private_image(image_id).map(|_| ())?,
        Err(_) => world.delete_volume_snapshot(&id)?,
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn for_droplet(
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
    let images =
        droplet.snapshot_ids.iter().filter_map(|id| world.private_images.get(id)).collect::<Vec<_>>();
    let total = images.len();
    let items: Vec<DropletSnapshotJson> =
        page.take(images.into_iter(), total).map(|i| render::droplet_snapshot(i, now)).collect();
    let path = format!("/v2/droplets/{droplet_id}/snapshots");
    Ok(Json(list_body("snapshots", items, page, total, &base, &path, &query)).into_response())
}

/// The simulator takes no backups, so the list is always empty (for a droplet that exists).
pub async fn backups_for_droplet(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(droplet_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    if !account.world().droplets.contains_key(&droplet_id) {
        return Err(DoError::not_found());
    }
    let items: Vec<DropletSnapshotJson> = Vec::new();
    let path = format!("/v2/droplets/{droplet_id}/backups");
    Ok(Json(list_body("backups", items, page, 0, &base, &path, &query)).into_response())
}
