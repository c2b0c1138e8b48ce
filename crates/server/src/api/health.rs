//! Liveness, readiness, the original project's `/health` (all public), and `/metrics` (any key).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;

use super::{ApiError, ErrorCode};
use crate::app::AppState;
use crate::auth::Principal;

/// The original project's health answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `healthy`.
    pub status: String,
    /// The configured providers' names.
    pub providers: Vec<String>,
}

/// The process is up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Alive {
    /// Always `ok`.
    pub status: String,
}

/// Whether Nephele can serve: its database and every provider.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checked_secs_ago: u64,
    /// `ok`, or what is wrong, for each provider and for `database`.
    pub providers: BTreeMap<String, String>,
}

/// The original's health answer: `{"status": "healthy", "providers": [...]}`.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Always healthy while the process runs", body = Health)))]
#[tracing::instrument(skip_all)]
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health { status: "healthy".to_owned(), providers: state.providers.names() })
}

/// OpenMetrics text: HTTP requests, provider calls, inventory, run-rates and operations.
///
/// Needs an API key of any role when keys are required (Prometheus sends one with
/// `authorization: {credentials: <key>}`), and one not limited to some providers: the text
/// covers every provider. Open to anyone while the API runs open.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "OpenMetrics text", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
#[tracing::instrument(skip_all)]
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    if principal.scope().is_some() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "the metrics cover every provider; use a key that is not limited to some providers",
        ));
    }
    let text = nephele_engine::metrics::render(&state.engine, &state.http_metrics.registry).await;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Alive)))]
#[tracing::instrument(skip_all)]
pub async fn healthz() -> Json<Alive> {
    Json(Alive { status: "ok".to_owned() })
}

/// The database answers and every provider did at its last check;
/// 503 naming what does not. An account whose stored credentials do not open is named
/// (`unreadable: <reason>`) without making the server unready: the other accounts serve. Probes cost the providers nothing: at most one check per
/// `server.readiness_interval_secs`, whatever the number of probes.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "Not ready: the answer names what is wrong", body = Readiness)))]
#[tracing::instrument(skip_all)]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Readiness>) {
    let checked = state.readiness.current(&state.providers).await;
    let database = state.store.ping().await.err().map(|e| e.to_string());
    let ready = database.is_none() && checked.all_ready();
    let mut providers: BTreeMap<String, String> = checked
        .providers
        .into_iter()
        .map(|(name, problem)| (name, problem.unwrap_or_else(|| "ok".to_owned())))
        .collect();
    providers.insert("database".to_owned(), database.unwrap_or_else(|| "ok".to_owned()));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let answer = Readiness {
        status: if ready { "ready" } else { "not_ready" }.to_owned(),
        checked_secs_ago: checked.at.elapsed().as_secs(),
        providers,
    };
    (status, Json(answer))
}
