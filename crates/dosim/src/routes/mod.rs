//! The HTTP routes: DigitalOcean's `/v2` operations (behind the gate) and the `/_sim` control API.

mod account;
mod actions;
mod catalog;
mod control;
mod droplets;
mod images;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::get;
use serde::de::DeserializeOwned;

use crate::account::Account;
use crate::error::DoError;
use crate::gate::gate;
use crate::sim::Sim;

/// Builds the simulator's router.
pub fn router(sim: Arc<Sim>) -> Router {
    let v2 = Router::new()
        .route("/v2/droplets", get(droplets::list).post(droplets::create).delete(droplets::destroy_by_tag))
        .route("/v2/droplets/{droplet_id}", get(droplets::get).delete(droplets::destroy))
        .route("/v2/droplets/{droplet_id}/actions", get(actions::list_for_droplet).post(actions::post))
        .route("/v2/droplets/{droplet_id}/actions/{action_id}", get(actions::get_for_droplet))
        .route("/v2/actions/{action_id}", get(actions::get))
        .route("/v2/regions", get(catalog::regions))
        .route("/v2/sizes", get(catalog::sizes))
        .route("/v2/images", get(images::list).post(images::create_custom))
        .route("/v2/images/{image_id}", get(images::get).put(images::update).delete(images::delete))
        .route("/v2/account", get(account::get))
        .route("/v2/account/keys", get(account::list_keys).post(account::create_key))
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

/// Parses a JSON body: malformed JSON is a 400, well-formed JSON of the wrong shape a 422.
/// No body at all reads as `{}`, so a missing required field gets its own 422.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, DoError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| DoError::bad_request(format!("The request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(DoError::bad_request("The request body must be a JSON object."));
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

/// Path ids are positive integers; anything else names nothing, so it is a 404.
pub fn parse_id(raw: &str) -> Result<u64, DoError> {
    raw.parse::<u64>().ok().filter(|id| *id >= 1).ok_or_else(DoError::not_found)
}
