//! Budgets: what a scope of the fleet may cost per calendar period, evaluated whenever the cost
//! history is recorded (a change in the inventory, a price, a set clock's move) and at least
//! every `budgets.eval_interval_secs`; thresholds that raise an alert once when crossed and once
//! when they recover ([`alerts`]); and the guardrail that refuses a create before any call to
//! the cloud when it would take a budget's forecast over a level ([`guard_create`]).
//!
//! Figures: `spent` is the recorded history of the period within scope; `forecast` is `spent`
//! plus what every billed instance in scope costs from now to the period's end if it keeps
//! running (the run-rate, with each month capped as its policy says). Budgets read costs and
//! write alerts; they never call a cloud.

pub mod alerts;
pub mod spec;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nephele_core::accrual::{MonthlyRate, cost_to, next_month_start, seconds_between};
use nephele_core::cost::{BackupPlan, month_start};
use nephele_core::pricing::{self, PriceKey};
use nephele_core::{CreateResource, InstanceStatus, InstanceType, Provider};
use rust_decimal::Decimal;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::Engine;
use crate::costs::history::ms;
use crate::store::StoreError;
use crate::store::spend::{Bucket, BudgetRow};
pub use spec::{Basis, BudgetBody, BudgetSpec, Enforce, Period, Scope};

/// `budgets:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetsConfig {
    /// Seconds between two evaluations of the budgets when nothing changed.
    #[serde(default = "default_eval_interval")]
    pub eval_interval_secs: u64,
}

fn default_eval_interval() -> u64 {
    60
}

impl Default for BudgetsConfig {
    fn default() -> Self {
        Self { eval_interval_secs: default_eval_interval() }
    }
}

impl BudgetsConfig {
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.eval_interval_secs == 0 {
            return Err(("budgets.eval_interval_secs", "must be at least 1".to_owned()));
        }
        Ok(())
    }
}

/// A create's cost held against budgets between its check and the moment it is in the
/// inventory (its operation has ended), so that concurrent creates cannot slip past together.
struct Reservation {
    operation_id: String,
    amounts: HashMap<String, Decimal>,
    made: Instant,
}

/// A reservation is given up after this long whatever its operation's state.
const RESERVATION_LIFE: Duration = Duration::from_secs(600);

/// The guardrail's state: one create that a budget covers at a time, from its check to the end
/// of its first step (when the provider's answer is in the inventory), so that the next check
/// sees it there and never both there and reserved.
#[derive(Default)]
pub struct Budgets {
    reservations: Arc<tokio::sync::Mutex<Vec<Reservation>>>,
}

/// A create let through the guardrail: it holds the guardrail until [`Pass::settle`] (or until
/// dropped), and its cost stays reserved while its operation waits for its first step.
pub struct Pass {
    guard: tokio::sync::OwnedMutexGuard<Vec<Reservation>>,
    operation_id: String,
}

impl Pass {
    /// Ends the hold: once the operation's first step has run, its instances are in the
    /// inventory (or it failed) and its reservation goes; an operation still waiting keeps it.
    pub async fn settle(mut self, engine: &Engine) {
        let pending = matches!(
            engine.store.get_operation(&self.operation_id).await,
            Ok(Some(op)) if op.state == crate::store::OperationState::Pending
        );
        if !pending {
            let id = self.operation_id.clone();
            self.guard.retain(|r| r.operation_id != id);
        }
    }
}

/// A budget with its figures now.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub row: BudgetRow,
    pub spec: BudgetSpec,
    pub figures: Figures,
}

/// A budget's figures in its current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub period: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// Recorded cost in the period so far, within scope.
    pub spent: Decimal,
    /// What the billed fleet in scope costs from now to the period's end if it keeps running.
    pub run_rate_to_end: Decimal,
    /// `spent + run_rate_to_end`.
    pub forecast: Decimal,
    /// The hourly run-rate of the billed fleet in scope now.
    pub hourly: Decimal,
}

