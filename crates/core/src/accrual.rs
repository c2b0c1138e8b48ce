//! Cost as it accrues: what an instance has cost so far in one calendar month, as a function of
//! the seconds it was billed in that month, so that a lifetime cut into pieces (hours, days, the
//! spans between two looks at the inventory) costs exactly what [`crate::cost::estimate`] says
//! for the whole.
//!
//! The rule is the estimator's, written cumulatively: within a month, `charge(s)` is the metered
//! charge of `s` billed seconds (per second, or per started hour), raised to the policy's minimum
//! in the month the instance was created, and capped at the monthly price when the policy caps.
//! A piece of `d` seconds after `s` already billed costs `charge(s + d) - charge(s)`; the pieces
//! of a month add up to `charge(total)`, which is the estimator's month. Pure arithmetic in
//! `Decimal`, checked; never rounded here (rounding is once, per shown figure).
//!
//! One difference from the estimator, written down: the estimator raises a whole lifetime that
//! costs less than the minimum to it in its first month; here the minimum is applied within the
//! creation month only, which differs only for an instance that lives less than the minimum's
//! time across a month's end.

use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::cost::{BackupPlan, BillingPolicy, CostError, Metering, month_start};
use crate::duration::add_months;

const SECONDS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);

/// What one instance's price and policy make of billed seconds within one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlyRate {
    pub price_hourly: Decimal,
    pub price_monthly: Decimal,
    pub policy: BillingPolicy,
    /// Whether the instance was created in this month (the minimum applies).
    pub creation_month: bool,
    /// Its backups, charged as a share of its charge.
    pub backups: BackupPlan,
}

impl MonthlyRate {
    /// The charge for `seconds` billed in the month so far, backups included.
    pub fn charge(&self, seconds: u64) -> Result<Decimal, CostError> {
        let compute =
            charge(&self.policy, self.price_hourly, self.price_monthly, self.creation_month, seconds)?;
        with_backups(compute, &self.policy, self.backups)
    }

    /// What `more` seconds cost after `already` seconds billed this month, backups included.
    pub fn piece(&self, already: u64, more: u64) -> Result<Decimal, CostError> {
        let compute =
            piece(&self.policy, self.price_hourly, self.price_monthly, self.creation_month, already, more)?;
        with_backups(compute, &self.policy, self.backups)
    }
}

/// A compute charge with the backups of `plan` added: on DigitalOcean's basic plans 20 %
/// (weekly) or 30 % (daily) of the droplet's charge for the same time, its minimum and cap
/// included ("Backups Pricing", validated 2026-03-09), so the surcharge of a piece is the same
/// share of the piece and the pieces of a month add up to the month's surcharge.
pub fn with_backups(
    compute: Decimal,
    policy: &BillingPolicy,
    plan: BackupPlan,
) -> Result<Decimal, CostError> {
    let rate = policy.backup_rate(plan);
    if rate.is_zero() {
        return Ok(compute);
    }
    compute
        .checked_mul(rate)
        .and_then(|surcharge| compute.checked_add(surcharge))
        .ok_or(CostError::TooLarge { figure: "backup charge" })
}

/// [`MonthlyRate::charge`] without building a rate (the policy borrowed, for hot loops).
pub fn charge(
    policy: &BillingPolicy,
    price_hourly: Decimal,
    price_monthly: Decimal,
    creation_month: bool,
    seconds: u64,
) -> Result<Decimal, CostError> {
    if seconds == 0 {
        return Ok(Decimal::ZERO);
    }
    let too_large = |figure| CostError::TooLarge { figure };
    let metered = match policy.metering {
        Metering::PerSecond => price_hourly
            .checked_mul(Decimal::from(seconds))
            .and_then(|m| m.checked_div(SECONDS_PER_HOUR))
            .ok_or(too_large("metered charge"))?,
        Metering::PerStartedHour => price_hourly
            .checked_mul(Decimal::from(seconds.div_ceil(3600)))
            .ok_or(too_large("metered charge"))?,
    };
    let mut charge = metered;
    if creation_month {
        let minimum = price_hourly
            .checked_mul(Decimal::from(policy.minimum_seconds))
            .and_then(|m| m.checked_div(SECONDS_PER_HOUR))
            .ok_or(too_large("minimum charge"))?
            .max(policy.minimum_charge);
        charge = charge.max(minimum);
    }
    if policy.monthly_cap && charge > price_monthly {
        charge = price_monthly;
    }
    Ok(charge)
}

