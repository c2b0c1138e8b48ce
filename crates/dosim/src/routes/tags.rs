//! `/v2/tags`: tags, their per-kind counts, and tagging resources.
//!
//! `POST /v2/tags` answers its 400s in a shape of its own (`error_with_root_causes`), as the
//! spec documents; every other error is DigitalOcean's usual one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_required_body};
use crate::account::Account;
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::state::{TagTarget, check_tag};
use crate::wire::{RootCausesJson, TagCreateBody, TagResourcesBody};

const TAGGABLE: &[&str] = &["droplet", "image", "volume", "volume_snapshot"];

fn root_causes(message: String) -> Response {
    let body = RootCausesJson { error: message.clone(), messages: None, root_causes: vec![message] };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let counts = world.tag_counts();
    let total = world.known_tags.len();
    let items = page
        .take(world.known_tags.iter(), total)
        .map(|t| render::tag(t, counts.get(t.as_str()).copied().unwrap_or_default()))
        .collect::<Vec<_>>();
    Ok(Json(list_body("tags", items, page, total, &base, "/v2/tags", &query)).into_response())
}

pub async fn create(Tenant(account): Tenant, body: Bytes) -> Response {
    let request: TagCreateBody = match parse_required_body(&body) {
        Ok(request) => request,
        Err(e) if e.status == StatusCode::BAD_REQUEST => return root_causes(e.message),
        Err(e) => return e.into_response(),
    };
    let Some(name) = request.name else {
        return DoError::unprocessable("name is required.").into_response();
    };
    if let Err(e) = check_tag(&name) {
        return root_causes(format!("Error validating resource tag: {}", e.message));
    }
    let mut world = account.world();
    if let Err(e) = world.create_tag(&name) {
        return e.into_response();
    }
    let counts = world.tag_counts().get(name.as_str()).copied().unwrap_or_default();
    (StatusCode::CREATED, Json(json!({ "tag": render::tag(&name, counts) }))).into_response()
}

pub async fn get(Tenant(account): Tenant, Path(name): Path<String>) -> Result<Response, DoError> {
    let world = account.world();
    if !world.known_tags.contains(&name) {
        return Err(DoError::not_found());
    }
    let counts = world.tag_counts().get(name.as_str()).copied().unwrap_or_default();
    Ok(Json(json!({ "tag": render::tag(&name, counts) })).into_response())
}

pub async fn delete(Tenant(account): Tenant, Path(name): Path<String>) -> Result<Response, DoError> {
    account.world().delete_tag(&name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn targets(body: &Bytes) -> Result<Vec<TagTarget>, DoError> {
    let request: TagResourcesBody = parse_required_body(body)?;
    request
        .resources
        .into_iter()
        .map(|item| {
            let resource_type = item
                .resource_type
                .ok_or_else(|| DoError::unprocessable("Every resource needs a resource_type."))?;
            if !TAGGABLE.contains(&resource_type.as_str()) {
                return Err(DoError::unprocessable(format!(
                    "resource_type must be droplet, image, volume or volume_snapshot, got {resource_type:?}."
                )));
            }
            let resource_id = item
                .resource_id
                .ok_or_else(|| DoError::unprocessable("Every resource needs a resource_id."))?;
            Ok(TagTarget { resource_id, resource_type })
        })
        .collect()
}

fn tag_or_untag(account: &Account, name: &str, body: &Bytes, on: bool) -> Result<Response, DoError> {
    if !account.world().known_tags.contains(name) {
        return Err(DoError::not_found());
    }
    let targets = targets(body)?;
    account.world().tag_resources(name, &targets, on)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn assign(
    Tenant(account): Tenant,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    tag_or_untag(&account, &name, &body, true)
}

pub async fn unassign(
    Tenant(account): Tenant,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    tag_or_untag(&account, &name, &body, false)
}
