//! Cost estimates for a type over a span, and the fleet's run-rate and month-to-date spend.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nephele_core::cost::{self, BackupPlan, CostError, CostQuery};
use nephele_core::duration::DurationError;
use nephele_core::{
    BillingDuration, InstanceType, Provider, ReservedIp, Resource, ResourceId, ResourceKind, Snapshot,
    SnapshotSourceKind, SnapshotStatus, Volume, VolumeStatus,
};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{ApiError, FieldError, ProviderFailure};
use super::json::ApiJson;
use crate::api::idempotency::{self, Begin};
use crate::app::AppState;
use crate::auth::Principal;
use nephele_engine::costs::{MonthlyPolicies, Tally};
use nephele_engine::operations::idempotency::Keyed;
use nephele_engine::validation::unknown;

const MAX_COUNT: u32 = 1000;

/// The original API's body, `{instance_type, region, duration}`, plus optional extras.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateBody {
    /// What is estimated: `instance` (the default), `volume`, `snapshot` or `reserved_ip`.
    #[schema(value_type = Option<EstimateKindName>)]
    kind: Option<String>,
    /// An instance type's id (`s-1vcpu-1gb`); required for an instance.
    #[schema(min_length = 1)]
    instance_type: Option<String>,
    /// A volume's or snapshot's size in GiB; required for those.
    #[schema(minimum = 1, maximum = 16384)]
    size_gib: Option<u64>,
    /// A volume's type (EBS `gp3`, `gp2`), where the cloud has several; its default otherwise.
    #[schema(min_length = 1, max_length = 16)]
    volume_type: Option<String>,
    /// A region's id; the provider's default region when absent.
    #[schema(min_length = 1)]
    region: Option<String>,
    /// How long: `1d`, `12h`, `90min`, `2w`, `1mo` (720 h), `1y`, or ISO 8601 (`P1DT12H`).
    #[schema(example = "1d")]
    duration: String,
    /// How many instances (1-1000, default 1).
    #[schema(minimum = 1, maximum = 1000)]
    count: Option<u32>,
    /// Backups priced in (default `none`).
    #[schema(value_type = Option<BackupsName>)]
    backups: Option<String>,
    /// When the span starts (RFC 3339); now when absent.
    start: Option<String>,
}

/// What an estimate may be of (the document's name for them).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EstimateKindName {
    Instance,
    Volume,
    Snapshot,
    ReservedIp,
}

/// What a resource (a volume, a snapshot, an unassigned reserved IP) would cost over a span.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceEstimate {
    /// `volume`, `snapshot` or `reserved_ip`.
    pub kind: String,
    pub region: String,
    pub size_gib: Option<u64>,
    pub volume_type: Option<String>,
    /// The duration as asked.
    pub duration: String,
    pub currency: String,
    /// The total, rounded to cents (a decimal string).
    pub total: String,
    /// The total before rounding.
    pub total_exact: String,
    pub count: u32,
    pub price_hourly: String,
    /// The monthly run-rate, to the cent.
    pub price_monthly: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub assumptions: Vec<String>,
}

/// An estimate of an instance type or of a resource.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EstimateAnswer {
    Instance(Box<Estimate>),
    Resource(Box<ResourceEstimate>),
}

impl EstimateAnswer {
    fn start(&self) -> Option<&str> {
        match self {
            Self::Instance(e) => e.start.as_deref(),
            Self::Resource(e) => e.start.as_deref(),
        }
    }
}

/// Backup plans (the document's name for them).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupsName {
    None,
    Weekly,
    Daily,
}

/// What a type would cost over a span.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Estimate {
    pub instance_type: String,
    pub region: String,
    /// The duration as asked.
    pub duration: String,
    /// The original API's number: `total`, as a JSON number.
    pub cost: Option<f64>,
    pub currency: String,
    /// The total, rounded to cents (a decimal string).
    pub total: String,
    /// The total before rounding.
    pub total_exact: String,
    pub count: u32,
    /// `none`, `weekly` or `daily`.
    pub backups: String,
    pub price_hourly: String,
    pub price_monthly: String,
    /// The duration in ISO 8601.
    pub duration_iso: String,
    pub start: Option<String>,
    pub end: Option<String>,
    /// Seconds billed per instance.
    pub billed_seconds: u64,
    /// How the provider bills it (`per_second_with_monthly_cap`, ...).
    pub billing_policy: String,
    /// The charge in each calendar month the span touches.
    pub breakdown: Vec<MonthLine>,
    pub assumptions: Vec<String>,
}

