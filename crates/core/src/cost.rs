//! The cost engine: what running instances of a type costs over a span, under a billing policy.
//!
//! Pure arithmetic in `Decimal`, rounded to cents only at the very end. A span is walked calendar
//! month by calendar month (UTC), because caps apply per month. Which policy applies is the
//! provider's business ([`crate::Provider::billing_policy`]); the policy also carries the
//! assumptions an estimate must state.
//!
//! Prices and policies come from outside. Providers check them against [`crate::money`]'s
//! ceilings on the way in, but this engine must never panic whatever it is handed: every sum and
//! product is checked, and a figure too large to compute is a [`CostError`], never an overflow.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time};

use crate::duration::{BillingDuration, add_months};
use crate::error::ProviderError;
use crate::money::{self, FigureRefused, MAX_BACKUP_RATE, MAX_MINIMUM_CHARGE};

/// Why an estimate could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// A sum or product passed what a `Decimal` holds: the prices (or the policy's minimum) are
    /// out of any real range.
    #[error("the {figure} is too large to compute: the provider's prices are out of range")]
    TooLarge { figure: &'static str },
    /// The span ends past the last date Nephele can write (the year 9999).
    #[error("the span ends past the year 9999")]
    PastTheCalendar,
}

impl From<CostError> for ProviderError {
    /// Figures too large to compute come from the provider's price list: an unusable answer.
    fn from(error: CostError) -> Self {
        ProviderError::invalid_response(error.to_string())
    }
}

/// Checked decimal arithmetic that names the figure it was computing when it overflows.
fn add(a: Decimal, b: Decimal, figure: &'static str) -> Result<Decimal, CostError> {
    a.checked_add(b).ok_or(CostError::TooLarge { figure })
}

fn sub(a: Decimal, b: Decimal, figure: &'static str) -> Result<Decimal, CostError> {
    a.checked_sub(b).ok_or(CostError::TooLarge { figure })
}

fn mul(a: Decimal, b: Decimal, figure: &'static str) -> Result<Decimal, CostError> {
    a.checked_mul(b).ok_or(CostError::TooLarge { figure })
}

fn div(a: Decimal, b: Decimal, figure: &'static str) -> Result<Decimal, CostError> {
    a.checked_div(b).ok_or(CostError::TooLarge { figure })
}

/// The sum of `figures`, checked.
fn checked_sum(
    figures: impl IntoIterator<Item = Decimal>,
    figure: &'static str,
) -> Result<Decimal, CostError> {
    figures.into_iter().try_fold(Decimal::ZERO, |total, f| add(total, f, figure))
}

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

impl BackupPlan {
    /// The plan of an instance whose provider lists `features`: DigitalOcean shows only that
    /// backups are on (the feature `backups`), not their plan; a create without a
    /// `backup_policy` (how Nephele creates) gets the spec's default, `daily`, so an instance
    /// with backups on is counted as daily (a plan changed to weekly elsewhere is over-counted
    /// by a third of its surcharge, never under-counted).
    pub fn of_features(features: &[String]) -> Self {
        if features.iter().any(|f| f == "backups") { Self::Daily } else { Self::None }
    }

    /// The plan a create asks for with `backups` on or off (the spec's default plan, `daily`).
    pub fn of_create(backups: bool) -> Self {
        if backups { Self::Daily } else { Self::None }
    }
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

    /// Checks the policy's money against [`crate::money`]'s ceilings, as a provider must before
    /// it hands a policy on; the error names the field.
    pub fn check_figures(&self) -> Result<(), FigureRefused> {
        money::check("minimum_charge", self.minimum_charge, MAX_MINIMUM_CHARGE)?;
        money::check("weekly_backup_rate", self.weekly_backup_rate, MAX_BACKUP_RATE)?;
        money::check("daily_backup_rate", self.daily_backup_rate, MAX_BACKUP_RATE)?;
        Ok(())
    }

