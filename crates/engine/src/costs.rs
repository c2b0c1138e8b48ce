//! The cost rules the API and the metrics share: how an instance counts toward the fleet's
//! run-rate ([`billed`]), the billing policy of each month a span covers (asked of the provider
//! before the pure, synchronous arithmetic of `nephele_core::cost`), and the fleet's report
//! ([`fleet`]): run-rate and month-to-date spend, per currency, by provider, region, type and
//! kind. Resources (volumes, snapshots, reserved IPs...) are priced from the provider's price
//! list held with the inventory's copy (`nephele_core::pricing`), so the report reads no cloud.

pub mod bill;
pub mod history;

use std::collections::BTreeMap;

use nephele_core::cost::{self, BackupPlan, CostError, CostQuery, month_start};
use nephele_core::pricing::{self, Grade, PriceUnit, ResourcePrice};
use nephele_core::{BillingDuration, ErrorCode, InstanceType, Provider, ProviderError};
use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::Engine;
use crate::failure::ProviderIssue;
use crate::inventory::{Freshness, ReadError, Snapshot};

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
    /// Resources other than instances counted in.
    pub resources: u64,
    pub hourly: Decimal,
    pub monthly: Decimal,
    pub month_to_date: Decimal,
}

/// What one instance adds to a tally.
struct Charge {
    /// Whether it is an instance's (else a resource's).
    instance: bool,
    hourly: Decimal,
    monthly: Decimal,
    month_to_date: Decimal,
}

