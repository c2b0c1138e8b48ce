//! `/api/v1/budgets`: budgets per calendar period over a scope of the fleet, with their figures
//! (spent, forecast) and thresholds' states. Admins write; operators and viewers read. A key
//! limited to some accounts sees, makes and changes only budgets whose scope lies within them
//! (a budget it makes must name its accounts).
//!
//! The guardrail a blocking budget puts on creates lives with the create ([`guard_create`],
//! called by `instances::create` and `resources::create` before the operation is recorded; its
//! [`Verdict`] is settled on the answer).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nephele_core::cost::to_cents;
use nephele_engine::budgets::spec::{BudgetBody, ThresholdBody};
use nephele_engine::budgets::{self, Basis, Enforce, Evaluated, Period, Scope};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use super::error::{ApiError, ErrorCode};
use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::{Principal, Role};

/// The header an admin sets to let one create past a blocking budget, with the reason.
pub const OVERRIDE_HEADER: &str = "nephele-budget-override";
/// The header a create's answer carries when it overruns a budget that warns.
pub const WARNING_HEADER: &str = "nephele-budget-warning";

/// A threshold: `"80%"` of the amount, or an amount (`"400.00"`); on what was spent (`actual`)
/// or on the forecast to the period's end.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRequest {
    /// A percentage of the amount above zero and at most 1000 (`80%`), or an amount in whole
    /// cents (`400.00`); at most two decimals either way.
    #[schema(
        example = "80%",
        pattern = r"^(1000000000(\.0{1,2})?|[1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9])|(1000(\.0{1,2})?|[1-9][0-9]{0,2}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))%)$"
    )]
    pub at: String,
    #[schema(value_type = BasisName)]
    pub basis: Basis,
}

/// What a threshold is measured on.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BasisName {
    Actual,
    Forecast,
}

/// A budget's period (UTC calendar).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodName {
    Month,
    Quarter,
    Year,
}

/// What a budget does about a create that would overrun a forecast threshold.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnforceName {
    None,
    Warn,
    Block,
}

/// What a budget covers; an empty (or absent) list admits everything. Each list holds at most
/// 100 entries of 1 to 255 characters.
#[derive(Deserialize, Serialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ScopeRequest {
    #[serde(default)]
    #[schema(schema_with = scope_list)]
    pub accounts: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = scope_list)]
    pub providers: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = scope_list)]
    pub regions: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = scope_list)]
    pub kinds: Vec<String>,
    /// Tags a resource must all carry (`team:web`): letters, digits, `:`, `-` and `_`.
    #[serde(default)]
    #[schema(schema_with = tag_list)]
    pub tags: Vec<String>,
}

/// A scope list as the API takes it (see `MAX_SCOPE_ENTRIES` in the engine's budget spec).
fn scope_list() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)))
        .max_items(Some(budgets::spec::MAX_SCOPE_ENTRIES))
        .build()
}

/// A list of tags as the API takes it.
fn tag_list() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[A-Za-z0-9:_-]{1,255}$")))
        .max_items(Some(budgets::spec::MAX_SCOPE_ENTRIES))
        .build()
}

/// A budget to make: `name` and `amount` required.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBudgetRequest {
    /// 1 to 100 letters, digits, spaces, `-`, `_` or `.`; unique.
    #[schema(required = true, nullable = false, pattern = "^[A-Za-z0-9 ._-]{1,100}$")]
    pub name: Option<String>,
    /// Above zero, at most a billion, in whole cents: a decimal string without a sign or a
    /// leading zero.
    #[schema(
        required = true,
        nullable = false,
        example = "500.00",
        pattern = r"^(1000000000(\.0{1,2})?|[1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
    )]
    pub amount: Option<String>,
    /// ISO 4217; default USD.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    #[schema(value_type = Option<PeriodName>)]
    pub period: Option<Period>,
    pub scope: Option<ScopeRequest>,
    #[schema(max_items = 10)]
    pub thresholds: Option<Vec<ThresholdRequest>>,
    #[schema(value_type = Option<EnforceName>)]
    pub enforce: Option<Enforce>,
}

impl From<NewBudgetRequest> for BudgetRequest {
    fn from(b: NewBudgetRequest) -> Self {
        Self {
            name: b.name,
            amount: b.amount,
            currency: b.currency,
            period: b.period,
            scope: b.scope,
            thresholds: b.thresholds,
            enforce: b.enforce,
        }
    }
}

