//! `/v2/firewalls`: cloud firewalls, their rules and their droplet and tag membership.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_body};
use crate::account::Account;
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::state::{FirewallSpec, Rule, Targets, normalize_ports, parse_protocol};
use crate::wire::{
    FirewallBody, FirewallDropletsBody, FirewallRulesBody, FirewallTagsBody, InboundRuleJson,
    OutboundRuleJson, TargetsJson,
};

fn targets(json: TargetsJson) -> Targets {
    Targets {
        addresses: json.addresses,
        droplet_ids: json.droplet_ids,
        load_balancer_uids: json.load_balancer_uids,
        kubernetes_ids: json.kubernetes_ids,
        tags: json.tags,
    }
}

fn rule(protocol: &str, ports: &str, to: TargetsJson) -> Result<Rule, DoError> {
    let protocol = parse_protocol(protocol)?;
    Ok(Rule { protocol, ports: normalize_ports(protocol, ports)?, targets: targets(to) })
}

fn rules(
    inbound: Vec<InboundRuleJson>,
    outbound: Vec<OutboundRuleJson>,
) -> Result<(Vec<Rule>, Vec<Rule>), DoError> {
    let inbound =
        inbound.into_iter().map(|r| rule(&r.protocol, &r.ports, r.sources)).collect::<Result<_, _>>()?;
    let outbound = outbound
        .into_iter()
        .map(|r| rule(&r.protocol, &r.ports, r.destinations))
        .collect::<Result<_, _>>()?;
    Ok((inbound, outbound))
}

fn spec(body: FirewallBody) -> Result<FirewallSpec, DoError> {
    let name = body.name.ok_or_else(|| DoError::unprocessable("name is required."))?;
    let (inbound, outbound) = rules(body.inbound_rules, body.outbound_rules)?;
    Ok(FirewallSpec { name, droplet_ids: body.droplet_ids, tags: body.tags, inbound, outbound })
}

fn answer(account: &Account, id: &str, status: StatusCode, now: Instant) -> Result<Response, DoError> {
    let world = account.world();
    let firewall = world.firewalls.get(id).ok_or_else(DoError::not_found)?;
    Ok((status, Json(json!({ "firewall": render::firewall(firewall, now) }))).into_response())
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
    let total = world.firewalls.len();
    let items =
        page.take(world.firewalls.values(), total).map(|f| render::firewall(f, now)).collect::<Vec<_>>();
    Ok(Json(list_body("firewalls", items, page, total, &base, "/v2/firewalls", &query)).into_response())
}

pub async fn create(Tenant(account): Tenant, body: Bytes) -> Result<Response, DoError> {
    let spec = spec(parse_body(&body)?)?;
    let now = Instant::now();
    let id = account.world().create_firewall(spec, now)?;
    answer(&account, &id, StatusCode::ACCEPTED, now)
}

pub async fn get(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    answer(&account, &id, StatusCode::OK, Instant::now())
}

pub async fn update(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    if !account.world().firewalls.contains(&id) {
        return Err(DoError::not_found());
    }
    let spec = spec(parse_body(&body)?)?;
    let now = Instant::now();
    account.world().replace_firewall(&id, spec, now)?;
    answer(&account, &id, StatusCode::OK, now)
}

pub async fn delete(Tenant(account): Tenant, Path(id): Path<String>) -> Result<Response, DoError> {
    account.world().delete_firewall(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn droplets(account: &Account, id: &str, body: &Bytes, remove: bool) -> Result<Response, DoError> {
    if !account.world().firewalls.contains(id) {
        return Err(DoError::not_found());
    }
    let request: FirewallDropletsBody = parse_body(body)?;
    account.world().firewall_droplets(id, &request.droplet_ids, remove, Instant::now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn add_droplets(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    droplets(&account, &id, &body, false)
}

pub async fn remove_droplets(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    droplets(&account, &id, &body, true)
}

fn tags(account: &Account, id: &str, body: &Bytes, remove: bool) -> Result<Response, DoError> {
    if !account.world().firewalls.contains(id) {
        return Err(DoError::not_found());
    }
    let request: FirewallTagsBody = parse_body(body)?;
    let tags = request.tags.unwrap_or_default();
    account.world().firewall_tags(id, &tags, remove, Instant::now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn add_tags(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    tags(&account, &id, &body, false)
}

pub async fn remove_tags(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    tags(&account, &id, &body, true)
}

fn change_rules(account: &Account, id: &str, body: &Bytes, remove: bool) -> Result<Response, DoError> {
    if !account.world().firewalls.contains(id) {
        return Err(DoError::not_found());
    }
    let request: FirewallRulesBody = parse_body(body)?;
    let (inbound, outbound) = rules(request.inbound_rules, request.outbound_rules)?;
    account.world().firewall_rules(id, inbound, outbound, remove, Instant::now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn add_rules(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    change_rules(&account, &id, &body, false)
}

pub async fn remove_rules(
    Tenant(account): Tenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    change_rules(&account, &id, &body, true)
}
