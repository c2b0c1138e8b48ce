//! `/_sim`: the simulator's own control API (not DigitalOcean's; no token needed).
//!
//! Tests use it to see how many upstream calls a feature made and to turn faults on and off.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::DoError;
use crate::faults::Faults;
use crate::sim::{Sim, Stats};

pub fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/reset", post(reset))
        .route("/_sim/faults", get(read_faults).put(write_faults))
        .route("/_sim/health", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
}

async fn stats(State(sim): State<Arc<Sim>>) -> Json<Stats> {
    Json(sim.snapshot())
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
