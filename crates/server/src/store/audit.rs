//! The audit log: appended to, never updated or deleted through the API.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms, now_text};

/// One audited request.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    /// The API key id, or `anonymous`.
    pub principal: String,
    pub role: Option<String>,
    pub method: String,
    pub path: String,
    /// The client's address.
    pub source: Option<String>,
    pub status: u16,
    /// `succeeded`, `failed` or `denied`.
    pub outcome: String,
    pub operation_id: Option<String>,
}

impl Store {
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, at_ms, principal, role, method, path, source, status, outcome, operation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub async fn list_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, principal, role, method, path, source, status, outcome, operation_id FROM audit_log ORDER BY at_ms DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: i64 = row.try_get("status")?;
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
                })
            })
            .collect()
    }
}