/// One billed resource in the inventory, with what it costs to each period's end.
struct Item {
    account: String,
    provider: String,
    region: String,
    kind: String,
    tags: Vec<String>,
    currency: String,
    hourly: Decimal,
    /// Cost from now to the end of this month, quarter and year.
    to_end: [Decimal; 3],
}

/// The fleet and history a round of evaluation reads, loaded once for every budget.
pub struct Fleet {
    items: Vec<Item>,
    buckets: Vec<(Bucket, Vec<String>)>,
}

fn period_index(period: Period) -> usize {
    match period {
        Period::Month => 0,
        Period::Quarter => 1,
        Period::Year => 2,
    }
}

/// What one instance of `price` made at `now`, billed under `provider`'s policies (its minimum
/// in this month), costs from `now` to the end of this month, quarter and year.
async fn projected(
    engine: &Engine,
    account: &str,
    provider: &dyn Provider,
    price: &InstanceType,
    backups: BackupPlan,
    now: OffsetDateTime,
) -> Result<[Decimal; 3], nephele_core::ProviderError> {
    let ends = period_ends(now);
    let last = ends.iter().copied().max().unwrap_or(now);
    let mut policies = HashMap::new();
    let mut month = month_start(now);
    while month < last {
        let policy = engine.spend.memory.policy(account, provider, price, month).await?;
        policies.insert(ms(month), policy);
        month = match next_month_start(month) {
            Some(next) => next,
            None => break,
        };
    }
    let rate_at = |m: OffsetDateTime| MonthlyRate {
        price_hourly: price.price_hourly,
        price_monthly: price.price_monthly,
        policy: policies.get(&ms(m)).cloned().unwrap_or_else(nephele_core::BillingPolicy::per_started_hour),
        creation_month: month_start(now) == m,
        backups,
    };
    let mut out = [Decimal::ZERO; 3];
    for (slot, end) in out.iter_mut().zip(ends) {
        *slot = cost_to(now, end, 0, rate_at).map_err(nephele_core::ProviderError::from)?;
    }
    Ok(out)
}

/// This month's policy of a type in a region, and what an instance of it costs after this month
/// to the end of this quarter and year.
type Later = (nephele_core::BillingPolicy, [Decimal; 3]);

/// This month's policy for `price`, and what an instance of it costs from next month's start to
/// the end of this month, quarter and year (zero for the month).
async fn later(
    engine: &Engine,
    account: &str,
    provider: &dyn Provider,
    price: &InstanceType,
    now: OffsetDateTime,
) -> Result<(nephele_core::BillingPolicy, [Decimal; 3]), nephele_core::ProviderError> {
    let this_month = month_start(now);
    let policy = engine.spend.memory.policy(account, provider, price, this_month).await?;
    let Some(next) = next_month_start(now) else { return Ok((policy, [Decimal::ZERO; 3])) };
    // An instance made before next month: no minimum after its first month.
    let long_ago = this_month - time::Duration::DAY;
    let mut out = [Decimal::ZERO; 3];
    for (slot, end) in out.iter_mut().zip(period_ends(now)) {
        if end > next {
            *slot = projected_to(engine, account, provider, price, long_ago, next, end).await?;
        }
    }
    Ok((policy, out))
}

/// What one instance costs from `from` to `end` (no minimum: made before `from`'s month).
async fn projected_to(
    engine: &Engine,
    account: &str,
    provider: &dyn Provider,
    price: &InstanceType,
    created: OffsetDateTime,
    from: OffsetDateTime,
    end: OffsetDateTime,
) -> Result<Decimal, nephele_core::ProviderError> {
    let mut policies = HashMap::new();
    let mut month = month_start(from);
    while month < end {
        policies.insert(ms(month), engine.spend.memory.policy(account, provider, price, month).await?);
        month = match next_month_start(month) {
            Some(next) => next,
            None => break,
        };
    }
    let rate_at = |m: OffsetDateTime| MonthlyRate {
        price_hourly: price.price_hourly,
        price_monthly: price.price_monthly,
        policy: policies.get(&ms(m)).cloned().unwrap_or_else(nephele_core::BillingPolicy::per_started_hour),
        creation_month: month_start(created) == m,
        backups: BackupPlan::None,
    };
    cost_to(from, end, 0, rate_at).map_err(nephele_core::ProviderError::from)
}

