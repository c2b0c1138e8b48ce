//! Spend's tables: the cost history's hourly buckets, what the recorder knows of each resource,
//! how far each account is recorded; budgets, their thresholds' states and the alerts raised.
//!
//! Amounts are exact decimals stored as text; they are added here, in Rust, inside the
//! transaction that moves the account's watermark with a compare-and-set, so that a span is
//! counted once however many replicas record.

use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::Row;

use super::{Store, StoreError, now_text};

/// One hourly bucket's attributes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub hour_ms: i64,
    pub account: String,
    pub provider: String,
    pub kind: String,
    pub region: String,
    pub rtype: String,
    /// JSON array, sorted.
    pub tags: String,
    pub currency: String,
    pub estimated: bool,
}

/// A stored bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub key: BucketKey,
    pub amount: Decimal,
}

/// What the recorder knows of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostResource {
    pub account: String,
    pub kind: String,
    pub resource_id: String,
    pub created_ms: i64,
    pub first_seen_ms: i64,
    pub month_ms: i64,
    pub free_seconds: i64,
}

/// One recording of one account: the span from `expected` (none on the first) to `until`.
pub struct Recording {
    pub account: String,
    pub expected: Option<i64>,
    pub until: i64,
    pub upserts: Vec<CostResource>,
    pub removals: Vec<(String, String)>,
    pub buckets: Vec<Bucket>,
}

/// A stored budget (its body is the engine's to read).
#[derive(Debug, Clone)]
pub struct BudgetRow {
    pub id: String,
    pub name: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A threshold's last state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdRow {
    pub idx: i64,
    pub period: String,
    pub state: String,
    pub changed_ms: i64,
}

/// A stored alert.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: String,
    pub budget_id: String,
    pub idx: i64,
    pub event: String,
    pub period: String,
    pub body: String,
    pub at_ms: i64,
}

fn decimal(raw: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(raw).map_err(|e| StoreError::Corrupt(format!("amount {raw:?}: {e}")))
}

