//! `/v2/droplets`: list, create (single and multi), get, delete, delete by tag.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_body, parse_id};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::wire::{ActionLink, DropletCreateBody};

/// DigitalOcean answers deletes with 204, no body, but a JSON content type.
pub fn no_content_with_content_type() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let tag = query.get("tag_name");
    let name = query.get("name");
    let gpus_only = match query.get("type") {
        None => None,
        Some("droplets") => Some(false),
        Some("gpus") => Some(true),
        Some(other) => {
            return Err(DoError::bad_request(format!("type must be droplets or gpus, got {other:?}")));
        }
    };
    let now = Instant::now();
    let world = account.world();
    let unfiltered = tag.is_none() && name.is_none() && gpus_only.is_none();
    let (total, droplets) = if unfiltered {
        let range = page.range(world.droplets.len());
        let rendered = world
            .droplets
            .values()
            .skip(range.start)
            .take(range.len())
            .map(|d| render::droplet(d, now))
            .collect::<Vec<_>>();
        (world.droplets.len(), rendered)
    } else {
        let matching = world
            .droplets
            .values()
            .filter(|d| tag.is_none_or(|t| d.tags.iter().any(|x| x == t)))
            .filter(|d| name.is_none_or(|n| d.name == n))
            .filter(|d| gpus_only.is_none_or(|g| d.size.gpu.is_some() == g))
            .collect::<Vec<_>>();
        let range = page.range(matching.len());
        let rendered = matching[range].iter().map(|d| render::droplet(d, now)).collect();
        (matching.len(), rendered)
    };
    drop(world);
    Ok(Json(list_body("droplets", droplets, page, total, &base, "/v2/droplets", &query)).into_response())
}

pub async fn create(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, DoError> {
    let request: DropletCreateBody = parse_body(&body)?;
    let multi = request.names.is_some();
    let now = Instant::now();
    let mut world = account.world();
    let checked = world.check_create(request)?;
    let made = world.create_droplets(checked, now);
    let links = made
        .iter()
        .map(|(_, action_id)| ActionLink {
            id: *action_id,
            rel: "create",
            href: format!("{base}/v2/actions/{action_id}"),
        })
        .collect::<Vec<_>>();
    let rendered = made
        .iter()
        .filter_map(|(id, _)| world.droplets.get(id))
        .map(|d| render::droplet(d, now))
        .collect::<Vec<_>>();
    let body = if multi {
        json!({ "droplets": rendered, "links": { "actions": links } })
    } else {
        json!({ "droplet": rendered.first(), "links": { "actions": links } })
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub async fn get(
    Tenant(account): Tenant,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, DoError> {
    let id = parse_id(&id)?;
    let world = account.world();
    let droplet = world.droplets.get(&id).ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "droplet": render::droplet(droplet, Instant::now()) })))
}

pub async fn destroy(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let id = parse_id(&id)?;
    account.world().delete_droplet(id)?;
    Ok(no_content_with_content_type())
}

pub async fn destroy_by_tag(Tenant(account): Tenant, RawQuery(raw): RawQuery) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let tag = query
        .get("tag_name")
        .ok_or_else(|| DoError::bad_request("tag_name is required to delete Droplets by tag."))?;
    account.world().delete_droplets_by_tag(tag)?;
    Ok(no_content_with_content_type())
}
