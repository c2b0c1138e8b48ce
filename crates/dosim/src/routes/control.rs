//! `/_sim`: the simulator's own control API (not DigitalOcean's; no token needed).
//!
//! Tests use it to see how many upstream calls a feature made, to turn faults on and off, and to
//! set and move the simulated clock (which never goes backwards: see [`crate::clock`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::account::DEFAULT_ACCOUNT;
use crate::clock::ClockError;
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
        .route("/_sim/clock", get(read_clock).put(set_clock).post(advance_clock))
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

/// The clock's reading, at full precision, and whether it is simulated.
#[derive(Serialize)]
struct ClockJson {
    now: String,
    simulated: bool,
}

/// `PUT /_sim/clock`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    #[serde(with = "time::serde::rfc3339")]
    now: OffsetDateTime,
}

/// `POST /_sim/clock`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceClock {
    advance_secs: u64,
}

fn clock_answer(sim: &Sim) -> Response {
    let now = sim.now();
    let body =
        ClockJson { now: now.format(&Rfc3339).unwrap_or_default(), simulated: sim.clock_is_simulated() };
    Json(body).into_response()
}

fn clock_refused(error: ClockError) -> DoError {
    match error {
        ClockError::Backwards { .. } => DoError::conflict(error.to_string()),
        ClockError::TooFar => DoError::unprocessable(error.to_string()),
    }
}

async fn read_clock(State(sim): State<Arc<Sim>>) -> Response {
    clock_answer(&sim)
}

/// Sets the simulated clock: `{"now": "2026-03-01T00:00:00Z"}` (RFC 3339). 409 if that is
/// before the clock's reading.
async fn set_clock(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response, DoError> {
    let request: SetClock = serde_json::from_slice(&body)
        .map_err(|e| DoError::bad_request(format!("expected {{\"now\": RFC 3339 time}}: {e}")))?;
    sim.set_clock(request.now).map_err(clock_refused)?;
    Ok(clock_answer(&sim))
}

/// Moves the clock forward: `{"advance_secs": 3600}`.
async fn advance_clock(State(sim): State<Arc<Sim>>, body: Bytes) -> Result<Response, DoError> {
    let request: AdvanceClock = serde_json::from_slice(&body)
        .map_err(|e| DoError::bad_request(format!("expected {{\"advance_secs\": whole seconds}}: {e}")))?;
    sim.advance_clock(request.advance_secs).map_err(clock_refused)?;
    Ok(clock_answer(&sim))
}
