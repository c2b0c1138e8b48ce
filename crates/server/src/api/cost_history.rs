//! `/api/v1/costs/history` and `/api/v1/costs/history.csv`: what the fleet has cost, per hour,
//! day or month, grouped by account, provider, region, type, kind or a tag's value, answered
//! from the recorded history (see `nephele_engine::costs::history`). The CSV has the JSON's rows.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nephele_core::cost::to_cents;
use nephele_engine::costs::history::{self, GroupBy, HistoryRow, MAX_PERIODS, Step, at_ms};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use super::query::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;

/// `?from=&to=&step=&group_by=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    group_by: Option<String>,
}

/// The period of a history row.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum StepName {
    Hour,
    Day,
    Month,
}

/// Whether `raw` is written as the document's pattern for `from` and `to` says: a date
/// (`2026-03-01`), or a time with seconds, an optional fraction of 1 to 9 digits and `Z` or an
/// offset (`2026-03-01T00:00:00Z`), every field in its range. Whether the day exists in its
/// month is the calendar's to say.
fn written_as_an_instant(raw: &str) -> bool {
    let b = raw.as_bytes();
    let num = |from: usize, len: usize, max: u32| -> Option<u32> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        (n <= max).then_some(n)
    };
    let date = num(0, 4, 9999).is_some()
        && b.get(4) == Some(&b'-')
        && num(5, 2, 12).is_some_and(|m| m >= 1)
        && b.get(7) == Some(&b'-')
        && num(8, 2, 31).is_some_and(|d| d >= 1);
    if !date {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    let time = b.get(10) == Some(&b'T')
        && num(11, 2, 23).is_some()
        && b.get(13) == Some(&b':')
        && num(14, 2, 59).is_some()
        && b.get(16) == Some(&b':')
        && num(17, 2, 59).is_some();
    if !time {
        return false;
    }
    let mut at = 19;
    if b.get(at) == Some(&b'.') {
        let digits = b[at + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return false;
        }
        at += 1 + digits;
    }
    match b.get(at) {
        Some(b'Z') => b.len() == at + 1,
        Some(b'+' | b'-') => {
            b.len() == at + 6
                && num(at + 1, 2, 23).is_some()
                && b.get(at + 3) == Some(&b':')
                && num(at + 4, 2, 59).is_some()
        }
        _ => false,
    }
}

/// One period's cost of one group, in one currency.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryRowView {
    /// RFC 3339: the period's first moment.
    pub start: String,
    /// RFC 3339: the next period's first moment.
    pub end: String,
    /// The group's value; `null` for resources that lack the tag grouped by.
    pub group: Option<String>,
    pub currency: String,
    /// To the cent.
    pub amount: String,
    /// Before rounding.
    pub amount_exact: String,
    /// Whether part of the amount was inferred (a span before Nephele first saw a resource,
    /// from its `created_at`).
    pub estimated: bool,
    /// The inferred part, to the cent.
    pub estimated_amount: String,
}

/// How far an account's history is recorded.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordedView {
    pub account: String,
    /// RFC 3339.
    pub until: String,
    /// Resources whose cost is being recorded.
    pub resources: i64,
}

/// The fleet's cost over time.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CostHistory {
    pub from: String,
    pub to: String,
    /// `hour`, `day` or `month`.
    pub step: String,
    pub group_by: String,
    pub rows: Vec<HistoryRowView>,
    /// How far each account's history is recorded: later hours are not in the rows yet.
    pub recorded: Vec<RecordedView>,
    pub assumptions: Vec<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An instant as a caller writes it: RFC 3339, or a date (its midnight, UTC).
fn parse_instant(field: &str, raw: &str) -> Result<OffsetDateTime, ApiError> {
    if !written_as_an_instant(raw) {
        return Err(ApiError::invalid_field(
            field,
            "must be an RFC 3339 time (2026-03-01T00:00:00Z) or a date (2026-03-01)",
        ));
    }
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(t.to_offset(time::UtcOffset::UTC));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &date_format).map(|d| d.with_time(time::Time::MIDNIGHT).assume_utc()).map_err(
        |_| {
            ApiError::invalid_field(
                field,
                "must be an RFC 3339 time (2026-03-01T00:00:00Z) or a date (2026-03-01)",
            )
        },
    )
}