/// [`MonthlyRate::piece`] without building a rate.
pub fn piece(
    policy: &BillingPolicy,
    price_hourly: Decimal,
    price_monthly: Decimal,
    creation_month: bool,
    already: u64,
    more: u64,
) -> Result<Decimal, CostError> {
    let after = charge(policy, price_hourly, price_monthly, creation_month, already.saturating_add(more))?;
    let before = charge(policy, price_hourly, price_monthly, creation_month, already)?;
    after.checked_sub(before).ok_or(CostError::TooLarge { figure: "accrued charge" })
}

/// The first moment of the hour `t` is in (UTC).
pub fn hour_start(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT))
}

/// `[from, until)` cut at every hour's start: each piece lies within one hour (and so within one
/// month). Empty when `until <= from`.
pub fn hourly_pieces(from: OffsetDateTime, until: OffsetDateTime) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut pieces = Vec::new();
    let mut cursor = from;
    while cursor < until {
        let next = (hour_start(cursor) + time::Duration::HOUR).min(until);
        pieces.push((cursor, next));
        cursor = next;
    }
    pieces
}

/// The first moment of the month after the one `t` is in.
pub fn next_month_start(t: OffsetDateTime) -> Option<OffsetDateTime> {
    add_months(month_start(t), 1)
}

/// Seconds between two instants, 0 when `until` is not after `from`.
pub fn seconds_between(from: OffsetDateTime, until: OffsetDateTime) -> u64 {
    u64::try_from((until - from).whole_seconds()).unwrap_or(0)
}

