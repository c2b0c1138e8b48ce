//! `/v2/account` and the account's SSH keys (`/v2/account/keys`, by id or fingerprint).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, Tenant, parse_required_body};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::wire::{AccountJson, AccountTeam, SshKeyCreateBody, SshKeyUpdateBody};

/// The account the token belongs to: each simulated account has its own name and uuid.
pub async fn get(Tenant(account): Tenant) -> Json<serde_json::Value> {
    let body = AccountJson {
        droplet_limit: 25_000,
        floating_ip_limit: 10,
        email: format!("{}@example.com", account.name),
        name: account.name.clone(),
        uuid: account.uuid.clone(),
        email_verified: true,
        status: "active",
        status_message: String::new(),
        team: AccountTeam {
            uuid: account.uuid.chars().rev().collect(),
            name: format!("{} team", account.name),
        },
    };
    Json(json!({ "account": body }))
}

pub async fn list_keys(
    Tenant(account): Tenant,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = account.world();
    let keys = world.ssh_keys.values().map(render::ssh_key).collect::<Vec<_>>();
    let total = keys.len();
    let items =
        keys.into_iter().skip(page.range(total).start).take(page.range(total).len()).collect::<Vec<_>>();
    Ok(Json(list_body("ssh_keys", items, page, total, &base, "/v2/account/keys", &query)).into_response())
}

pub async fn create_key(Tenant(account): Tenant, body: Bytes) -> Result<Response, DoError> {
    let request: SshKeyCreateBody = parse_required_body(&body)?;
    let name = request.name.ok_or_else(|| DoError::unprocessable("Name is required."))?;
    let public_key = request.public_key.ok_or_else(|| DoError::unprocessable("Public key is required."))?;
    let mut world = account.world();
    let id = world.add_ssh_key(name, public_key)?;
    let key = world.ssh_keys.get(&id).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::CREATED, Json(json!({ "ssh_key": render::ssh_key(key) }))).into_response())
}

fn key_answer(world: &crate::state::World, id: u64) -> Result<Response, DoError> {
    let key = world.ssh_keys.get(&id).ok_or_else(DoError::not_found)?;
    Ok(Json(json!({ "ssh_key": render::ssh_key(key) })).into_response())
}

/// A key by id or by fingerprint.
pub async fn get_key(Tenant(account): Tenant, Path(identifier): Path<String>) -> Result<Response, DoError> {
    let world = account.world();
    let id = world.ssh_key_id(&identifier).ok_or_else(DoError::not_found)?;
    key_answer(&world, id)
}

/// Renames a key; a body without `name` changes nothing.
pub async fn update_key(
    Tenant(account): Tenant,
    Path(identifier): Path<String>,
    body: Bytes,
) -> Result<Response, DoError> {
    let mut world = account.world();
    let id = world.ssh_key_id(&identifier).ok_or_else(DoError::not_found)?;
    let request: SshKeyUpdateBody = parse_required_body(&body)?;
    if let Some(name) = request.name {
        if name.trim().is_empty() {
            return Err(DoError::unprocessable("Name must not be empty."));
        }
        if let Some(key) = world.ssh_keys.get_mut(&id) {
            key.name = name;
        }
    }
    key_answer(&world, id)
}

pub async fn delete_key(
    Tenant(account): Tenant,
    Path(identifier): Path<String>,
) -> Result<Response, DoError> {
    let mut world = account.world();
    let id = world.ssh_key_id(&identifier).ok_or_else(DoError::not_found)?;
    world.ssh_keys.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
