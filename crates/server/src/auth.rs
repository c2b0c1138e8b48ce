//! API keys, roles, and the middleware that authenticates, authorises and audits requests.
//!
//! Keys look like `nph_<id>_<secret>`; only a SHA-256 hash of the whole key is stored (the key
//! is 244 random bits, so a slow password hash would add nothing). Roles: `viewer` reads,
//! `operator` also creates, deletes and powers instances, `admin` also manages keys and reads
//! the audit log. A key may be limited to some providers. No key is 401, a bad key 401, a key
//! without the right is 403; every mutating or denied request is appended to the audit log.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::app::AppState;
use crate::store::{AuditEntry, NewApiKey, Store, StoreError};

/// What a key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key id, or `anonymous` when the API runs open.
    pub id: String,
    pub role: Role,
    /// Providers this key may touch; `None` means all.
    pub providers: Option<Vec<String>>,
}

impl Principal {
    pub fn open() -> Self {
        Self { id: "anonymous".to_owned(), role: Role::Admin, providers: None }
    }

    pub fn may_use(&self, provider: &str) -> bool {
        self.providers.as_ref().is_none_or(|list| list.iter().any(|p| p == provider))
    }
}

/// A key as shown once, at creation.
pub struct IssuedKey {
    pub id: String,
    pub key: String,
}

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares in time independent of where the strings differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Makes a key, stores its hash, and returns it (the only time it is ever seen).
pub async fn issue_key(
    store: &Store,
    role: Role,
    providers: Option<&[String]>,
    description: Option<&str>,
) -> Result<IssuedKey, StoreError> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let key = format!("nph_{id}_{secret}");
    store
        .insert_api_key(NewApiKey { id: &id, hash: &hash(&key), role: role.as_str(), providers, description })
        .await?;
    Ok(IssuedKey { id, key })
}

/// The principal a presented key stands for, or `None` for any key that does not check out.
async fn verify(store: &Store, presented: &str) -> Result<Option<Principal>, StoreError> {
    let Some(id) = presented.strip_prefix("nph_").and_then(|rest| rest.split('_').next()) else {
        return Ok(None);
    };
    let Some(record) = store.find_api_key(id).await? else { return Ok(None) };
    if record.revoked_at.is_some() || !constant_time_eq(&record.hash, &hash(presented)) {
        return Ok(None);
    }
    Ok(Role::parse(&record.role).map(|role| Principal { id: record.id, role, providers: record.providers }))
}

/// The least role a route needs.
fn required_role(method: &Method, path: &str) -> Role {
    if path.starts_with("/api/v1/keys") || path.starts_with("/api/v1/audit") {
        Role::Admin
    } else if method == Method::GET || method == Method::HEAD || path.ends_with("/cost-estimate") {
        Role::Viewer
    } else {
        Role::Operator
    }
}

/// `/api/v1/providers/{p}/...` names a provider.
fn provider_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v1/providers/")?.split('/').next().filter(|p| !p.is_empty())
}

/// Probes need no key; `/metrics` (counters only, nothing about any resource) neither, as
/// scrapers rarely carry one.
fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/healthz" | "/readyz" | "/metrics")
}

fn unauthorized(detail: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required", detail)
            .into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The header handlers set so the audit log can name the operation.
pub const OPERATION_HEADER: &str = "nephele-operation-id";

pub async fn middleware(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if is_public(&path) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let audit = |principal: &str,
                 role: Option<Role>,
                 status: StatusCode,
                 outcome: &str,
                 operation_id: Option<String>| {
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: String::new(),
            principal: principal.to_owned(),
            role: role.map(|r| r.as_str().to_owned()),
            method: method.to_string(),
            path: path.clone(),
            source: Some(peer.to_string()),
            status: status.as_u16(),
            outcome: outcome.to_owned(),
            operation_id,
        };
        let store = state.store.clone();
        async move {
            if let Err(e) = store.append_audit(&entry).await {
                tracing::error!(error = %e, "cannot append to the audit log");
            }
        }
    };

    let principal = if !state.auth_required {
        Principal::open()
    } else {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_owned);
        let Some(presented) = presented else {
            audit("anonymous", None, StatusCode::UNAUTHORIZED, "denied", None).await;
            return unauthorized("send an API key as `Authorization: Bearer <key>`");
        };
        match verify(&state.store, &presented).await {
            Ok(Some(principal)) => principal,
            Ok(None) => {
                audit("invalid-key", None, StatusCode::UNAUTHORIZED, "denied", None).await;
                return unauthorized("the API key is not valid (unknown, revoked or mistyped)");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot check an API key");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "Store unavailable",
                    "cannot check credentials right now",
                )
                .into_response();
            }
        }
    };

    let needed = required_role(&method, &path);
    let provider_refused = provider_in_path(&path).filter(|p| !principal.may_use(p));
    if principal.role < needed || provider_refused.is_some() {
        audit(&principal.id, Some(principal.role), StatusCode::FORBIDDEN, "denied", None).await;
        let detail = match provider_refused {
            Some(p) => format!("this key may not use the provider {p:?}"),
            None => {
                format!("this needs the {} role; the key has {}", needed.as_str(), principal.role.as_str())
            }
        };
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail).into_response();
    }

    request.extensions_mut().insert(principal.clone());
    let response = next.run(request).await;
    if method != Method::GET && method != Method::HEAD && !path.ends_with("/cost-estimate") {
        let operation_id =
            response.headers().get(OPERATION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let outcome = if response.status().is_success() { "succeeded" } else { "failed" };
        audit(&principal.id, Some(principal.role), response.status(), outcome, operation_id).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_needed_by_route() {
        assert_eq!(required_role(&Method::GET, "/api/v1/providers/digitalocean/instances"), Role::Viewer);
        assert_eq!(
            required_role(&Method::POST, "/api/v1/providers/digitalocean/cost-estimate"),
            Role::Viewer
        );
        assert_eq!(required_role(&Method::POST, "/api/v1/providers/digitalocean/instances"), Role::Operator);
        assert_eq!(
            required_role(&Method::DELETE, "/api/v1/providers/digitalocean/instances/1"),
            Role::Operator
        );
        assert_eq!(required_role(&Method::GET, "/api/v1/audit"), Role::Admin);
        assert_eq!(required_role(&Method::POST, "/api/v1/keys"), Role::Admin);
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }

    #[test]
    fn keys_hash_and_compare() {
        assert!(constant_time_eq(&hash("a"), &hash("a")));
        assert!(!constant_time_eq(&hash("a"), &hash("b")));
        assert_eq!(provider_in_path("/api/v1/providers/aws/instances"), Some("aws"));
        assert_eq!(provider_in_path("/api/v1/instances"), None);
    }
}
