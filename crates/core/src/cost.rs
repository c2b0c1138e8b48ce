//! The cost engine: what running instances of a type costs over a span, under a billing policy.
//!
//! Pure arithmetic in `Decimal`, rounded to cents only at the very end. A span is walked calendar
//! month by calendar month (UTC), because caps apply per month. Which policy applies is the
//! provider's business ([`crate::Provider::billing_policy`]); the policy also carries the
//! assumptions an estimate must state.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time};

use crate::duration::{BillingDuration, add_months};

/// How usage is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metering {
    /// Every second is billed at `hourly / 3600`.
    PerSecond,
    /// Every started hour is billed in full.
    PerStartedHour,
}

/// Backups as a cost option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupPlan {
    #[default]
    None,
    Weekly,
    Daily,
}

/// How a provider bills one instance type at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingPolicy {
    /// Stable name for the API (`per_second_with_monthly_cap`).
    pub name: String,
    pub metering: Metering,
    /// Whether a calendar month never costs more than the monthly price.
    pub monthly_cap: bool,
    /// The least billed time per instance, in seconds.
    pub minimum_seconds: u64,
    /// The least charge per instance.
    pub minimum_charge: Decimal,
    /// Backup surcharges, as fractions of the instance's charge.
    pub weekly_backup_rate: Decimal,
    pub daily_backup_rate: Decimal,
    /// Whether a stopped instance costs nothing for its compute (EC2's do not; a powered-off
    /// DigitalOcean droplet is billed as a running one). Only the fleet's run-rate reads it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub free_when_stopped: bool,
    /// What the estimate assumes, in sentences a user can check.
    pub assumptions: Vec<String>,
}

impl BillingPolicy {
    /// Per-second metering, a minimum, and the monthly price as a cap for each calendar month.
    pub fn per_second_with_monthly_cap(minimum_seconds: u64, minimum_charge: Decimal) -> Self {
        Self {
            name: "per_second_with_monthly_cap".to_owned(),
            metering: Metering::PerSecond,
            monthly_cap: true,
            minimum_seconds,
            minimum_charge,
            weekly_backup_rate: Decimal::ZERO,
            daily_backup_rate: Decimal::ZERO,
            free_when_stopped: false,
            assumptions: Vec::new(),
        }
    }

    /// Every started hour billed, the monthly price as a cap for each calendar month.
    pub fn hourly_with_monthly_cap() -> Self {
        Self {
            name: "hourly_with_monthly_cap".to_owned(),
            metering: Metering::PerStartedHour,
            minimum_seconds: 3600,
            ..Self::per_second_with_monthly_cap(0, Decimal::ZERO)
        }
    }

    /// Per-second metering with a minimum, no cap (EC2 on-demand Linux).
    pub fn per_second(minimum_seconds: u64) -> Self {
        Self {
            name: "per_second".to_owned(),
            monthly_cap: false,
            ..Self::per_second_with_monthly_cap(minimum_seconds, Decimal::ZERO)
        }
    }

    /// Every started hour billed, no cap.
    pub fn per_started_hour() -> Self {
        Self { name: "per_started_hour".to_owned(), monthly_cap: false, ..Self::hourly_with_monthly_cap() }
    }

    pub fn with_backup_rates(mut self, weekly: Decimal, daily: Decimal) -> Self {
        self.weekly_backup_rate = weekly;
        self.daily_backup_rate = daily;
        self
    }

    /// A stopped instance is not billed for its compute.
    pub fn free_when_stopped(mut self) -> Self {
        self.free_when_stopped = true;
        self
    }

    pub fn assuming(mut self, assumption: impl Into<String>) -> Self {
        self.assumptions.push(assumption.into());
        self
    }

    fn backup_rate(&self, plan: BackupPlan) -> Decimal {
        match plan {
            BackupPlan::None => Decimal::ZERO,
            BackupPlan::Weekly => self.weekly_backup_rate,
            BackupPlan::Daily => self.daily_backup_rate,
        }
    }
}

