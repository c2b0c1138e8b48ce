//! Accounts added at runtime, with their credentials sealed (see [`crate::secrets`]): this
//! module stores and reads the sealed bytes and never sees a plaintext credential.
//!
//! Every change of the table moves the account revision in the same transaction, so a replica
//! that sees the revision move loads the accounts again (see [`crate::accounts`]), and appends
//! the change's events (`nephele.account.added|updated|removed`) in that transaction too (the
//! outbox: an event exists exactly when its change does). A re-wrap (master-key rotation)
//! changes no credential and moves nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms, now_text};
use crate::events::NewEvent;
use crate::secrets::Sealed;

/// One stored account.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub provider_type: String,
    /// What is not secret (region, endpoint, ...).
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub sealed: Sealed,
    /// Part of the credentials' associated data; goes up with every change of credentials.
    pub credentials_version: u32,
    pub fingerprint: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// Moves with every change of the row.
    pub row_version: i64,
}

/// What a change of the accounts table came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountWrite {
    Done,
    /// Another account has that name (an insert).
    NameTaken,
    /// No such account, or it changed since it was read (an update or a removal).
    Gone,
    /// The account has this many operations pending or running (a removal without force).
    Busy(u64),
}

const COLUMNS: &str = "id, name, provider_type, settings, key_id, wrapped_key, ciphertext, credentials_version, fingerprint, created_by, created_at, updated_at, row_version";

fn read(row: &AnyRow) -> Result<AccountRow, StoreError> {
    let bytes = |column: &str| -> Result<Vec<u8>, StoreError> {
        let text: String = row.try_get(column)?;
        BASE64.decode(text).map_err(|_| StoreError::Corrupt(format!("accounts.{column} is not base64")))
    };
    let settings: String = row.try_get("settings")?;
    let settings = match serde_json::from_str(&settings) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(StoreError::Corrupt("accounts.settings is not a JSON object".to_owned())),
    };
    let version: i64 = row.try_get("credentials_version")?;
    Ok(AccountRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        provider_type: row.try_get("provider_type")?,
        settings,
        sealed: Sealed {
            key_id: row.try_get("key_id")?,
            wrapped_key: bytes("wrapped_key")?,
            ciphertext: bytes("ciphertext")?,
        },
        credentials_version: u32::try_from(version)
            .map_err(|_| StoreError::Corrupt("accounts.credentials_version is out of range".to_owned()))?,
        fingerprint: row.try_get("fingerprint")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        row_version: row.try_get("row_version")?,
    })
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| e.is_unique_violation())
}

const BUMP: &str = "UPDATE account_revisions SET revision = revision + 1 WHERE id = 1";

