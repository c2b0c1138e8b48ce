//! The REST API, v1: one module per resource.
//!
//! | route | module |
//! |---|---|
//! | `/health`, `/healthz`, `/readyz`, `/metrics` | [`health`] |
//! | `/api/v1/providers`, `/api/v1/providers/{p}[/initialize]` | [`providers`] |
//! | `POST /api/v1/providers`, `PATCH`/`DELETE /api/v1/providers/{p}`, `/api/v1/secrets/rotate` | [`accounts`] |
//! | `/api/v1/providers/{p}/instances[/{id}[/actions]]`, `/api/v1/instances` | [`instances`] |
//! | `/api/v1/providers/{p}/regions`, `instance-types`, `images` | [`catalog`] |
//! | `/api/v1/providers/{p}/cost-estimate`, `/api/v1/costs` | [`costs`] |
//! | `/api/v1/costs/history[.csv]` | [`cost_history`] |
//! | `/api/v1/budgets[/{id}]` | [`budgets`] |
//! | `/api/v1/providers/{p}/{kind}[/{id}[/actions\|/members]]`, `/api/v1/{kind}` (volumes, snapshots, ssh-keys, firewalls, reserved-ips, vpcs) | [`resources`] |
//! | `/api/v1/costs/waste` | [`waste`] |
//! | `/api/v1/operations[/{id}]` | [`operations`] |
//! | `/api/v1/audit` | [`audit`] |
//! | `/api/v1/keys[/{id}]` | [`keys`] |
//! | `/api/v1/events`, `/api/v1/events/stream` | [`events`] |
//! | `/api/v1/webhooks[/{id}[/rotate-secret, /test, /deliveries[/{d}/retry]]]` | [`webhooks`] |
//! | `/api/v1/openapi.json`, `/docs` | [`openapi`] |

pub mod accounts;
pub mod audit;
pub mod budgets;
pub mod catalog;
pub mod cost_history;
pub mod costs;
pub mod error;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod instances;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod operations;
pub mod providers;
pub mod query;
pub mod rendered;
pub mod resources;
pub mod views;
pub mod waste;
pub mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::response::Response;
use nephele_core::Provider;

pub use error::{ApiError, ErrorCode, FieldError};

use crate::app::AppState;

