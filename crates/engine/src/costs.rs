//! The cost rules the API and the metrics share: how an instance counts toward the fleet's
//! run-rate ([`billed`]), the billing policy of each month a span covers (asked of the provider
//! before the pure, synchronous arithmetic of `nephele_core::cost`), and the fleet's report
//! ([`fleet`]): run-rate and month-to-date spend, per currency, by provider, region and type.

pub mod bill;
pub mod history;

use std::collections::BTreeMap;

use nephele_core::cost::{self, BackupPlan, CostError, CostQuery, month_start};
use nephele_core::{BillingDuration, ErrorCode, InstanceType, Provider, ProviderError};
use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::Engine;
use crate::failure::ProviderIssue;
use crate::inventory::{Freshness, ReadError};

/// The billing policy of each month a query spans, asked of the provider before the arithmetic
/// (which is pure and cannot wait for a plugin's answer).
pub struct MonthlyPolicies(Vec<(OffsetDateTime, nephele_core::BillingPolicy)>);

impl MonthlyPolicies {
    pub async fn fetch(
        provider: &dyn Provider,
        instance_type: &InstanceType,
        query: &CostQuery,
    ) -> Result<Self, ProviderError> {
        let mut months = Vec::new();
        for at in cost::policy_instants(query) {
            months.push((month_start(at), provider.billing_policy(instance_type, at).await?));
        }
        Ok(Self(months))
    }

    pub fn at(&self, at: OffsetDateTime) -> nephele_core::BillingPolicy {
        let month = month_start(at);
        let found = self.0.iter().find(|(m, _)| *m == month).or(self.0.first());
        found.map(|(_, p)| p.clone()).unwrap_or_else(nephele_core::BillingPolicy::per_started_hour)
    }
}

/// How an instance counts toward the fleet's run-rate.
pub enum Billed {
    /// At this type's price in the instance's region.
    At(Box<InstanceType>),
    /// Not at all: deleted (EC2 shows terminated instances for about an hour), or stopped on a
    /// cloud that bills only running compute (EC2).
    Free,
    /// Its type has no known price in its region.
    NoPrice,
}

/// How `instance` is billed at `now`: the one rule `GET /api/v1/costs` and `/metrics` share.
pub async fn billed(
    provider: &dyn Provider,
    instance: &nephele_core::Instance,
    types: &[InstanceType],
    now: OffsetDateTime,
) -> Result<Billed, ProviderError> {
    use nephele_core::InstanceStatus;
    if instance.status == InstanceStatus::Archived {
        return Ok(Billed::Free);
    }
    let found = types.iter().find(|t| t.id == instance.instance_type);
    let Some(price) = found.and_then(|t| t.priced_in(&instance.region)) else { return Ok(Billed::NoPrice) };
    if instance.status == InstanceStatus::Stopped
        && provider.billing_policy(&price, now).await?.free_when_stopped
    {
        return Ok(Billed::Free);
    }
    Ok(Billed::At(Box::new(price)))
}

/// What a group of instances costs, in one currency.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub instances: u64,
    pub hourly: Decimal,
    pub monthly: Decimal,
    pub month_to_date: Decimal,
}

/// What one instance adds to a tally.
struct Charge {
    hourly: Decimal,
    monthly: Decimal,
    month_to_date: Decimal,
}

impl Tally {
    /// This tally with `charge` added, or the figure that would overflow.
    fn plus(&self, charge: &Charge) -> Result<Tally, CostError> {
        let sum = |a: Decimal, b: Decimal, figure| a.checked_add(b).ok_or(CostError::TooLarge { figure });
        Ok(Tally {
            instances: self.instances.saturating_add(1),
            hourly: sum(self.hourly, charge.hourly, "hourly run-rate")?,
            monthly: sum(self.monthly, charge.monthly, "monthly run-rate")?,
            month_to_date: sum(self.month_to_date, charge.month_to_date, "month-to-date spend")?,
        })
    }

    /// Adds `charge` to every tally, or to none of them when any would overflow: the subtotals
    /// always add up to the total.
    fn add_to_all(tallies: [&mut Tally; 4], charge: &Charge) -> Result<(), CostError> {
        let mut added = [Tally::default(); 4];
        for (new, old) in added.iter_mut().zip(tallies.iter()) {
            *new = old.plus(charge)?;
        }
        for (tally, new) in tallies.into_iter().zip(added) {
            *tally = new;
        }
        Ok(())
    }
}

/// A subtotal's key: what it groups by, and the currency (totals are never summed across
/// currencies).
pub type Group = (String, String);

/// What the fleet costs now and has cost this month, per currency.
#[derive(Debug, Default)]
pub struct FleetReport {
    /// Totals by currency.
    pub totals: BTreeMap<String, Tally>,
    pub by_provider: BTreeMap<Group, Tally>,
    pub by_region: BTreeMap<Group, Tally>,
    pub by_type: BTreeMap<Group, Tally>,
    /// Providers (or instances) that could not be priced.
    pub issues: Vec<ProviderIssue>,
    pub assumptions: Vec<String>,
}

