//! Cost estimates for a type over a span, and the fleet's run-rate and month-to-date spend.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nephele_core::cost::{self, BackupPlan, CostQuery, month_start};
use nephele_core::duration::DurationError;
use nephele_core::{BillingDuration, InstanceType, Provider};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{ApiError, FieldError};
use super::json::ApiJson;
use super::validation::unknown;
use crate::app::AppState;
use crate::auth::Principal;
use crate::inventory::Freshness;
use crate::operations::idempotency::{self, Begin, Reply};

const MAX_COUNT: u32 = 1000;

/// The original API's body, `{instance_type, region, duration}`, plus optional extras.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateBody {
    instance_type: String,
    region: Option<String>,
    duration: String,
    count: Option<u32>,
    backups: Option<String>,
    start: Option<String>,
}

fn parse_inputs(body: &EstimateBody) -> Result<(BillingDuration, u32, BackupPlan, OffsetDateTime), ApiError> {
    let mut errors = Vec::new();
    let duration = match BillingDuration::parse(&body.duration) {
        Ok(d) => Some(d),
        Err(DurationError::AmbiguousM(raw)) => {
            errors.push(
                FieldError::new(
                    "duration",
                    format!("`{raw}` is ambiguous: the original API meant a month (720 h), most readers a minute; write 1min or 1mo"),
                )
                .with_suggestions(vec![raw.replace('m', "min"), raw.replace('m', "mo")]),
            );
            None
        }
        Err(e) => {
            errors.push(FieldError::new("duration", format!("{e}")).with_suggestions(
                ["30s", "90min", "12h", "1d", "2w", "1mo", "1y", "P1DT12H"].map(str::to_owned).to_vec(),
            ));
            None
        }
    };
    let count = body.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        errors.push(FieldError::new("count", format!("must be between 1 and {MAX_COUNT}, got {count}")));
    }
    let backups = match body.backups.as_deref() {
        None | Some("none") => BackupPlan::None,
        Some("weekly") => BackupPlan::Weekly,
        Some("daily") => BackupPlan::Daily,
        Some(other) => {
            errors.push(FieldError::new("backups", format!("must be none, weekly or daily, got {other:?}")));
            BackupPlan::None
        }
    };
    let start = match body.start.as_deref() {
        None => OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc()),
        Some(raw) => OffsetDateTime::parse(raw, &Rfc3339).unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "start",
                format!("must be an RFC 3339 time like 2026-01-15T00:00:00Z, got {raw:?}"),
            ));
            OffsetDateTime::now_utc()
        }),
    };
    // Date arithmetic past year 9999 would overflow; no estimate needs it.
    if !(2000..=2200).contains(&start.year()) {
        errors.push(FieldError::new("start", "must fall between the years 2000 and 2200"));
    }
    match (duration, errors.is_empty()) {
        (Some(duration), true) => Ok((duration, count, backups, start)),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// The price list entry for `instance_type` in `region`, or 422s with close matches.
/// The billing policy of each month a query spans, asked of the provider before the arithmetic
/// (which is pure and cannot wait for a plugin's answer).
struct MonthlyPolicies(Vec<(OffsetDateTime, nephele_core::BillingPolicy)>);

impl MonthlyPolicies {
    async fn fetch(
        provider: &dyn Provider,
        instance_type: &InstanceType,
        query: &CostQuery,
    ) -> Result<Self, nephele_core::ProviderError> {
        let mut months = Vec::new();
        for at in cost::policy_instants(query) {
            months.push((month_start(at), provider.billing_policy(instance_type, at).await?));
        }
        Ok(Self(months))
    }

    fn at(&self, at: OffsetDateTime) -> nephele_core::BillingPolicy {
        let month = month_start(at);
        let found = self.0.iter().find(|(m, _)| *m == month).or(self.0.first());
        found.map(|(_, p)| p.clone()).unwrap_or_else(nephele_core::BillingPolicy::per_started_hour)
    }
}

async fn priced_type(
    state: &AppState,
    name: &str,
    provider: &dyn Provider,
    instance_type: &str,
    region: &str,
) -> Result<InstanceType, ApiError> {
    let types = state.catalog.instance_types(name, provider).await?;
    let regions = state.catalog.regions(name, provider).await?;
    let mut errors = Vec::new();
    let found = types.iter().find(|t| t.id == instance_type);
    if found.is_none() {
        errors.push(unknown(
            "instance_type",
            "instance type",
            instance_type,
            types.iter().map(|t| t.id.as_str()),
        ));
    }
    if !regions.iter().any(|r| r.id == region) {
        errors.push(unknown("region", "region", region, regions.iter().map(|r| r.id.as_str())));
    } else if let Some(t) = found
        && !t.regions.iter().any(|r| r == region)
    {
        errors.push(
            FieldError::new("region", format!("{instance_type} is not offered in {region}"))
                .with_suggestions(t.regions.clone()),
        );
    }
    match found {
        Some(t) if errors.is_empty() => t.priced_in(region).ok_or_else(|| {
            // Offered there, but its price there is unknown: no estimate rather than a guess.
            let priced = t.regional_prices.iter().flat_map(|p| p.keys().cloned()).collect();
            ApiError::invalid(vec![
                FieldError::new("region", format!("no price is known for {instance_type} in {region}"))
                    .with_suggestions(priced),
            ])
        }),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// With an `Idempotency-Key`, a replay answers what the first request answered. An estimate
/// depends only on its inputs and its start (now, when none is given), so only that start is
/// stored, and a replay computes the answer again from it: a few bytes per key instead of the
/// whole answer (a long estimate's monthly breakdown runs to many kilobytes).
pub async fn estimate(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<EstimateBody>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_from(&headers)?;
    let path = format!("/api/v1/providers/{name}/cost-estimate");
    let kind = idempotency::KeyKind::Estimate;
    if let Begin::Replay(stored) =
        idempotency::begin(&state, &principal, key.as_deref(), kind, "POST", &path, &raw, None).await?
    {
        let first_start = stored
            .body
            .as_ref()
            .filter(|_| stored.status == StatusCode::OK)
            .and_then(|b| b["start"].as_str())
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
        let reply = match first_start {
            Some(start) => compute_estimate(&state, &name, &body, Some(start)).await.into(),
            None => stored,
        };
        return Ok(idempotency::replayed(reply));
    }
    let answer = compute_estimate(&state, &name, &body, None).await;
    let kept = match &answer {
        Ok(estimate) => Reply::json(StatusCode::OK, json!({ "start": estimate["start"] })),
        Err(error) => Reply::from(error.clone()),
    };
    idempotency::store_reply(&state, &principal, key.as_deref(), &kept).await;
    let reply: Reply = answer.into();
    Ok(reply.into_response())
}

impl From<Result<Value, ApiError>> for Reply {
    fn from(answer: Result<Value, ApiError>) -> Self {
        match answer {
            Ok(estimate) => Reply::json(StatusCode::OK, estimate),
            Err(error) => Reply::from(error),
        }
    }
}

/// The estimate for `body`, from `start` when given (a replay) or the body's own start.
async fn compute_estimate(
    state: &AppState,
    name: &str,
    body: &EstimateBody,
    start: Option<OffsetDateTime>,
) -> Result<Value, ApiError> {
    let provider = super::provider(state, name)?;
    let (duration, count, backups, asked_start) = parse_inputs(body)?;
    let start = start.unwrap_or(asked_start);
    let region = super::region_or_default(body.region.as_deref(), provider.as_ref())?;
    let instance_type = priced_type(state, name, provider.as_ref(), &body.instance_type, &region).await?;
    let query = CostQuery {
        price_hourly: instance_type.price_hourly,
        price_monthly: instance_type.price_monthly,
        count,
        backups,
        start,
        duration,
    };
    let policies = MonthlyPolicies::fetch(provider.as_ref(), &instance_type, &query).await?;
    let estimate = cost::estimate(&query, |at| policies.at(at));
    let backups_name = match backups {
        BackupPlan::None => "none",
        BackupPlan::Weekly => "weekly",
        BackupPlan::Daily => "daily",
    };
    Ok(json!({
        "instance_type": instance_type.id,
        "region": region,
        "duration": body.duration,
        // The original API's `cost` is a JSON number; it carries the cents total, which a
        // double prints exactly. Every figure below is a decimal string.
        "cost": estimate.total.to_f64(),
        "currency": instance_type.currency,
        "total": estimate.total.to_string(),
        "total_exact": estimate.total_exact.normalize().to_string(),
        "count": count,
        "backups": backups_name,
        "price_hourly": instance_type.price_hourly.to_string(),
        "price_monthly": instance_type.price_monthly.to_string(),
        "duration_iso": duration.to_string(),
        "start": estimate.start.format(&Rfc3339).ok(),
        "end": estimate.end.format(&Rfc3339).ok(),
        "billed_seconds": estimate.billed_seconds,
        "billing_policy": estimate.policy,
        "breakdown": estimate.months,
        "assumptions": estimate.assumptions,
    }))
}

#[derive(Default)]
struct Tally {
    instances: u64,
    hourly: Decimal,
    monthly: Decimal,
    month_to_date: Decimal,
}

impl Tally {
    fn add(&mut self, hourly: Decimal, monthly: Decimal, month_to_date: Decimal) {
        self.instances += 1;
        self.hourly += hourly;
        self.monthly += monthly;
        self.month_to_date += month_to_date;
    }

    fn view(&self) -> Value {
        json!({
            "instances": self.instances,
            "hourly": self.hourly.normalize().to_string(),
            "monthly": cost::to_cents(self.monthly).to_string(),
            "month_to_date": cost::to_cents(self.month_to_date).to_string(),
        })
    }
}

fn grouped(tallies: BTreeMap<String, Tally>, key: &str) -> Vec<Value> {
    tallies
        .into_iter()
        .map(|(k, t)| {
            let mut v = t.view();
            if let Some(o) = v.as_object_mut() {
                o.insert(key.to_owned(), json!(k));
            }
            v
        })
        .collect()
}

/// `GET /api/v1/costs`: what the running fleet costs per hour and per month, and what it has
/// cost since the start of this calendar month (from each instance's `created_at`).
pub async fn fleet(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let this_month = month_start(now);
    let (mut total, mut by_provider, mut by_region, mut by_type) = (
        Tally::default(),
        BTreeMap::new(),
        BTreeMap::<String, Tally>::new(),
        BTreeMap::<String, Tally>::new(),
    );
    let mut errors = Vec::new();
    let mut assumptions: Vec<String> = Vec::new();
    for (name, provider) in state.providers.all().filter(|(name, _)| principal.may_use(name)) {
        let loaded = async {
            let instances = state.inventory.snapshot(name, Freshness::Cached).await?.instances;
            let types = state.catalog.instance_types(name, provider.as_ref()).await?;
            Ok::<_, nephele_core::ProviderError>((instances, types))
        };
        let (instances, types) = match loaded.await {
            Ok(pair) => pair,
            Err(e) => {
                errors.push(super::error::provider_failure(name, &e));
                continue;
            }
        };
        let provider_tally: &mut Tally = by_provider.entry(name.clone()).or_default();
        // A deleted instance that the cloud still shows (EC2 keeps terminated ones about an hour)
        // costs nothing more.
        for instance in instances.iter().filter(|i| i.status != nephele_core::InstanceStatus::Archived) {
            let found = types.iter().find(|t| t.id == instance.instance_type);
            let Some(price) = found.and_then(|t| t.priced_in(&instance.region)) else {
                errors.push(json!({ "provider": name, "instance": instance.id, "message": format!("no price known for type {} in {}", instance.instance_type, instance.region) }));
                continue;
            };
            // A stopped instance costs nothing on clouds that bill only running compute (EC2).
            if instance.status == nephele_core::InstanceStatus::Stopped {
                match provider.billing_policy(&price, now).await {
                    Ok(policy) if policy.free_when_stopped => continue,
                    Ok(_) => {}
                    Err(e) => {
                        errors.push(super::error::provider_failure(name, &e));
                        continue;
                    }
                }
            }
            let since = instance.created_at.max(this_month);
            let seconds = (now - since).whole_seconds().max(0) as u64;
            let month_to_date = if seconds == 0 {
                Decimal::ZERO
            } else {
                let query = CostQuery {
                    price_hourly: price.price_hourly,
                    price_monthly: price.price_monthly,
                    count: 1,
                    backups: BackupPlan::None,
                    start: since,
                    duration: BillingDuration::from_seconds(seconds),
                };
                let policies = match MonthlyPolicies::fetch(provider.as_ref(), &price, &query).await {
                    Ok(p) => p,
                    Err(e) => {
                        errors.push(super::error::provider_failure(name, &e));
                        continue;
                    }
                };
                let estimate = cost::estimate(&query, |at| policies.at(at));
                for a in estimate.assumptions {
                    if !assumptions.contains(&a) {
                        assumptions.push(a);
                    }
                }
                estimate.total_exact
            };
            total.add(price.price_hourly, price.price_monthly, month_to_date);
            provider_tally.add(price.price_hourly, price.price_monthly, month_to_date);
            by_region.entry(instance.region.clone()).or_default().add(
                price.price_hourly,
                price.price_monthly,
                month_to_date,
            );
            by_type.entry(instance.instance_type.clone()).or_default().add(
                price.price_hourly,
                price.price_monthly,
                month_to_date,
            );
        }
    }
    assumptions.push(
        "Month-to-date counts each instance from its creation or the start of the month, whichever is later, and only instances that still exist."
            .to_owned(),
    );
    Ok(Json(json!({
        "currency": "USD",
        "as_of": now.format(&Rfc3339).ok(),
        "month": format!("{:04}-{:02}", now.year(), u8::from(now.month())),
        "instances": total.instances,
        "run_rate": { "hourly": total.hourly.normalize().to_string(), "monthly": cost::to_cents(total.monthly).to_string() },
        "month_to_date": cost::to_cents(total.month_to_date).to_string(),
        "by_provider": grouped(by_provider, "provider"),
        "by_region": grouped(by_region, "region"),
        "by_type": grouped(by_type, "type"),
        "errors": errors,
        "assumptions": assumptions,
    })))
}
