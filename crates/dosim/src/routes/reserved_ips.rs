//! `/v2/reserved_ips`: reserved IPv4 addresses and their assign/unassign actions.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_id, parse_required_body};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::state::{IpAction, ReservedIp, World};
use crate::wire::{ActionLink, ReservedIpActionBody, ReservedIpCreateBody, ReservedIpJson, ReservedIpLinks};

fn urn(ip: &ReservedIp) -> String {
    format!("do:floatingip:{}", ip.address)
}

fn rendered(world: &World, ip: &ReservedIp, now: Instant) -> ReservedIpJson {
    let droplet = ip.droplet_id.and_then(|d| world.droplets.get(&d));
    render::reserved_ip(ip, droplet, world.project_of(&urn(ip)), now)
}

pub async fn list(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let now = Instant::now();
    let world = account.world();
    let total = world.reserved_ips.len();
    let items =
        page.take(world.reserved_ips.values(), total).map(|ip| rendered(&world, ip, now)).collect::<Vec<_>>();
    Ok(Json(list_body("reserved_ips", items, page, total, &base, "/v2/reserved_ips", &query)).into_response())
}

/// Reserves an address in a region, or for a droplet (then `links` name the droplet and the
/// assignment). The body is a `oneOf`: exactly one of `droplet_id` and `region`.
pub async fn create(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, DoError> {
    let request: ReservedIpCreateBody = parse_required_body(&body)?;
    let now = Instant::now();
    let mut world = account.world();
    let (address, links) = match (request.droplet_id, request.region) {
        (Some(droplet_id), None) => {
            let (address, action_id) = world.reserve_ip_for_droplet(droplet_id, now)?;
            let links = ReservedIpLinks {
                droplets: vec![ActionLink {
                    id: droplet_id,
                    rel: "droplet",
                    href: format!("{base}/v2/droplets/{droplet_id}"),
                }],
                actions: vec![ActionLink {
                    id: action_id,
                    rel: "assign_ip",
                    href: format!("{base}/v2/actions/{action_id}"),
                }],
            };
            (address, links)
        }
        (None, Some(region)) => {
            let address = world.reserve_ip_in_region(&region, request.project_id.as_deref(), now)?;
            (address, ReservedIpLinks::default())
        }
        (Some(_), Some(_)) => {
            return Err(DoError::unprocessable("Give either droplet_id or region, not both."));
        }
        (None, None) => return Err(DoError::unprocessable("A reserved IP needs a droplet_id or a region.")),
    };
    let ip = world.reserved_ips.get(&address).ok_or_else(DoError::not_found)?;
    let body = json!({ "reserved_ip": rendered(&world, ip, now), "links": links });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

pub async fn get(Tenant(account): Tenant, Path(address): Path<String>) -> Result<Response, DoError> {
    let world = account.world();
    let ip = world.reserved_ips.get(&address).ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "reserved_ip": rendered(&world, ip, Instant::now()) })).into_response())
}

pub async fn delete(Tenant(account): Tenant, Path(address): Path<String>) -> Result<Response, DoError> {
    account.world().release_ip(&address)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_actions(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    Path(address): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let now = Instant::now();
    let world = account.world();
    let ip = world.reserved_ips.get(&address).ok_or_else(DoError::not_found)?;
    let total = ip.action_ids.len();
    let items = page
        .take(ip.action_ids.iter(), total)
        .filter_map(|a| world.actions.get(a))
        .map(|a| render::action(a, now))
        .collect::<Vec<_>>();
    let path = format!("/v2/reserved_ips/{address}/actions");
    Ok(Json(list_body("actions", items, page, total, &base, &path, &query)).into_response())
}

fn action_with_project(
    world: &World,
    ip: &ReservedIp,
    action_id: u64,
    now: Instant,
) -> Result<serde_json::Value, DoError> {
    let action = world.actions.get(&action_id).ok_or_else(DoError::not_found)?;
    let mut json = render::action(action, now);
    json.project_id = Some(world.project_of(&urn(ip)));
    Ok(json!({ "action": json }))
}

pub async fn post_action(
    Tenant(account): Tenant,
    Path(address): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    let mut world = account.world();
    if !world.reserved_ips.contains(&address) {
        return Err(DoError::not_found());
    }
    let request: ReservedIpActionBody = super::parse_body(&body)?;
    let action = match request.kind.as_str() {
        "assign" => IpAction::Assign {
            droplet_id: request
                .droplet_id
                .ok_or_else(|| DoError::unprocessable("droplet_id is required."))?,
        },
        "unassign" => IpAction::Unassign,
        other => {
            return Err(DoError::unprocessable(format!(
                "'{other}' is not a valid action (assign, unassign)."
            )));
        }
    };
    let now = Instant::now();
    let action_id = world.start_ip_action(&address, action, now)?;
    let ip = world.reserved_ips.get(&address).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::CREATED, Json(action_with_project(&world, ip, action_id, now)?)).into_response())
}

pub async fn get_action(
    Tenant(account): Tenant,
    Path((address, action_id)): Path<(String, String)>,
) -> Result<Response, DoError> {
    let action_id = parse_id(&action_id)?;
    let world = account.world();
    let ip = world.reserved_ips.get(&address).ok_or_else(DoError::not_found)?;
    if !ip.action_ids.contains(&action_id) {
        return Err(DoError::not_found());
    }
    Ok(Json(action_with_project(&world, ip, action_id, Instant::now())?).into_response())
}