fn period_ends(now: OffsetDateTime) -> [OffsetDateTime; 3] {
    [Period::Month.around(now).1, Period::Quarter.around(now).1, Period::Year.around(now).1]
}

/// What a resource priced at `hourly` costs from `now` to each of `ends`.
fn resource_to_ends(hourly: Decimal, now: OffsetDateTime, ends: [OffsetDateTime; 3]) -> Option<[Decimal; 3]> {
    let mut out = [Decimal::ZERO; 3];
    for (slot, end) in out.iter_mut().zip(ends) {
        *slot = pricing::charge_between(hourly, now, end).ok()?;
    }
    Some(out)
}

impl Fleet {
    /// The inventory's billed instances and the history since `since` (the earliest period
    /// start among the budgets evaluated).
    pub async fn load(
        engine: &Engine,
        now: OffsetDateTime,
        since: OffsetDateTime,
    ) -> Result<Self, StoreError> {
        // Instances alike in what a budget's scope reads are one item; instances alike in
        // price and billed time share one projection (every instance older than this month
        // has billed the same seconds of it).
        type ItemKey = (String, String, String, Vec<String>, String);
        let mut items: HashMap<ItemKey, Item> = HashMap::new();
        let this_month = month_start(now);
        let next_month = next_month_start(now).unwrap_or(now);
        for (account, provider) in engine.providers.all() {
            let account = &account;
            let Some(snapshot) = engine.inventory.peek(account) else { continue };
            // Without the account's instance types its instances cannot be priced (yet); its
            // resources still can, from the copy's price list.
            let types = engine.catalog.last_instance_types(account).unwrap_or_default();
            let provider_name = provider.info().name;
            let mut prices: HashMap<(&str, &str), Option<Arc<InstanceType>>> = HashMap::new();
            let mut later_months: HashMap<(&str, &str), Arc<Later>> = HashMap::new();
            let mut older_part: HashMap<(&str, &str), Decimal> = HashMap::new();
            for (n, instance) in snapshot.instances.iter().enumerate() {
                if n % crate::costs::history::YIELD_EVERY == crate::costs::history::YIELD_EVERY - 1 {
                    tokio::task::yield_now().await;
                }
                if instance.status == InstanceStatus::Archived {
                    continue;
                }
                let price_key = (instance.instance_type.as_str(), instance.region.as_str());
                let price = match prices.get(&price_key) {
                    Some(known) => known.clone(),
                    None => {
                        let found = types.iter().find(|t| t.id == instance.instance_type);
                        let priced = found.and_then(|t| t.priced_in(&instance.region)).map(Arc::new);
                        prices.insert(price_key, priced.clone());
                        priced
                    }
                };
                let Some(price) = price else { continue };
                if instance.status == InstanceStatus::Stopped {
                    let free = engine
                        .spend
                        .memory
                        .policy(account, provider.as_ref(), &price, this_month)
                        .await
                        .map(|p| p.free_when_stopped)
                        .unwrap_or(false);
                    if free {
                        continue;
                    }
                }
                let created = instance.created_at.to_offset(time::UtcOffset::UTC);
                // Later months are alike for every instance of a type in a region; this
                // month's rest depends on what the instance has billed of it.
                let later = match later_months.get(&price_key) {
                    Some(known) => known.clone(),
                    None => {
                        let Ok(computed) = later(engine, account, provider.as_ref(), &price, now).await
                        else {
                            continue;
                        };
                        let computed = Arc::new(computed);
                        later_months.insert(price_key, computed.clone());
                        computed
                    }
                };
                // Every instance made before this month has billed all of it so far: one figure.
                let older = created < this_month;
                let cached = if older { older_part.get(&price_key).copied() } else { None };
                let this_part = match cached {
                    Some(part) => part,
                    None => {
                        let billed = seconds_between(created.max(this_month), now);
                        let Ok(part) = nephele_core::accrual::piece(
                            &later.0,
                            price.price_hourly,
                            price.price_monthly,
                            !older,
                            billed,
                            seconds_between(now, next_month),
                        ) else {
                            continue;
                        };
                        if older {
                            older_part.insert(price_key, part);
                        }
                        part
                    }
                };
                let mut to_end = later.1;
                // Backups add their share of the instance's charge, month by month (the
                // surcharge is linear in the charge, so it scales the whole projection).
                let backup_rate = later.0.backup_rate(BackupPlan::of_features(&instance.features));
                let with_backups = |d: Decimal| d.checked_mul(Decimal::ONE + backup_rate).unwrap_or(d);
                for slot in &mut to_end {
                    *slot = with_backups(slot.checked_add(this_part).unwrap_or(*slot));
                }
                let mut tags = instance.tags.clone();
                tags.sort();
                let key = (
                    account.clone(),
                    instance.region.clone(),
                    "instance".to_owned(),
                    tags,
                    price.currency.clone(),
                );
                let item = items.entry(key).or_insert_with(|| Item {
                    account: account.clone(),
                    provider: provider_name.clone(),
                    region: instance.region.clone(),
                    kind: "instance".to_owned(),
                    tags: instance.tags.clone(),
                    currency: price.currency.clone(),
                    hourly: Decimal::ZERO,
                    to_end: [Decimal::ZERO; 3],
                });
                let hourly = with_backups(price.price_hourly);
                item.hourly = item.hourly.checked_add(hourly).unwrap_or(item.hourly);
                for (sum, add) in item.to_end.iter_mut().zip(to_end) {
                    *sum = sum.checked_add(add).unwrap_or(*sum);
                }
            }
            // Resources (volumes, reserved IPs...) at their price list's hourly figure to each
            // period's end, each month at most its monthly figure.
            let ends = period_ends(now);
            for resource in snapshot.resources.values().flat_map(|list| list.iter()) {
                let Ok(Some((hourly, price))) = pricing::hourly_price(resource, &snapshot.resource_prices)
                else {
                    continue;
                };
                if hourly.is_zero() {
                    continue;
                }
                let Some(to_end) = resource_to_ends(hourly, now, ends) else { continue };
                let region = resource.region().unwrap_or("global").to_owned();
                let kind = resource.kind().as_str().to_owned();
                let mut tags = resource.tags().to_vec();
                tags.sort();
                let key = (account.clone(), region.clone(), kind.clone(), tags, price.currency.clone());
                let item = items.entry(key).or_insert_with(|| Item {
                    account: account.clone(),
                    provider: provider_name.clone(),
                    region,
                    kind,
                    tags: resource.tags().to_vec(),
                    currency: price.currency.clone(),
                    hourly: Decimal::ZERO,
                    to_end: [Decimal::ZERO; 3],
                });
                item.hourly = item.hourly.checked_add(hourly).unwrap_or(item.hourly);
                for (sum, add) in item.to_end.iter_mut().zip(to_end) {
                    *sum = sum.checked_add(add).unwrap_or(*sum);
                }
            }
        }
        let items: Vec<Item> = items.into_values().collect();
        let buckets = engine
            .store
            .cost_buckets(ms(since), ms(now) + 3_600_000)
            .await?
            .into_iter()
            .map(|b| {
                let tags: Vec<String> = serde_json::from_str(&b.key.tags).unwrap_or_default();
                (b, tags)
            })
            .collect();
        Ok(Self { items, buckets })
    }

