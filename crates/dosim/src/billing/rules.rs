//! DigitalOcean's billing rules, all in one place: what each stretch of each resource's life
//! costs.
//!
//! Every rule names its source and grade, from `shared/facts-resources.md` section 1.1:
//! **P** primary (DigitalOcean's own page or spec), **S** secondary (a third party quoting
//! DigitalOcean), **U** unverified (no source found: an assumption of this simulator, also
//! written down in the README so that Nephele can make the same one). Prices are the
//! simulator's own catalogue ([`crate::catalog`]).
//!
//! Amounts are exact `Decimal`s: each charge multiplies before it divides (one rounding, in the
//! 28th digit) and nothing is rounded to cents here but by [`to_cents`], which is applied only
//! where DigitalOcean shows an amount. This module never reads a clock or the world: it is
//! arithmetic on whole seconds and prices, and must stay that way so that it can be checked by
//! hand.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::catalog::{self, SizeSpec};
use crate::state::lifetime::BackupPlan;

/// 2026-01-01T00:00:00Z as Unix seconds. Rule (P, docs "Droplet Pricing", validated
/// 2026-05-28): since this day CPU droplets are billed per second; before it, per started hour.
pub const PER_SECOND_SINCE: i64 = 1_767_225_600;

pub const SECONDS_PER_HOUR: i64 = 3_600;

/// Rule (P for the figure, from `/v2/sizes` and the pre-2026 docs): a droplet's hourly price is
/// its monthly price over 672 hours (four weeks), and 672 hours cost the monthly price.
pub const DROPLET_HOURS_PER_MONTH: i64 = 672;

/// Rule (U, the brief's choice, as Nephele's estimator's `HOURS_PER_MONTH`): what is priced "per
/// month" but not a droplet (volumes, snapshots, reserved IPs) accrues over a 730-hour month
/// (8,760 h / 12), per second: `monthly × seconds / 2,628,000`.
pub const SECONDS_PER_PRICE_MONTH: i64 = 730 * SECONDS_PER_HOUR;

/// Rule (P, "Droplet Pricing"): a per-second droplet is billed at least 60 seconds or $0.01,
/// whichever is higher.
pub const DROPLET_MINIMUM_SECONDS: i64 = 60;
pub const DROPLET_MINIMUM_CHARGE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Rule (P, "Backups Pricing", validated 2026-03-09): backups on the basic plans cost 20 %
/// (weekly) or 30 % (daily) of the droplet's cost.
pub const WEEKLY_BACKUP_RATE: Decimal = Decimal::from_parts(20, 0, 0, false, 2);
pub const DAILY_BACKUP_RATE: Decimal = Decimal::from_parts(30, 0, 0, false, 2);

/// Rule (P, snapshots pricing page): a snapshot is charged at least $0.01.
pub const SNAPSHOT_MINIMUM_CHARGE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// How a droplet's time turns into money in one calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// Every second at `hourly × seconds / 3600`.
    PerSecond,
    /// Every started hour in full.
    PerStartedHour,
}

fn cents(cents: u64) -> Decimal {
    Decimal::from(cents) / Decimal::ONE_HUNDRED
}

/// Rounds money to cents, half away from zero, always with two places (`6.00`). The only
/// rounding to cents there is; applied only where an amount is shown.
pub fn to_cents(amount: Decimal) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded
}

/// A size's monthly price in USD.
pub fn monthly_price(size: &SizeSpec) -> Decimal {
    cents(size.monthly_cents)
}

/// A size's hourly price as DigitalOcean publishes it in `/v2/sizes`: monthly / 672, rounded
/// half away from zero to five places ($6 -> 0.00893). Per-second and per-hour charges use this
/// published figure, as Nephele's estimator does.
pub fn hourly_price(size: &SizeSpec) -> Decimal {
    (monthly_price(size) / Decimal::from(DROPLET_HOURS_PER_MONTH))
        .round_dp_with_strategy(5, RoundingStrategy::MidpointAwayFromZero)
}

/// How a droplet of `size` is metered in the month starting at `month_start` (Unix seconds).
/// Rules: GPU droplets are priced per hour (P, "Droplet Pricing"), billed per started hour (U);
/// CPU droplets per second from 2026-01-01 (P) and per started hour before (P).
pub fn metering(size: &SizeSpec, month_start: i64) -> Metering {
    if size.gpu.is_some() || month_start < PER_SECOND_SINCE {
        Metering::PerStartedHour
    } else {
        Metering::PerSecond
    }
}

