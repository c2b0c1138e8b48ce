//! API keys: stored as SHA-256 hashes, never in clear.
//!
//! A key made through the API is made by another key, and must not outlive that key's
//! revocation: [`Store::insert_api_key`] checks the minting key in the same statement that
//! inserts, holding a share lock on its row (PostgreSQL) or the database's write lock (SQLite),
//! so a revocation is ordered wholly before or wholly after each mint. A mint that starts after
//! the revocation is committed stores nothing.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError, now_text};

/// What to store for a new key (its hash, never the key).
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub role: &'a str,
    pub providers: Option<&'a [String]>,
    pub description: Option<&'a str>,
    /// The key making this one, which must still be active when the new key is stored; `None`
    /// for keys made by an operator at the server (`nephele keys create`) or by the open API.
    pub minted_by: Option<&'a str>,
}

/// Whether a key was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Minted {
    Stored,
    /// The minting key was revoked (or removed) before the new key could be stored.
    MinterRevoked,
}

/// A stored key, without its secret.
#[derive(Debug, Clone, Serialize)]
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
    pub async fn insert_api_key(&self, key: NewApiKey<'_>) -> Result<Minted, StoreError> {
        let providers = key.providers.map(|p| serde_json::Value::from(p.to_vec()).to_string());
        let mut tx = self.pool.begin().await?;
        let Some(minter) = key.minted_by else {
            sqlx::query("INSERT INTO api_keys (id, hash, role, providers, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(key.id)
                .bind(key.hash)
                .bind(key.role)
                .bind(providers)
                .bind(key.description)
                .bind(now_text())
                .execute(&mut *tx)
                .await?;
            self.key_event_in(&mut tx, key.id, "created").await?;
            tx.commit().await?;
            self.events_written();
            return Ok(Minted::Stored);
        };
        // One statement: the new row exists only if the minter's row is active as the statement
        // runs. On PostgreSQL the share lock makes a concurrent revocation wait for this insert
        // to commit, or this insert wait for the revocation and then see it (read committed
        // re-checks the locked row). On SQLite a writing statement holds the database's one write
        // lock from before it reads, so no revocation commits in between.
        let sql = match self.backend {
            Backend::Postgres => {
                "INSERT INTO api_keys (id, hash, role, providers, description, created_at) SELECT $1, $2, $3, $4, $5, $6 FROM api_keys minter WHERE minter.id = $7 AND minter.revoked_at IS NULL FOR SHARE OF minter"
            }
            Backend::Sqlite => {
                "INSERT INTO api_keys (id, hash, role, providers, description, created_at) SELECT $1, $2, $3, $4, $5, $6 FROM api_keys minter WHERE minter.id = $7 AND minter.revoked_at IS NULL"
            }
        };
        let done = sqlx::query(sql)
            .bind(key.id)
            .bind(key.hash)
            .bind(key.role)
            .bind(providers)
            .bind(key.description)
            .bind(now_text())
            .bind(minter)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Minted::MinterRevoked);
        }
        self.key_event_in(&mut tx, key.id, "created").await?;
        tx.commit().await?;
        self.events_written();
        Ok(Minted::Stored)
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
    /// Revokes a key and moves the key revision in one transaction, so every replica that sees
    /// the revision move forgets the keys it verified; false when there is no such active key.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_text())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE key_revisions SET revision = revision + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        self.key_event_in(&mut tx, id, "revoked").await?;
        tx.commit().await?;
        self.events_written();
        Ok(true)
    }

    /// Appends `nephele.api_key.<change>` for key `id`, as the transaction sees it.
    async fn key_event_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
        change: &str,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT id, hash, role, providers, description, created_at, revoked_at FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let record = read(&row)?;
        let event = crate::events::NewEvent::new(
            "api_key",
            change,
            crate::events::SERVER_SOURCE,
            format!("keys/{id}"),
            crate::events::views::api_key(&record),
        );
        Self::append_events_in(tx, &[event]).await?;
        Ok(())
    }

    /// How many revocations there have been (see [`crate::auth::cache`]).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn key_revision(&self) -> Result<u64, StoreError> {
        let revision: i64 = sqlx::query("SELECT revision FROM key_revisions WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("revision")?;
        Ok(u64::try_from(revision).unwrap_or(0))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn count_active_api_keys(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