    /// `spec`'s figures at `now`.
    pub fn figures(&self, spec: &BudgetSpec, now: OffsetDateTime) -> Figures {
        let (start, end, period) = spec.period.around(now);
        let mut spent = Decimal::ZERO;
        for (bucket, tags) in &self.buckets {
            let k = &bucket.key;
            if k.hour_ms >= ms(start)
                && k.hour_ms < ms(end)
                && k.currency == spec.currency
                && spec.scope.admits(&k.account, &k.provider, &k.region, &k.kind, tags)
            {
                spent = spent.checked_add(bucket.amount).unwrap_or(spent);
            }
        }
        let slot = period_index(spec.period);
        let mut run_rate_to_end = Decimal::ZERO;
        let mut hourly = Decimal::ZERO;
        for item in &self.items {
            if item.currency == spec.currency
                && spec.scope.admits(&item.account, &item.provider, &item.region, &item.kind, &item.tags)
            {
                run_rate_to_end = run_rate_to_end.checked_add(item.to_end[slot]).unwrap_or(run_rate_to_end);
                hourly = hourly.checked_add(item.hourly).unwrap_or(hourly);
            }
        }
        Figures {
            period,
            start,
            end,
            spent,
            run_rate_to_end,
            forecast: spent.checked_add(run_rate_to_end).unwrap_or(spent),
            hourly,
        }
    }
}

