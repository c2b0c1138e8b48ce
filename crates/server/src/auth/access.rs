//! Who may call a route, declared with the route itself.
//!
//! Each route in [`crate::api::router`] is registered with an [`Access`]: public, or the least
//! role it needs and whether it changes something (and so is audited). [`guard`] wraps the
//! handler with that check, so what a route allows is read in the route table, never inferred
//! from the path. A route registered without a guard is not reachable by accident: the router
//! only offers [`Routes::public`] and [`Routes::needs`].
//!
//! The guard also keeps what a caller can make it store small: a `{provider}` that is not a
//! well-formed provider name (1 to 32 of a-z, 0-9, -) is answered 404 without being repeated or
//! recorded, paths are stored cut short ([`nephele_engine::store::AuditEntry`]), and a key's refused and
//! failed requests write at most their budget of rows ([`nephele_engine::auth::budget`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use nephele_engine::auth::budget::Admission;
use nephele_engine::auth::verify_cached;

use super::{Principal, Role, bearer_token};
use crate::api::ApiError;
use crate::api::ErrorCode;
use crate::app::AppState;
use nephele_engine::store::AuditEntry;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// `None`: anyone (probes, metrics).
    pub role: Option<Role>,
    /// Whether the route changes something: every call is then written to the audit log.
    pub audited: bool,
}

impl Access {
    pub const PUBLIC: Self = Self { role: None, audited: false };

    /// Reads (and estimates): the role is checked, denials audited.
    pub const fn read(role: Role) -> Self {
        Self { role: Some(role), audited: false }
    }

    /// Changes: the role is checked and every call audited.
    pub const fn change(role: Role) -> Self {
        Self { role: Some(role), audited: true }
    }
}

/// The operation a mutating handler started, put in its response's extensions for the audit.
#[derive(Debug, Clone)]
pub struct StartedOperation(pub String);

/// What a handler asks to be put on the request's audit entry (an admin's budget override and
/// its reason), put in its response's extensions.
#[derive(Debug, Clone)]
pub struct AuditNote(pub String);

/// One row of the route table: what the OpenAPI document shows of a route's access.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The axum path template (`/api/v1/providers/{provider}`).
    pub path: String,
    /// Lower case, as OpenAPI writes it (`get`).
    pub method: String,
    pub access: Access,
}

/// Builds the router one route at a time and its OpenAPI document with it. Each route is one
/// line: its access, and its handler, whose `#[utoipa::path]` gives its method, path and
/// documentation (through `utoipa_axum::routes!`). A handler is routed and documented by that
/// one line or not at all, so no route can be half-added.
pub struct Routes {
    state: Arc<AppState>,
    router: OpenApiRouter<Arc<AppState>>,
    table: Vec<RouteSpec>,
}

impl Routes {
    /// A table whose document starts from `base` (its info, tags and shared schemas).
    pub fn new(state: &Arc<AppState>, base: utoipa::openapi::OpenApi) -> Self {
        Self { state: state.clone(), router: OpenApiRouter::with_openapi(base), table: Vec::new() }
    }

    /// A route open to anyone.
    pub fn public(self, route: UtoipaMethodRouter<Arc<AppState>>) -> Self {
        self.needs(Access::PUBLIC, route)
    }

    /// A route behind `access`.
    pub fn needs(mut self, access: Access, route: UtoipaMethodRouter<Arc<AppState>>) -> Self {
        let (schemas, paths, method_router) = route;
        for (path, item) in &paths.paths {
            for (method, operation) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("patch", &item.patch),
                ("delete", &item.delete),
            ] {
                if operation.is_some() {
                    self.table.push(RouteSpec { path: path.clone(), method: method.to_owned(), access });
                }
            }
        }
        let guard = Guard { state: self.state.clone(), access };
        let method_router =
            method_router.route_layer(axum::middleware::from_fn_with_state(guard, self::guard));
        self.router = self.router.routes((schemas, paths, method_router));
        self
    }

    /// The router, its document (before access is written into it) and its table.
    pub fn finish(self) -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi, Vec<RouteSpec>) {
        let (router, document) = self.router.split_for_parts();
        (router, document, self.table)
    }
}

/// A route's access and the state it needs to check it.
#[derive(Clone)]
pub struct Guard {
    state: Arc<AppState>,
    access: Access,
}

