//! The store: the only code that writes SQL.
//!
//! One schema (`migrations/`) for SQLite (embedded, the default) and PostgreSQL (when several
//! replicas share state), reached through sqlx's `Any` driver. Queries use only what both
//! dialects share. Migrations are embedded and applied by [`Store::migrate`] at start; the
//! query macros are not used (they would need a database at compile time).

mod accounts;
mod audit;
mod events;
mod idempotency;
mod keys;
mod operations;
mod replicas;
pub mod spend;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

pub use accounts::{AccountRow, AccountWrite};
pub use audit::{AuditCursor, AuditEntry, bounded_path};
pub use events::{
    AttemptRecord, DeliveryRecord, DeliveryState, DeliveryStats, EventBounds, EventQuery, Seen, StoredSecret,
    WebhookPatch, WebhookRecord, WebhookSecrets,
};
pub use idempotency::{IdempotencyRecord, KeyRequest, Reservation};
pub use keys::{ApiKeyRecord, Minted, NewApiKey};
pub use operations::{NewOperation, Operation, OperationState, OperationUpdate};

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}; use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Ordered migrations: (version, SQL).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_initial.sql")),
    (2, include_str!("../../migrations/0002_scopes_and_bounds.sql")),
    (3, include_str!("../../migrations/0003_replicas.sql")),
    (4, include_str!("../../migrations/0004_key_revisions.sql")),
    (5, include_str!("../../migrations/0005_accounts.sql")),
    (6, include_str!("../../migrations/0006_events.sql")),
    (8, include_str!("../../migrations/0008_spend.sql")),
    (9, include_str!("../../migrations/0009_webhook_secrets.sql")),
    (10, include_str!("../../migrations/0010_audit_note.sql")),
];

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where the dialects differ (row locks), the store says which it speaks.
    backend: Backend,
    /// Moved after every commit that wrote events, so this process's event streams and
    /// deliverer wake at once (other replicas' events are found by polling).
    events_signal: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// Milliseconds since the epoch, UTC.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339, UTC.
pub fn now_text() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Store {
    /// Connects (creating a SQLite file and its directory if needed) and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let url = match backend {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    let _ = std::fs::create_dir_all(dir);
                }
                if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") }
            }
            Backend::Postgres => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Writers wait for each other instead of failing at once.
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers work while one writer commits; it persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        let store =
            Self { pool, backend, events_signal: std::sync::Arc::new(tokio::sync::watch::channel(0).0) };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not yet applied, each in its own transaction.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            // Claim the version first: a second replica migrating at the same moment fails here
            // (primary key) and rolls back instead of running the DDL twice.
            let claimed = sqlx::query(
                "INSERT INTO schema_migrations (version, applied_at) SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
            )
            .bind(*version)
            .bind(now_text())
            .execute(&mut *tx)
            .await;
            match claimed {
                Ok(done) if done.rows_affected() == 1 => {
                    // Our own embedded migration text, not input.
                    sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                    tx.commit().await?;
                    tracing::info!(version, "database migration applied");
                }
                Ok(_) => tx.rollback().await?,
                Err(e) => {
                    tx.rollback().await?;
                    let applied: i64 =
                        sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations WHERE version = $1")
                            .bind(*version)
                            .fetch_one(&self.pool)
                            .await?
                            .try_get("n")?;
                    if applied == 0 {
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes idempotency keys past their expiry and audit entries older than `audit_before_ms`;
    /// returns how many of each went.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_expired(&self, audit_before_ms: i64) -> Result<(u64, u64), StoreError> {
        let keys = sqlx::query("DELETE FROM idempotency_keys WHERE expires_ms < $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected();
        let audit = sqlx::query("DELETE FROM audit_log WHERE at_ms < $1")
            .bind(audit_before_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok((keys, audit))
    }

    /// Says that events were committed (see `events_signal`).
    pub(crate) fn events_written(&self) {
        self.events_signal.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees a change whenever this process commits events.
    pub fn watch_events(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events_signal.subscribe()
    }

    /// Cheap liveness check.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// `$from, $from+1, ...`: `count` placeholders for an `IN (...)` list.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// A JSON column as a value.
fn json_column(raw: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    raw.map(|r| serde_json::Value::from_str(&r).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
}