/// Every stored budget, parsed (a row that does not parse is skipped and logged).
pub async fn load(engine: &Engine) -> Result<Vec<(BudgetRow, BudgetSpec)>, StoreError> {
    let rows = engine.store.budgets().await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match parse_row(&row) {
            Ok(spec) => Some((row, spec)),
            Err(e) => {
                tracing::error!(budget = %row.id, error = %e, "a stored budget does not parse; it is not evaluated");
                None
            }
        })
        .collect())
}

/// A stored budget's spec.
pub fn parse_row(row: &BudgetRow) -> Result<BudgetSpec, StoreError> {
    let body: BudgetBody = serde_json::from_str(&row.body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    body.parse().map_err(|errors| {
        StoreError::Corrupt(
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
        )
    })
}

/// The earliest start among the budgets' current periods.
fn earliest(specs: &[(BudgetRow, BudgetSpec)], now: OffsetDateTime) -> OffsetDateTime {
    specs.iter().map(|(_, s)| s.period.around(now).0).min().unwrap_or(now)
}

/// Every budget with its figures at `now`.
pub async fn evaluate(engine: &Engine, now: OffsetDateTime) -> Result<Vec<Evaluated>, StoreError> {
    let specs = load(engine).await?;
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let fleet = Fleet::load(engine, now, earliest(&specs, now)).await?;
    Ok(specs
        .into_iter()
        .map(|(row, spec)| {
            let figures = fleet.figures(&spec, now);
            Evaluated { row, spec, figures }
        })
        .collect())
}

/// Evaluates every budget and moves each threshold whose state changed, raising its alert.
pub async fn evaluate_all(engine: &Engine, now: OffsetDateTime) {
    let evaluated = match evaluate(engine, now).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "cannot evaluate the budgets; the next round tries again");
            return;
        }
    };
    if evaluated.is_empty() {
        return;
    }
    let stored = match engine.store.all_budget_thresholds().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the budgets' thresholds; the next round tries again");
            return;
        }
    };
    for budget in &evaluated {
        let states = stored.get(&budget.row.id).map_or(&[][..], Vec::as_slice);
        if let Err(e) = alerts::transitions(engine, budget, states, now).await {
            tracing::warn!(budget = %budget.row.id, error = %e, "cannot record a budget's thresholds");
        }
    }
}

/// What a create makes.
pub enum Creating<'a> {
    /// `count` instances of a type in a region, with backups on or off.
    Instances { instance_type: &'a str, region: &'a str, tags: &'a [String], count: u32, backups: bool },
    /// One resource (a volume or a reserved IP costs money; the other kinds are let through).
    Resource(&'a CreateResource),
}

impl Creating<'_> {
    /// The kind, region and tags a budget's scope reads.
    fn scope(&self) -> (String, &str, &[String]) {
        match self {
            Self::Instances { region, tags, .. } => ("instance".to_owned(), region, tags),
            Self::Resource(request) => {
                let (region, tags): (&str, &[String]) = match request {
                    CreateResource::Volume { region, tags, .. } => (region, tags),
                    CreateResource::ReservedIp { region, .. } | CreateResource::Vpc { region, .. } => {
                        (region, &[])
                    }
                    CreateResource::Snapshot { tags, .. } | CreateResource::Firewall { tags, .. } => {
                        ("global", tags)
                    }
                    CreateResource::SshKey { .. } => ("global", &[]),
                };
                (request.kind().as_str().to_owned(), region, tags)
            }
        }
    }
}