/// The fields of a budget to change (`PATCH`): at least one; a field given as `null` is left as
/// it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct BudgetRequest {
    /// 1 to 100 letters, digits, spaces, `-`, `_` or `.`; unique.
    #[schema(pattern = "^[A-Za-z0-9 ._-]{1,100}$")]
    pub name: Option<String>,
    /// Above zero, at most a billion, in whole cents: a decimal string without a sign or a
    /// leading zero.
    #[schema(
        example = "500.00",
        pattern = r"^(1000000000(\.0{1,2})?|[1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
    )]
    pub amount: Option<String>,
    /// ISO 4217.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    #[schema(value_type = Option<PeriodName>)]
    pub period: Option<Period>,
    pub scope: Option<ScopeRequest>,
    #[schema(max_items = 10)]
    pub thresholds: Option<Vec<ThresholdRequest>>,
    #[schema(value_type = Option<EnforceName>)]
    pub enforce: Option<Enforce>,
}

impl BudgetRequest {
    fn into_body(self) -> BudgetBody {
        BudgetBody {
            name: self.name,
            amount: self.amount,
            currency: self.currency,
            period: self.period,
            scope: self.scope.map(|s| Scope {
                accounts: s.accounts,
                providers: s.providers,
                regions: s.regions,
                kinds: s.kinds,
                tags: s.tags,
            }),
            thresholds: self
                .thresholds
                .map(|ts| ts.into_iter().map(|t| ThresholdBody { at: t.at, basis: t.basis }).collect()),
            enforce: self.enforce,
        }
    }
}

/// A threshold with its level in money and its state in this period.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ThresholdView {
    pub at: String,
    #[schema(value_type = BasisName)]
    pub basis: Basis,
    /// The level in money, to the cent.
    pub level: String,
    /// `ok` or `alarm`.
    pub state: String,
}

/// A budget's figures in its current period.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FiguresView {
    /// `2026-03`, `2026-Q1` or `2026`.
    pub period: String,
    pub start: String,
    pub end: String,
    /// Recorded cost in the period so far, within scope, to the cent.
    pub spent: String,
    /// `spent` plus `run_rate_to_end`, to the cent.
    pub forecast: String,
    /// What the billed fleet in scope costs from now to the period's end if it keeps running.
    pub run_rate_to_end: String,
    /// The billed fleet's hourly run-rate in scope now.
    pub hourly: String,
    /// How the forecast was made, in a sentence.
    pub forecast_method: String,
}

/// A budget with its figures.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetView {
    pub id: String,
    pub name: String,
    pub amount: String,
    pub currency: String,
    #[schema(value_type = PeriodName)]
    pub period: Period,
    pub scope: ScopeRequest,
    pub thresholds: Vec<ThresholdView>,
    #[schema(value_type = EnforceName)]
    pub enforce: Enforce,
    pub figures: FiguresView,
    pub created_at: String,
    pub updated_at: String,
}

/// Budgets the caller may see.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetList {
    pub budgets: Vec<BudgetView>,
}

/// A threshold's transition or an override, as recorded.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: String,
    /// `nephele.budget.threshold_crossed`, `nephele.budget.threshold_recovered` or
    /// `nephele.budget.overridden`.
    pub event: String,
    pub period: String,
    /// The figures, as the alert carries them.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub at: String,
}

/// One budget, with its latest alerts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetDetail {
    #[serde(flatten)]
    pub budget: BudgetView,
    /// The latest 100, oldest first.
    pub alerts: Vec<AlertView>,
}

const FORECAST_METHOD: &str = "forecast = spent + what every billed resource in scope costs from now to the period's end if it keeps running (the current run-rate, each month capped as its provider bills)";

