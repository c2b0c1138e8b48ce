//! The API's contract: an OpenAPI 3.1 document generated from the handlers' types
//! (`#[utoipa::path]` on each handler, `ToSchema` on each body), with each operation's role
//! and audit taken from the route table, so the document cannot disagree with the guard.
//!
//! Served at `GET /api/v1/openapi.json`; `docs/openapi.json` is the committed copy (a test
//! compares them, so every API change shows as a diff); `/docs` is Swagger UI, served from the
//! binary (the `vendored` build of utoipa-swagger-ui: no CDN), with the dashboard's security
//! headers (its own content security policy, no framing, `nosniff`).

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::error::{ErrorCodeSchema, FieldErrorView, Problem, ProviderFailure, UpstreamView};
use super::{instances, views};
use crate::auth::access::RouteSpec;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nephele",
        description = "One API over your clouds: instances, regions, types, images, costs, operations and audit.\n\n\
            Authenticate with `Authorization: Bearer <API key>` (keys are made with `nephele keys create` \
            or `POST /api/v1/keys`). Each operation states the least role it needs (`x-nephele-role`) and \
            whether it is written to the audit log (`x-nephele-audited`). Every error is an RFC 9457 \
            problem document whose `code` is one of `ErrorCode`."
    ),
    components(schemas(
        Problem,
        ErrorCodeSchema,
        FieldErrorView,
        ProviderFailure,
        UpstreamView,
        views::Accepted,
        instances::StatusName,
        // Used only in parameters (path and query), which do not bring their schemas along.
        super::waste::WasteKindName,
        super::resources::KindName,
        super::webhooks::DeliveryStateName,
        super::cost_history::StepName
    )),
    tags(
        (name = "health", description = "Probes (no key needed), the API document, and metrics (any key, when keys are required)"),
        (name = "providers", description = "The configured clouds"),
        (name = "instances", description = "Servers: list, create, power, delete"),
        (name = "catalogue", description = "Regions, instance types and images"),
        (name = "costs", description = "Estimates and the fleet's spend"),
        (name = "operations", description = "Every change and where it stands"),
        (name = "audit", description = "Who changed what"),
        (name = "keys", description = "API keys"),
        (name = "events", description = "What happened (CloudEvents 1.0): a list and a resumable stream. Types: nephele.operation.accepted, nephele.operation.step, nephele.operation.succeeded, nephele.operation.failed, nephele.instance.appeared, nephele.instance.status_changed, nephele.instance.deleted, the same three for nephele.volume, nephele.snapshot, nephele.ssh_key, nephele.firewall, nephele.reserved_ip and nephele.vpc, nephele.api_key.created, nephele.api_key.revoked, nephele.webhook.disabled, nephele.webhook.test, nephele.account.added, nephele.account.updated, nephele.account.removed, nephele.account.unreadable, nephele.budget.threshold_crossed, nephele.budget.threshold_recovered"),
        (name = "webhooks", description = "Endpoints that receive events, signed per Standard Webhooks 1.0, and their delivery log"),
    )
)]
struct ApiDoc;

/// The document, rendered once when the router is built.
#[derive(Clone)]
pub struct Document(Arc<Vec<u8>>);

/// A problem response, as every operation may answer.
fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
    })
}

/// What every document starts from: its info, shared schemas and tags. Operations are added as
/// routes are (see [`crate::auth::access::Routes`]).
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The routed document with the route table's access written into each operation.
pub fn document_value(routed: utoipa::openapi::OpenApi, table: &[RouteSpec]) -> Value {
    let mut document = serde_json::to_value(routed).unwrap_or_default();
    document["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    document["components"]["securitySchemes"] = json!({
        "bearer": { "type": "http", "scheme": "bearer", "description": "A Nephele API key" }
    });
    // The table and the paths come from the same `routes!` calls: every row has its operation.
    for route in table {
        let Some(operation) = document["paths"][route.path.as_str()].get_mut(route.method.as_str()) else {
            continue;
        };
        // Handler names repeat across modules (`list`, `get`): the tag makes them unique.
        let id = format!(
            "{}_{}",
            operation["tags"][0].as_str().unwrap_or("api"),
            operation["operationId"].as_str().unwrap_or(&route.method)
        );
        operation["operationId"] = json!(id);
        let role = route.access.role.map_or("public", |r| r.as_str());
        operation["x-nephele-role"] = json!(role);
        operation["x-nephele-audited"] = json!(route.access.audited);
        if route.access.role.is_some() {
            operation["security"] = json!([{ "bearer": [] }]);
            let rule = format!(
                "\n\nNeeds an API key with the `{role}` role or higher{}.",
                if route.access.audited { "; every call is written to the audit log" } else { "" }
            );
            let description = operation["description"].as_str().unwrap_or_default().to_owned() + &rule;
            operation["description"] = json!(description.trim_start());
        }
        // Any request may name itself; the id comes back in the answer and in every log line.
        let named = json!({
            "name": "x-request-id",
            "in": "header",
            "required": false,
            "description": "Your id for this request (1-128 visible ASCII characters; anything else is replaced)",
            "schema": { "type": "string" }
        });
        match operation["parameters"].as_array_mut() {
            Some(parameters) => parameters.push(named),
            None => operation["parameters"] = json!([named]),
        }
        let responses = &mut operation["responses"];
        if route.access.role.is_some() {
            responses["401"] = problem("No API key, or one that is not valid (`unauthorized`)");
            responses["403"] = problem("The key's role or providers do not cover this (`forbidden`)");
        }
        if route.path.contains("{provider}") {
            responses["404"] = problem("No such provider or resource (`unknown_provider`, `not_found`)");
            responses["503"] = problem(
                "The provider is unreachable or rate-limited, or the database is (`provider_unavailable`, `provider_rate_limited`, `store_unavailable`)",
            );
        }
        responses["default"] = problem("A problem document; `code` says which");
        // Every answer names its request (the caller's own `x-request-id`, or a new one).
        if let Some(all) = responses.as_object_mut() {
            for response in all.values_mut() {
                response["headers"]["x-request-id"] = json!({
                    "description": "The request's id: the caller's own when it sent a sane one (1-128 visible ASCII characters), else a new UUID",
                    "schema": { "type": "string" }
                });
            }
        }
    }
    document
}

pub fn document(routed: utoipa::openapi::OpenApi, table: &[RouteSpec]) -> Document {
    let mut bytes = serde_json::to_vec_pretty(&document_value(routed, table)).unwrap_or_default();
    bytes.push(b'\n');
    Document(Arc::new(bytes))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
#[tracing::instrument(skip_all)]
pub async fn openapi_document(Extension(document): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0.as_ref().clone())
}

/// `/docs`: Swagger UI over `/api/v1/openapi.json`, its files inside the binary.
pub fn reference<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let config = utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"]).try_it_out_enabled(true);
    utoipa_swagger_ui::SwaggerUi::new("/docs").config(config).into()
}