    /// The share of the instance's charge its backups add under `plan`.
    pub fn backup_rate(&self, plan: BackupPlan) -> Decimal {
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

/// The first moment of the month after the one `t` is in; `None` past the calendar's end.
fn next_month(t: OffsetDateTime) -> Option<OffsetDateTime> {
    add_months(first_of_month(t), 1)
}

/// Estimates `query` under the policy `policy_at` gives for each month's start.
pub fn estimate(
    query: &CostQuery,
    policy_at: impl Fn(OffsetDateTime) -> BillingPolicy,
) -> Result<CostEstimate, CostError> {
    let start = query.start.to_offset(time::UtcOffset::UTC);
    let end = query.duration.end_from(start).ok_or(CostError::PastTheCalendar)?;
    let count = Decimal::from(query.count);

    let mut months = Vec::new();
    let mut policies: Vec<BillingPolicy> = Vec::new();
    let mut cursor = start;
    while cursor < end {
        let until = next_month(cursor).map_or(end, |next| next.min(end));
        let seconds = u64::try_from((until - cursor).whole_seconds()).unwrap_or(0);
        let policy = policy_at(cursor);
        let metered = match policy.metering {
            // Multiply before dividing: hourly / 3600 rarely terminates, hourly * seconds / 3600
            // usually does, so figures like 408 h come out exact.
            Metering::PerSecond => div(
                mul(query.price_hourly, Decimal::from(seconds), "metered charge")?,
                SECONDS_PER_HOUR,
                "metered charge",
            )?,
            Metering::PerStartedHour => {
                mul(query.price_hourly, Decimal::from(seconds.div_ceil(3600)), "metered charge")?
            }
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
    let total_seconds =
        months.iter().try_fold(0u64, |sum, m| sum.checked_add(m.billed_seconds)).unwrap_or(u64::MAX);
    let compute_total = checked_sum(months.iter().map(|m| m.compute), "compute charge")?;
    let minimum = div(
        mul(query.price_hourly, Decimal::from(first_policy.minimum_seconds), "minimum charge")?,
        SECONDS_PER_HOUR,
        "minimum charge",
    )?
    .max(first_policy.minimum_charge);
    let mut billed_seconds = total_seconds;
    if compute_total < minimum
        && let Some(first) = months.first_mut()
    {
        first.compute = add(first.compute, sub(minimum, compute_total, "minimum charge")?, "minimum charge")?;
        first.minimum_applied = true;
        billed_seconds = billed_seconds.max(first_policy.minimum_seconds);
    }

    for (month, policy) in months.iter_mut().zip(months_policies(start, end, &policy_at)) {
        month.backups = mul(month.compute, policy.backup_rate(query.backups), "backup charge")?;
        month.subtotal = mul(add(month.compute, month.backups, "subtotal")?, count, "subtotal")?;
    }
    let total_exact = checked_sum(months.iter().map(|m| m.subtotal), "total")?;
    let mut assumptions: Vec<String> = Vec::new();
    for policy in &policies {
        for assumption in &policy.assumptions {
            if !assumptions.contains(assumption) {
                assumptions.push(assumption.clone());
            }
        }
    }
    Ok(CostEstimate {
        start,
        end,
        billed_seconds,
        total: to_cents(total_exact),
        total_exact,
        months,
        policy: policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("+"),
        assumptions,
    })
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
        cursor = next_month(cursor).map_or(end, |next| next.min(end));
    }
    out
}

/// The instants [`estimate`] asks `policy_at` about, in order: the start, then the first moment
/// of each later month the span reaches. A caller whose policies take a call to learn (a plugin)
/// fetches these first. A span past the calendar's end has only its start (its estimate fails).
pub fn policy_instants(query: &CostQuery) -> Vec<OffsetDateTime> {
    let start = query.start.to_offset(time::UtcOffset::UTC);
    let mut out = vec![start];
    let Some(end) = query.duration.end_from(start) else { return out };
    let mut cursor = next_month(start);
    while let Some(at) = cursor.filter(|at| *at < end) {
        out.push(at);
        cursor = add_months(at, 1);
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
        estimate(&query, digitalocean_cpu).expect("estimate")
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
        let e = estimate(&query, |_| BillingPolicy::per_second(60)).expect("estimate");
        assert_eq!(e.total_exact, dec("7.7376"));
        assert!(!e.months[0].capped);
        // 30 s is billed as the 60-second minimum: 60 * 0.0104 / 3600.
        let short = CostQuery { duration: BillingDuration::parse("30s").expect("duration"), ..query };
        assert_eq!(estimate(&short, |_| BillingPolicy::per_second(60)).expect("estimate").billed_seconds, 60);
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
        let e = estimate(&query, digitalocean_cpu).expect("estimate");
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
        assert_eq!(
            estimate(&query, |_| BillingPolicy::per_started_hour()).expect("estimate").total,
            dec("6.78")
        );
    }

    #[test]
    fn a_price_near_decimal_max_is_an_error_not_a_panic() {
        let query = CostQuery {
            price_hourly: Decimal::MAX,
            price_monthly: Decimal::MAX,
            count: 1000,
            backups: BackupPlan::Daily,
            start: MID_MARCH,
            duration: BillingDuration::parse("1mo").expect("1mo"),
        };
        let refused = estimate(&query, digitalocean_cpu).expect_err("overflow");
        assert!(matches!(refused, CostError::TooLarge { .. }), "{refused:?}");
        let as_provider_error = ProviderError::from(refused);
        assert_eq!(as_provider_error.code(), crate::ErrorCode::ProviderBadResponse);
        // A huge minimum charge alone does the same.
        let policy = |_| {
            BillingPolicy::per_second_with_monthly_cap(60, Decimal::MAX)
                .with_backup_rates(dec("0.2"), dec("0.3"))
        };
        let tiny = CostQuery { price_hourly: dec("0.01"), price_monthly: dec("1"), count: 5, ..query };
        assert!(estimate(&tiny, policy).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Any decimal, with the extremes (MAX, MIN, the tiniest, the largest scale) often.
        fn any_decimal() -> impl Strategy<Value = Decimal> {
            prop_oneof![
                Just(Decimal::MAX),
                Just(Decimal::MIN),
                Just(Decimal::ZERO),
                Just(Decimal::new(1, 28)),
                Just(Decimal::from_parts(u32::MAX, u32::MAX, u32::MAX, false, 28)),
                (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28).prop_map(
                    |(lo, mid, hi, negative, scale)| Decimal::from_parts(lo, mid, hi, negative, scale)
                ),
            ]
        }

        /// A decimal in `0..=max` (the ceilings' range), with its ends often.
        fn in_range(max: Decimal) -> impl Strategy<Value = Decimal> {
            prop_oneof![
                Just(Decimal::ZERO),
                Just(max),
                (0u64..=u64::MAX, 0u32..=28).prop_map(move |(n, scale)| {
                    let value = Decimal::from_i128_with_scale(i128::from(n), scale);
                    if value > max { max } else { value }
                }),
            ]
        }

        /// Any duration, hand-made (its fields are public), or a parsed one's size.
        fn any_duration() -> impl Strategy<Value = BillingDuration> {
            let months = prop_oneof![0u32..=1200, any::<u32>()];
            let seconds = prop_oneof![0u64..=3_200_000_000, any::<u64>()];
            (months, seconds).prop_map(|(months, seconds)| BillingDuration { months, seconds })
        }

        fn any_time(from: i64, to: i64) -> impl Strategy<Value = OffsetDateTime> {
            (from..=to)
                .prop_map(|t| OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH))
        }

        fn any_policy(money: BoxedStrategy<Decimal>) -> impl Strategy<Value = BillingPolicy> {
            (
                any::<bool>(),
                any::<bool>(),
                prop_oneof![0u64..=3600, any::<u64>()],
                money.clone(),
                money.clone(),
                money,
            )
                .prop_map(|(per_second, cap, minimum_seconds, minimum_charge, weekly, daily)| {
                    let base = if per_second {
                        BillingPolicy::per_second(60)
                    } else {
                        BillingPolicy::per_started_hour()
                    };
                    BillingPolicy {
                        monthly_cap: cap,
                        minimum_seconds,
                        minimum_charge,
                        ..base.with_backup_rates(weekly, daily)
                    }
                })
        }

        fn any_backups() -> impl Strategy<Value = BackupPlan> {
            prop_oneof![Just(BackupPlan::None), Just(BackupPlan::Weekly), Just(BackupPlan::Daily)]
        }

        // 1970 to 2300: spans of any length from there end in the calendar or are refused,
        // without walking hundreds of thousands of months.
        const FROM_1970: i64 = 0;
        const TO_2300: i64 = 10_413_792_000;
        // The calendar's ends (years -9999 and 9999).
        const FIRST: i64 = -377_705_116_800;
        const LAST: i64 = 253_402_300_799;

        proptest! {
            #[test]
            fn no_figure_and_no_span_panics_the_engine(
                price_hourly in any_decimal(),
                price_monthly in any_decimal(),
                count in any::<u32>(),
                backups in any_backups(),
                start in any_time(FROM_1970, TO_2300),
                duration in any_duration(),
                policy in any_policy(any_decimal().boxed()),
            ) {
                let query = CostQuery { price_hourly, price_monthly, count, backups, start, duration };
                let _ = policy_instants(&query);
                if let Ok(e) = estimate(&query, |_| policy.clone()) {
                    let _ = to_cents(e.total_exact);
                }
            }

            #[test]
            fn the_calendar_ends_are_reached_without_a_panic_or_an_endless_walk(
                start in any_time(FIRST, LAST),
                months in 0u32..=3,
                seconds in 0u64..=10_000_000,
                price in any_decimal(),
            ) {
                let query = CostQuery {
                    price_hourly: price,
                    price_monthly: price,
                    count: 1,
                    backups: BackupPlan::Weekly,
                    start,
                    duration: BillingDuration { months, seconds },
                };
                // At most 3 months and 116 days: eight months touched, at most.
                prop_assert!(policy_instants(&query).len() <= 8);
                if let Ok(e) = estimate(&query, digitalocean_cpu) {
                    prop_assert!(e.months.len() <= 8);
                }
            }

            #[test]
            fn cents_of_any_decimal_are_a_decimal(amount in any_decimal()) {
                let _ = to_cents(amount);
            }

            /// The ceilings are low enough: in-range prices, policies that pass their check, up
            /// to 1,000 instances and 100 years from 2000-2200 always give an estimate.
            #[test]
            fn figures_within_the_ceilings_always_compute(
                price_hourly in in_range(money::MAX_PRICE_HOURLY),
                price_monthly in in_range(money::MAX_PRICE_MONTHLY),
                count in 1u32..=1000,
                backups in any_backups(),
                start in any_time(946_684_800, 7_258_118_400),
                months in 0u32..=1200,
                seconds in 0u64..=3_155_760_000,
                minimum_charge in in_range(money::MAX_MINIMUM_CHARGE),
                rate in in_range(money::MAX_BACKUP_RATE),
            ) {
                let policy = BillingPolicy {
                    minimum_charge,
                    ..BillingPolicy::per_second(60).with_backup_rates(rate, rate)
                };
                prop_assert!(policy.check_figures().is_ok());
                let duration = BillingDuration { months, seconds: if months == 0 { seconds.max(1) } else { seconds } };
                let query = CostQuery { price_hourly, price_monthly, count, backups, start, duration };
                let estimate = estimate(&query, |_| policy.clone());
                prop_assert!(estimate.is_ok(), "{:?}", estimate);
                prop_assert!(estimate.map(|e| e.total_exact >= Decimal::ZERO).unwrap_or(false));
            }
        }
    }
}
