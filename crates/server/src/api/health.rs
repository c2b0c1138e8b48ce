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