/// What to estimate.
#[derive(Debug, Clone)]
pub struct CostQuery {
    pub price_hourly: Decimal,
    pub price_monthly: Decimal,
    pub count: u32,
    pub backups: BackupPlan,
    pub start: OffsetDateTime,
    pub duration: BillingDuration,
}

/// One calendar month's share of an estimate, for one instance unless said otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthCharge {
    /// `YYYY-MM`.
    pub month: String,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub billed_seconds: u64,
    #[serde(with = "rust_decimal::serde::str")]
    pub compute: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub backups: Decimal,
    /// True when the monthly cap (or the minimum) set the compute charge.
    pub capped: bool,
    pub minimum_applied: bool,
    /// `(compute + backups) * count`, unrounded.
    #[serde(with = "rust_decimal::serde::str")]
    pub subtotal: Decimal,
}

/// The result: exact figures, the total in cents, and the months behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEstimate {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    /// Seconds billed per instance (after any minimum).
    pub billed_seconds: u64,
    #[serde(with = "rust_decimal::serde::str")]
    pub total_exact: Decimal,
    /// `total_exact` rounded half away from zero to cents.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    pub months: Vec<MonthCharge>,
    pub policy: String,
    pub assumptions: Vec<String>,
}

const SECONDS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);

/// Rounds money to cents, half away from zero, always written with two places (`6.00`).
pub fn to_cents(amount: Decimal) -> Decimal {
    let mut cents = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    cents.rescale(2);
    cents
}

fn first_of_month(t: OffsetDateTime) -> OffsetDateTime {
    let date = Date::from_calendar_date(t.year(), t.month(), 1).unwrap_or(t.date());
    t.replace_date(date).replace_time(Time::MIDNIGHT)
}