/// One calendar month of an estimate.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MonthLine {
    /// `YYYY-MM`.
    pub month: String,
    pub from: String,
    pub until: String,
    pub billed_seconds: u64,
    pub compute: String,
    pub backups: String,
    /// Whether the monthly cap (or the minimum) set the compute charge.
    pub capped: bool,
    /// Whether the provider's minimum charge set it.
    pub minimum_applied: bool,
    /// `(compute + backups) * count`, unrounded.
    pub subtotal: String,
}

impl From<&cost::MonthCharge> for MonthLine {
    fn from(m: &cost::MonthCharge) -> Self {
        Self {
            month: m.month.clone(),
            from: m.from.format(&Rfc3339).unwrap_or_default(),
            until: m.until.format(&Rfc3339).unwrap_or_default(),
            billed_seconds: m.billed_seconds,
            compute: m.compute.to_string(),
            backups: m.backups.to_string(),
            capped: m.capped,
            minimum_applied: m.minimum_applied,
            subtotal: m.subtotal.to_string(),
        }
    }
}

/// What is kept of an estimate under an Idempotency-Key: its start (a replay recomputes).
#[derive(Serialize)]
struct KeptEstimate<'a> {
    start: Option<&'a str>,
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
        && !t.offered_in(region)
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
#[utoipa::path(post, path = "/api/v1/providers/{provider}/cost-estimate", tag = "costs",
    params(("provider" = String, Path, description = "A configured provider's name"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^([!#-~][!-~]{0,254}|\"[!#-\\[\\]-~]{1,255}\")$", description = "Makes a retried request answer what the first did: 1-255 visible ASCII characters, bare or as a structured-field string in double quotes")),
    request_body = EstimateBody,
    responses((status = 200, description = "The estimate", body = EstimateAnswer)))]
#[tracing::instrument(skip_all)]
pub async fn estimate(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<EstimateBody>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_from(&headers)?;
    let path = format!("/api/v1/providers/{name}/cost-estimate");
    let keyed = Keyed { kind: idempotency::KeyKind::Estimate, method: "POST", path: &path, body: &raw };
    if let Begin::Replay(stored) =
        idempotency::begin(&state, &principal.id, key.as_ref(), keyed, None).await?
    {
        let first_start = stored
            .body
            .as_ref()
            .filter(|_| stored.status == StatusCode::OK.as_u16())
            .and_then(|b| b["start"].as_str())
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
        return Ok(match first_start {
            Some(start) => idempotency::mark_replayed(estimate_response(
                compute_estimate(&state, &name, &body, Some(start)).await,
            )),
            None => idempotency::replayed(stored),
        });
    }
    let answer = compute_estimate(&state, &name, &body, None).await;
    if key.is_some() {
        let kept = match &answer {
            Ok(estimate) => idempotency::reply(StatusCode::OK, &KeptEstimate { start: estimate.start() }),
            Err(error) => idempotency::problem(error),
        };
        idempotency::store(&state, &principal.id, key.as_ref(), &kept).await;
    }
    Ok(estimate_response(answer))
}

/// An estimate's answer, as it is sent and as a replay recomputes it: serialised once, straight
/// to bytes (no JSON tree in between), so a replay answers the same bytes.
fn estimate_response(answer: Result<EstimateAnswer, ApiError>) -> Response {
    match answer {
        Ok(estimate) => (StatusCode::OK, axum::Json(estimate)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The estimate for `body`, from `start` when given (a replay) or the body's own start.
async fn compute_estimate(
    state: &AppState,
    name: &str,
    body: &EstimateBody,
    start: Option<OffsetDateTime>,
) -> Result<EstimateAnswer, ApiError> {
    let provider = super::provider(state, name)?;
    let kind = match body.kind.as_deref() {
        None | Some("instance") => None,
        Some("volume") => Some(ResourceKind::Volume),
        Some("snapshot") => Some(ResourceKind::Snapshot),
        Some("reserved_ip") => Some(ResourceKind::ReservedIp),
        Some(other) => {
            return Err(ApiError::invalid_field(
                "kind",
                format!("must be instance, volume, snapshot or reserved_ip, got {other:?}"),
            ));
        }
    };
    let (duration, count, backups, asked_start) = parse_inputs(body)?;
    let start = start.unwrap_or(asked_start);
    let region = super::region_or_default(body.region.as_deref(), provider.as_ref())?;
    if let Some(kind) = kind {
        return resource_estimate(
            state,
            name,
            provider.as_ref(),
            body,
            kind,
            &region,
            (duration, count, start),
        )
        .await
        .map(|e| EstimateAnswer::Resource(Box::new(e)));
    }
    let Some(wanted_type) = body.instance_type.as_deref() else {
        return Err(ApiError::invalid_field("instance_type", "is required for an instance's estimate"));
    };
    if body.size_gib.is_some() || body.volume_type.is_some() {
        let field = if body.size_gib.is_some() { "size_gib" } else { "volume_type" };
        return Err(ApiError::invalid_field(field, "is for a volume's or snapshot's estimate (set kind)"));
    }
    let instance_type = priced_type(state, name, provider.as_ref(), wanted_type, &region).await?;
    let query = CostQuery {
        price_hourly: instance_type.price_hourly,
        price_monthly: instance_type.price_monthly,
        count,
        backups,
        start,
        duration,
    };
    let policies = MonthlyPolicies::fetch(provider.as_ref(), &instance_type, &query).await?;
    let estimate = cost::estimate(&query, |at| policies.at(at)).map_err(cost_failure)?;
    let backups_name = match backups {
        BackupPlan::None => "none",
        BackupPlan::Weekly => "weekly",
        BackupPlan::Daily => "daily",
    };
    Ok(EstimateAnswer::Instance(Box::new(Estimate {
        instance_type: instance_type.id,
        region,
        duration: body.duration.clone(),
        // The original API's `cost` is a JSON number; it carries the cents total, which a
        // double prints exactly. Every other figure is a decimal string.
        cost: estimate.total.to_f64(),
        currency: instance_type.currency,
        total: estimate.total.to_string(),
        total_exact: estimate.total_exact.normalize().to_string(),
        count,
        backups: backups_name.to_owned(),
        price_hourly: instance_type.price_hourly.to_string(),
        price_monthly: instance_type.price_monthly.to_string(),
        duration_iso: duration.to_string(),
        start: estimate.start.format(&Rfc3339).ok(),
        end: estimate.end.format(&Rfc3339).ok(),
        billed_seconds: estimate.billed_seconds,
        billing_policy: estimate.policy,
        breakdown: estimate.months.iter().map(MonthLine::from).collect(),
        assumptions: estimate.assumptions,
    })))
}

/// What `count` resources of `kind` (as `body` describes them) cost over `duration` from
/// `start`, priced from the provider's resource price list.
async fn resource_estimate(
    state: &AppState,
    name: &str,
    provider: &dyn Provider,
    body: &EstimateBody,
    kind: ResourceKind,
    region: &str,
    (duration, count, start): (BillingDuration, u32, OffsetDateTime),
) -> Result<ResourceEstimate, ApiError> {
    if body.instance_type.is_some() || body.backups.is_some() {
        let field = if body.instance_type.is_some() { "instance_type" } else { "backups" };
        return Err(ApiError::invalid_field(field, format!("is for an instance's estimate, not a {kind}'s")));
    }
    let regions = state.catalog.regions(name, provider).await?;
    if !regions.iter().any(|r| r.id == region) {
        return Err(ApiError::invalid(vec![unknown(
            "region",
            "region",
            region,
            regions.iter().map(|r| r.id.as_str()),
        )]));
    }
    let size_gib = match (kind, body.size_gib) {
        (ResourceKind::ReservedIp, Some(_)) => {
            return Err(ApiError::invalid_field("size_gib", "a reserved IP has no size"));
        }
        (ResourceKind::ReservedIp, None) => None,
        (_, Some(size)) if (1..=nephele_core::resource::MAX_VOLUME_GIB).contains(&size) => Some(size),
        (_, Some(size)) => {
            return Err(ApiError::invalid_field("size_gib", format!("must be 1 to 16384, got {size}")));
        }
        (_, None) => {
            return Err(ApiError::invalid_field("size_gib", format!("is required for a {kind}'s estimate")));
        }
    };
    let prices = provider.resource_prices().await?;
    let resource = hypothetical(kind, region, size_gib, body.volume_type.clone());
    let found = nephele_core::pricing::hourly_price(&resource, &prices)
        .map_err(|message| ApiError::from(nephele_core::ProviderError::invalid_response(message)))?;
    let Some((hourly, price)) = found else {
        return Err(ApiError::invalid_field(
            "kind",
            format!("no price is known for a {kind} in {region} at {name}"),
        ));
    };
    let end = duration
        .end_from(start)
        .ok_or_else(|| ApiError::invalid_field("duration", "runs past the calendar"))?;
    let one = nephele_core::pricing::charge_between(hourly, start, end)
        .map_err(|message| ApiError::from(nephele_core::ProviderError::invalid_response(message)))?;
    let total_exact = one.checked_mul(rust_decimal::Decimal::from(count)).ok_or_else(|| {
        ApiError::from(nephele_core::ProviderError::from(CostError::TooLarge { figure: "total" }))
    })?;
    let monthly = hourly.saturating_mul(nephele_core::pricing::HOURS_PER_MONTH);
    Ok(ResourceEstimate {
        kind: kind.as_str().to_owned(),
        region: region.to_owned(),
        size_gib,
        volume_type: body.volume_type.clone(),
        duration: body.duration.clone(),
        currency: price.currency.clone(),
        total: cost::to_cents(total_exact).to_string(),
        total_exact: total_exact.normalize().to_string(),
        count,
        price_hourly: hourly.round_dp(8).normalize().to_string(),
        price_monthly: cost::to_cents(monthly).to_string(),
        start: start.format(&Rfc3339).ok(),
        end: end.format(&Rfc3339).ok(),
        assumptions: nephele_engine::costs::resource_assumptions(price),
    })
}

/// A resource as an estimate prices it: new, of this size, attached or assigned to nothing.
fn hypothetical(
    kind: ResourceKind,
    region: &str,
    size_gib: Option<u64>,
    volume_type: Option<String>,
) -> Resource {
    let id = ResourceId("estimate".into());
    match kind {
        ResourceKind::Snapshot => Resource::Snapshot(Snapshot {
            id,
            name: "estimate".into(),
            source_kind: SnapshotSourceKind::Volume,
            source_id: String::new(),
            regions: vec![region.to_owned()],
            size_gib: rust_decimal::Decimal::from(size_gib.unwrap_or(0)),
            min_disk_gib: None,
            status: SnapshotStatus::Available,
            tags: vec![],
            created_at: OffsetDateTime::UNIX_EPOCH,
        }),
        ResourceKind::ReservedIp => Resource::ReservedIp(ReservedIp {
            id,
            address: std::net::IpAddr::from([192, 0, 2, 1]),
            region: region.to_owned(),
            assigned_to: None,
            locked: false,
            tags: vec![],
            created_at: None,
        }),
        _ => Resource::Volume(Volume {
            id,
            name: "estimate".into(),
            region: region.to_owned(),
            size_gib: size_gib.unwrap_or(0),
            status: VolumeStatus::Available,
            provider_status: String::new(),
            attached_to: vec![],
            volume_type,
            description: None,
            tags: vec![],
            created_at: OffsetDateTime::UNIX_EPOCH,
        }),
    }
}

/// An estimate that cannot be computed: prices too large are the provider's (502), a span past
/// the calendar the caller's (which `parse_inputs` already keeps out).
fn cost_failure(error: CostError) -> ApiError {
    match error {
        CostError::TooLarge { .. } => nephele_core::ProviderError::from(error).into(),
        CostError::PastTheCalendar => ApiError::invalid(vec![FieldError::new("duration", error.to_string())]),
    }
}

/// What a group of instances costs (decimal strings, in `currency`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Subtotal {
    pub currency: String,
    pub instances: u64,
    pub hourly: String,
    /// The monthly run-rate, to the cent.
    pub monthly: String,
    pub month_to_date: String,
}

/// A subtotal for one provider.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderSubtotal {
    pub provider: String,
    #[serde(flatten)]
    pub cost: Subtotal,
}

/// A subtotal for one region.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionSubtotal {
    pub region: String,
    #[serde(flatten)]
    pub cost: Subtotal,
}

/// A subtotal for one instance type.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TypeSubtotal {
    #[serde(rename = "type")]
    pub instance_type: String,
    #[serde(flatten)]
    pub cost: Subtotal,
}

/// A subtotal for one kind (`instance`, `volume`, `snapshot`, `reserved_ip`...).
#[derive(Serialize, utoipa::ToSchema)]
pub struct KindSubtotal {
    pub kind: String,
    /// How many of that kind are billed.
    pub count: u64,
    #[serde(flatten)]
    pub cost: Subtotal,
}

/// The run-rate of the running fleet.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunRate {
    pub hourly: String,
    /// To the cent.
    pub monthly: String,
}

