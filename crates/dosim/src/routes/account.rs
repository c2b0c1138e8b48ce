//! `/v2/account` and the account's SSH keys (`/v2/account/keys`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BaseUrl, parse_required_body};
use crate::error::DoError;
use crate::pagination::{Page, Query, list_body};
use crate::render;
use crate::sim::Sim;
use crate::wire::{AccountJson, AccountTeam, SshKeyCreateBody};

pub async fn get(State(_sim): State<Arc<Sim>>) -> Json<serde_json::Value> {
    let account = AccountJson {
        droplet_limit: 25_000,
        floating_ip_limit: 10,
        email: "sammy@example.com".to_owned(),
        name: "Sammy the Shark".to_owned(),
        uuid: "b6fr89dbf6d9156cace5f3c78dc9851d957381ef".to_owned(),
        email_verified: true,
        status: "active",
        status_message: String::new(),
        team: AccountTeam {
            uuid: "5df3e3004a17e242b7c20ca6c9fc25b701a47ece".to_owned(),
            name: "Nephele simulator".to_owned(),
        },
    };
    Json(json!({ "account": account }))
}

pub async fn list_keys(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Response, DoError> {
    let query = Query::parse(raw.as_deref());
    let page = Page::from_query(&query)?;
    let world = sim.world();
    let keys = world.ssh_keys.values().map(render::ssh_key).collect::<Vec<_>>();
    let total = keys.len();
    let items =
        keys.into_iter().skip(page.range(total).start).take(page.range(total).len()).collect::<Vec<_>>();
    Ok(Json(list_body("ssh_keys", items, page, total, &base, "/v2/account/keys", &query)).into_response())
}

pub async fn create_key(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response, DoError> {
    let request: SshKeyCreateBody = parse_required_body(&body)?;
    let name = request.name.ok_or_else(|| DoError::unprocessable("Name is required."))?;
    let public_key = request.public_key.ok_or_else(|| DoError::unprocessable("Public key is required."))?;
    let mut world = sim.world();
    let id = world.add_ssh_key(name, public_key)?;
    let key = world.ssh_keys.get(&id).ok_or_else(DoError::not_found)?;
    Ok((StatusCode::CREATED, Json(json!({ "ssh_key": render::ssh_key(key) }))).into_response())
}
