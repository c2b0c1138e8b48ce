//! API keys: stored as SHA-256 hashes, never in clear.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_text};

/// What to store for a new key (its hash, never the key).
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub role: &'a str,
    pub providers: Option<&'a [String]>,
    pub description: Option<&'a str>,
}

/// A stored key, without its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyRecord {
    pub id: String,
    #[serde(skip)]
    pub hash: String,
    pub role: String,
    pub providers: Option<Vec<String>>,
    pub description: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

fn read(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    let providers: Option<String> = row.try_get("providers")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        hash: row.try_get("hash")?,
        role: row.try_get("role")?,
        providers: providers
            .map(|p| serde_json::from_str(&p).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_api_key(&self, key: NewApiKey<'_>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_keys (id, hash, role, providers, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(key.id)
            .bind(key.hash)
            .bind(key.role)
            .bind(key.providers.map(|p| serde_json::Value::from(p.to_vec()).to_string()))
            .bind(key.description)
            .bind(now_text())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query("SELECT id, hash, role, providers, description, created_at, revoked_at FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(read).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT id, hash, role, providers, description, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read).collect()
    }

    /// Revokes a key; false when there is no such active key.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_text())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_active_api_keys(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