/// What the fleet costs now and has cost this month. Money is never added across currencies:
/// `totals` has one entry per currency, and the top-level figures are those of the fleet's one
/// currency (or of USD, when there are several).
#[derive(Serialize, utoipa::ToSchema)]
pub struct FleetCosts {
    pub currency: String,
    pub as_of: Option<String>,
    /// `YYYY-MM`.
    pub month: String,
    pub instances: u64,
    pub run_rate: RunRate,
    pub month_to_date: String,
    /// The totals, one per currency.
    pub totals: Vec<Subtotal>,
    pub by_provider: Vec<ProviderSubtotal>,
    pub by_region: Vec<RegionSubtotal>,
    pub by_type: Vec<TypeSubtotal>,
    /// By kind: instances and every billable resource kind; the kinds add up to the totals.
    pub by_kind: Vec<KindSubtotal>,
    /// Providers (or instances) that could not be priced.
    pub errors: Vec<ProviderFailure>,
    pub assumptions: Vec<String>,
    /// Each account's real bill (where its cloud exposes one) beside Nephele's month-to-date
    /// from the recorded cost history, with the difference.
    pub bills: Vec<super::cost_history::AccountBillView>,
}

/// A tally as shown: decimal strings, the monthly figures to the cent.
fn subtotal(currency: &str, t: &Tally) -> Subtotal {
    Subtotal {
        currency: currency.to_owned(),
        instances: t.instances,
        hourly: t.hourly.normalize().to_string(),
        monthly: cost::to_cents(t.monthly).to_string(),
        month_to_date: cost::to_cents(t.month_to_date).to_string(),
    }
}

