//! The audit log: appended to, never updated or deleted through the API.
//!
//! Every text field is bounded here, before it is stored, whoever filled it in: a path is kept to
//! its first [`MAX_PATH_BYTES`] bytes with a marker saying how long it was, a provider is recorded
//! only when it is a well-formed provider name, and the other fields are cut to a few dozen bytes
//! (they are ours: key ids, methods, addresses, outcomes). So one row is at most about a
//! kilobyte, whatever a caller sends; how many rows a caller may cause is bounded by
//! [`crate::auth::budget`] and [`crate::auth::failures`].

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms, now_text};

/// Bytes of a request path kept in an entry; the rest is replaced by a marker.
pub const MAX_PATH_BYTES: usize = 256;
/// Bytes kept of the short fields (principal, role, method, source, outcome, operation id).
const MAX_SHORT_BYTES: usize = 64;
/// Bytes kept of a note.
pub const MAX_NOTE_BYTES: usize = 512;

/// One audited request.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    /// The API key id, or `anonymous`.
    pub principal: String,
    pub role: Option<String>,
    pub method: String,
    /// The request's path; one longer than 256 bytes is cut there and ends with
    /// `…[truncated, N bytes]`, N being its whole length.
    pub path: String,
    /// The client's address.
    pub source: Option<String>,
    pub status: u16,
    /// `succeeded`, `failed` or `denied`.
    pub outcome: String,
    pub operation_id: Option<String>,
    /// The provider the request concerned, if one (a name that is not a well-formed provider
    /// name is not recorded).
    pub provider: Option<String>,
    /// How many requests this entry stands for (failed authentication, and a key's refused or
    /// failed requests past its budget, are summarised).
    pub count: u64,
    /// What the request asked to be put on record (an admin's reason to override a budget).
    pub note: Option<String>,
}

