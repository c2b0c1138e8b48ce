//! The events outbox, the inventory's last-seen marks, webhooks and their deliveries: their SQL.
//!
//! Events are appended only inside the transaction of the change they report
//! ([`Store::append_events_in`]). Every such transaction first moves the one row of
//! `event_sequence`, which it then holds until it commits: events therefore commit in the order
//! of their `seq` and without holes, on SQLite (one writer at a time) and on PostgreSQL (the row
//! lock) alike, so a reader that has seen `seq` N has seen everything before it. The same
//! transaction writes one pending delivery per enabled webhook the event matches: a delivery
//! exists exactly when its event does.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use zeroize::Zeroizing;

use super::{Store, StoreError, now_ms, now_text};
use crate::events::{Event, NewEvent, event_id};
use crate::secrets::Sealed;

/// One resource as a refresh saw it (any kind): its id and status word.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Seen {
    pub id: String,
    pub status: String,
}

/// What an event list asks for.
#[derive(Debug, Clone, Default)]
pub struct EventQuery<'a> {
    /// Events after this `seq` (0: from the oldest kept).
    pub after: i64,
    pub event_type: Option<&'a str>,
    pub account: Option<&'a str>,
    /// The accounts the caller may see; `None` for all.
    pub scope: Option<&'a [String]>,
    /// Whether the server's own events (source `nephele`: API keys, webhooks) are included.
    pub server_events: bool,
    pub limit: i64,
}

/// The outbox's extent: the last `seq` written, and the last purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBounds {
    pub last_seq: i64,
    pub purged_through: i64,
}

/// A registered webhook, as stored.
#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub id: String,
    pub url: String,
    pub event_types: Option<Vec<String>>,
    pub accounts: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// `whsec_...`, sealed; never shown after creation or rotation.
    pub secret: StoredSecret,
    /// The secret a rotation replaced, with when it stops signing (epoch ms).
    pub old_secret: Option<(StoredSecret, i64)>,
    /// Goes up with every rotation: the current secret is sealed for this version, the old one
    /// for the version before.
    pub secret_version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl WebhookRecord {
    /// Whether an event of `event_type` from `source` goes to this webhook.
    pub fn wants(&self, event_type: &str, source: &str) -> bool {
        self.enabled
            && self.event_types.as_ref().is_none_or(|types| types.iter().any(|t| t == event_type))
            && self.accounts.as_ref().is_none_or(|accounts| accounts.iter().any(|a| a == source))
    }
}

/// A webhook's signing secret as a column holds it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredSecret {
    /// Sealed under a master key ([`crate::secrets`]), bound to the row, its purpose and version.
    Sealed(Sealed),
    /// `whsec_...` in plain, as written before migration 0009; a server holding a master key
    /// seals it when it starts.
    Plain(Zeroizing<String>),
    /// Neither form: a damaged row. Nothing is signed with it.
    Unreadable(Zeroizing<String>),
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sealed(_) => "Sealed([redacted])",
            Self::Plain(_) => "Plain([redacted])",
            Self::Unreadable(_) => "Unreadable([redacted])",
        })
    }
}

impl StoredSecret {
    /// What a column's text is.
    pub fn from_column(text: String) -> Self {
        if text.starts_with(nephele_webhooks::SECRET_PREFIX) {
            Self::Plain(Zeroizing::new(text))
        } else if let Some(sealed) = Sealed::from_text(&text) {
            Self::Sealed(sealed)
        } else {
            Self::Unreadable(Zeroizing::new(text))
        }
    }

    /// The column's text.
    pub fn to_column(&self) -> Zeroizing<String> {
        match self {
            Self::Sealed(sealed) => Zeroizing::new(sealed.to_text()),
            Self::Plain(text) | Self::Unreadable(text) => text.clone(),
        }
    }
}

/// The secrets of one webhook row (deleted ones included), to seal or re-wrap them.
#[derive(Debug, Clone)]
pub struct WebhookSecrets {
    pub id: String,
    pub secret_version: i64,
    pub secret: StoredSecret,
    pub old_secret: Option<StoredSecret>,
}

/// What a change to a webhook sets (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub event_types: Option<Option<Vec<String>>>,
    pub accounts: Option<Option<Vec<String>>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt(format!("delivery state {other:?}"))),
        }
    }
}