async fn view(state: &AppState, e: &Evaluated) -> Result<BudgetView, ApiError> {
    let stored = state.store.budget_thresholds(&e.row.id).await?;
    let thresholds = e
        .spec
        .thresholds
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let state = stored
                .iter()
                .find(|s| s.idx == i as i64 && s.period == e.figures.period)
                .map_or_else(|| "ok".to_owned(), |s| s.state.clone());
            ThresholdView {
                at: t.at.label(),
                basis: t.basis,
                level: to_cents(t.at.of(e.spec.amount)).to_string(),
                state,
            }
        })
        .collect();
    let scope = &e.spec.scope;
    Ok(BudgetView {
        id: e.row.id.clone(),
        name: e.spec.name.clone(),
        amount: to_cents(e.spec.amount).to_string(),
        currency: e.spec.currency.clone(),
        period: e.spec.period,
        scope: ScopeRequest {
            accounts: scope.accounts.clone(),
            providers: scope.providers.clone(),
            regions: scope.regions.clone(),
            kinds: scope.kinds.clone(),
            tags: scope.tags.clone(),
        },
        thresholds,
        enforce: e.spec.enforce,
        figures: FiguresView {
            period: e.figures.period.clone(),
            start: e.figures.start.format(&Rfc3339).unwrap_or_default(),
            end: e.figures.end.format(&Rfc3339).unwrap_or_default(),
            spent: to_cents(e.figures.spent).to_string(),
            forecast: to_cents(e.figures.forecast).to_string(),
            run_rate_to_end: to_cents(e.figures.run_rate_to_end).to_string(),
            hourly: e.figures.hourly.normalize().to_string(),
            forecast_method: FORECAST_METHOD.to_owned(),
        },
        created_at: e.row.created_at.clone(),
        updated_at: e.row.updated_at.clone(),
    })
}

fn accounts(state: &AppState) -> Vec<String> {
    state.providers.all().map(|(name, _)| name.clone()).collect()
}

/// Whether `principal` may see (and, as an admin, change) a budget of this scope.
fn visible(state: &AppState, principal: &Principal, scope: &Scope) -> bool {
    scope.within(|a| principal.may_use(a), &accounts(state))
}

/// Every budget the caller may see, evaluated now.
async fn evaluated(state: &AppState, principal: &Principal) -> Result<Vec<Evaluated>, ApiError> {
    let now = state.spend.clock.now();
    Ok(budgets::evaluate(&state.engine, now)
        .await?
        .into_iter()
        .filter(|e| visible(state, principal, &e.spec.scope))
        .collect())
}

async fn find(state: &AppState, principal: &Principal, id: &str) -> Result<Evaluated, ApiError> {
    evaluated(state, principal)
        .await?
        .into_iter()
        .find(|e| e.row.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no budget with id {id:?}")))
}

/// Refuses a budget a scoped key could not see.
fn check_scope(state: &AppState, principal: &Principal, scope: &Scope) -> Result<(), ApiError> {
    if principal.scope().is_some() && scope.accounts.is_empty() {
        return Err(ApiError::invalid_field(
            "scope.accounts",
            "a key limited to some accounts must name the accounts its budgets cover",
        ));
    }
    if !visible(state, principal, scope) {
        return Err(ApiError::new(ErrorCode::Forbidden, "this key may not make budgets over those accounts"));
    }
    Ok(())
}

/// Re-evaluates the budgets at once after a change, so thresholds move without waiting.
async fn reevaluate(state: &AppState) {
    budgets::evaluate_all(&state.engine, state.spend.clock.now()).await;
}

/// Makes a budget.
#[utoipa::path(post, path = "/api/v1/budgets", tag = "budgets", request_body = NewBudgetRequest,
    responses((status = 201, description = "The budget, with its figures", body = BudgetView)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiJson(body, _): ApiJson<NewBudgetRequest>,
) -> Result<(StatusCode, Json<BudgetView>), ApiError> {
    let body = BudgetRequest::from(body).into_body();
    let spec = body.parse().map_err(ApiError::invalid)?;
    check_scope(&state, &principal, &spec.scope)?;
    let id = uuid::Uuid::now_v7().to_string();
    let stored = serde_json::to_string(&spec.body()).unwrap_or_default();
    if !state.store.insert_budget(&id, &spec.name, &stored).await? {
        return Err(ApiError::new(ErrorCode::Conflict, format!("a budget named {:?} exists", spec.name)));
    }
    reevaluate(&state).await;
    let found = find(&state, &principal, &id).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &found).await?)))
}

