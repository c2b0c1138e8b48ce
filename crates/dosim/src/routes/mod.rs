//! The HTTP routes: DigitalOcean's `/v2` operations (behind the gate) and the `/_sim` control API.

mod account;
mod actions;
mod billing;
mod catalog;
mod control;
mod destroy;
mod droplets;
mod firewalls;
mod images;
mod projects;
mod reserved_ips;
mod snapshots;
mod tags;
mod volumes;
mod vpcs;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use serde::de::DeserializeOwned;

use crate::account::Account;
use crate::error::DoError;
use crate::gate::gate;
use crate::pagination::Query;
use crate::sim::Sim;

/// Builds the simulator's router.
pub fn router(sim: Arc<Sim>) -> Router {
    const ASSOCIATED: &str = "/v2/droplets/{droplet_id}/destroy_with_associated_resources";
    let v2 = Router::new()
        .route("/v2/droplets", get(droplets::list).post(droplets::create).delete(droplets::destroy_by_tag))
        .route("/v2/droplets/{droplet_id}", get(droplets::get).delete(droplets::destroy))
        .route("/v2/droplets/{droplet_id}/actions", get(actions::list_for_droplet).post(actions::post))
        .route("/v2/droplets/{droplet_id}/actions/{action_id}", get(actions::get_for_droplet))
        .route("/v2/droplets/{droplet_id}/snapshots", get(snapshots::for_droplet))
        .route("/v2/droplets/{droplet_id}/backups", get(snapshots::backups_for_droplet))
        .route(ASSOCIATED, get(destroy::list))
        .route(&format!("{ASSOCIATED}/selective"), delete(destroy::selective))
        .route(&format!("{ASSOCIATED}/dangerous"), delete(destroy::dangerous))
        .route(&format!("{ASSOCIATED}/status"), get(destroy::status))
        .route(&format!("{ASSOCIATED}/retry"), post(destroy::retry))
        .route("/v2/actions/{action_id}", get(actions::get))
        .route("/v2/regions", get(catalog::regions))
        .route("/v2/sizes", get(catalog::sizes))
        .route("/v2/images", get(images::list).post(images::create_custom))
        .route("/v2/images/{image_id}", get(images::get).put(images::update).delete(images::delete))
        .route("/v2/account", get(account::get))
        .route("/v2/account/keys", get(account::list_keys).post(account::create_key))
        .route(
            "/v2/account/keys/{ssh_key_identifier}",
            get(account::get_key).put(account::update_key).delete(account::delete_key),
        )
        .route("/v2/volumes", get(volumes::list).post(volumes::create).delete(volumes::delete_by_name))
        .route("/v2/volumes/actions", post(volumes::post_action_by_name))
        .route("/v2/volumes/{volume_id}", get(volumes::get).delete(volumes::delete))
        .route("/v2/volumes/{volume_id}/actions", get(volumes::list_actions).post(volumes::post_action))
        .route("/v2/volumes/{volume_id}/actions/{action_id}", get(volumes::get_action))
        .route(
            "/v2/volumes/{volume_id}/snapshots",
            get(volumes::list_snapshots).post(volumes::create_snapshot),
        )
        .route(
            "/v2/volumes/snapshots/{snapshot_id}",
            get(volumes::get_snapshot).delete(volumes::delete_snapshot),
        )
        .route("/v2/snapshots", get(snapshots::list))
        .route("/v2/snapshots/{snapshot_id}", get(snapshots::get).delete(snapshots::delete))
        .route("/v2/firewalls", get(firewalls::list).post(firewalls::create))
        .route(
            "/v2/firewalls/{firewall_id}",
            get(firewalls::get).put(firewalls::update).delete(firewalls::delete),
        )
        .route(
            "/v2/firewalls/{firewall_id}/droplets",
            post(firewalls::add_droplets).delete(firewalls::remove_droplets),
        )
        .route("/v2/firewalls/{firewall_id}/tags", post(firewalls::add_tags).delete(firewalls::remove_tags))
        .route(
            "/v2/firewalls/{firewall_id}/rules",
            post(firewalls::add_rules).delete(firewalls::remove_rules),
        )
        .route("/v2/reserved_ips", get(reserved_ips::list).post(reserved_ips::create))
        .route("/v2/reserved_ips/{reserved_ip}", get(reserved_ips::get).delete(reserved_ips::delete))
        .route(
            "/v2/reserved_ips/{reserved_ip}/actions",
            get(reserved_ips::list_actions).post(reserved_ips::post_action),
        )
        .route("/v2/reserved_ips/{reserved_ip}/actions/{action_id}", get(reserved_ips::get_action))
        .route("/v2/vpcs", get(vpcs::list).post(vpcs::create))
        .route("/v2/vpcs/{vpc_id}", get(vpcs::get).put(vpcs::update).patch(vpcs::patch).delete(vpcs::delete))
        .route("/v2/vpcs/{vpc_id}/members", get(vpcs::members))
        .route("/v2/projects", get(projects::list).post(projects::create))
        .route(
            "/v2/projects/{project_id}",
            get(projects::get).put(projects::update).patch(projects::patch).delete(projects::delete),
        )
        .route(
            "/v2/projects/{project_id}/resources",
            get(projects::list_resources).post(projects::assign_resources),
        )
        .route("/v2/tags", get(tags::list).post(tags::create))
        .route("/v2/tags/{tag_id}", get(tags::get).delete(tags::delete))
        .route("/v2/tags/{tag_id}/resources", post(tags::assign).delete(tags::unassign))
        .route("/v2/customers/my/balance", get(billing::balance))
        .route("/v2/customers/my/billing_history", get(billing::history))
        .route("/v2/customers/my/invoices", get(billing::invoices))
        .route("/v2/customers/my/invoices/{invoice_uuid}", get(billing::invoice))
        .route("/v2/customers/my/invoices/{invoice_uuid}/summary", get(billing::summary))
        .route_layer(axum::middleware::from_fn_with_state(sim.clone(), gate));
    v2.merge(control::router())
        .fallback(|| async { DoError::not_found() })
        .method_not_allowed_fallback(|| async { DoError::method_not_allowed() })
        .with_state(sim)
}