/// The query, parsed: the span cut to whole periods, the step and the grouping.
fn parse(
    state: &AppState,
    query: &HistoryQuery,
) -> Result<(OffsetDateTime, OffsetDateTime, Step, GroupBy, String, String), ApiError> {
    let step_name = query.step.clone().unwrap_or_else(|| "day".to_owned());
    let step = Step::parse(&step_name)
        .ok_or_else(|| ApiError::invalid_field("step", "must be hour, day or month"))?;
    let group_name = query.group_by.clone().unwrap_or_else(|| "account".to_owned());
    let group_by = GroupBy::parse(&group_name).ok_or_else(|| {
        ApiError::invalid_field("group_by", "must be account, provider, region, type, kind or tag:<key>")
    })?;
    let now = state.spend.clock.now();
    let to = match &query.to {
        Some(raw) => parse_instant("to", raw)?,
        None => now,
    };
    let from = match &query.from {
        Some(raw) => parse_instant("from", raw)?,
        None => nephele_core::cost::month_start(now),
    };
    if from >= to {
        return Err(ApiError::invalid_field("from", "must be before `to`"));
    }
    let from = step.floor(from);
    let to = if step.floor(to) == to { to } else { step.next(step.floor(to)) };
    let mut periods = 0usize;
    let mut cursor = from;
    while cursor < to {
        periods += 1;
        if periods > MAX_PERIODS {
            return Err(ApiError::invalid_field(
                "from",
                format!(
                    "the span holds more than {MAX_PERIODS} periods of this step; narrow it or use a longer step"
                ),
            ));
        }
        cursor = step.next(cursor);
    }
    Ok((from, to, step, group_by, step_name, group_name))
}

async fn rows(
    state: &AppState,
    principal: &Principal,
    query: &HistoryQuery,
) -> Result<(CostHistory, Vec<HistoryRow>), ApiError> {
    let (from, to, step, group_by, step_name, group_name) = parse(state, query)?;
    let rows = history::history(&state.engine, from, to, step, &group_by, |a| principal.may_use(a)).await?;
    let recorded = state
        .store
        .cost_watermarks()
        .await?
        .into_iter()
        .filter(|(a, _, _)| principal.may_use(a))
        .map(|(account, until, resources)| RecordedView { account, until: rfc3339(at_ms(until)), resources })
        .collect();
    let answer = CostHistory {
        from: rfc3339(from),
        to: rfc3339(to),
        step: step_name,
        group_by: group_name,
        rows: rows.iter().map(view).collect(),
        recorded,
        assumptions: vec![
            "Each resource accrues from its lifetime in the inventory by the same per-second rules as the estimates (the monthly cap and the minimum charge per calendar month), rounded to the cent once per figure shown.".to_owned(),
            "A resource first seen after its creation accrues this month's part before that from its created_at, marked estimated.".to_owned(),
            "A resource deleted outside Nephele accrues until the inventory's next refresh notices.".to_owned(),
        ],
    };
    Ok((answer, rows))
}

fn view(row: &HistoryRow) -> HistoryRowView {
    HistoryRowView {
        start: rfc3339(row.start),
        end: rfc3339(row.end),
        group: row.group.clone(),
        currency: row.currency.clone(),
        amount: to_cents(row.amount).to_string(),
        amount_exact: row.amount.normalize().to_string(),
        estimated: !row.estimated_amount.is_zero(),
        estimated_amount: to_cents(row.estimated_amount).to_string(),
    }
}

/// The fleet's cost per period and group, from the recorded history.
#[utoipa::path(get, path = "/api/v1/costs/history", tag = "costs",
    params(
        ("from" = Option<String>, Query, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$", description = "RFC 3339 time (2026-03-01T00:00:00Z) or date (2026-03-01), a day that exists in its month; default the start of this month (UTC); cut down to the step; before `to`"),
        ("to" = Option<String>, Query, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$", description = "RFC 3339 time or date, exclusive, a day that exists in its month; default now; cut up to the step; after `from`, and the span at most 10000 periods of the step"),
        ("step" = Option<StepName>, Query, description = "The period of a row (default day); the span holds at most 10000 of them"),
        ("group_by" = Option<String>, Query, pattern = r"^(account|provider|region|type|kind|tag:[A-Za-z0-9:_-]{1,255})$", description = "account (default), provider, region, type, kind or tag:<key> (a tag's key: letters, digits, `:`, `-` and `_`)")),
    responses((status = 200, description = "Rows per period, group and currency", body = CostHistory)))]
