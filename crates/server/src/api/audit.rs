//! `GET /api/v1/audit`: the audit log, for admins. There is no route to change it.
//!
//! An answer is bounded twice: by `limit` (at most 10,000 entries) and by [`MAX_ANSWER_BYTES`] of
//! entries, whatever their size. A page cut by either says where the next one starts (`next`).

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::query::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;
use nephele_engine::store::AuditCursor;

/// Bytes of entries one answer holds at most; past them the page ends and `next` continues it.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// The most entries one answer holds.
const MAX_LIMIT: i64 = 10_000;

/// Audit entries, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditLog {
    pub entries: Vec<super::views::AuditEntryView>,
    /// The next page (older entries), when this one was cut by `limit` or by the answer's bound
    /// of 4 MiB of entries; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `?limit=&before=` on the audit log.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<i64>,
    before: Option<String>,
}

/// The audit log; a key limited to some providers reads only the entries about them.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(
        ("limit" = Option<i64>, Query, description = "At most this many entries (1-10000, default 1000); an answer also stops at 4 MiB of entries, and `next` then says where to go on", minimum = 1, maximum = 10000),
        ("before" = Option<String>, Query, description = "Only entries older than the entry with this id (as `next` gives it)", min_length = 1, max_length = 64)),
    responses(
        (status = 200, description = "Audit entries, newest first", body = AuditLog),
        (status = 404, description = "`before` names no entry (it may have expired)", body = super::error::Problem,
            content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = query.limit.unwrap_or(1000);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be a number from 1 to 10000"));
    }
    let before = query.before;
    if before.as_deref().is_some_and(|b| b.is_empty() || b.len() > 64) {
        return Err(ApiError::invalid_field("before", "must be an audit entry's id"));
    }
    let cursor = before.as_deref().map(|before_id| AuditCursor { before_id });
    // One more than asked for: whether there is a next page.
    let Some(mut entries) = state.store.list_audit_page(limit + 1, principal.scope(), cursor).await? else {
        return Err(ApiError::not_found("no audit entry has the id given as `before` (it may have expired)"));
    };
    let mut more = entries.len() as i64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut bytes = 0usize;
    let fits = entries
        .iter()
        .position(|entry| {
            bytes += serde_json::to_vec(entry).map_or(0, |v| v.len()) + 1;
            bytes > MAX_ANSWER_BYTES
        })
        .unwrap_or(entries.len());
    if fits < entries.len() {
        entries.truncate(fits.max(1));
        more = true;
    }
    let next = more
        .then(|| entries.last().map(|last| format!("/api/v1/audit?limit={limit}&before={}", last.id)))
        .flatten();
    Ok(Json(AuditLog { entries: entries.into_iter().map(Into::into).collect(), next }))
}
