//! How DigitalOcean bills droplets (docs.digitalocean.com, "Droplet Pricing", validated 2026-05-28;
//! "Backups Pricing", validated 2026-03-09; see `spec/digitalocean/README.md`).

use std::str::FromStr;

use nephele_core::{BillingPolicy, InstanceType};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::macros::datetime;

/// Per-second billing began on this day; before it, droplets were billed per started hour.
const PER_SECOND_SINCE: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

/// The policy for a droplet size in the month that contains `at`.
pub fn policy(instance_type: &InstanceType, at: OffsetDateTime) -> BillingPolicy {
    let prices = "Prices are DigitalOcean's list prices from /v2/sizes, in USD; taxes, transfer beyond the pooled allowance ($0.01/GiB), volumes and snapshots are not included.";
    let months = "The span is walked calendar month by calendar month in UTC from the start.";
    if instance_type.gpus > 0 {
        return BillingPolicy::per_started_hour()
            .assuming("GPU droplets are priced per hour: every started hour is billed, with no monthly cap.")
            .assuming(prices)
            .assuming(months);
    }
    let backups = "Backups add 20% (weekly) or 30% (daily) of the droplet's charge for the same period, as on the Basic plans.";
    let cap = "Each calendar month's charge is capped at the monthly price (672 hours). DigitalOcean's sources do not say whether this cap survives per-second billing; this estimate assumes it does.";
    if at >= PER_SECOND_SINCE {
        BillingPolicy::per_second_with_monthly_cap(60, dec("0.01"))
            .with_backup_rates(dec("0.20"), dec("0.30"))
            .assuming("Since 2026-01-01 CPU droplets are billed per second, with a minimum of 60 seconds or $0.01 per droplet, whichever is higher.")
            .assuming(cap)
            .assuming(backups)
            .assuming(prices)
            .assuming(months)
    } else {
        BillingPolicy::hourly_with_monthly_cap()
            .with_backup_rates(dec("0.20"), dec("0.30"))
            .assuming("Before 2026 droplets were billed per started hour, capped at 672 hours (the monthly price) per month.")
            .assuming(backups)
            .assuming(prices)
            .assuming(months)
    }
}
