//! The audit log: appended to, never updated or deleted through the API.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms, now_text};

/// One audited request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// The provider the request concerned, if one.
    pub provider: Option<String>,
    /// How many requests this entry stands for (failed authentication is summarised).
    pub count: u64,
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
        }
    }
}

impl Store {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, at_ms, principal, role, method, path, source, status, outcome, operation_id, provider, count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first; with `providers`, only entries about them.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_audit(
        &self,
        limit: i64,
        providers: Option<&[String]>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        const COLUMNS: &str =
            "id, at, principal, role, method, path, source, status, outcome, operation_id, provider, count";
        let rows = match providers {
            None => {
                let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY at_ms DESC, id DESC LIMIT $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?
            }
            Some([]) => Vec::new(),
            Some(list) => {
                // Only our own placeholders are formatted in; the names are bound.
                let sql = format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE provider IN ({}) ORDER BY at_ms DESC, id DESC LIMIT $1",
                    super::placeholders(2, list.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit);
                for provider in list {
                    query = query.bind(provider);
                }
                query.fetch_all(&self.pool).await?
            }
        };
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
                })
            })
            .collect()
    }

    /// How many audit entries there are (for tests and operators watching growth).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_audit(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM audit_log").fetch_one(&self.pool).await?.try_get("n")?)
    }
}
