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
    let mut lines = Vec::new();
    let mut by_counter: std::collections::BTreeMap<&'static str, Vec<(String, u64)>> = Default::default();
    // Plugins' counters are read over their sockets first (a second at most for all of them).
    let refreshes =
        state.providers.all().map(|(_, provider)| async move { provider.refresh_counters().await });
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(1), futures_util::future::join_all(refreshes))
            .await;
    for (name, provider) in state.providers.all() {
        for (counter, value) in provider.counters() {
            by_counter.entry(counter).or_default().push((name.clone(), value));
        }
    }
    lines.push("# TYPE nephele_failed_authentications_total counter".to_owned());
    lines.push(format!("nephele_failed_authentications_total {}", state.failed_authentication.total()));
    for (counter, values) in by_counter {
        lines.push(format!("# TYPE nephele_provider_{counter}_total counter"));
        for (provider, value) in values {
            lines.push(format!("nephele_provider_{counter}_total{{provider=\"{provider}\"}} {value}"));
        }
    }
    lines.push(String::new());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], lines.join("\n"))
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