impl Tally {
    /// This tally with `charge` added, or the figure that would overflow.
    fn plus(&self, charge: &Charge) -> Result<Tally, CostError> {
        let sum = |a: Decimal, b: Decimal, figure| a.checked_add(b).ok_or(CostError::TooLarge { figure });
        Ok(Tally {
            instances: self.instances.saturating_add(u64::from(charge.instance)),
            resources: self.resources.saturating_add(u64::from(!charge.instance)),
            hourly: sum(self.hourly, charge.hourly, "hourly run-rate")?,
            monthly: sum(self.monthly, charge.monthly, "monthly run-rate")?,
            month_to_date: sum(self.month_to_date, charge.month_to_date, "month-to-date spend")?,
        })
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
    /// By kind: `instance`, `volume`, `snapshot`, `reserved_ip`...
    pub by_kind: BTreeMap<Group, Tally>,
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
        let name = &name;
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
        let (snapshot, types) = match loaded.await {
            Ok((snapshot, types)) => {
                if let Some(e) = &snapshot.error {
                    report.issues.push(ProviderIssue::from_read(name, e));
                }
                (snapshot, types)
            }
            Err(e) => {
                report.issues.push(ProviderIssue::from_read(name, &e));
                continue;
            }
        };
        for instance in snapshot.instances.iter() {
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
            // Backups add their share of the droplet's charge (DigitalOcean's basic plans).
            let backups = BackupPlan::of_features(&instance.features);
            let backup_rate = match backups {
                BackupPlan::None => Decimal::ZERO,
                plan => match provider.billing_policy(&price, now).await {
                    Ok(policy) => policy.backup_rate(plan),
                    Err(e) => {
                        report.issues.push(ProviderIssue::from_provider(name, &e));
                        continue;
                    }
                },
            };
            let month_to_date =
                match month_to_date(provider.as_ref(), instance, &price, backups, this_month, now).await {
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
            let with_backups = |d: Decimal| d.checked_mul(Decimal::ONE + backup_rate).unwrap_or(d);
            let charge = Charge {
                instance: true,
                hourly: with_backups(price.price_hourly),
                monthly: with_backups(price.price_monthly),
                month_to_date,
            };
            let type_key = (instance.instance_type.clone(), price.currency.clone());
            let mut by_type = report.by_type.remove(&type_key).unwrap_or_default();
            let mut by_kind =
                report.by_kind.remove(&("instance".to_owned(), price.currency.clone())).unwrap_or_default();
            let added =
                report.add(name, &instance.region, &price.currency, &charge, [&mut by_type, &mut by_kind]);
            if let Err(e) = added {
                report.issues.push(ProviderIssue::from_provider(name, &e.into()));
            }
            report.by_type.insert(type_key, by_type);
            report.by_kind.insert(("instance".to_owned(), price.currency.clone()), by_kind);
        }
        report.add_resources(name, &snapshot, this_month, now);
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

impl FleetReport {
    /// Adds `charge` to the total of `currency`, to `provider`'s and `region`'s subtotals and to
    /// `more`, or to none of them when any would overflow.
    fn add<const N: usize>(
        &mut self,
        provider: &str,
        region: &str,
        currency: &str,
        charge: &Charge,
        more: [&mut Tally; N],
    ) -> Result<(), CostError> {
        let mut total = self.totals.remove(currency).unwrap_or_default();
        let provider_key = (provider.to_owned(), currency.to_owned());
        let region_key = (region.to_owned(), currency.to_owned());
        let mut by_provider = self.by_provider.remove(&provider_key).unwrap_or_default();
        let mut by_region = self.by_region.remove(&region_key).unwrap_or_default();
        let mut all = vec![&mut total, &mut by_provider, &mut by_region];
        all.extend(more);
        // Added to a copy of each first: nothing changes unless everything can.
        let sums: Result<Vec<Tally>, CostError> = all.iter().map(|t| t.plus(charge)).collect();
        let added = sums.map(|sums| {
            for (tally, sum) in all.iter_mut().zip(sums) {
                **tally = sum;
            }
        });
        self.totals.insert(currency.to_owned(), total);
        self.by_provider.insert(provider_key, by_provider);
        self.by_region.insert(region_key, by_region);
        added
    }

    /// Adds every billable resource of `snapshot` (provider `provider`): its run-rate, and what
    /// it has cost since the later of its creation and `this_month`.
    fn add_resources(
        &mut self,
        provider: &str,
        snapshot: &Snapshot,
        this_month: OffsetDateTime,
        now: OffsetDateTime,
    ) {
        for resource in snapshot.resources.values().flat_map(|list| list.iter()) {
            let (hourly, price) = match pricing::hourly_price(resource, &snapshot.resource_prices) {
                Ok(Some((hourly, price))) if !hourly.is_zero() => (hourly, price),
                Ok(_) => continue,
                Err(message) => {
                    self.issues.push(ProviderIssue {
                        provider: provider.to_owned(),
                        code: ErrorCode::NoPrice,
                        message,
                        instance: None,
                        upstream: None,
                    });
                    continue;
                }
            };
            let since = resource.created_at().unwrap_or(this_month).max(this_month);
            let figures = hourly
                .checked_mul(pricing::HOURS_PER_MONTH)
                .ok_or_else(|| "too large".to_owned())
                .and_then(|monthly| Ok((monthly, pricing::charge_between(hourly, since, now.max(since))?)));
            let Ok((monthly, month_to_date)) = figures else {
                self.issues.push(ProviderIssue::from_provider(
                    provider,
                    &CostError::TooLarge { figure: "resource charge" }.into(),
                ));
                continue;
            };
            let charge = Charge { instance: false, hourly, monthly, month_to_date };
            let kind_key = (resource.kind().as_str().to_owned(), price.currency.clone());
            let mut by_kind = self.by_kind.remove(&kind_key).unwrap_or_default();
            let region = resource.region().unwrap_or("global").to_owned();
            if let Err(e) = self.add(provider, &region, &price.currency, &charge, [&mut by_kind]) {
                self.issues.push(ProviderIssue::from_provider(provider, &e.into()));
            }
            self.by_kind.insert(kind_key, by_kind);
            for assumption in resource_assumptions(price) {
                if !self.assumptions.contains(&assumption) {
                    self.assumptions.push(assumption);
                }
            }
        }
    }
}

/// What a resource's figure rests on, in words: its source and date, and how sure it is.
pub fn resource_assumptions(price: &ResourcePrice) -> Vec<String> {
    let mut said = vec![
        "Resources are priced per hour from a monthly figure spread over 730 hours, each calendar month at most its monthly figure, at their present size and state (an unassigned reserved IP counted as unassigned since its creation or the month's start); month-to-date counts only resources that still exist."
            .to_owned(),
    ];
    let grade = match price.grade {
        Grade::Primary => "primary",
        Grade::Secondary => "secondary (a third party quoting the vendor)",
        Grade::Assumed => "assumed (no source found)",
    };
    said.push(format!(
        "{} price {} {} per {}: {grade}; source {}, as of {}.",
        price.kind,
        price.amount.normalize(),
        price.currency,
        match price.unit {
            PriceUnit::GibMonth => "GiB-month",
            PriceUnit::Hour => "hour",
            PriceUnit::Month => "month",
        },
        price.source,
        price.as_of
    ));
    said
}

/// What `instance`, billed at `price`, has cost from the later of its creation and the start of
/// the month until `now`, with the assumptions the estimate made.
async fn month_to_date(
    provider: &dyn Provider,
    instance: &nephele_core::Instance,
    price: &InstanceType,
    backups: BackupPlan,
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
        backups,
        start: since,
        duration: BillingDuration::from_seconds(seconds),
    };
    let policies = MonthlyPolicies::fetch(provider, price, &query).await?;
    let estimate = cost::estimate(&query, |at| policies.at(at)).map_err(ProviderError::from)?;
    Ok((estimate.total_exact, estimate.assumptions))
}
