//! `GET /api/v1/audit`: the audit log, for admins. There is no route to change it.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use serde::Serialize;

use super::error::ApiError;
use crate::app::AppState;
use crate::auth::Principal;
use crate::store::AuditEntry;

/// Audit entries, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// The audit log; a key limited to some providers reads only the entries about them.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(("limit" = Option<i64>, Query, description = "At most this many entries (1-10000, default 1000)", minimum = 1, maximum = 10000)),
    responses((status = 200, description = "Audit entries, newest first", body = AuditLog)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditLog>, ApiError> {
    let mut limit = 1000i64;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| ApiError::invalid_field("limit", "must be a number from 1 to 10000"))?
            }
            other => return Err(ApiError::invalid_field(other, "unknown parameter; expected limit")),
        }
    }
    Ok(Json(AuditLog { entries: state.store.list_audit(limit, principal.scope()).await? }))
}