/// What a droplet of `size` costs for `seconds` of one calendar month, before any minimum.
/// Rule (P before 2026, U since): a CPU droplet's charge in a calendar month is capped at its
/// monthly price (672 hours); whether the cap survives per-second billing is not stated, and
/// this simulator assumes it does. GPU droplets have no cap (U).
pub fn droplet_charge(size: &SizeSpec, seconds: i64, month_start: i64) -> Decimal {
    let hourly = hourly_price(size);
    let metered = match metering(size, month_start) {
        Metering::PerSecond => hourly * Decimal::from(seconds) / Decimal::from(SECONDS_PER_HOUR),
        Metering::PerStartedHour => hourly * Decimal::from(started_hours(seconds)),
    };
    if size.gpu.is_some() { metered } else { metered.min(monthly_price(size)) }
}

/// Hours begun in `seconds`: every started hour counts.
pub fn started_hours(seconds: i64) -> i64 {
    (seconds.max(0) + SECONDS_PER_HOUR - 1) / SECONDS_PER_HOUR
}

/// The least a droplet of `size` costs in the month it was created (its charges in that month,
/// all sizes together, are raised to this on its creation size). Rules: per second, 60 seconds
/// or $0.01, whichever is higher (P); per started hour, one hour (P: an hour begun is billed).
/// Applied to the creation month alone (U: DigitalOcean does not say how a minimum meets a
/// month boundary; this keeps a closed month's invoice from changing afterwards).
pub fn droplet_minimum(size: &SizeSpec, month_start: i64) -> Decimal {
    let hourly = hourly_price(size);
    match metering(size, month_start) {
        Metering::PerSecond => (hourly * Decimal::from(DROPLET_MINIMUM_SECONDS)
            / Decimal::from(SECONDS_PER_HOUR))
        .max(DROPLET_MINIMUM_CHARGE),
        Metering::PerStartedHour => hourly,
    }
}

/// The share of a droplet's charge its backups add (P, "Backups Pricing").
pub fn backup_rate(plan: BackupPlan) -> Decimal {
    match plan {
        BackupPlan::Weekly => WEEKLY_BACKUP_RATE,
        BackupPlan::Daily => DAILY_BACKUP_RATE,
    }
}

/// What backups cost on a droplet charge `charge` earned over `seconds`, of which
/// `weekly_seconds` had weekly and `daily_seconds` daily backups: the charge times the
/// time-weighted rate, `charge × (0.20 × weekly + 0.30 × daily) / seconds` (P for the rates;
/// U for weighting by time, as the simulator takes no real backups: DigitalOcean charges "each
/// successful backup" as a share of the month's cost).
pub fn backup_charge(charge: Decimal, seconds: i64, weekly_seconds: i64, daily_seconds: i64) -> Decimal {
    if seconds <= 0 {
        return Decimal::ZERO;
    }
    let weighted =
        WEEKLY_BACKUP_RATE * Decimal::from(weekly_seconds) + DAILY_BACKUP_RATE * Decimal::from(daily_seconds);
    charge * weighted / Decimal::from(seconds)
}

/// What `monthly` (USD per month) accrues over `seconds`, on a 730-hour month.
fn per_price_month(monthly: Decimal, seconds: i64) -> Decimal {
    monthly * Decimal::from(seconds) / Decimal::from(SECONDS_PER_PRICE_MONTH)
}

/// A volume of `gib` GiB for `seconds`. Rules: $0.10 per GiB-month (S, quotes of DigitalOcean's
/// volume pricing page); charged "for as long as the volume exists", attached or not (S); the
/// quote says charges accrue hourly, but this simulator accrues per second on a 730-hour month
/// (U: the brief's choice); a resize changes the rate from its moment; no monthly cap (U).
pub fn volume_charge(gib: u64, seconds: i64) -> Decimal {
    per_price_month(cents(catalog::VOLUME_CENTS_PER_GIB_MONTH) * Decimal::from(gib), seconds)
}

/// A droplet or volume snapshot (or custom image) of `centi_gib` hundredths of a GiB for
/// `seconds`. Rules: $0.06 per GiB-month for both kinds, by size (P, snapshots pricing page);
/// per second on a 730-hour month (U); at least $0.01 in its creation month (P for the $0.01,
/// U for where it applies); custom images at the snapshot rate (U).
pub fn snapshot_charge(centi_gib: u64, seconds: i64) -> Decimal {
    let gib = Decimal::from(centi_gib) / Decimal::ONE_HUNDRED;
    per_price_month(cents(catalog::SNAPSHOT_CENTS_PER_GIB_MONTH) * gib, seconds)
}