impl Store {
    /// Stores a new account and appends `events` in the same transaction;
    /// [`AccountWrite::NameTaken`] (and nothing written) when the name is in use.
    #[tracing::instrument(level = "debug", skip_all, fields(account = %row.name))]
    pub async fn insert_account(
        &self,
        row: &AccountRow,
        events: &[NewEvent],
    ) -> Result<AccountWrite, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, name, provider_type, settings, key_id, wrapped_key, ciphertext, credentials_version, fingerprint, created_by, created_at, updated_at, row_version) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE name = $2)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.provider_type)
        .bind(serde_json::Value::Object(row.settings.clone()).to_string())
        .bind(&row.sealed.key_id)
        .bind(BASE64.encode(&row.sealed.wrapped_key))
        .bind(BASE64.encode(&row.sealed.ciphertext))
        .bind(i64::from(row.credentials_version))
        .bind(&row.fingerprint)
        .bind(&row.created_by)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .bind(row.row_version)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => return Ok(AccountWrite::NameTaken),
            Err(e) if is_unique_violation(&e) => return Ok(AccountWrite::NameTaken),
            Err(e) => return Err(e.into()),
        }
        sqlx::query(BUMP).execute(&mut *tx).await?;
        Self::append_events_in(&mut tx, events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.events_written();
        }
        Ok(AccountWrite::Done)
    }

    /// Replaces an account's settings and sealed credentials, when its row is still at
    /// `expected_row_version`; the row's version moves by one, and `events` are appended in the
    /// same transaction.
    #[tracing::instrument(level = "debug", skip_all, fields(account = %row.name))]
    pub async fn update_account(
        &self,
        row: &AccountRow,
        expected_row_version: i64,
        events: &[NewEvent],
    ) -> Result<AccountWrite, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET settings = $1, key_id = $2, wrapped_key = $3, ciphertext = $4, credentials_version = $5, fingerprint = $6, updated_at = $7, row_version = row_version + 1 WHERE id = $8 AND row_version = $9",
        )
        .bind(serde_json::Value::Object(row.settings.clone()).to_string())
        .bind(&row.sealed.key_id)
        .bind(BASE64.encode(&row.sealed.wrapped_key))
        .bind(BASE64.encode(&row.sealed.ciphertext))
        .bind(i64::from(row.credentials_version))
        .bind(&row.fingerprint)
        .bind(now_text())
        .bind(&row.id)
        .bind(expected_row_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(AccountWrite::Gone);
        }
        sqlx::query(BUMP).execute(&mut *tx).await?;
        Self::append_events_in(&mut tx, events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.events_written();
        }
        Ok(AccountWrite::Done)
    }

    /// Removes account `name`. Its operations pending or running refuse the removal
    /// ([`AccountWrite::Busy`]) unless `fail_with` is given: then they fail with that error in
    /// the same transaction (their leases are taken back, so a worker holding one cannot write
    /// over it). Its finished operations and its audit rows stay. `events` are appended in the
    /// same transaction, when the account is removed.
    #[tracing::instrument(level = "debug", skip_all, fields(account = %name))]
    pub async fn delete_account(
        &self,
        name: &str,
        fail_with: Option<&serde_json::Value>,
        events: &[NewEvent],
    ) -> Result<AccountWrite, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A write first: the transaction takes the write lock now (waiting for other writers),
        // instead of reading first and failing on SQLite when another connection wrote since
        // its read (a snapshot cannot be upgraded). Undone with the rest when nothing is removed.
        sqlx::query(BUMP).execute(&mut *tx).await?;
        let busy: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM operations WHERE provider = $1 AND state IN ('pending', 'running')",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if busy > 0 {
            let Some(error) = fail_with else {
                tx.rollback().await?;
                return Ok(AccountWrite::Busy(u64::try_from(busy).unwrap_or(0)));
            };
            sqlx::query(
                "UPDATE operations SET state = 'failed', error = $1, updated_at = $2, lease_owner = NULL, lease_until_ms = NULL, next_attempt_ms = $3 WHERE provider = $4 AND state IN ('pending', 'running')",
            )
            .bind(error.to_string())
            .bind(now_text())
            .bind(now_ms())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM accounts WHERE name = $1").bind(name).execute(&mut *tx).await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(AccountWrite::Gone);
        }
        Self::append_events_in(&mut tx, events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.events_written();
        }
        Ok(AccountWrite::Done)
    }

    /// Appends `event` (`nephele.account.unreadable`) unless the last account event of
    /// `event.source` is already one: each transition to unreadable is told once, however many
    /// replicas load the row and however often it is loaded again (a restart included). Answers
    /// whether it was appended.
    #[tracing::instrument(level = "debug", skip_all, fields(account = %event.source))]
    pub async fn append_account_unreadable(&self, event: &NewEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Taking the outbox's sequence row first serialises this check with every other append
        // (two replicas loading the same row): the second sees the first's event.
        sqlx::query("UPDATE event_sequence SET last_seq = last_seq WHERE id = 1").execute(&mut *tx).await?;
        let last: Option<String> = sqlx::query(
            "SELECT type FROM events WHERE source = $1 AND type LIKE 'nephele.account.%' ORDER BY seq DESC LIMIT 1",
        )
        .bind(&event.source)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("type"))
        .transpose()?;
        if last.as_deref() == Some(event.event_type.as_str()) {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::append_events_in(&mut tx, std::slice::from_ref(event)).await?;
        tx.commit().await?;
        self.events_written();
        Ok(true)
    }

    /// Every stored account, by name.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM accounts ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(read).collect()
    }

    /// One stored account.
    #[tracing::instrument(level = "debug", skip_all, fields(account = %name))]
    pub async fn find_account(&self, name: &str) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(read).transpose()
    }

    /// How many changes the accounts table has seen.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn account_revision(&self) -> Result<u64, StoreError> {
        let revision: i64 = sqlx::query("SELECT revision FROM account_revisions WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("revision")?;
        Ok(u64::try_from(revision).unwrap_or(0))
    }

    /// Writes an account's data key as wrapped under another master key, when the row still
    /// holds what was re-wrapped (`before`) at the same credentials version; false otherwise (it
    /// changed meanwhile: the change sealed it under the current key already).
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn rewrap_account(
        &self,
        id: &str,
        credentials_version: u32,
        before: &Sealed,
        after: &Sealed,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE accounts SET key_id = $1, wrapped_key = $2 WHERE id = $3 AND credentials_version = $4 AND key_id = $5 AND wrapped_key = $6",
        )
        .bind(&after.key_id)
        .bind(BASE64.encode(&after.wrapped_key))
        .bind(id)
        .bind(i64::from(credentials_version))
        .bind(&before.key_id)
        .bind(BASE64.encode(&before.wrapped_key))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