/// Budgets, with their figures and thresholds' states.
#[utoipa::path(get, path = "/api/v1/budgets", tag = "budgets",
    responses((status = 200, description = "Budgets the key may see", body = BudgetList)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<BudgetList>, ApiError> {
    let mut out = Vec::new();
    for e in evaluated(&state, &principal).await? {
        out.push(view(&state, &e).await?);
    }
    Ok(Json(BudgetList { budgets: out }))
}

/// One budget, with its latest alerts.
#[utoipa::path(get, path = "/api/v1/budgets/{id}", tag = "budgets",
    params(("id" = String, Path, description = "The budget's id")),
    responses((status = 200, description = "The budget", body = BudgetDetail)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<BudgetDetail>, ApiError> {
    let found = find(&state, &principal, &id).await?;
    let alerts = state
        .store
        .budget_alerts(&id, 100)
        .await?
        .into_iter()
        .map(|a| AlertView {
            id: a.id,
            event: a.event,
            period: a.period,
            data: serde_json::from_str(&a.body).unwrap_or(serde_json::Value::Null),
            at: nephele_engine::costs::history::at_ms(a.at_ms).format(&Rfc3339).unwrap_or_default(),
        })
        .collect();
    Ok(Json(BudgetDetail { budget: view(&state, &found).await?, alerts }))
}

/// Changes some of a budget's fields; its thresholds' states start again.
#[utoipa::path(patch, path = "/api/v1/budgets/{id}", tag = "budgets", request_body = BudgetRequest,
    params(("id" = String, Path, description = "The budget's id")),
    responses((status = 200, description = "The budget as changed", body = BudgetView)))]
#[tracing::instrument(skip_all)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(patch, raw): ApiJson<BudgetRequest>,
) -> Result<Json<BudgetView>, ApiError> {
    if raw.as_object().is_none_or(serde_json::Map::is_empty) {
        return Err(ApiError::invalid_field("body", "must name at least one field to change"));
    }
    let found = find(&state, &principal, &id).await?;
    let body = found.spec.body().patched(patch.into_body());
    let spec = body.parse().map_err(ApiError::invalid)?;
    check_scope(&state, &principal, &spec.scope)?;
    let stored = serde_json::to_string(&spec.body()).unwrap_or_default();
    if !state.store.update_budget(&id, &spec.name, &stored).await? {
        return Err(ApiError::new(ErrorCode::Conflict, format!("a budget named {:?} exists", spec.name)));
    }
    reevaluate(&state).await;
    let found = find(&state, &principal, &id).await?;
    Ok(Json(view(&state, &found).await?))
}