/// What a create is checked with.
pub struct CreateCheck<'a> {
    pub account: &'a str,
    pub provider: &'a dyn Provider,
    pub creating: Creating<'a>,
    /// The operation the create is recorded as: its reservation lasts until that ends.
    pub operation_id: String,
    /// An admin's reason to let this create past a blocking budget.
    pub override_reason: Option<&'a str>,
    /// Who asks (for the override's record).
    pub principal: &'a str,
}

/// A budget a create would overrun.
#[derive(Debug, Clone)]
pub struct Overrun {
    pub budget_id: String,
    pub budget: String,
    pub enforce: Enforce,
    pub amount: Decimal,
    pub currency: String,
    /// The level the create would pass (a forecast threshold's, or the amount).
    pub level: Decimal,
    pub threshold: Option<String>,
    pub period: String,
    pub spent: Decimal,
    pub forecast: Decimal,
    /// Held by creates under way.
    pub reserved: Decimal,
    /// This create's cost to the period's end.
    pub estimate: Decimal,
}

/// What the guardrail said.
#[derive(Default)]
pub struct GuardOutcome {
    /// Held until the create's first step has run (none when no budget covers the create).
    pub pass: Option<Pass>,
    /// Budgets with `enforce: warn` (or a blocking one overridden) this create overruns.
    pub warnings: Vec<Overrun>,
    /// Blocking budgets let past by an override.
    pub overridden: Vec<Overrun>,
}

