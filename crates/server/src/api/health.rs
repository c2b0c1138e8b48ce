//! Liveness, readiness, and the original project's `/health`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::AppState;

/// The original's health answer: `{"status": "healthy", "providers": [...]}`.
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "status": "healthy", "providers": state.providers.names() }))
}

/// Prometheus text: each provider's counters as `nephele_provider_<name>_total{provider="..."}`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl axum::response::IntoResponse {
    let text = crate::metrics::render(&state).await;
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and every provider did at its last check (see [`crate::readiness`]);
/// 503 naming what does not. Probes cost the providers nothing: at most one check per
/// `server.readiness_interval_secs`, whatever the number of probes.
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let checked = state.readiness.current(&state.providers).await;
    let database = state.store.ping().await.err().map(|e| e.to_string());
    let ready = database.is_none() && checked.providers.values().all(Option::is_none);
    let mut providers: serde_json::Map<String, Value> = checked
        .providers
        .into_iter()
        .map(|(name, problem)| (name, json!(problem.unwrap_or_else(|| "ok".to_owned()))))
        .collect();
    providers.insert("database".to_owned(), json!(database.unwrap_or_else(|| "ok".to_owned())));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "checked_secs_ago": checked.at.elapsed().as_secs(),
            "providers": providers,
        })),
    )
}