fn month_label(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

/// Estimates `query` under the policy `policy_at` gives for each month's start.
pub fn estimate(query: &CostQuery, policy_at: impl Fn(OffsetDateTime) -> BillingPolicy) -> CostEstimate {
    let start = query.start.to_offset(time::UtcOffset::UTC);
    let end = query.duration.end_from(start);
    let count = Decimal::from(query.count);

    let mut months = Vec::new();
    let mut policies: Vec<BillingPolicy> = Vec::new();
    let mut cursor = start;
    while cursor < end {
        let next_month = add_months(first_of_month(cursor), 1);
        let until = next_month.min(end);
        let seconds = (until - cursor).whole_seconds().max(0) as u64;
        let policy = policy_at(cursor);
        let metered = match policy.metering {
            // Multiply before dividing: hourly / 3600 rarely terminates, hourly * seconds / 3600
            // usually does, so figures like 408 h come out exact.
            Metering::PerSecond => query.price_hourly * Decimal::from(seconds) / SECONDS_PER_HOUR,
            Metering::PerStartedHour => query.price_hourly * Decimal::from(seconds.div_ceil(3600)),
        };
        let capped = policy.monthly_cap && metered > query.price_monthly;
        let compute = if capped { query.price_monthly } else { metered };
        months.push(MonthCharge {
            month: month_label(cursor),
            from: cursor,
            until,
            billed_seconds: seconds,
            compute,
            backups: Decimal::ZERO,
            capped,
            minimum_applied: false,
            subtotal: Decimal::ZERO,
        });
        if !policies.contains(&policy) {
            policies.push(policy);
        }
        cursor = until;
    }

    // The minimum applies per instance over its whole life, under the policy it started with.
    let first_policy = policy_at(start);
    let total_seconds: u64 = months.iter().map(|m| m.billed_seconds).sum();
    let compute_total: Decimal = months.iter().map(|m| m.compute).sum();
    let minimum = (query.price_hourly * Decimal::from(first_policy.minimum_seconds) / SECONDS_PER_HOUR)
        .max(first_policy.minimum_charge);
    let mut billed_seconds = total_seconds;
    if compute_total < minimum
        && let Some(first) = months.first_mut()
    {
        first.compute += minimum - compute_total;
        first.minimum_applied = true;
        billed_seconds = billed_seconds.max(first_policy.minimum_seconds);
    }

    for (month, policy) in months.iter_mut().zip(months_policies(start, end, &policy_at)) {
        month.backups = month.compute * policy.backup_rate(query.backups);
        month.subtotal = (month.compute + month.backups) * count;
    }
    let total_exact: Decimal = months.iter().map(|m| m.subtotal).sum();
    let mut assumptions: Vec<String> = Vec::new();
    for policy in &policies {
        for assumption in &policy.assumptions {
            if !assumptions.contains(assumption) {
                assumptions.push(assumption.clone());
            }
        }
    }
    CostEstimate {
        start,
        end,
        billed_seconds,
        total: to_cents(total_exact),
        total_exact,
        months,
        policy: policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("+"),
        assumptions,
    }
}

/// The policy of each month in order (re-derived so the months and policies line up).
fn months_policies(
    start: OffsetDateTime,
    end: OffsetDateTime,
    policy_at: &impl Fn(OffsetDateTime) -> BillingPolicy,
) -> Vec<BillingPolicy> {
    let mut out = Vec::new();
    let mut cursor = start;
    while cursor < end {
        out.push(policy_at(cursor));
        cursor = add_months(first_of_month(cursor), 1).min(end);
    }
    out
}

/// The instants [`estimate`] asks `policy_at` about, in order: the start, then the first moment
/// of each later month the span reaches. A caller whose policies take a call to learn (a plugin)
/// fetches these first.
pub fn policy_instants(query: &CostQuery) -> Vec<OffsetDateTime> {
    let start = query.start.to_offset(time::UtcOffset::UTC);
    let end = query.duration.end_from(start);
    let mut out = vec![start];
    let mut cursor = add_months(first_of_month(start), 1);
    while cursor < end {
        out.push(cursor);
        cursor = add_months(cursor, 1);
    }
    out
}

/// A month that starts at `t`, for month-to-date figures.
pub fn month_start(t: OffsetDateTime) -> OffsetDateTime {
    first_of_month(t.to_offset(time::UtcOffset::UTC))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use time::macros::datetime;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn digitalocean_cpu(_: OffsetDateTime) -> BillingPolicy {
        BillingPolicy::per_second_with_monthly_cap(60, dec("0.01"))
            .with_backup_rates(dec("0.20"), dec("0.30"))
    }

    /// s-1vcpu-1gb: $6/month, $0.00893/hour.
    fn small(duration: &str, start: OffsetDateTime, backups: BackupPlan) -> CostEstimate {
        let query = CostQuery {
            price_hourly: dec("0.00893"),
            price_monthly: dec("6"),
            count: 1,
            backups,
            start,
            duration: BillingDuration::parse(duration).expect("duration"),
        };
        estimate(&query, digitalocean_cpu)
    }

    const MID_MARCH: OffsetDateTime = datetime!(2026-03-10 12:00 UTC);

    #[test]
    fn thirty_seconds_costs_the_minimum_charge() {
        // 60 s * 0.00893 / 3600 = $0.000149 < $0.01, so the $0.01 minimum applies.
        let e = small("30s", MID_MARCH, BackupPlan::None);
        assert_eq!(e.total, dec("0.01"));
        assert_eq!(e.billed_seconds, 60);
        assert!(e.months[0].minimum_applied);
    }

    #[test]
    fn one_hour_is_the_hourly_price_raised_to_the_minimum_charge() {
        // 1 h = $0.00893, under DigitalOcean's $0.01 minimum per droplet.
        let e = small("1h", MID_MARCH, BackupPlan::None);
        assert_eq!(e.total_exact, dec("0.01"));
        assert!(e.months[0].minimum_applied);
        assert_eq!(e.billed_seconds, 3600);
        // Two hours clear the minimum: 2 * 0.00893.
        assert_eq!(small("2h", MID_MARCH, BackupPlan::None).total_exact, dec("0.01786"));
    }

    #[test]
    fn one_day_is_24_hours() {
        // 24 * 0.00893 = 0.21432
        let e = small("1d", MID_MARCH, BackupPlan::None);
        assert_eq!(e.total_exact, dec("0.21432"));
        assert_eq!(e.total, dec("0.21"));
    }

    #[test]
    fn a_full_calendar_month_is_the_monthly_price() {
        // March: 744 h * 0.00893 = 6.64392, capped at 6.
        let e = small("1mo", datetime!(2026-03-01 00:00 UTC), BackupPlan::None);
        assert_eq!(e.total.to_string(), "6.00");
        assert_eq!(e.months.len(), 1);
        assert!(e.months[0].capped);
        // February: 672 h * 0.00893 = 6.00096, also capped.
        assert_eq!(small("1mo", datetime!(2026-02-01 00:00 UTC), BackupPlan::None).total, dec("6.00"));
    }

    #[test]
    fn per_second_without_a_cap_bills_every_hour_of_a_month() {
        // t3.micro in us-east-1: $0.0104/h. March: 744 h = 7.7376, no cap at 730 h.
        let query = CostQuery {
            price_hourly: dec("0.0104"),
            price_monthly: dec("7.592"),
            count: 1,
            backups: BackupPlan::None,
            start: datetime!(2026-03-01 00:00 UTC),
            duration: BillingDuration::parse("1mo").expect("duration"),
        };
        let e = estimate(&query, |_| BillingPolicy::per_second(60));
        assert_eq!(e.total_exact, dec("7.7376"));
        assert!(!e.months[0].capped);
        // 30 s is billed as the 60-second minimum: 60 * 0.0104 / 3600.
        let short = CostQuery { duration: BillingDuration::parse("30s").expect("duration"), ..query };
        assert_eq!(estimate(&short, |_| BillingPolicy::per_second(60)).billed_seconds, 60);
    }

    #[test]
    fn forty_five_days_from_mid_january_walks_two_months() {
        // 15 Jan -> 1 Feb: 17 d = 408 h * 0.00893 = 3.64344 (under the cap)
        // 1 Feb -> 1 Mar: 28 d = 672 h * 0.00893 = 6.00096 -> capped at 6
        let e = small("45d", datetime!(2026-01-15 00:00 UTC), BackupPlan::None);
        assert_eq!(e.months.len(), 2);
        assert_eq!(e.months[0].compute, dec("3.64344"));
        assert_eq!(e.months[1].compute, dec("6"));
        assert_eq!(e.total_exact, dec("9.64344"));
        assert_eq!(e.total, dec("9.64"));
        assert_eq!(e.end, datetime!(2026-03-01 00:00 UTC));
    }

    #[test]
    fn weekly_backups_add_twenty_percent() {
        // 9.64344 * 1.2 = 11.572128
        let e = small("45d", datetime!(2026-01-15 00:00 UTC), BackupPlan::Weekly);
        assert_eq!(e.total_exact, dec("11.572128"));
        assert_eq!(e.total, dec("11.57"));
        // Daily: 30% of the one-day charge.
        assert_eq!(small("1d", MID_MARCH, BackupPlan::Daily).total_exact, dec("0.278616"));
    }

    #[test]
    fn count_multiplies_and_rounding_happens_once_at_the_end() {
        let query = CostQuery {
            price_hourly: dec("0.00893"),
            price_monthly: dec("6"),
            count: 5,
            backups: BackupPlan::None,
            start: MID_MARCH,
            duration: BillingDuration::parse("1d").expect("1d"),
        };
        let e = estimate(&query, digitalocean_cpu);
        // 5 * 0.21432 = 1.0716 -> 1.07 (rounding each instance first would give 5 * 0.21 = 1.05).
        assert_eq!(e.total_exact, dec("1.0716"));
        assert_eq!(e.total, dec("1.07"));
    }

    #[test]
    fn hourly_policies_bill_started_hours() {
        let query = CostQuery {
            price_hourly: dec("3.39"),
            price_monthly: dec("2278.08"),
            count: 1,
            backups: BackupPlan::None,
            start: MID_MARCH,
            duration: BillingDuration::parse("90min").expect("90min"),
        };
        assert_eq!(estimate(&query, |_| BillingPolicy::per_started_hour()).total, dec("6.78"));
    }
}