/// One event's delivery to one webhook, with its last attempt.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: String,
    pub webhook_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub created_ms: i64,
    pub next_attempt_ms: i64,
    pub first_attempt_ms: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
    pub last_response: Option<String>,
    pub last_response_truncated: bool,
    pub finished_ms: Option<i64>,
}

/// What one attempt of a delivery left, to be recorded by its lease holder.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub state: DeliveryState,
    pub next_attempt_ms: i64,
    pub attempted_ms: i64,
    pub status: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
    pub response: String,
    pub response_truncated: bool,
    /// Disable the webhook (a 410), saying why.
    pub disable_webhook: Option<String>,
}

/// Counts over the deliveries, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryStats {
    /// Deliveries not yet delivered nor given up.
    pub pending: i64,
    /// When the oldest of them was made (epoch ms).
    pub oldest_pending_ms: Option<i64>,
}

const EVENT_COLUMNS: &str = "seq, id, type, source, subject, time, data";
const WEBHOOK_COLUMNS: &str = "id, url, event_types, accounts, description, enabled, disabled_reason, secret, old_secret, old_secret_until_ms, secret_version, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, event_seq, event_id, event_type, state, attempts, created_ms, next_attempt_ms, first_attempt_ms, last_attempt_ms, last_status, last_outcome, last_error, last_response, last_response_truncated, finished_ms";

fn read_event(row: &AnyRow) -> Result<Event, StoreError> {
    let data: String = row.try_get("data")?;
    Ok(Event {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        event_type: row.try_get("type")?,
        source: row.try_get("source")?,
        subject: row.try_get("subject")?,
        time: row.try_get("time")?,
        data: serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
    })
}

fn list_column(raw: Option<String>) -> Result<Option<Vec<String>>, StoreError> {
    raw.map(|r| serde_json::from_str(&r).map_err(|e| StoreError::Corrupt(format!("webhook list: {e}"))))
        .transpose()
}

fn read_webhook(row: &AnyRow) -> Result<WebhookRecord, StoreError> {
    let enabled: i64 = row.try_get("enabled")?;
    let old_secret: Option<String> = row.try_get("old_secret")?;
    let old_until: Option<i64> = row.try_get("old_secret_until_ms")?;
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        event_types: list_column(row.try_get("event_types")?)?,
        accounts: list_column(row.try_get("accounts")?)?,
        description: row.try_get("description")?,
        enabled: enabled != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        secret: StoredSecret::from_column(row.try_get("secret")?),
        old_secret: old_secret.map(StoredSecret::from_column).zip(old_until),
        secret_version: row.try_get("secret_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn read_delivery(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    let state: String = row.try_get("state")?;
    let truncated: i64 = row.try_get("last_response_truncated")?;
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        event_seq: row.try_get("event_seq")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        state: DeliveryState::parse(&state)?,
        attempts: row.try_get("attempts")?,
        created_ms: row.try_get("created_ms")?,
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        first_attempt_ms: row.try_get("first_attempt_ms")?,
        last_attempt_ms: row.try_get("last_attempt_ms")?,
        last_status: row.try_get("last_status")?,
        last_outcome: row.try_get("last_outcome")?,
        last_error: row.try_get("last_error")?,
        last_response: row.try_get("last_response")?,
        last_response_truncated: truncated != 0,
        finished_ms: row.try_get("finished_ms")?,
    })
}