fn unauthorized(detail: &str) -> Response {
    let mut response = ApiError::new(ErrorCode::Unauthorized, detail).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// What the audit log records of a request.
struct Seen {
    method: String,
    path: String,
    peer: Option<SocketAddr>,
}

/// Who is calling: the open principal when keys are not required, else the key's.
async fn authenticate(state: &AppState, presented: Option<&str>, seen: &Seen) -> Result<Principal, Response> {
    if !state.auth_required {
        return Ok(Principal::open());
    }
    let failed = |principal: &'static str, detail: &'static str| async move {
        if let Some(peer) = seen.peer {
            record_failed_authentication(state, principal, seen, peer.ip()).await;
        }
        unauthorized(detail)
    };
    let Some(presented) = presented else {
        return Err(failed("anonymous", "send an API key as `Authorization: Bearer <key>`").await);
    };
    match verify_cached(&state.guards.keys, &state.store, presented).await {
        Ok(Some(principal)) => Ok(principal),
        Ok(None) => {
            Err(failed("invalid-key", "the API key is not valid (unknown, revoked or mistyped)").await)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check an API key");
            Err(ApiError::new(ErrorCode::StoreUnavailable, "cannot check credentials right now")
                .into_response())
        }
    }
}

/// Counts the failure; writes an audit entry only when the sampler says so (see
/// [`super::failures`]).
async fn record_failed_authentication(state: &AppState, principal: &str, seen: &Seen, source: IpAddr) {
    let Some((source, count)) = state.guards.failed_authentication.record(source, Instant::now()) else {
        return;
    };
    let entry = AuditEntry {
        principal: principal.to_owned(),
        method: seen.method.clone(),
        path: seen.path.clone(),
        source: Some(source.map_or_else(|| "other sources".to_owned(), |ip| ip.to_string())),
        count,
        ..AuditEntry::new(StatusCode::UNAUTHORIZED.as_u16(), "denied")
    };
    append(state, &entry).await;
}

async fn append(state: &AppState, entry: &AuditEntry) {
    if let Err(e) = state.store.append_audit(entry).await {
        tracing::error!(error = %e, "cannot append to the audit log");
    }
}

/// Writes the entry of an authenticated request: always when it succeeded (it stands for a
/// stored change), else within its principal's budget (past it, it is counted and summarised).
async fn record(state: &AppState, entry: &AuditEntry) {
    let succeeded = entry.outcome == "succeeded";
    if succeeded || state.guards.audit_budget.admit(entry, Instant::now()) == Admission::Write {
        append(state, entry).await;
    }
}

/// The answer for a `{provider}` that cannot name one: bounded, whatever was sent.
fn malformed_provider() -> Response {
    ApiError::new(
        ErrorCode::UnknownProvider,
        "no such provider: a provider name is 1 to 32 of a-z, 0-9 and -",
    )
    .into_response()
}

/// The per-route check: authenticate, authorise (role and provider scope), run, audit.
async fn guard(
    State(Guard { state, access }): State<Guard>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(needed) = access.role else { return next.run(request).await };
    let seen = Seen {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        peer: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
    };
    let presented = bearer_token(request.headers()).map(str::to_owned);
    let principal = match authenticate(&state, presented.as_deref(), &seen).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let named = match &params {
        Ok(params) => params.iter().find(|(name, _)| *name == "provider").map(|(_, value)| value.to_owned()),
        Err(rejection) => {
            return ApiError::new(ErrorCode::BadPath, rejection.body_text()).into_response();
        }
    };
    // Only a well-formed name is recorded, quoted or looked up.
    let malformed = named.as_deref().is_some_and(|p| !nephele_core::is_valid_account_name(p));
    let provider = named.filter(|_| !malformed);
    let entry = |status: StatusCode, outcome: &str| AuditEntry {
        principal: principal.id.clone(),
        role: Some(principal.role.as_str().to_owned()),
        method: seen.method.clone(),
        path: seen.path.clone(),
        source: seen.peer.map(|p| p.to_string()),
        provider: provider.clone(),
        ..AuditEntry::new(status.as_u16(), outcome)
    };
    let refused_provider = provider.as_deref().filter(|p| !principal.may_use(p));
    if principal.role < needed || refused_provider.is_some() {
        record(&state, &entry(StatusCode::FORBIDDEN, "denied")).await;
        let detail = match refused_provider {
            Some(p) => format!("this key may not use the provider {p:?}"),
            None => {
                format!("this needs the {} role; the key has {}", needed.as_str(), principal.role.as_str())
            }
        };
        return ApiError::new(ErrorCode::Forbidden, detail).into_response();
    }
    if malformed {
        if access.audited {
            record(&state, &entry(StatusCode::NOT_FOUND, "failed")).await;
        }
        return malformed_provider();
    }
    let audit = access.audited.then(|| entry(StatusCode::OK, ""));
    request.extensions_mut().insert(principal);
    let response = next.run(request).await;
    if let Some(mut audit) = audit {
        audit.status = response.status().as_u16();
        audit.outcome = if response.status().is_success() { "succeeded" } else { "failed" }.to_owned();
        audit.operation_id = response.extensions().get::<StartedOperation>().map(|o| o.0.clone());
        audit.note = response.extensions().get::<AuditNote>().map(|n| n.0.clone());
        record(&state, &audit).await;
    }
    response
}