/// The whole router. Each route states who may call it (see [`crate::auth::access`]): public,
/// or the least role it needs, and whether it changes something (and so is audited). The same
/// table puts each route's role in the OpenAPI document ([`openapi`]).
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    use utoipa_axum::routes;

    use crate::auth::Role::{Admin, Operator, Viewer};
    use crate::auth::access::{Access, Routes};
    let (read, change) = (Access::read, Access::change);
    let (routes, document, table) = Routes::new(&state, openapi::base())
        .public(routes!(health::health))
        .public(routes!(health::healthz))
        .public(routes!(health::readyz))
        // Run-rates and instance counts are the fleet's business: any key (none while open).
        .needs(read(Viewer), routes!(health::metrics))
        .public(routes!(openapi::openapi_document))
        .needs(read(Viewer), routes!(providers::list))
        .needs(read(Viewer), routes!(providers::get))
        .needs(change(Admin), routes!(providers::initialize))
        .needs(change(Admin), routes!(accounts::create))
        .needs(change(Admin), routes!(accounts::update))
        .needs(change(Admin), routes!(accounts::remove))
        .needs(change(Admin), routes!(accounts::rotate))
        .needs(read(Viewer), routes!(instances::list))
        .needs(change(Operator), routes!(instances::create))
        .needs(read(Viewer), routes!(instances::get))
        .needs(change(Operator), routes!(instances::delete))
        .needs(change(Operator), routes!(instances::act))
        .needs(read(Viewer), routes!(instances::get_action))
        .needs(read(Viewer), routes!(catalog::regions))
        .needs(read(Viewer), routes!(catalog::instance_types))
        .needs(read(Viewer), routes!(catalog::images))
        // An estimate changes nothing: a viewer may ask, and it is not audited.
        .needs(read(Viewer), routes!(costs::estimate))
        .needs(read(Viewer), routes!(instances::fleet))
        .needs(read(Viewer), routes!(costs::fleet))
        .needs(read(Viewer), routes!(cost_history::history))
        .needs(read(Viewer), routes!(cost_history::history_csv))
        .needs(read(Viewer), routes!(budgets::list))
        .needs(change(Admin), routes!(budgets::create))
        .needs(read(Viewer), routes!(budgets::get))
        .needs(change(Admin), routes!(budgets::update))
        .needs(change(Admin), routes!(budgets::delete))
        .needs(read(Viewer), routes!(operations::list))
        .needs(read(Viewer), routes!(operations::get))
        .needs(read(Admin), routes!(audit::list))
        .needs(read(Admin), routes!(keys::list))
        .needs(change(Admin), routes!(keys::create))
        .needs(change(Admin), routes!(keys::revoke))
        // Events carry no secrets: any key reads those of its scope.
        .needs(read(Viewer), routes!(events::list))
        .needs(read(Viewer), routes!(events::stream))
        .needs(read(Admin), routes!(webhooks::list))
        .needs(change(Admin), routes!(webhooks::create))
        .needs(read(Admin), routes!(webhooks::get))
        .needs(change(Admin), routes!(webhooks::update))
        .needs(change(Admin), routes!(webhooks::delete))
        .needs(change(Admin), routes!(webhooks::rotate_secret))
        .needs(change(Admin), routes!(webhooks::test))
        .needs(read(Admin), routes!(webhooks::deliveries))
        .needs(change(Admin), routes!(webhooks::retry))
        .needs(read(Viewer), routes!(waste::report))
        .needs(read(Viewer), routes!(resources::list))
        .needs(change(Operator), routes!(resources::create))
        .needs(read(Viewer), routes!(resources::get))
        .needs(change(Operator), routes!(resources::delete))
        .needs(change(Operator), routes!(resources::act))
        .needs(read(Viewer), routes!(resources::members))
        .needs(read(Viewer), routes!(resources::fleet))
        .finish();
    let document = openapi::document(document, &table);
    let config = &state.config.server;
    let hosts: crate::auth::hosts::HostCheck = Arc::new(
        crate::auth::hosts::AllowedHosts::new(
            config.allowed_hosts.as_deref(),
            &config.listen,
            state.auth_required,
        )
        // The list was checked when the configuration was read; should it not parse, the
        // safe defaults stand.
        .unwrap_or_else(|_| {
            crate::auth::hosts::AllowedHosts::new(None, &config.listen, false).ok().flatten()
        }),
    );
    routes
        .merge(crate::dashboard::secured(openapi::reference(), crate::dashboard::REFERENCE_POLICY))
        .merge(crate::dashboard::router())
        .layer(axum::Extension(document))
        .fallback(|| async { ApiError::not_found("no such route; the API lives under /api/v1") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this route does not accept that method")
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(error::problems_only))
        // Inside the request's log line and id, so a panic is logged and answered as the request's.
        .layer(axum::middleware::from_fn(error::panics_as_problems))
        .layer(axum::middleware::from_fn_with_state(hosts, crate::auth::hosts::check))
        .layer(axum::middleware::from_fn_with_state(state.clone(), log_requests))
        .with_state(state)
}

/// The caller's `x-request-id` when it is a sane one (1-128 visible ASCII characters), or a new
/// one: echoed in the response header and in problem documents, and on every log line of the
/// request (the span carries it).
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// One log line per request (method, path, status, time taken), all under the request's id.
async fn log_requests(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    use tracing::Instrument;
    let id = request_id(&request);
    // The template the request matched: a label with one value per route, not per instance.
    // Written `:provider` rather than `{provider}`: braces inside label values trip simple
    // exposition parsers.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().replace('{', ":").replace('}', ""));
    let span = tracing::info_span!("request", request_id = %id);
    async move {
        let method = request.method().clone();
        // As the audit log keeps it: a caller's 64 KB path is not written to every log line.
        let path = nephele_engine::store::bounded_path(request.uri().path());
        let started = Instant::now();
        let mut response = error::with_request_id(
            nephele_engine::request_context::scope(id.clone(), next.run(request)).await,
            &id,
        )
        .await;
        if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", value);
        }
        let took = started.elapsed();
        state.http_metrics.observe(&route, method.as_str(), response.status().as_u16(), took);
        tracing::info!(
            %method,
            path,
            status = response.status().as_u16(),
            elapsed_ms = took.as_millis() as u64,
            "request"
        );
        response
    }
    .instrument(span)
    .await
}

/// The provider named in the path, or a 404 naming the configured ones.
pub fn provider(state: &AppState, name: &str) -> Result<Arc<dyn Provider>, ApiError> {
    // (Whether the caller may use it was checked by the route's access guard.)
    state.providers.get(name).ok_or_else(|| ApiError::unknown_provider(name, &state.providers.names()))
}

/// Account `name`'s provider type (empty for an account that is gone).
pub fn provider_type(state: &AppState, name: &str) -> String {
    state.providers.provider_type(name).unwrap_or_default()
}

/// The region a request names, else the provider's configured default, else a 422.
pub fn region_or_default(requested: Option<&str>, provider: &dyn Provider) -> Result<String, ApiError> {
    requested
        .map(str::to_owned)
        .or_else(|| provider.info().default_region)
        .ok_or_else(|| ApiError::invalid_field("region", "is required (no default region is configured)"))
}
