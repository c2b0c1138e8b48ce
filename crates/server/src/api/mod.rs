//! The REST API, v1: one module per resource.
//!
//! | route | module |
//! |---|---|
//! | `/health`, `/healthz`, `/readyz`, `/metrics` | [`health`] |
//! | `/api/v1/providers`, `/api/v1/providers/{p}` | [`providers`] |
//! | `/api/v1/providers/{p}/instances[/{id}[/actions]]`, `/api/v1/instances` | [`instances`] |
//! | `/api/v1/providers/{p}/regions`, `instance-types`, `images` | [`catalog`] |
//! | `/api/v1/providers/{p}/cost-estimate`, `/api/v1/costs` | [`costs`] |
//! | `/api/v1/operations[/{id}]` | [`operations`] |
//! | `/api/v1/audit` | [`audit`] |
//! | `/api/v1/keys[/{id}]` | [`keys`] |

pub mod audit;
pub mod catalog;
pub mod costs;
pub mod error;
pub mod health;
pub mod instances;
pub mod json;
pub mod keys;
pub mod operations;
pub mod providers;
mod validation;
pub mod views;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use nephele_core::Provider;

pub use error::{ApiError, FieldError};

use crate::app::AppState;

/// The whole router.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/providers", get(providers::list))
        .route("/api/v1/providers/{provider}", get(providers::get))
        .route("/api/v1/providers/{provider}/instances", get(instances::list).post(instances::create))
        .route("/api/v1/providers/{provider}/instances/{id}", get(instances::get).delete(instances::delete))
        .route("/api/v1/providers/{provider}/instances/{id}/actions", post(instances::act))
        .route("/api/v1/providers/{provider}/actions/{action_id}", get(instances::get_action))
        .route("/api/v1/providers/{provider}/regions", get(catalog::regions))
        .route("/api/v1/providers/{provider}/instance-types", get(catalog::instance_types))
        .route("/api/v1/providers/{provider}/images", get(catalog::images))
        .route("/api/v1/providers/{provider}/cost-estimate", post(costs::estimate))
        .route("/api/v1/instances", get(instances::fleet))
        .route("/api/v1/costs", get(costs::fleet))
        .route("/api/v1/operations", get(operations::list))
        .route("/api/v1/operations/{id}", get(operations::get))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/keys", get(keys::list).post(keys::create))
        .route("/api/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .fallback(|| async { ApiError::not_found("no such route; the API lives under /api/v1") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::middleware))
        .layer(axum::middleware::from_fn(log_requests))
        .with_state(state)
}

/// One log line per request: method, path, status, time taken.
async fn log_requests(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// The provider named in the path, or a 404 naming the configured ones.
pub fn provider(state: &AppState, name: &str) -> Result<Arc<dyn Provider>, ApiError> {
    // (Whether the caller may use it was checked by the auth middleware.)
    state.providers.get(name).ok_or_else(|| ApiError::unknown_provider(name, &state.providers.names()))
}

/// The region a request names, else the provider's configured default, else a 422.
pub fn region_or_default(requested: Option<&str>, provider: &dyn Provider) -> Result<String, ApiError> {
    requested
        .map(str::to_owned)
        .or_else(|| provider.info().default_region)
        .ok_or_else(|| ApiError::invalid_field("region", "is required (no default region is configured)"))
}
