//! `/_sim`: the simulator's own control API (not DigitalOcean's; no token needed).
//!
//! Tests use it to see how many upstream calls a feature made and to turn faults on and off.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::account::DEFAULT_ACCOUNT;
use crate::error::DoError;
use crate::faults::Faults;
use crate::pagination::Query;
use crate::sim::{Sim, Stats};

pub fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .route("/_sim/faults", get(read_faults).put(write_faults))
        .route("/_sim/lifetimes", get(lifetimes))
        .route("/_sim/health", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
}

async fn stats(State(sim): State<Arc<Sim>>) -> Json<Stats> {
    Json(sim.snapshot())
}

/// The deleted resources of one account (`?account=NAME`, default `default`), each with its
/// creation and deletion times and the changes between: what usage will be worked out from.
async fn lifetimes(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>, DoError> {
    let query = Query::parse(raw.as_deref());
    let name = query.get("account").unwrap_or(DEFAULT_ACCOUNT);
    let account = sim.account_named(name).ok_or_else(DoError::not_found)?;
    let world = account.world();
    Ok(Json(serde_json::json!({ "account": name, "retired": world.retired })))
}

async fn reset(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

async fn read_faults(State(sim): State<Arc<Sim>>) -> Json<Faults> {
    Json(sim.faults())
}

async fn write_faults(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Json<Faults>, DoError> {
    let faults: Faults = serde_json::from_slice(&body)
        .map_err(|e| DoError::bad_request(format!("invalid fault settings: {e}")))?;
    faults.validate().map_err(DoError::bad_request)?;
    sim.set_faults(faults.clone());
    Ok(Json(faults))
}