/// `engine`'s fleet of the providers `may_use` admits, priced at `now`: the run-rate of what
/// runs, and what each instance has cost since the start of this calendar month (from its
/// `created_at`). A provider that does not answer within the inventory's read budget is priced
/// from its last good copy and its last loaded prices, and reported.
pub async fn fleet(engine: &Engine, may_use: impl Fn(&str) -> bool, now: OffsetDateTime) -> FleetReport {
    let this_month = month_start(now);
    let mut report = FleetReport::default();
    for (name, provider) in engine.providers.all().filter(|(name, _)| may_use(name)) {
        let budget = engine.inventory.read_budget();
        let deadline = tokio::time::Instant::now() + budget;
        let loaded = async {
            let snapshot = engine.inventory.snapshot(name, Freshness::Cached).await?;
            let types = match tokio::time::timeout_at(
                deadline,
                engine.catalog.instance_types(name, provider.as_ref()),
            )
            .await
            {
                Ok(types) => types?,
                Err(_) => engine.catalog.last_instance_types(name).ok_or(ReadError::TimedOut { budget })?,
            };
            Ok::<_, ReadError>((snapshot, types))
        };
        let (instances, types) = match loaded.await {
            Ok((snapshot, types)) => {
                if let Some(e) = &snapshot.error {
                    report.issues.push(ProviderIssue::from_read(name, e));
                }
                (snapshot.instances, types)
            }
            Err(e) => {
                report.issues.push(ProviderIssue::from_read(name, &e));
                continue;
            }
        };
        for instance in instances.iter() {
            let price = match billed(provider.as_ref(), instance, &types, now).await {
                Ok(Billed::At(price)) => price,
                Ok(Billed::Free) => continue,
                Ok(Billed::NoPrice) => {
                    report.issues.push(ProviderIssue {
                        provider: name.clone(),
                        code: ErrorCode::NoPrice,
                        message: format!(
                            "no price known for type {} in {}",
                            instance.instance_type, instance.region
                        ),
                        instance: Some(instance.id.to_string()),
                        upstream: None,
                    });
                    continue;
                }
                Err(e) => {
                    report.issues.push(ProviderIssue::from_provider(name, &e));
                    continue;
                }
            };
            let month_to_date =
                match month_to_date(provider.as_ref(), instance, &price, this_month, now).await {
                    Ok((spent, assumptions)) => {
                        for a in assumptions {
                            if !report.assumptions.contains(&a) {
                                report.assumptions.push(a);
                            }
                        }
                        spent
                    }
                    Err(e) => {
                        report.issues.push(ProviderIssue::from_provider(name, &e));
                        continue;
                    }
                };
            let charge = Charge { hourly: price.price_hourly, monthly: price.price_monthly, month_to_date };
            let currency = price.currency.clone();
            let mut total = report.totals.remove(&currency).unwrap_or_default();
            let mut by_provider =
                report.by_provider.remove(&(name.clone(), currency.clone())).unwrap_or_default();
            let region_key = (instance.region.clone(), currency.clone());
            let type_key = (instance.instance_type.clone(), currency.clone());
            let mut by_region = report.by_region.remove(&region_key).unwrap_or_default();
            let mut by_type = report.by_type.remove(&type_key).unwrap_or_default();
            if let Err(e) =
                Tally::add_to_all([&mut total, &mut by_provider, &mut by_region, &mut by_type], &charge)
            {
                report.issues.push(ProviderIssue::from_provider(name, &e.into()));
            }
            report.totals.insert(currency.clone(), total);
            report.by_provider.insert((name.clone(), currency), by_provider);
            report.by_region.insert(region_key, by_region);
            report.by_type.insert(type_key, by_type);
        }
        // A provider with nothing billed still shows, with zeros, in its own currency if known.
        if !report.by_provider.keys().any(|(p, _)| p == name) {
            let currency = types.first().map_or_else(|| "USD".to_owned(), |t| t.currency.clone());
            report.by_provider.insert((name.clone(), currency), Tally::default());
        }
    }
    report.assumptions.push(
        "Month-to-date counts each instance from its creation or the start of the month, whichever is later, and only instances that still exist."
            .to_owned(),
    );
    report
}

/// What `instance`, billed at `price`, has cost from the later of its creation and the start of
/// the month until `now`, with the assumptions the estimate made.
async fn month_to_date(
    provider: &dyn Provider,
    instance: &nephele_core::Instance,
    price: &InstanceType,
    this_month: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(Decimal, Vec<String>), ProviderError> {
    let since = instance.created_at.max(this_month);
    let seconds = u64::try_from((now - since).whole_seconds()).unwrap_or(0);
    if seconds == 0 {
        return Ok((Decimal::ZERO, Vec::new()));
    }
    let query = CostQuery {
        price_hourly: price.price_hourly,
        price_monthly: price.price_monthly,
        count: 1,
        backups: BackupPlan::None,
        start: since,
        duration: BillingDuration::from_seconds(seconds),
    };
    let policies = MonthlyPolicies::fetch(provider, price, &query).await?;
    let estimate = cost::estimate(&query, |at| policies.at(at)).map_err(ProviderError::from)?;
    Ok((estimate.total_exact, estimate.assumptions))
}