/// A reserved IPv4 address unassigned for `seconds`. Rules: $5.00 per month while reserved but
/// assigned to nothing (S, quote of DigitalOcean's reserved IP pricing, 2025-06), free while
/// assigned (P); per second on a 730-hour month (U); the quoted "not billed unless you accrue $1
/// or more per reserved IP" is not applied (U).
pub fn unassigned_ip_charge(seconds: i64) -> Decimal {
    per_price_month(cents(catalog::UNASSIGNED_RESERVED_IP_CENTS_PER_MONTH), seconds)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::catalog::size_by_slug;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn size(slug: &str) -> &'static SizeSpec {
        size_by_slug(slug).expect("in catalogue")
    }

    const MARCH_2026: i64 = 1_772_323_200;
    const DECEMBER_2025: i64 = 1_764_547_200;

    #[test]
    fn hourly_prices_are_the_published_five_places() {
        for (slug, hourly) in [
            ("s-1vcpu-512mb-10gb", "0.00595"),
            ("s-1vcpu-1gb", "0.00893"),
            ("s-1vcpu-2gb", "0.01786"),
            ("s-2vcpu-4gb", "0.03571"),
            ("s-8vcpu-16gb", "0.14286"),
            ("gpu-h100x1-80gb", "3.39"),
        ] {
            assert_eq!(hourly_price(size(slug)), dec(hourly), "{slug}");
        }
    }

    #[test]
    fn a_cpu_droplet_costs_its_seconds_up_to_its_monthly_price() {
        // 96 h at 0.00893 = 0.85728; all of March (744 h = 6.64392) is capped at 6.00.
        assert_eq!(droplet_charge(size("s-1vcpu-1gb"), 96 * 3600, MARCH_2026), dec("0.85728"));
        assert_eq!(droplet_charge(size("s-1vcpu-1gb"), 744 * 3600, MARCH_2026), dec("6.00"));
        // 30 s: 0.0000744166..., below the minimum of $0.01 (60 s would be 0.000148833...).
        assert_eq!(to_cents(droplet_charge(size("s-1vcpu-1gb"), 30, MARCH_2026)), dec("0.00"));
        assert_eq!(droplet_minimum(size("s-1vcpu-1gb"), MARCH_2026), dec("0.01"));
    }

    #[test]
    fn before_2026_and_on_gpus_every_started_hour_is_billed() {
        // 1 h 0 min 1 s is two started hours: 2 × 0.00893.
        assert_eq!(droplet_charge(size("s-1vcpu-1gb"), 3601, DECEMBER_2025), dec("0.01786"));
        assert_eq!(droplet_minimum(size("s-1vcpu-1gb"), DECEMBER_2025), dec("0.00893"));
        // 700 started hours are capped at 672 (the monthly price)...
        assert_eq!(droplet_charge(size("s-1vcpu-1gb"), 700 * 3600, DECEMBER_2025), dec("6.00"));
        // ... but a GPU droplet has no cap: 744 h × 3.39 = 2,522.16 (monthly 2,278.08).
        assert_eq!(droplet_charge(size("gpu-h100x1-80gb"), 744 * 3600, MARCH_2026), dec("2522.16"));
        assert_eq!(droplet_charge(size("gpu-h100x1-80gb"), 61, MARCH_2026), dec("3.39"));
    }

    #[test]
    fn backups_are_a_time_weighted_share_of_the_droplet_charge() {
        assert_eq!(backup_charge(dec("6.00"), 100, 100, 0), dec("1.20"));
        assert_eq!(backup_charge(dec("6.00"), 100, 0, 100), dec("1.80"));
        // Half the time weekly, half daily: 6 × (0.2 × 50 + 0.3 × 50) / 100 = 1.50.
        assert_eq!(backup_charge(dec("6.00"), 100, 50, 50), dec("1.50"));
        assert_eq!(backup_charge(dec("6.00"), 100, 0, 0), Decimal::ZERO);
    }

    #[test]
    fn storage_and_addresses_accrue_per_second_on_a_730_hour_month() {
        // 730 h of 100 GiB is exactly $10.00; 744 h (a 31-day month) is 10.1917... with no cap.
        assert_eq!(volume_charge(100, SECONDS_PER_PRICE_MONTH), dec("10.0"));
        assert_eq!(to_cents(volume_charge(100, 744 * 3600)), dec("10.19"));
        // 10 days of 100 GiB: 10 × 864,000 / 2,628,000 = 3.2876712328...
        assert_eq!(to_cents(volume_charge(100, 864_000)), dec("3.29"));
        // A snapshot of 2.5 GiB for 730 h: 0.15; an unassigned address for 15 days: 2.4657...
        assert_eq!(snapshot_charge(250, SECONDS_PER_PRICE_MONTH), dec("0.15"));
        assert_eq!(to_cents(unassigned_ip_charge(15 * 86_400)), dec("2.47"));
    }

    #[test]
    fn cents_round_half_away_from_zero_with_two_places() {
        assert_eq!(to_cents(dec("0.005")).to_string(), "0.01");
        assert_eq!(to_cents(dec("0.00499")).to_string(), "0.00");
        assert_eq!(to_cents(dec("6")).to_string(), "6.00");
        assert_eq!(to_cents(dec("-12.345")).to_string(), "-12.35");
    }
}