#[tracing::instrument(skip_all)]
pub async fn history(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<CostHistory>, ApiError> {
    Ok(Json(rows(&state, &principal, &query).await?.0))
}

/// A CSV field, quoted when it must be.
fn csv_field(raw: &str) -> String {
    if raw.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw.to_owned()
    }
}

/// The same rows as `/api/v1/costs/history`, as CSV with a header.
#[utoipa::path(get, path = "/api/v1/costs/history.csv", tag = "costs",
    params(
        ("from" = Option<String>, Query, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$", description = "As for /api/v1/costs/history"),
        ("to" = Option<String>, Query, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$", description = "As for /api/v1/costs/history"),
        ("step" = Option<StepName>, Query, description = "As for /api/v1/costs/history"),
        ("group_by" = Option<String>, Query, pattern = r"^(account|provider|region|type|kind|tag:[A-Za-z0-9:_-]{1,255})$", description = "As for /api/v1/costs/history")),
    responses((status = 200, description = "start,end,group,currency,amount,amount_exact,estimated,estimated_amount", content_type = "text/csv", body = String)))]
#[tracing::instrument(skip_all)]
pub async fn history_csv(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    let (answer, _) = rows(&state, &principal, &query).await?;
    let mut out = String::from("start,end,group,currency,amount,amount_exact,estimated,estimated_amount\n");
    for row in &answer.rows {
        let fields = [
            row.start.clone(),
            row.end.clone(),
            row.group.clone().unwrap_or_default(),
            row.currency.clone(),
            row.amount.clone(),
            row.amount_exact.clone(),
            row.estimated.to_string(),
            row.estimated_amount.clone(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    let mut response = out.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    Ok(response)
}

/// The cloud's own figures for the month so far.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CloudBillView {
    /// DigitalOcean's `month_to_date_usage`.
    pub month_to_date_usage: String,
    /// The running invoice (DigitalOcean's invoice preview).
    pub invoice_preview: Option<String>,
    pub invoice_period: Option<String>,
    /// RFC 3339: when the cloud computed it.
    pub generated_at: String,
    pub source: String,
}

/// One account's bill beside Nephele's month-to-date.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountBillView {
    pub account: String,
    /// `reconciled` (the cloud's figure is beside Nephele's), `estimate_only` (the cloud
    /// exposes no bill Nephele reads) or `unavailable` (it could not be read now).
    pub status: String,
    pub currency: String,
    /// Nephele's month-to-date from the recorded history, to the cent.
    pub nephele_month_to_date: String,
    pub cloud: Option<CloudBillView>,
    /// The cloud's month-to-date less Nephele's.
    pub difference: Option<String>,
    /// RFC 3339 (Nephele's clock): when the cloud's figures were read; read at most hourly.
    pub read_at: Option<String>,
    pub note: Option<String>,
}

impl From<&nephele_engine::costs::bill::AccountBill> for AccountBillView {
    fn from(b: &nephele_engine::costs::bill::AccountBill) -> Self {
        Self {
            account: b.account.clone(),
            status: b.status.as_str().to_owned(),
            currency: b.currency.clone(),
            nephele_month_to_date: to_cents(b.nephele_month_to_date).to_string(),
            cloud: b.cloud.as_ref().map(|c| CloudBillView {
                month_to_date_usage: to_cents(c.month_to_date_usage).to_string(),
                invoice_preview: c.invoice_preview.map(|p| to_cents(p).to_string()),
                invoice_period: c.invoice_period.clone(),
                generated_at: rfc3339(c.generated_at),
                source: c.source.clone(),
            }),
            difference: b.difference.map(|d| to_cents(d).to_string()),
            read_at: b.read_at.map(rfc3339),
            note: b.note.clone(),
        }
    }
}
