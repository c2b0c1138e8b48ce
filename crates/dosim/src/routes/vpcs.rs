//! `/v2/vpcs`: VPC networks and their members.

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
use crate::state::{NewVpc, VpcChange};
use crate::wire::{VpcCreateBody, VpcUpdateBody};

fn answer(account: &Account, id: &str, status: StatusCode) -> Result<Response, DoError> {
    let world = account.world();
    let vpc = world.vpcs.get(id).ok_or_else(DoError::not_found)?;
    Ok((status, Json(json!({ "vpc": render::vpc(vpc) }))).into_response())
}

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let total = world.vpcs.len();
    let items = page.take(world.vpcs.values(), total).map(render::vpc).collect::<Vec<_>>();
    Ok(Json(list_body("vpcs", items, page, total, &base, "/v2/vpcs", &query)).into_response())
}

pub async fn create(Tenant(account): Tenant, body: Bytes) -> Result<Response, DoError> {
    let request: VpcCreateBody = parse_required_body(&body)?;
    let new = NewVpc {
        name: request.name.ok_or_else(|| DoError::unprocessable("name is required."))?,
        region: request.region.ok_or_else(|| DoError::unprocessable("region is required."))?,
        description: request.description.unwrap_or_default(),
        ip_range: request.ip_range,
    };
    let id = account.world().create_vpc(new)?;
    answer(&account, &id, StatusCode::CREATED)
}

pub async fn get(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    answer(&account, &id, StatusCode::OK)
}

/// PUT (`name` required) and PATCH (anything) both change only what they give.
fn change(account: &Account, id: &str, body: &Bytes, name_required: bool) -> Result<Response, DoError> {
    if !account.world().vpcs.contains(id) {
        return Err(DoError::not_found());
    }
    let request: VpcUpdateBody = parse_required_body(body)?;
    if name_required && request.name.is_none() {
        return Err(DoError::unprocessable("name is required."));
    }
    let change = VpcChange { name: request.name, description: request.description, default: request.default };
    account.world().update_vpc(id, change)?;
    answer(account, id, StatusCode::OK)
}

pub async fn update(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    change(&account, &id, &body, true)
}

pub async fn patch(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    change(&account, &id, &body, false)
}

pub async fn delete(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    account.world().delete_vpc(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Members are the droplets placed in the VPC; `resource_type` other than `droplet` finds none.
pub async fn members(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let droplets_wanted = query.get("resource_type").is_none_or(|t| t == "droplet");
    let world = account.world();
    if !world.vpcs.contains(&id) {
        return Err(DoError::not_found());
    }
    let members =
        world.droplets.values().filter(|d| droplets_wanted && *d.vpc_uuid == *id).collect::<Vec<_>>();
    let total = members.len();
    let items = page.take(members.into_iter(), total).map(render::vpc_member).collect::<Vec<_>>();
    let path = format!("/v2/vpcs/{id}/members");
    Ok(Json(list_body("members", items, page, total, &base, &path, &query)).into_response())
}
