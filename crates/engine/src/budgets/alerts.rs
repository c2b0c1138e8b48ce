//! Budget alerts: a threshold's transitions (crossed, recovered), each raised once per period
//! through [`emit`], the one place that says what an alert carries and where it goes. Today it
//! goes to `budget_alerts` and to the events outbox (`nephele.budget.threshold_crossed` /
//! `..._recovered`, delivered to webhooks and the stream), both written in the transaction that
//! moves the threshold's state, so two evaluators, on two replicas, raise it once.
//!
//! A threshold starts each period `ok` without an alert; one in alarm when its period ends is
//! reset without a recovery (the new period has its own figures).

use serde::Serialize;
use time::OffsetDateTime;

use super::{Basis, Evaluated, Overrun};
use crate::Engine;
use crate::costs::history::ms;
use crate::store::StoreError;
use crate::store::spend::{AlertRow, ThresholdRow};

/// The event a threshold that was crossed raises.
pub const CROSSED: &str = "nephele.budget.threshold_crossed";
/// The event a threshold that recovered raises.
pub const RECOVERED: &str = "nephele.budget.threshold_recovered";
/// What an admin's override of a blocking budget leaves on record.
pub const OVERRIDDEN: &str = "nephele.budget.overridden";

/// What an alert carries: the budget, the threshold and the figures that moved it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertBody {
    pub budget_id: String,
    pub budget: String,
    pub threshold: ThresholdView,
    pub period: String,
    pub currency: String,
    pub amount: String,
    pub spent: String,
    pub forecast: String,
    /// RFC 3339.
    pub at: String,
}

/// A threshold as an alert names it.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdView {
    pub index: usize,
    pub at: String,
    pub basis: Basis,
    /// The level in money.
    pub level: String,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Moves `budget`'s thresholds to the states its figures give, raising an alert for each one
/// that crossed or recovered in this period.
pub async fn transitions(
    engine: &Engine,
    budget: &Evaluated,
    stored: &[ThresholdRow],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let figures = &budget.figures;
    for (index, threshold) in budget.spec.thresholds.iter().enumerate() {
        let level = threshold.at.of(budget.spec.amount);
        let value = match threshold.basis {
            Basis::Actual => figures.spent,
            Basis::Forecast => figures.forecast,
        };
        let alarm = value >= level;
        let old = stored.iter().find(|t| t.idx == i64::try_from(index).unwrap_or(i64::MAX));
        let old_state = old.filter(|t| t.period == figures.period).map(|t| t.state.as_str());
        let event = match (old_state, alarm) {
            (Some("alarm"), true) | (Some("ok"), false) => continue,
            (Some("alarm"), false) => Some(RECOVERED),
            (_, true) => Some(CROSSED),
            (_, false) => None,
        };
        let new = ThresholdRow {
            idx: i64::try_from(index).unwrap_or(i64::MAX),
            period: figures.period.clone(),
            state: if alarm { "alarm" } else { "ok" }.to_owned(),
            changed_ms: ms(now),
        };
        let body = AlertBody {
            budget_id: budget.row.id.clone(),
            budget: budget.spec.name.clone(),
            threshold: ThresholdView {
                index,
                at: threshold.at.label(),
                basis: threshold.basis,
                level: nephele_core::cost::to_cents(level).to_string(),
            },
            period: figures.period.clone(),
            currency: budget.spec.currency.clone(),
            amount: nephele_core::cost::to_cents(budget.spec.amount).to_string(),
            spent: nephele_core::cost::to_cents(figures.spent).to_string(),
            forecast: nephele_core::cost::to_cents(figures.forecast).to_string(),
            at: rfc3339(now),
        };
        let source = match budget.spec.scope.accounts.as_slice() {
            [one] => one.clone(),
            _ => crate::events::SERVER_SOURCE.to_owned(),
        };
        emit(engine, &budget.row.id, &source, old, &new, event, &body).await?;
    }
    Ok(())
}

/// Records a threshold's move from `old` to `new` and, when `event` is given, its alert, once:
/// the move is a compare-and-set, and the alert is written in its transaction.
pub async fn emit(
    engine: &Engine,
    budget_id: &str,
    source: &str,
    old: Option<&ThresholdRow>,
    new: &ThresholdRow,
    event: Option<&str>,
    body: &AlertBody,
) -> Result<bool, StoreError> {
    let alert = event.map(|event| AlertRow {
        id: uuid::Uuid::now_v7().to_string(),
        budget_id: budget_id.to_owned(),
        idx: new.idx,
        event: event.to_owned(),
        period: new.period.clone(),
        body: serde_json::to_string(body).unwrap_or_default(),
        at_ms: new.changed_ms,
    });
    // Through the events outbox, in the same transaction (webhooks and the stream).
    let outbox = event.and_then(|event| {
        let change = event.strip_prefix("nephele.budget.")?;
        Some(crate::events::NewEvent::new(
            "budget",
            change,
            source,
            format!("budgets/{budget_id}"),
            serde_json::to_value(body).unwrap_or_default(),
        ))
    });
    let moved = engine.store.move_threshold(budget_id, old, new, alert.as_ref(), outbox.as_ref()).await?;
    if moved && let Some(event) = event {
        tracing::info!(budget = %budget_id, event, threshold = new.idx, period = %new.period, "budget threshold moved");
    }
    Ok(moved)
}

/// Leaves an admin's override of a blocking budget on the budget's record: who, why, which
/// operation, and the figures it was let past.
pub async fn record_override(
    engine: &Engine,
    overrun: &Overrun,
    reason: &str,
    principal: &str,
    operation_id: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let body = serde_json::json!({
        "budget_id": overrun.budget_id,
        "budget": overrun.budget,
        "principal": principal,
        "reason": reason,
        "operation_id": operation_id,
        "period": overrun.period,
        "currency": overrun.currency,
        "level": nephele_core::cost::to_cents(overrun.level).to_string(),
        "forecast": nephele_core::cost::to_cents(overrun.forecast).to_string(),
        "estimate": nephele_core::cost::to_cents(overrun.estimate).to_string(),
        "at": rfc3339(now),
    });
    engine
        .store
        .record_budget_alert(&AlertRow {
            id: uuid::Uuid::now_v7().to_string(),
            budget_id: overrun.budget_id.clone(),
            idx: -1,
            event: OVERRIDDEN.to_owned(),
            period: overrun.period.clone(),
            body: body.to_string(),
            at_ms: ms(now),
        })
        .await
}