impl Store {
    /// How far `account`'s history is recorded.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn cost_watermark(&self, account: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT until_ms FROM cost_watermarks WHERE account = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("until_ms")).transpose()?)
    }

    /// Every account's watermark, with how many resources the recorder follows there.
    pub async fn cost_watermarks(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.account AS account, w.until_ms AS until_ms, (SELECT COUNT(*) FROM cost_resources r WHERE r.account = w.account) AS resources FROM cost_watermarks w ORDER BY w.account",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("account")?, r.try_get("until_ms")?, r.try_get("resources")?)))
            .collect()
    }

    /// What the recorder knows of `account`'s resources.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn cost_resources(&self, account: &str) -> Result<Vec<CostResource>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, kind, resource_id, created_ms, first_seen_ms, month_ms, free_seconds FROM cost_resources WHERE account = $1",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CostResource {
                    account: r.try_get("account")?,
                    kind: r.try_get("kind")?,
                    resource_id: r.try_get("resource_id")?,
                    created_ms: r.try_get("created_ms")?,
                    first_seen_ms: r.try_get("first_seen_ms")?,
                    month_ms: r.try_get("month_ms")?,
                    free_seconds: r.try_get("free_seconds")?,
                })
            })
            .collect()
    }

    /// Records one span of one account, or nothing when another recorder moved the watermark
    /// first (`Ok(false)`): the watermark's compare-and-set comes first, so the buckets are added
    /// only by the recorder that won it.
    #[tracing::instrument(level = "debug", skip_all, fields(account = %recording.account))]
    pub async fn record_costs(&self, recording: &Recording) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let moved = match recording.expected {
            Some(expected) => {
                sqlx::query("UPDATE cost_watermarks SET until_ms = $1 WHERE account = $2 AND until_ms = $3")
                    .bind(recording.until)
                    .bind(&recording.account)
                    .bind(expected)
                    .execute(&mut *tx)
                    .await?
            }
            None => {
                sqlx::query(
                    "INSERT INTO cost_watermarks (account, until_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(&recording.account)
                .bind(recording.until)
                .execute(&mut *tx)
                .await?
            }
        };
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for resource in &recording.upserts {
            let updated = sqlx::query(
                "UPDATE cost_resources SET created_ms = $1, first_seen_ms = $2, month_ms = $3, free_seconds = $4 WHERE account = $5 AND kind = $6 AND resource_id = $7",
            )
            .bind(resource.created_ms)
            .bind(resource.first_seen_ms)
            .bind(resource.month_ms)
            .bind(resource.free_seconds)
            .bind(&resource.account)
            .bind(&resource.kind)
            .bind(&resource.resource_id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO cost_resources (account, kind, resource_id, created_ms, first_seen_ms, month_ms, free_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&resource.account)
                .bind(&resource.kind)
                .bind(&resource.resource_id)
                .bind(resource.created_ms)
                .bind(resource.first_seen_ms)
                .bind(resource.month_ms)
                .bind(resource.free_seconds)
                .execute(&mut *tx)
                .await?;
            }
        }
        for (kind, id) in &recording.removals {
            sqlx::query("DELETE FROM cost_resources WHERE account = $1 AND kind = $2 AND resource_id = $3")
                .bind(&recording.account)
                .bind(kind)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for bucket in &recording.buckets {
            let k = &bucket.key;
            let existing = sqlx::query(
                "SELECT amount FROM cost_history WHERE hour_ms = $1 AND account = $2 AND kind = $3 AND region = $4 AND rtype = $5 AND tags = $6 AND currency = $7 AND estimated = $8",
            )
            .bind(k.hour_ms)
            .bind(&k.account)
            .bind(&k.kind)
            .bind(&k.region)
            .bind(&k.rtype)
            .bind(&k.tags)
            .bind(&k.currency)
            .bind(i64::from(k.estimated))
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                Some(row) => {
                    let before = decimal(&row.try_get::<String, _>("amount")?)?;
                    let after = before
                        .checked_add(bucket.amount)
                        .ok_or_else(|| StoreError::Corrupt("an hour's cost overflowed".to_owned()))?;
                    sqlx::query(
                        "UPDATE cost_history SET amount = $1 WHERE hour_ms = $2 AND account = $3 AND kind = $4 AND region = $5 AND rtype = $6 AND tags = $7 AND currency = $8 AND estimated = $9",
                    )
                    .bind(after.normalize().to_string())
                    .bind(k.hour_ms)
                    .bind(&k.account)
                    .bind(&k.kind)
                    .bind(&k.region)
                    .bind(&k.rtype)
                    .bind(&k.tags)
                    .bind(&k.currency)
                    .bind(i64::from(k.estimated))
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO cost_history (hour_ms, account, provider, kind, region, rtype, tags, currency, estimated, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(k.hour_ms)
                    .bind(&k.account)
                    .bind(&k.provider)
                    .bind(&k.kind)
                    .bind(&k.region)
                    .bind(&k.rtype)
                    .bind(&k.tags)
                    .bind(&k.currency)
                    .bind(i64::from(k.estimated))
                    .bind(bucket.amount.normalize().to_string())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The buckets of hours in `[from_ms, to_ms)`, in time order.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn cost_buckets(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Bucket>, StoreError> {
        let rows = sqlx::query(
            "SELECT hour_ms, account, provider, kind, region, rtype, tags, currency, estimated, amount FROM cost_history WHERE hour_ms >= $1 AND hour_ms < $2 ORDER BY hour_ms",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Bucket {
                    key: BucketKey {
                        hour_ms: r.try_get("hour_ms")?,
                        account: r.try_get("account")?,
                        provider: r.try_get("provider")?,
                        kind: r.try_get("kind")?,
                        region: r.try_get("region")?,
                        rtype: r.try_get("rtype")?,
                        tags: r.try_get("tags")?,
                        currency: r.try_get("currency")?,
                        estimated: r.try_get::<i64, _>("estimated")? != 0,
                    },
                    amount: decimal(&r.try_get::<String, _>("amount")?)?,
                })
            })
            .collect()
    }

    /// Deletes the history of hours before `before_ms`; returns how many buckets went.
    pub async fn purge_cost_history(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM cost_history WHERE hour_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    // Budgets.

    pub async fn budgets(&self) -> Result<Vec<BudgetRow>, StoreError> {
        let rows = sqlx::query("SELECT id, name, body, created_at, updated_at FROM budgets ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_budget).collect()
    }

    pub async fn budget(&self, id: &str) -> Result<Option<BudgetRow>, StoreError> {
        let row = sqlx::query("SELECT id, name, body, created_at, updated_at FROM budgets WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(read_budget).transpose()
    }

    /// Stores a new budget; `Ok(false)` when its name is taken.
    pub async fn insert_budget(&self, id: &str, name: &str, body: &str) -> Result<bool, StoreError> {
        let now = now_text();
        let inserted = sqlx::query(
            "INSERT INTO budgets (id, name, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(body)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Replaces a budget's name and body, and forgets its thresholds' states (the thresholds
    /// may have changed); `Ok(false)` when the name is taken by another budget.
    pub async fn update_budget(&self, id: &str, name: &str, body: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One statement that writes first: a read before the write would make SQLite upgrade a
        // read lock, which fails (503) when another writer committed in between.
        let updated = sqlx::query(
            "UPDATE budgets SET name = $1, body = $2, updated_at = $3 WHERE id = $4 \
             AND NOT EXISTS (SELECT 1 FROM budgets AS other WHERE other.name = $1 AND other.id <> $4)",
        )
        .bind(name)
        .bind(body)
        .bind(now_text())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM budget_thresholds WHERE budget_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a budget and its thresholds' states (its alerts stay, as history).
    pub async fn delete_budget(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM budgets WHERE id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM budget_thresholds WHERE budget_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Every budget's thresholds' states, by budget id (one query for a round of evaluation).
    pub async fn all_budget_thresholds(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<ThresholdRow>>, StoreError> {
        let rows = sqlx::query(
            "SELECT budget_id, idx, period, state, changed_ms FROM budget_thresholds ORDER BY budget_id, idx",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: std::collections::HashMap<String, Vec<ThresholdRow>> = std::collections::HashMap::new();
        for r in &rows {
            out.entry(r.try_get("budget_id")?).or_default().push(ThresholdRow {
                idx: r.try_get("idx")?,
                period: r.try_get("period")?,
                state: r.try_get("state")?,
                changed_ms: r.try_get("changed_ms")?,
            });
        }
        Ok(out)
    }

    pub async fn budget_thresholds(&self, budget_id: &str) -> Result<Vec<ThresholdRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT idx, period, state, changed_ms FROM budget_thresholds WHERE budget_id = $1 ORDER BY idx",
        )
        .bind(budget_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ThresholdRow {
                    idx: r.try_get("idx")?,
                    period: r.try_get("period")?,
                    state: r.try_get("state")?,
                    changed_ms: r.try_get("changed_ms")?,
                })
            })
            .collect()
    }

    /// Moves a threshold from `from` (its stored row, or none) to `to`, and records the alert
    /// in the same transaction; `Ok(false)` when another evaluator moved it first (nothing is
    /// written, so an alert is raised once).
    pub async fn move_threshold(
        &self,
        budget_id: &str,
        from: Option<&ThresholdRow>,
        to: &ThresholdRow,
        alert: Option<&AlertRow>,
        event: Option<&crate::events::NewEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let moved = match from {
            Some(old) => sqlx::query(
                "UPDATE budget_thresholds SET period = $1, state = $2, changed_ms = $3 WHERE budget_id = $4 AND idx = $5 AND period = $6 AND state = $7",
            )
            .bind(&to.period)
            .bind(&to.state)
            .bind(to.changed_ms)
            .bind(budget_id)
            .bind(to.idx)
            .bind(&old.period)
            .bind(&old.state)
            .execute(&mut *tx)
            .await?,
            None => sqlx::query(
                "INSERT INTO budget_thresholds (budget_id, idx, period, state, changed_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(budget_id)
            .bind(to.idx)
            .bind(&to.period)
            .bind(&to.state)
            .bind(to.changed_ms)
            .execute(&mut *tx)
            .await?,
        };
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(alert) = alert {
            sqlx::query(
                "INSERT INTO budget_alerts (id, budget_id, idx, event, period, body, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&alert.id)
            .bind(&alert.budget_id)
            .bind(alert.idx)
            .bind(&alert.event)
            .bind(&alert.period)
            .bind(&alert.body)
            .bind(alert.at_ms)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(event) = event {
            Self::append_events_in(&mut tx, std::slice::from_ref(event)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records an alert that moves no threshold (an override).
    pub async fn record_budget_alert(&self, alert: &AlertRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO budget_alerts (id, budget_id, idx, event, period, body, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&alert.id)
        .bind(&alert.budget_id)
        .bind(alert.idx)
        .bind(&alert.event)
        .bind(&alert.period)
        .bind(&alert.body)
        .bind(alert.at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A budget's alerts, newest last (at most `limit`).
    pub async fn budget_alerts(&self, budget_id: &str, limit: i64) -> Result<Vec<AlertRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, budget_id, idx, event, period, body, at_ms FROM budget_alerts WHERE budget_id = $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(budget_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut alerts = rows
            .iter()
            .map(|r| {
                Ok(AlertRow {
                    id: r.try_get("id")?,
                    budget_id: r.try_get("budget_id")?,
                    idx: r.try_get("idx")?,
                    event: r.try_get("event")?,
                    period: r.try_get("period")?,
                    body: r.try_get("body")?,
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        alerts.reverse();
        Ok(alerts)
    }
}

fn read_budget(r: &sqlx::any::AnyRow) -> Result<BudgetRow, StoreError> {
    Ok(BudgetRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}