/// The account whose token the request carries, as the gate found it.
pub struct Tenant(pub Arc<Account>);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = DoError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Every `/v2` route is behind the gate, which always puts the account there.
        parts.extensions.get::<Arc<Account>>().cloned().map(Tenant).ok_or_else(DoError::unauthorized)
    }
}

/// `http://host:port` as the client addressed us, for absolute pagination links.
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        Ok(Self(format!("http://{host}")))
    }
}

/// Parses a JSON body: malformed JSON is a 400, well-formed JSON of the wrong shape (including
/// one that is not an object) a 422.
/// No body at all reads as `{}`, so a missing required field gets its own 422.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, DoError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| DoError::bad_request(format!("The request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        // Well-formed JSON of the wrong shape, like a missing field: several of the spec's body
        // schemas do not even say `type: object`, so this is a business rule, not a parse error.
        return Err(DoError::unprocessable("The request body must be a JSON object."));
    }
    serde_json::from_value(value).map_err(|e| DoError::unprocessable(format!("Invalid request: {e}")))
}

/// Parses a body the spec marks `required`: an empty one is a 400.
pub fn parse_required_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, DoError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DoError::bad_request("A JSON request body is required."));
    }
    parse_body(body)
}

/// The `region` query filter: absent, or one of the spec's `region_slug` values (anything else
/// is a malformed request, 400).
pub fn region_query(query: &Query) -> Result<Option<&str>, DoError> {
    match query.get("region") {
        Some(region) if !crate::catalog::SPEC_REGION_SLUGS.contains(&region) => {
            Err(DoError::bad_request(format!("region must be a region slug, got {region:?}")))
        }
        region => Ok(region),
    }
}

/// Path ids are positive integers; anything else names nothing, so it is a 404.
pub fn parse_id(raw: &str) -> Result<u64, DoError> {
    raw.parse::<u64>().ok().filter(|id| *id >= 1).ok_or_else(DoError::not_found)
}
