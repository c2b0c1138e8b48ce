//! `/v2/images`: public distribution and application images plus the account's private ones.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_id, parse_required_body};
use crate::catalog::{self, PUBLIC_IMAGES};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::state::{ImageRef, check_tag};
use crate::wire::{CustomImageBody, ImageJson, ImageUpdateBody, StringOrId};

/// The spec's `distribution` enum.
const DISTRIBUTIONS: &[&str] = &[
    "Arch Linux",
    "CentOS",
    "CoreOS",
    "Debian",
    "Fedora",
    "Fedora Atomic",
    "FreeBSD",
    "Gentoo",
    "openSUSE",
    "RancherOS",
    "Rocky Linux",
    "Ubuntu",
    "Unknown",
];

fn check_distribution(distribution: Option<&str>) -> Result<(), DoError> {
    match distribution {
        Some(d) if !DISTRIBUTIONS.contains(&d) => {
            Err(DoError::unprocessable(format!("'{d}' is not a supported distribution.")))
        }
        _ => Ok(()),
    }
}

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let class = match query.get("type") {
        None => None,
        Some(c @ ("application" | "distribution")) => Some(c.to_owned()),
        Some(other) => {
            return Err(DoError::bad_request(format!(
                "type must be application or distribution, got {other:?}"
            )));
        }
    };
    let private = match query.get("private") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(DoError::bad_request(format!("private must be true or false, got {other:?}")));
        }
    };
    let tag = query.get("tag_name");
    let now = Instant::now();
    let world = account.world();
    let public = PUBLIC_IMAGES
        .iter()
        .filter(|_| private != Some(true) && tag.is_none())
        .filter(|i| class.as_deref().is_none_or(|c| i.class == c))
        .map(render::public_image);
    let own = world
        .private_images
        .values()
        .filter(|_| private != Some(false) && class.is_none())
        .filter(|i| tag.is_none_or(|t| i.tags.iter().any(|x| x == t)))
        .map(|i| render::private_image(i, now));
    let all: Vec<ImageJson> = public.chain(own).collect();
    let total = all.len();
    let items = all[page.range(total)].to_vec();
    Ok(Json(list_body("images", items, page, total, &base, "/v2/images", &query)).into_response())
}

pub async fn create_custom(Tenant(account): Tenant, body: Bytes) -> Result<Response, DoError> {
    let request: CustomImageBody = parse_required_body(&body)?;
    let name = request
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| DoError::unprocessable("Name is required."))?;
    let url = request.url.ok_or_else(|| DoError::unprocessable("Url is required."))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(DoError::unprocessable("Url must be an http or https URL."));
    }
    let region = request.region.ok_or_else(|| DoError::unprocessable("Region is required."))?;
    if catalog::region(&region).is_none() {
        return Err(DoError::unprocessable("You specified an invalid region."));
    }
    check_distribution(request.distribution.as_deref())?;
    let tags = request.tags.unwrap_or_default();
    for tag in &tags {
        check_tag(tag)?;
    }
    let now = Instant::now();
    let mut world = account.world();
    let distribution = request.distribution.unwrap_or_else(|| "Unknown".to_owned());
    let id = world.add_private_image(name, "custom", distribution, vec![region], tags, now, 20);
    if let Some(image) = world.private_images.get_mut(&id) {
        image.description = request.description.unwrap_or_default();
    }
    let image = world.private_images.get(&id).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "image": render::private_image(image, now) }))).into_response())
}

pub async fn get(
    Tenant(account): Tenant,
    Path(reference): Path<String>,
) -> Result<Json<serde_json::Value>, DoError> {
    let world = account.world();
    let reference = match reference.parse::<u64>() {
        Ok(id) => StringOrId::Id(id),
        Err(_) => StringOrId::Text(reference),
    };
    let image = match world.find_image(&reference).ok_or_else(DoError::not_found)? {
        ImageRef::Public(spec) => render::public_image(spec),
        ImageRef::Private(image) => render::private_image(&image, Instant::now()),
    };
    Ok(Json(json!({ "image": image })))
}

fn refuse_public(id: u64) -> Result<(), DoError> {
    if PUBLIC_IMAGES.iter().any(|i| i.id == id) {
        return Err(DoError::forbidden("You do not have access for the attempted action."));
    }
    Ok(())
}

pub async fn update(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, DoError> {
    let id = parse_id(&id)?;
    refuse_public(id)?;
    let request: ImageUpdateBody = parse_required_body(&body)?;
    check_distribution(request.distribution.as_deref())?;
    let mut world = account.world();
    let image = world.private_images.get_mut(&id).ok_or_else(DoError::not_found)?;
    if let Some(name) = request.name {
        if name.trim().is_empty() {
            return Err(DoError::unprocessable("Name must not be empty."));
        }
        image.name = name;
    }
    if let Some(distribution) = request.distribution {
        image.distribution = distribution;
    }
    if let Some(description) = request.description {
        image.description = description;
    }
    Ok(Json(json!({ "image": render::private_image(image, Instant::now()) })))
}

pub async fn delete(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    let id = parse_id(&id)?;
    refuse_public(id)?;
    account.world().delete_private_image(id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