impl AuditEntry {
    /// An entry with this status and outcome; the rest is filled in by the caller.
    pub fn new(status: u16, outcome: &str) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at: String::new(),
            principal: String::new(),
            role: None,
            method: String::new(),
            path: String::new(),
            source: None,
            status,
            outcome: outcome.to_owned(),
            operation_id: None,
            provider: None,
            count: 1,
            note: None,
        }
    }

    /// The entry as it may be stored: every field within its bound.
    fn bounded(&self) -> Self {
        let short = |text: &str| cut(text, MAX_SHORT_BYTES).to_owned();
        Self {
            id: short(&self.id),
            at: self.at.clone(),
            principal: short(&self.principal),
            role: self.role.as_deref().map(short),
            method: short(&self.method),
            path: bounded_path(&self.path),
            source: self.source.as_deref().map(short),
            status: self.status,
            outcome: short(&self.outcome),
            operation_id: self.operation_id.as_deref().map(short),
            provider: self
                .provider
                .clone()
                .filter(|p| nephele_plugin_protocol::convert::is_valid_provider_name(p)),
            count: self.count,
            note: self.note.as_deref().map(|n| cut(n, MAX_NOTE_BYTES).to_owned()),
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `path` as stored: whole when short, else its first [`MAX_PATH_BYTES`] bytes and a marker
/// with its length (so a reader sees that it was cut, and by how much).
pub fn bounded_path(path: &str) -> String {
    if path.len() <= MAX_PATH_BYTES {
        return path.to_owned();
    }
    format!("{}…[truncated, {} bytes]", cut(path, MAX_PATH_BYTES), path.len())
}

/// Where a page of the audit log starts: entries older than this one.
#[derive(Debug, Clone, Copy)]
pub struct AuditCursor<'a> {
    pub before_id: &'a str,
}

impl Store {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.bounded();
        sqlx::query(
            "INSERT INTO audit_log (id, at, at_ms, principal, role, method, path, source, status, outcome, operation_id, provider, count, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&entry.id)
        .bind(now_text())
        .bind(now_ms())
        .bind(&entry.principal)
        .bind(entry.role.as_deref())
        .bind(&entry.method)
        .bind(&entry.path)
        .bind(entry.source.as_deref())
        .bind(i64::from(entry.status))
        .bind(&entry.outcome)
        .bind(entry.operation_id.as_deref())
        .bind(entry.provider.as_deref())
        .bind(i64::try_from(entry.count).unwrap_or(i64::MAX))
        .bind(entry.note.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first; with `providers`, only entries about them.
    pub async fn list_audit(
        &self,
        limit: i64,
        providers: Option<&[String]>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.list_audit_page(limit, providers, None).await?.unwrap_or_default())
    }

    /// As [`Store::list_audit`], older than `before` when given (`Ok(None)` when `before` names
    /// no entry).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_audit_page(
        &self,
        limit: i64,
        providers: Option<&[String]>,
        before: Option<AuditCursor<'_>>,
    ) -> Result<Option<Vec<AuditEntry>>, StoreError> {
        const COLUMNS: &str = "id, at, principal, role, method, path, source, status, outcome, operation_id, provider, count, note";
        if providers.is_some_and(<[String]>::is_empty) {
            return Ok(Some(Vec::new()));
        }
        // Entries are ordered by (at_ms, id); a page starts below the cursor's entry.
        let start = match before {
            None => None,
            Some(cursor) => {
                let row = sqlx::query("SELECT at_ms FROM audit_log WHERE id = $1")
                    .bind(cursor.before_id)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    None => return Ok(None),
                    Some(row) => Some((row.try_get::<i64, _>("at_ms")?, cursor.before_id)),
                }
            }
        };
        // Only our own column list and placeholders are formatted in; every value is bound.
        let mut conditions = Vec::new();
        let mut next = 2;
        if start.is_some() {
            conditions.push("(at_ms < $2 OR (at_ms = $2 AND id < $3))".to_owned());
            next = 4;
        }
        if let Some(list) = providers {
            conditions.push(format!("provider IN ({})", super::placeholders(next, list.len())));
        }
        let filter =
            if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let sql = format!("SELECT {COLUMNS} FROM audit_log {filter} ORDER BY at_ms DESC, id DESC LIMIT $1");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit);
        if let Some((at_ms, id)) = start {
            query = query.bind(at_ms).bind(id);
        }
        for provider in providers.into_iter().flatten() {
            query = query.bind(provider);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let status: i64 = row.try_get("status")?;
                let count: i64 = row.try_get("count")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    principal: row.try_get("principal")?,
                    role: row.try_get("role")?,
                    method: row.try_get("method")?,
                    path: row.try_get("path")?,
                    source: row.try_get("source")?,
                    status: u16::try_from(status).unwrap_or(0),
                    outcome: row.try_get("outcome")?,
                    operation_id: row.try_get("operation_id")?,
                    provider: row.try_get("provider")?,
                    count: u64::try_from(count).unwrap_or(0),
                    note: row.try_get("note")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map(Some)
    }

    /// How many audit entries there are (for tests and operators watching growth).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_audit(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM audit_log").fetch_one(&self.pool).await?.try_get("n")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_keep_their_start_and_say_how_long_they_were() {
        let path = format!("/api/v1/providers/{}/instances", "é".repeat(40_000));
        let stored = bounded_path(&path);
        assert!(stored.starts_with("/api/v1/providers/éé"), "{stored}");
        assert!(stored.ends_with(&format!("…[truncated, {} bytes]", path.len())), "{stored}");
        assert!(stored.len() <= MAX_PATH_BYTES + 40, "{} bytes", stored.len());
        assert_eq!(bounded_path("/api/v1/keys"), "/api/v1/keys");
    }

    #[test]
    fn only_well_formed_provider_names_are_recorded() {
        let mut entry = AuditEntry::new(403, "denied");
        entry.provider = Some("A".repeat(65_000));
        entry.principal = "k".repeat(1000);
        let stored = entry.bounded();
        assert_eq!(stored.provider, None);
        assert_eq!(stored.principal.len(), MAX_SHORT_BYTES);
        entry.provider = Some("digitalocean".to_owned());
        assert_eq!(entry.bounded().provider.as_deref(), Some("digitalocean"));
    }
}