/// Why the guardrail refused a create.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("the create would take budget {budget:?} over its level", budget = .0.first().map(|o| o.budget.clone()).unwrap_or_default())]
    Exceeded(Vec<Overrun>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a create against every budget with `enforce: warn` or `block` whose scope covers it
/// and, when it may go ahead, holds its cost against them until its operation ends. One check
/// at a time: two creates that each fit but not together cannot both pass.
pub async fn guard_create(engine: &Engine, check: &CreateCheck<'_>) -> Result<GuardOutcome, GuardError> {
    let now = engine.spend.clock.now();
    let provider_name = check.provider.info().name;
    let (kind, region, tags) = check.creating.scope();
    let specs: Vec<(BudgetRow, BudgetSpec)> = load(engine)
        .await?
        .into_iter()
        .filter(|(_, s)| {
            s.enforce != Enforce::None && s.scope.admits(check.account, &provider_name, region, &kind, tags)
        })
        .collect();
    if specs.is_empty() {
        return Ok(GuardOutcome::default());
    }
    let Some((each, currency)) = estimate(engine, check, now).await else {
        return Ok(GuardOutcome::default());
    };
    let mut reservations = engine.spend.budgets.reservations.clone().lock_owned().await;
    // Reservations whose operations have ended are in the inventory now (or never will be).
    let mut kept = Vec::new();
    for r in reservations.drain(..) {
        let ended = r.made.elapsed() > RESERVATION_LIFE
            || match engine.store.get_operation(&r.operation_id).await {
                Ok(Some(op)) => op.state != crate::store::OperationState::Pending,
                Ok(None) => r.made.elapsed() > Duration::from_secs(30),
                Err(_) => false,
            };
        if !ended {
            kept.push(r);
        }
    }
    *reservations = kept;
    let fleet = Fleet::load(engine, now, earliest(&specs, now)).await?;
    let mut blocked = Vec::new();
    let mut outcome = GuardOutcome::default();
    let mut amounts = HashMap::new();
    for (row, spec) in &specs {
        if spec.currency != currency {
            continue;
        }
        let figures = fleet.figures(spec, now);
        let estimate = each[period_index(spec.period)];
        let reserved: Decimal = reservations.iter().filter_map(|r| r.amounts.get(&row.id)).copied().sum();
        amounts.insert(row.id.clone(), estimate);
        for (idx, level) in spec.blocking_levels() {
            let with_create = figures.forecast + reserved + estimate;
            if with_create > level {
                let overrun = Overrun {
                    budget_id: row.id.clone(),
                    budget: spec.name.clone(),
                    enforce: spec.enforce,
                    amount: spec.amount,
                    currency: spec.currency.clone(),
                    level,
                    threshold: idx.and_then(|i| spec.thresholds.get(i)).map(|t| t.at.label()),
                    period: figures.period.clone(),
                    spent: figures.spent,
                    forecast: figures.forecast,
                    reserved,
                    estimate,
                };
                match (spec.enforce, check.override_reason) {
                    (Enforce::Block, None) => blocked.push(overrun),
                    (Enforce::Block, Some(_)) => outcome.overridden.push(overrun),
                    _ => outcome.warnings.push(overrun),
                }
                break;
            }
        }
    }
    if !blocked.is_empty() {
        return Err(GuardError::Exceeded(blocked));
    }
    if let Some(reason) = check.override_reason {
        for overrun in &outcome.overridden {
            alerts::record_override(engine, overrun, reason, check.principal, &check.operation_id, now)
                .await?;
        }
    }
    reservations.push(Reservation {
        operation_id: check.operation_id.clone(),
        amounts,
        made: Instant::now(),
    });
    Ok(outcome)
}

/// What a create costs from `now` to the end of this month, quarter and year, and in which
/// currency; `None` when it costs nothing or cannot be priced (it is then let through: the
/// guardrail never blocks on a price it does not know).
async fn estimate(
    engine: &Engine,
    check: &CreateCheck<'_>,
    now: OffsetDateTime,
) -> Option<([Decimal; 3], String)> {
    match &check.creating {
        Creating::Instances { instance_type, region, count, backups, .. } => {
            let types = engine.catalog.last_instance_types(check.account)?;
            let price = types.iter().find(|t| t.id == *instance_type).and_then(|t| t.priced_in(region))?;
            let plan = BackupPlan::of_create(*backups);
            let one = match projected(engine, check.account, check.provider, &price, plan, now).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot price a create for the budgets; it is let through");
                    return None;
                }
            };
            let count = Decimal::from(*count);
            Some((one.map(|each| each.checked_mul(count).unwrap_or(Decimal::MAX)), price.currency.clone()))
        }
        Creating::Resource(request) => {
            let key = match request {
                CreateResource::Volume { region, size_gib, volume_type, .. } => PriceKey {
                    kind: request.kind(),
                    region: Some(region),
                    variant: volume_type.as_deref(),
                    size_gib: Some(Decimal::from(*size_gib)),
                    unassigned: true,
                },
                CreateResource::ReservedIp { region, instance_id, .. } => PriceKey {
                    kind: request.kind(),
                    region: Some(region),
                    variant: None,
                    size_gib: None,
                    unassigned: instance_id.is_none(),
                },
                // A snapshot's size is known once it is taken; the other kinds are free.
                _ => return None,
            };
            // The inventory's copy holds the price list; read once if not yet (a list, never a
            // create, within the inventory's read budget).
            let snapshot = match engine.inventory.peek(check.account) {
                Some(snapshot) => snapshot,
                None => tokio::time::timeout(
                    engine.inventory.read_budget(),
                    engine.inventory.snapshot(check.account, crate::inventory::Freshness::Cached),
                )
                .await
                .ok()?
                .ok()?,
            };
            let (hourly, price) = match pricing::hourly_price_of(&key, &snapshot.resource_prices) {
                Ok(Some(found)) => found,
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot price a create for the budgets; it is let through");
                    return None;
                }
            };
            if hourly.is_zero() {
                return None;
            }
            Some((resource_to_ends(hourly, now, period_ends(now))?, price.currency.clone()))
        }
    }
}