/// `GET /api/v1/costs`: what the running fleet costs per hour and per month, and what it has
/// cost since the start of this calendar month (from each instance's `created_at`).
#[utoipa::path(get, path = "/api/v1/costs", tag = "costs",
    responses((status = 200, description = "The fleet's run-rate and month-to-date spend", body = FleetCosts)))]
#[tracing::instrument(skip_all)]
pub async fn fleet(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<FleetCosts>, ApiError> {
    // The engine's clock, as the history reads it: a set clock (`costs.clock`) moves both.
    let now = state.engine.spend.clock.now();
    let report = nephele_engine::costs::fleet(&state.engine, |name| principal.may_use(name), now).await;
    let currency = match report.totals.keys().collect::<Vec<_>>().as_slice() {
        [one] => (*one).clone(),
        _ => "USD".to_owned(),
    };
    let total = report.totals.get(&currency).copied().unwrap_or_default();
    Ok(Json(FleetCosts {
        as_of: now.format(&Rfc3339).ok(),
        month: format!("{:04}-{:02}", now.year(), u8::from(now.month())),
        instances: total.instances,
        run_rate: RunRate {
            hourly: total.hourly.normalize().to_string(),
            monthly: cost::to_cents(total.monthly).to_string(),
        },
        month_to_date: cost::to_cents(total.month_to_date).to_string(),
        currency,
        totals: report.totals.iter().map(|(c, t)| subtotal(c, t)).collect(),
        by_provider: report
            .by_provider
            .iter()
            .map(|((provider, c), t)| ProviderSubtotal { provider: provider.clone(), cost: subtotal(c, t) })
            .collect(),
        by_region: report
            .by_region
            .iter()
            .map(|((region, c), t)| RegionSubtotal { region: region.clone(), cost: subtotal(c, t) })
            .collect(),
        by_type: report
            .by_type
            .iter()
            .map(|((instance_type, c), t)| TypeSubtotal {
                instance_type: instance_type.clone(),
                cost: subtotal(c, t),
            })
            .collect(),
        by_kind: report
            .by_kind
            .iter()
            .map(|((kind, c), t)| KindSubtotal {
                kind: kind.clone(),
                count: t.instances + t.resources,
                cost: subtotal(c, t),
            })
            .collect(),
        errors: report.issues.iter().map(ProviderFailure::from).collect(),
        assumptions: report.assumptions,
        bills: nephele_engine::costs::bill::bills(&state.engine, |name| principal.may_use(name))
            .await
            .iter()
            .map(super::cost_history::AccountBillView::from)
            .collect(),
    }))
}