fn json_list(list: Option<&Vec<String>>) -> Option<String> {
    list.map(|l| Value::from(l.clone()).to_string())
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

impl Store {
    /// Appends `events` inside `tx` (the change's own transaction), with one pending delivery per
    /// matching enabled webhook. Returns the last `seq` written (0 when there was nothing).
    pub(crate) async fn append_events_in(tx: &mut Tx<'_>, events: &[NewEvent]) -> Result<i64, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        // Taking the sequence row first orders this transaction's events after every event
        // committed before it and before every event committed after it.
        sqlx::query("UPDATE event_sequence SET last_seq = last_seq + $1 WHERE id = 1")
            .bind(count)
            .execute(&mut **tx)
            .await?;
        let last: i64 = sqlx::query("SELECT last_seq FROM event_sequence WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?
            .try_get("last_seq")?;
        let hooks: Vec<WebhookRecord> = {
            let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE enabled = 1 AND deleted = 0");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut **tx).await?;
            rows.iter().map(read_webhook).collect::<Result<_, _>>()?
        };
        let now = now_ms();
        let at = now_text();
        for (offset, event) in events.iter().enumerate() {
            let seq = last - count + 1 + i64::try_from(offset).unwrap_or(0);
            let id = event_id(seq);
            sqlx::query(
                "INSERT INTO events (seq, id, type, source, subject, time, time_ms, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(seq)
            .bind(&id)
            .bind(event.event_type.as_str())
            .bind(&event.source)
            .bind(&event.subject)
            .bind(&at)
            .bind(now)
            .bind(event.data.to_string())
            .execute(&mut **tx)
            .await?;
            let targets = hooks.iter().filter(|hook| match &event.only_webhook {
                Some(only) => &hook.id == only,
                None => hook.wants(event.event_type.as_str(), &event.source),
            });
            for hook in targets {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, webhook_id, event_seq, event_id, event_type, state, attempts, created_ms, next_attempt_ms) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, 0)",
                )
                .bind(format!("dlv_{}", uuid::Uuid::now_v7().simple()))
                .bind(&hook.id)
                .bind(seq)
                .bind(&id)
                .bind(event.event_type.as_str())
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(last)
    }

    /// Appends `events` in a transaction of their own (events that report no database change:
    /// emitted through [`crate::events::emit`]).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn append_events(&self, events: &[NewEvent]) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let last = Self::append_events_in(&mut tx, events).await?;
        tx.commit().await?;
        self.events_written();
        Ok(last)
    }

    /// Events after `query.after`, oldest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_events(&self, query: &EventQuery<'_>) -> Result<Vec<Event>, StoreError> {
        if query.scope.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut conditions = vec![
            "seq > $1".to_owned(),
            "($2 = '' OR type = $2)".to_owned(),
            "($3 = '' OR source = $3)".to_owned(),
        ];
        if let Some(scope) = query.scope {
            conditions.push(format!("source IN ({})", super::placeholders(5, scope.len())));
        }
        if !query.server_events {
            conditions.push(format!("source <> '{}'", crate::events::SERVER_SOURCE));
        }
        // Only our own placeholders are formatted in; every value is bound.
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY seq LIMIT $4",
            conditions.join(" AND ")
        );
        let mut select = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(query.after)
            .bind(query.event_type.unwrap_or(""))
            .bind(query.account.unwrap_or(""))
            .bind(query.limit);
        for account in query.scope.unwrap_or_default() {
            select = select.bind(account);
        }
        let rows = select.fetch_all(&self.pool).await?;
        rows.iter().map(read_event).collect()
    }

    /// One event by its `seq`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_event(&self, seq: i64) -> Result<Option<Event>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(seq).fetch_optional(&self.pool).await?;
        row.as_ref().map(read_event).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn event_bounds(&self) -> Result<EventBounds, StoreError> {
        let row = sqlx::query("SELECT last_seq, purged_through FROM event_sequence WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(EventBounds { last_seq: row.try_get("last_seq")?, purged_through: row.try_get("purged_through")? })
    }

    /// Deletes the events written before `before_ms` (an unbroken run from the oldest), and
    /// finished deliveries made before it; returns how many events went.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The sequence row first, as every writer of events takes it.
        sqlx::query("UPDATE event_sequence SET purged_through = purged_through WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let through: Option<i64> = sqlx::query("SELECT MAX(seq) AS m FROM events WHERE time_ms < $1")
            .bind(before_ms)
            .fetch_one(&mut *tx)
            .await?
            .try_get("m")?;
        let mut purged = 0;
        if let Some(through) = through {
            purged = sqlx::query("DELETE FROM events WHERE seq <= $1")
                .bind(through)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE event_sequence SET purged_through = $1 WHERE id = 1 AND purged_through < $1")
                .bind(through)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM webhook_deliveries WHERE created_ms < $1 AND state <> 'pending'")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(purged)
    }

    /// Records what a refresh of `account`'s resources of `kind`, begun at `fetched_ms`, found
    /// (`items`: id and status word; `view` gives a resource's API view by id, the refresh's or,
    /// for one gone, the last the caller knew; asked only for the resources that changed), and appends an event per change since the last refresh
    /// recorded (by any replica): `nephele.<kind>.appeared`, `.status_changed`, `.deleted`. A
    /// refresh that began before the last one recorded changes nothing (its list is older). The
    /// first refresh ever recorded for an account and kind is the baseline and emits nothing.
    /// Returns the events written.
    #[tracing::instrument(level = "debug", skip_all, fields(account, kind))]
    pub async fn record_inventory(
        &self,
        account: &str,
        kind: &str,
        fetched_ms: i64,
        items: &[Seen],
        view: &(dyn Fn(&str) -> Value + Send + Sync),
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Locks the mark (PostgreSQL: a second replica waits here, then finds it moved).
        let moved = sqlx::query(
            "UPDATE inventory_marks SET fetched_ms = $1 WHERE account = $2 AND kind = $3 AND fetched_ms < $1",
        )
        .bind(fetched_ms)
        .bind(account)
        .bind(kind)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            let exists = sqlx::query("SELECT 1 AS x FROM inventory_marks WHERE account = $1 AND kind = $2")
                .bind(account)
                .bind(kind)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if exists {
                tx.rollback().await?;
                return Ok(0);
            }
            sqlx::query("INSERT INTO inventory_marks (account, kind, fetched_ms) VALUES ($1, $2, $3)")
                .bind(account)
                .bind(kind)
                .bind(fetched_ms)
                .execute(&mut *tx)
                .await?;
            let all: Vec<&Seen> = items.iter().collect();
            Self::insert_seen(&mut tx, account, kind, &all).await?;
            tx.commit().await?;
            return Ok(0);
        }
        let rows =
            sqlx::query("SELECT resource_id, status FROM inventory_seen WHERE account = $1 AND kind = $2")
                .bind(account)
                .bind(kind)
                .fetch_all(&mut *tx)
                .await?;
        let mut before = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("resource_id")?;
            let status: String = row.try_get("status")?;
            before.insert(id, status);
        }
        let mut events = Vec::new();
        let mut appeared = Vec::new();
        // As the API's paths name them: `instances/...`, `volumes/...`, `ssh-keys/...`.
        let plural = kind
            .parse::<nephele_core::ResourceKind>()
            .map_or_else(|_| format!("{kind}s"), |k| k.plural().to_owned());
        let subject = |id: &str| format!("{plural}/{id}");
        for item in items {
            match before.remove(&item.id) {
                None => appeared.push(item),
                Some(status) if status != item.status => {
                    let data = view(&item.id);
                    sqlx::query("UPDATE inventory_seen SET status = $1 WHERE account = $2 AND kind = $3 AND resource_id = $4")
                        .bind(&item.status)
                        .bind(account)
                        .bind(kind)
                        .bind(&item.id)
                        .execute(&mut *tx)
                        .await?;
                    events.push(NewEvent::new(kind, "status_changed", account, subject(&item.id), data));
                }
                Some(_) => {}
            }
        }
        Self::insert_seen(&mut tx, account, kind, &appeared).await?;
        for item in &appeared {
            events.push(NewEvent::new(kind, "appeared", account, subject(&item.id), view(&item.id)));
        }
        let mut gone: Vec<String> = before.into_keys().collect();
        gone.sort();
        for id in gone {
            sqlx::query("DELETE FROM inventory_seen WHERE account = $1 AND kind = $2 AND resource_id = $3")
                .bind(account)
                .bind(kind)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            events.push(NewEvent::new(kind, "deleted", account, subject(&id), view(&id)));
        }
        Self::append_events_in(&mut tx, &events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.events_written();
        }
        Ok(events.len())
    }

    /// Moves `account`'s mark for `kind` from `last_ms` to `fetched_ms` when it is still at
    /// `last_ms` (nobody recorded a refresh since): for a refresh whose list is the one recorded
    /// then, which has nothing to report. False when someone did, or the mark is elsewhere.
    #[tracing::instrument(level = "debug", skip_all, fields(account, kind))]
    pub async fn touch_inventory(
        &self,
        account: &str,
        kind: &str,
        last_ms: i64,
        fetched_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE inventory_marks SET fetched_ms = $1 WHERE account = $2 AND kind = $3 AND fetched_ms = $4",
        )
        .bind(fetched_ms)
        .bind(account)
        .bind(kind)
        .bind(last_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Inserts `items` as seen, a hundred rows per statement.
    async fn insert_seen(
        tx: &mut Tx<'_>,
        account: &str,
        kind: &str,
        items: &[&Seen],
    ) -> Result<(), StoreError> {
        for chunk in items.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${}, ${})", i * 4 + 1, i * 4 + 2, i * 4 + 3, i * 4 + 4))
                .collect();
            // Only our own placeholders are formatted in; every value is bound.
            let sql = format!(
                "INSERT INTO inventory_seen (account, kind, resource_id, status) VALUES {}",
                rows.join(", ")
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for item in chunk {
                insert = insert.bind(account).bind(kind).bind(&item.id).bind(&item.status);
            }
            insert.execute(&mut **tx).await?;
        }
        Ok(())
    }

    // --- webhooks ---

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn insert_webhook(&self, hook: &WebhookRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, url, event_types, accounts, description, enabled, secret, secret_version, created_at, updated_at, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 0)",
        )
        .bind(&hook.id)
        .bind(&hook.url)
        .bind(json_list(hook.event_types.as_ref()))
        .bind(json_list(hook.accounts.as_ref()))
        .bind(hook.description.as_deref())
        .bind(i64::from(hook.enabled))
        .bind(hook.secret.to_column().as_str())
        .bind(hook.secret_version)
        .bind(&hook.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE deleted = 0 ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(read_webhook).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_webhook(&self, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND deleted = 0");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(read_webhook).transpose()
    }

    /// Applies `patch`; false when there is no such webhook. Enabling clears the reason it was
    /// disabled.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn update_webhook(&self, id: &str, patch: &WebhookPatch) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND deleted = 0");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await? else {
            tx.rollback().await?;
            return Ok(false);
        };
        let mut hook = read_webhook(&row)?;
        if let Some(url) = &patch.url {
            hook.url.clone_from(url);
        }
        if let Some(types) = &patch.event_types {
            hook.event_types.clone_from(types);
        }
        if let Some(accounts) = &patch.accounts {
            hook.accounts.clone_from(accounts);
        }
        if let Some(description) = &patch.description {
            hook.description.clone_from(description);
        }
        if let Some(enabled) = patch.enabled {
            if enabled {
                hook.disabled_reason = None;
            }
            hook.enabled = enabled;
        }
        sqlx::query(
            "UPDATE webhooks SET url = $1, event_types = $2, accounts = $3, description = $4, enabled = $5, disabled_reason = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&hook.url)
        .bind(json_list(hook.event_types.as_ref()))
        .bind(json_list(hook.accounts.as_ref()))
        .bind(hook.description.as_deref())
        .bind(i64::from(hook.enabled))
        .bind(hook.disabled_reason.as_deref())
        .bind(now_text())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a webhook: it gets no more deliveries, and those still pending are failed.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET deleted = 1, enabled = 0, updated_at = $1 WHERE id = $2 AND deleted = 0",
        )
        .bind(now_text())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            sqlx::query("UPDATE webhook_deliveries SET state = 'failed', last_error = 'the webhook was deleted', finished_ms = $1 WHERE webhook_id = $2 AND state = 'pending'")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Replaces the secret of version `version` by `secret` (sealed for `version + 1`); the old
    /// one keeps signing until `old_until_ms`. False when there is no such webhook or its secret
    /// is no longer of that version (a rotation at the same moment).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        version: i64,
        secret: &StoredSecret,
        old_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET old_secret = secret, old_secret_until_ms = $1, secret = $2, secret_version = secret_version + 1, updated_at = $3 WHERE id = $4 AND deleted = 0 AND secret_version = $5",
        )
        .bind(old_until_ms)
        .bind(secret.to_column().as_str())
        .bind(now_text())
        .bind(id)
        .bind(version)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Every webhook row's secrets, deleted ones included (their secrets are kept too).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_webhook_secrets(&self) -> Result<Vec<WebhookSecrets>, StoreError> {
        let rows = sqlx::query("SELECT id, secret_version, secret, old_secret FROM webhooks ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let old: Option<String> = row.try_get("old_secret")?;
                Ok(WebhookSecrets {
                    id: row.try_get("id")?,
                    secret_version: row.try_get("secret_version")?,
                    secret: StoredSecret::from_column(row.try_get("secret")?),
                    old_secret: old.map(StoredSecret::from_column),
                })
            })
            .collect()
    }

    /// Writes `after`'s secrets (the same secrets sealed, or re-wrapped) over `before`'s, if the
    /// row still holds exactly `before`'s; false when it changed meanwhile.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn replace_webhook_secrets(
        &self,
        before: &WebhookSecrets,
        after: &WebhookSecrets,
    ) -> Result<bool, StoreError> {
        let old_before = before.old_secret.as_ref().map(StoredSecret::to_column);
        let old_after = after.old_secret.as_ref().map(StoredSecret::to_column);
        let done = sqlx::query(
            "UPDATE webhooks SET secret = $1, old_secret = $2 WHERE id = $3 AND secret_version = $4 AND secret = $5 AND COALESCE(old_secret, '') = $6",
        )
        .bind(after.secret.to_column().as_str())
        .bind(old_after.as_ref().map(|t| t.as_str()))
        .bind(&before.id)
        .bind(before.secret_version)
        .bind(before.secret.to_column().as_str())
        .bind(old_before.as_ref().map_or("", |t| t.as_str()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    // --- deliveries ---

    /// Takes the lease on up to `limit` due deliveries nobody holds, of enabled webhooks other
    /// than `skip`, oldest due first, in one statement, and returns them. The UPDATE re-checks
    /// the lease, so two replicas never take the same delivery; on PostgreSQL rows another
    /// replica is taking are skipped rather than waited for.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let now = now_ms();
        let skipping = if skip.is_empty() {
            String::new()
        } else {
            format!(" AND d.webhook_id NOT IN ({})", super::placeholders(5, skip.len()))
        };
        let locking = match self.backend {
            super::Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        // Only our own placeholders and fixed text are formatted in; every value is bound.
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until_ms = $2 WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 'pending' AND d.next_attempt_ms <= $3 AND (d.lease_until_ms IS NULL OR d.lease_until_ms < $3) AND w.enabled = 1 AND w.deleted = 0{skipping} ORDER BY d.next_attempt_ms, d.event_seq LIMIT $4{locking}) AND state = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms < $3) RETURNING {DELIVERY_COLUMNS}"
        );
        let mut claim =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner).bind(now + lease_ms).bind(now).bind(limit);
        for webhook in skip {
            claim = claim.bind(webhook);
        }
        let rows = claim.fetch_all(&self.pool).await?;
        let mut claimed: Vec<DeliveryRecord> = rows.iter().map(read_delivery).collect::<Result<_, _>>()?;
        claimed.sort_by_key(|d| (d.next_attempt_ms, d.event_seq));
        Ok(claimed)
    }

    /// Gives up `owner`'s lease on delivery `id`, due at once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release_delivery(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhook_deliveries SET lease_owner = NULL, lease_until_ms = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn get_delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(read_delivery).transpose()
    }

    /// Records an attempt and gives the lease up; only the lease holder's record counts. A 410
    /// disables the webhook in the same transaction, with `events` (its event).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        owner: &str,
        attempt: &AttemptRecord,
        events: &[NewEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let finished = (attempt.state != DeliveryState::Pending).then_some(attempt.attempted_ms);
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_attempt_ms = $2, first_attempt_ms = COALESCE(first_attempt_ms, $3), last_attempt_ms = $3, last_status = $4, last_outcome = $5, last_error = $6, last_response = $7, last_response_truncated = $8, finished_ms = $9, lease_owner = NULL, lease_until_ms = NULL WHERE id = $10 AND lease_owner = $11",
        )
        .bind(attempt.state.as_str())
        .bind(attempt.next_attempt_ms)
        .bind(attempt.attempted_ms)
        .bind(attempt.status)
        .bind(&attempt.outcome)
        .bind(attempt.error.as_deref())
        .bind(&attempt.response)
        .bind(i64::from(attempt.response_truncated))
        .bind(finished)
        .bind(&delivery.id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let mut wrote_events = false;
        if let Some(reason) = &attempt.disable_webhook {
            let disabled = sqlx::query(
                "UPDATE webhooks SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3 AND enabled = 1",
            )
            .bind(reason)
            .bind(now_text())
            .bind(&delivery.webhook_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if disabled == 1 {
                Self::append_events_in(&mut tx, events).await?;
                wrote_events = !events.is_empty();
            }
        }
        tx.commit().await?;
        if wrote_events {
            self.events_written();
        }
        Ok(true)
    }

    /// Gives up every delivery lease `owner` holds, due at once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn release_delivery_leases(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until_ms = NULL WHERE lease_owner = $1 AND state = 'pending'",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// A webhook's deliveries, newest event first, before `before_seq` when given.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        state: Option<DeliveryState>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 = '' OR state = $2) ORDER BY event_seq DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(state.map_or("", DeliveryState::as_str))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_delivery).collect()
    }

    /// Makes a delivery of `webhook_id` due again at once (a failed one included); false when
    /// there is no such delivery.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn retry_delivery(&self, webhook_id: &str, delivery_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_ms = 0, finished_ms = NULL WHERE id = $1 AND webhook_id = $2",
        )
        .bind(delivery_id)
        .bind(webhook_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if done == 1 {
            self.events_written();
        }
        Ok(done == 1)
    }

    /// Deliveries pending, and the age of the oldest, for `/metrics`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delivery_stats(&self) -> Result<DeliveryStats, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM webhook_deliveries WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(DeliveryStats { pending: row.try_get("n")?, oldest_pending_ms: row.try_get("oldest")? })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            Store::open(&format!("sqlite://{}/events.db", dir.path().display())).await.expect("store");
        (store, dir)
    }

    fn event(n: usize) -> NewEvent {
        NewEvent::new("thing", "happened", "acct", format!("things/{n}"), json!({ "n": n }))
    }

    #[tokio::test]
    async fn events_are_numbered_without_holes_and_ids_sort_in_that_order() {
        let (store, _dir) = store().await;
        for n in 0..5 {
            store.append_events(&[event(n), event(n + 100)]).await.expect("append");
        }
        let listed = store
            .list_events(&EventQuery { limit: 100, server_events: true, ..EventQuery::default() })
            .await
            .expect("list");
        let seqs: Vec<i64> = listed.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        let mut ids: Vec<_> = listed.iter().map(|e| e.id.clone()).collect();
        let in_order = ids.clone();
        ids.sort();
        assert_eq!(ids, in_order);
        assert!(listed.iter().all(|e| crate::events::parse_cursor(&e.id) == Some(e.seq)));
    }

    #[tokio::test]
    async fn purging_moves_the_floor_so_an_old_cursor_is_known_to_have_missed_events() {
        let (store, _dir) = store().await;
        store.append_events(&[event(1), event(2), event(3)]).await.expect("append");
        let purged = store.purge_events(now_ms() + 1).await.expect("purge");
        assert_eq!(purged, 3);
        store.append_events(&[event(4)]).await.expect("append");
        let bounds = store.event_bounds().await.expect("bounds");
        assert_eq!(bounds, EventBounds { last_seq: 4, purged_through: 3 });
        // A cursor at 1 missed 2 and 3: below the floor. One at 3 missed nothing.
        assert!(1 < bounds.purged_through);
        assert!(3 >= bounds.purged_through);
        let after_three = store
            .list_events(&EventQuery { after: 3, limit: 10, ..EventQuery::default() })
            .await
            .expect("list");
        assert_eq!(after_three.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4]);
    }

    #[tokio::test]
    async fn a_refresh_older_than_the_last_recorded_changes_nothing() {
        let (store, _dir) = store().await;
        let seen = |ids: &[&str]| -> Vec<Seen> {
            ids.iter().map(|id| Seen { id: (*id).to_owned(), status: "running".into() }).collect()
        };
        let view = |id: &str| json!({ "id": id });
        assert_eq!(
            store.record_inventory("a", "instance", 100, &seen(&["1", "2"]), &view).await.expect("baseline"),
            0
        );
        assert_eq!(
            store.record_inventory("a", "instance", 200, &seen(&["1"]), &view).await.expect("newer"),
            1
        );
        // An older list (begun at 150) that still had "2" must not bring it back.
        assert_eq!(
            store.record_inventory("a", "instance", 150, &seen(&["1", "2"]), &view).await.expect("older"),
            0
        );
        assert_eq!(
            store.record_inventory("a", "instance", 300, &seen(&["1"]), &view).await.expect("same"),
            0
        );
        let listed =
            store.list_events(&EventQuery { limit: 10, ..EventQuery::default() }).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].event_type, "nephele.instance.deleted");
        assert_eq!(listed[0].subject, "instances/2");
    }
}
