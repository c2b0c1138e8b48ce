//! `/v2/droplets/{id}/destroy_with_associated_resources`: what a droplet leaves behind, with
//! its monthly cost, and destroying the droplet with all of it or with a chosen part.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Tenant, parse_body, parse_id};
use crate::error::DoError;
use crate::render;
use crate::state::{AssociatedKind, Chosen};
use crate::wire::SelectiveDestroyBody;

pub async fn list(Tenant(account): Tenant, Path(droplet_id): Path<String>) -> Result<Response, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    let resources = account.world().associated_resources(droplet_id)?;
    Ok(Json(render::associated(&resources)).into_response())
}

pub async fn selective(
    Tenant(account): Tenant,
    Path(droplet_id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    let request: SelectiveDestroyBody = parse_body(&body)?;
    let mut chosen = Chosen::default();
    let lists = [
        (AssociatedKind::ReservedIp, request.reserved_ips),
        (AssociatedKind::ReservedIp, request.floating_ips),
        (AssociatedKind::Snapshot, request.snapshots),
        (AssociatedKind::Volume, request.volumes),
        (AssociatedKind::VolumeSnapshot, request.volume_snapshots),
    ];
    for (kind, ids) in lists {
        for id in ids.unwrap_or_default() {
            if !chosen.ids.contains(&(kind, id.clone())) {
                chosen.ids.push((kind, id));
            }
        }
    }
    account.world().destroy_with_associated(droplet_id, Some(chosen), Instant::now())?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Needs `X-Dangerous: true`: missing or not a boolean is a 400, `false` a 422.
pub async fn dangerous(
    Tenant(account): Tenant,
    Path(droplet_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, DoError> {
    match headers.get("x-dangerous").and_then(|v| v.to_str().ok()) {
        Some("true") => {}
        Some("false") => {
            return Err(DoError::unprocessable(
                "Destroying every associated resource needs X-Dangerous: true.",
            ));
        }
        _ => {
            return Err(DoError::bad_request(
                "The X-Dangerous header must be true to destroy every associated resource.",
            ));
        }
    }
    let droplet_id = parse_id(&droplet_id)?;
    account.world().destroy_with_associated(droplet_id, None, Instant::now())?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn status(Tenant(account): Tenant, Path(droplet_id): Path<String>) -> Result<Response, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    let world = account.world();
    let status = world.destroy_status(droplet_id).ok_or_else(DoError::not_found)?;
    Ok(Json(render::destroy_status(status, Instant::now())).into_response())
}

pub async fn retry(Tenant(account): Tenant, Path(droplet_id): Path<String>) -> Result<Response, DoError> {
    let droplet_id = parse_id(&droplet_id)?;
    account.world().retry_destroy(droplet_id, Instant::now())?;
    Ok(StatusCode::ACCEPTED.into_response())
}