/// Deletes a budget (its alerts stay on record).
#[utoipa::path(delete, path = "/api/v1/budgets/{id}", tag = "budgets",
    params(("id" = String, Path, description = "The budget's id")),
    responses((status = 204, description = "Deleted")))]
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    find(&state, &principal, &id).await?;
    state.store.delete_budget(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A budget a create would overrun, as the refusal or the warning names it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OverrunView {
    pub budget_id: String,
    pub budget: String,
    #[schema(value_type = EnforceName)]
    pub enforce: Enforce,
    pub currency: String,
    pub amount: String,
    /// The level the create would pass: a forecast threshold's, or the amount.
    pub level: String,
    pub threshold: Option<String>,
    pub period: String,
    pub spent: String,
    pub forecast: String,
    /// Held by creates under way.
    pub reserved: String,
    /// This create's own cost to the period's end.
    pub estimate: String,
}

impl From<&budgets::Overrun> for OverrunView {
    fn from(o: &budgets::Overrun) -> Self {
        Self {
            budget_id: o.budget_id.clone(),
            budget: o.budget.clone(),
            enforce: o.enforce,
            currency: o.currency.clone(),
            amount: to_cents(o.amount).to_string(),
            level: to_cents(o.level).to_string(),
            threshold: o.threshold.clone(),
            period: o.period.clone(),
            spent: to_cents(o.spent).to_string(),
            forecast: to_cents(o.forecast).to_string(),
            reserved: to_cents(o.reserved).to_string(),
            estimate: to_cents(o.estimate).to_string(),
        }
    }
}

/// A create the guardrail let through: the budgets it overruns (that warn, or that block and
/// were overridden, with the reason), and its hold on the guardrail until its first step ran.
#[derive(Default)]
pub struct Verdict {
    warnings: Vec<budgets::Overrun>,
    /// The admin's reason, when blocking budgets were overridden.
    overridden: Option<(String, Vec<budgets::Overrun>)>,
    pass: Option<budgets::Pass>,
}

impl Verdict {
    /// Ends the create's hold once its first step has run (see [`budgets::Pass::settle`]) and
    /// puts the verdict on its answer: the warning header, and the override's reason in the
    /// audit entry.
    pub async fn settle(
        self,
        state: &AppState,
        answered: Result<Response, ApiError>,
    ) -> Result<Response, ApiError> {
        if let Some(pass) = self.pass {
            pass.settle(&state.engine).await;
        }
        answered.map(|mut response| {
            let mut all = self.warnings;
            if let Some((reason, overridden)) = &self.overridden {
                let names = overridden
                    .iter()
                    .map(|o| format!("{:?} ({})", o.budget, o.budget_id))
                    .collect::<Vec<_>>()
                    .join(", ");
                response.extensions_mut().insert(crate::auth::access::AuditNote(format!(
                    "budget override: {reason:?}; let past blocking budget(s) {names}"
                )));
                all.extend(overridden.iter().cloned());
            }
            if let Some(warning) = warning_value(&all) {
                response.headers_mut().insert(WARNING_HEADER, warning);
            }
            response
        })
    }
}

/// The guardrail's verdict on a create: refused (409 `budget_exceeded` with the budgets'
/// figures), or let through with what to put on the answer ([`Verdict::settle`]).
pub async fn guard_create(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    check: budgets::CreateCheck<'_>,
) -> Result<Verdict, Response> {
    let reason = headers.get(OVERRIDE_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
    let reason = match reason {
        None => None,
        Some(r) if r.is_empty() || r.len() > 256 => {
            return Err(ApiError::invalid_field(
                OVERRIDE_HEADER,
                "must give a reason of 1 to 256 characters",
            )
            .into_response());
        }
        Some(_) if principal.role < Role::Admin => {
            return Err(
                ApiError::new(ErrorCode::Forbidden, "only an admin may override a budget").into_response()
            );
        }
        Some(r) => Some(r),
    };
    // A repeat of a request already made under its Idempotency-Key is answered as the first
    // was (by the idempotency layer), not checked again against a fleet that now includes it.
    if let Ok(Some(key)) = super::idempotency::key_from(headers)
        && matches!(state.store.get_key(&principal.id, key.as_str()).await, Ok(Some(_)))
    {
        return Ok(Verdict::default());
    }
    let check = budgets::CreateCheck { override_reason: reason, principal: &principal.id, ..check };
    match budgets::guard_create(&state.engine, &check).await {
        Ok(outcome) => Ok(Verdict {
            warnings: outcome.warnings,
            overridden: match (reason, outcome.overridden.is_empty()) {
                (Some(reason), false) => Some((reason.to_owned(), outcome.overridden)),
                _ => None,
            },
            pass: outcome.pass,
        }),
        Err(budgets::GuardError::Store(e)) => Err(ApiError::from(e).into_response()),
        Err(budgets::GuardError::Exceeded(overruns)) => {
            let first = &overruns[0];
            let error = ApiError::new(
                ErrorCode::BudgetExceeded,
                format!(
                    "budget {:?} would be exceeded: forecast {} {} + reserved {} + this create {} > {} (period {}); nothing was sent to the provider",
                    first.budget,
                    to_cents(first.forecast),
                    first.currency,
                    to_cents(first.reserved),
                    to_cents(first.estimate),
                    to_cents(first.level),
                    first.period
                ),
            );
            let mut document = serde_json::to_value(error.problem()).unwrap_or_default();
            document["budgets"] =
                serde_json::to_value(overruns.iter().map(OverrunView::from).collect::<Vec<_>>())
                    .unwrap_or_default();
            let mut response = (error.status(), Json(document)).into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            Err(response)
        }
    }
}

/// The warning header's value for a create that overruns budgets that warn.
fn warning_value(overruns: &[budgets::Overrun]) -> Option<HeaderValue> {
    if overruns.is_empty() {
        return None;
    }
    let text = overruns
        .iter()
        .map(|o| {
            format!(
                "budget {:?} forecast {} + this create {} > {} {}",
                o.budget,
                to_cents(o.forecast + o.reserved),
                to_cents(o.estimate),
                to_cents(o.level),
                o.currency
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    HeaderValue::from_str(&text.replace(|c: char| !c.is_ascii() || c.is_ascii_control(), "?")).ok()
}
