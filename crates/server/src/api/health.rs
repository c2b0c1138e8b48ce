//! Liveness, readiness, and the original project's `/health`.

use std::sync::Arc;
use std::time::Duration;

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
    for (name, provider) in state.providers.all() {
        for (counter, value) in provider.counters() {
            by_counter.entry(counter).or_default().push((name.clone(), value));
        }
    }
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

/// The database and every provider answer; 503 naming what does not.
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let checks = state.providers.all().map(|(name, provider)| async move {
        let outcome = tokio::time::timeout(Duration::from_secs(5), provider.ping()).await;
        let problem = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("no answer within 5 s".to_owned()),
        };
        (name.clone(), problem)
    });
    let mut results = futures_util::future::join_all(checks).await;
    let database = state.store.ping().await.err().map(|e| e.to_string());
    let ready = database.is_none() && results.iter().all(|(_, problem)| problem.is_none());
    results.push(("database".to_owned(), database));
    let providers: serde_json::Map<String, Value> = results
        .into_iter()
        .map(|(name, problem)| (name, json!(problem.unwrap_or_else(|| "ok".to_owned()))))
        .collect();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "status": if ready { "ready" } else { "not_ready" }, "providers": providers })))
}