/// What an instance billed at `rate_at` (the rate of the month given its start) costs from `now`
/// to `end` if it keeps running, with `billed_this_month` seconds already billed in `now`'s
/// month: the rest of this month, then whole months (each capped, as the policy says), then the
/// part of the last month. The forecast of a budget adds this to what was spent.
pub fn cost_to(
    now: OffsetDateTime,
    end: OffsetDateTime,
    billed_this_month: u64,
    rate_at: impl Fn(OffsetDateTime) -> MonthlyRate,
) -> Result<Decimal, CostError> {
    let mut total = Decimal::ZERO;
    let mut cursor = now;
    let mut already = billed_this_month;
    while cursor < end {
        let month_end = next_month_start(cursor).map_or(end, |next| next.min(end));
        let rate = rate_at(month_start(cursor));
        let piece = rate.piece(already, seconds_between(cursor, month_end))?;
        total = total.checked_add(piece).ok_or(CostError::TooLarge { figure: "forecast" })?;
        already = 0;
        cursor = month_end;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use time::macros::datetime;

    use super::*;
    use crate::cost::{BackupPlan, CostQuery, estimate};
    use crate::duration::BillingDuration;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn droplet(creation_month: bool) -> MonthlyRate {
        MonthlyRate {
            price_hourly: dec("0.00893"),
            price_monthly: dec("6"),
            policy: BillingPolicy::per_second_with_monthly_cap(60, dec("0.01"))
                .with_backup_rates(dec("0.20"), dec("0.30")),
            creation_month,
            backups: BackupPlan::None,
        }
    }

    #[test]
    fn pieces_of_a_month_add_up_to_the_estimators_month() {
        let rate = droplet(true);
        // 10 h 30 min cut at every hour: 0.00893 * 37800 / 3600 = 0.093765.
        let start = datetime!(2026-03-10 12:20 UTC);
        let end = datetime!(2026-03-10 22:50 UTC);
        let mut billed = 0;
        let mut total = Decimal::ZERO;
        for (a, b) in hourly_pieces(start, end) {
            let s = seconds_between(a, b);
            total += rate.piece(billed, s).expect("piece");
            billed += s;
        }
        assert_eq!(total, dec("0.093765"));
        let query = CostQuery {
            price_hourly: dec("0.00893"),
            price_monthly: dec("6"),
            count: 1,
            backups: BackupPlan::None,
            start,
            duration: BillingDuration::from_seconds(37_800),
        };
        let whole = estimate(&query, |_| rate.policy.clone()).expect("estimate");
        assert_eq!(total, whole.total_exact);
    }

    #[test]
    fn the_minimum_is_charged_by_the_first_piece_and_the_cap_stops_the_last() {
        let rate = droplet(true);
        // 30 s: the minimum, max(60 s * 0.00893 / 3600, 0.01) = 0.01.
        assert_eq!(rate.piece(0, 30).expect("piece"), dec("0.01"));
        // Past 672 h the month costs the monthly price and no more.
        assert_eq!(rate.charge(700 * 3600).expect("charge"), dec("6"));
        assert_eq!(rate.piece(700 * 3600, 3600).expect("piece"), Decimal::ZERO);
        // A month after creation has no minimum.
        assert_eq!(droplet(false).piece(0, 30).expect("piece"), dec("0.0000744166666666666666666667"));
    }

    #[test]
    fn cost_to_a_quarters_end_caps_each_month() {
        // From 2026-02-20 00:00 (240 h into February already billed 19 days = 456 h) to 2026-04-01:
        // February's rest: 672 h cap -> 6 - 456 * 0.00893 = 6 - 4.07208 = 1.92792; March: 6.
        let total =
            cost_to(datetime!(2026-02-20 00:00 UTC), datetime!(2026-04-01 00:00 UTC), 456 * 3600, |_| {
                droplet(false)
            })
            .expect("forecast");
        assert_eq!(total, dec("7.92792"));
    }

    // Hand-checked against DigitalOcean's rule (backups cost 20 % weekly, 30 % daily of the
    // droplet's charge for the same time): 10 h 30 min of s-1vcpu-2gb is 0.00893 x 37800 / 3600
    // = 0.093765; daily backups add 0.0281295 = 0.1218945; weekly add 0.018753 = 0.112518. A
    // whole month is capped at $6 before the surcharge: 7.80 daily, 7.20 weekly.
    #[test]
    fn backups_add_their_share_of_every_piece_and_of_the_capped_month() {
        let daily = MonthlyRate { backups: BackupPlan::Daily, ..droplet(true) };
        let weekly = MonthlyRate { backups: BackupPlan::Weekly, ..droplet(true) };
        let mut billed = 0;
        let (mut d, mut w) = (Decimal::ZERO, Decimal::ZERO);
        for (a, b) in hourly_pieces(datetime!(2026-03-10 12:20 UTC), datetime!(2026-03-10 22:50 UTC)) {
            let s = seconds_between(a, b);
            d += daily.piece(billed, s).expect("piece");
            w += weekly.piece(billed, s).expect("piece");
            billed += s;
        }
        assert_eq!(d, dec("0.1218945"));
        assert_eq!(w, dec("0.112518"));
        assert_eq!(daily.charge(744 * 3600).expect("month"), dec("7.80"));
        assert_eq!(weekly.charge(744 * 3600).expect("month"), dec("7.20"));
        // The minimum of a 30-second life carries its surcharge too: 0.01 x 1.3.
        assert_eq!(daily.piece(0, 30).expect("piece"), dec("0.013"));
        // Without backups nothing is added, whatever the policy's rates.
        assert_eq!(droplet(true).charge(744 * 3600).expect("month"), dec("6"));
        // The estimator says the same for the whole span.
        let query = CostQuery {
            price_hourly: dec("0.00893"),
            price_monthly: dec("6"),
            count: 1,
            backups: BackupPlan::Daily,
            start: datetime!(2026-03-10 12:20 UTC),
            duration: BillingDuration::from_seconds(37_800),
        };
        assert_eq!(estimate(&query, |_| daily.policy.clone()).expect("estimate").total_exact, d);
    }

    #[test]
    fn hour_pieces_split_at_every_hour() {
        let pieces = hourly_pieces(datetime!(2026-03-31 23:30 UTC), datetime!(2026-04-01 01:10 UTC));
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[1], (datetime!(2026-04-01 00:00 UTC), datetime!(2026-04-01 01:00 UTC)));
    }
}
