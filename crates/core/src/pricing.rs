//! What resources other than instances cost: a price list a provider hands over, each figure
//! with its source, date and how sure it is, and the one rule that turns a resource and that
//! list into a price per hour.
//!
//! Pure arithmetic in `Decimal`, checked: a figure too large to compute with is an error, never
//! a panic.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::resource::{Resource, ResourceKind, VolumeStatus};

/// Hours in the month a per-month price is spread over (DigitalOcean and AWS both bill a
/// monthly figure as 730 hours: 8,760 / 12).
pub const HOURS_PER_MONTH: Decimal = Decimal::from_parts(730, 0, 0, false, 0);

/// What a price is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    /// Per GiB of size per month (volumes, snapshots).
    GibMonth,
    /// Per resource per hour (EC2 public IPv4).
    Hour,
    /// Per resource per month (DigitalOcean's unassigned reserved IP).
    Month,
}

/// When a price applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Billable {
    /// Whenever the resource exists.
    Always,
    /// Only while it is attached or assigned to nothing (a reserved IP on DigitalOcean).
    Unassigned,
}

/// How sure a figure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// The vendor's own page or API.
    Primary,
    /// A third party quoting or deriving the vendor's figure.
    Secondary,
    /// No source found: an assumption, said so wherever it is used.
    Assumed,
}

/// One price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePrice {
    pub kind: ResourceKind,
    /// `None`: every region.
    pub region: Option<String>,
    /// A variant of the kind (EBS `gp3`, `gp2`); `None`: any.
    pub variant: Option<String>,
    pub unit: PriceUnit,
    pub amount: Decimal,
    pub billable: Billable,
    pub currency: String,
    /// Where the figure comes from (a URL or a document), and when it was read (`2026-12-02`).
    pub source: String,
    pub as_of: String,
    pub grade: Grade,
}

/// What a resource's price depends on: its kind, region, variant and size, and whether it is
/// attached or assigned to nothing. A resource has one ([`PriceKey::of`]); so has a create of
/// one, before it exists (the guardrail prices it so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceKey<'a> {
    pub kind: ResourceKind,
    pub region: Option<&'a str>,
    pub variant: Option<&'a str>,
    pub size_gib: Option<Decimal>,
    pub unassigned: bool,
}

impl<'a> PriceKey<'a> {
    /// What `resource` is priced by.
    pub fn of(resource: &'a Resource) -> Self {
        let (region, variant, size_gib, unassigned) = match resource {
            Resource::Volume(v) => (
                Some(v.region.as_str()),
                v.volume_type.as_deref(),
                Some(Decimal::from(v.size_gib)),
                v.attached_to.is_empty() && v.status != VolumeStatus::InUse,
            ),
            Resource::Snapshot(s) => (s.regions.first().map(String::as_str), None, Some(s.size_gib), true),
            Resource::ReservedIp(ip) => (Some(ip.region.as_str()), None, None, ip.assigned_to.is_none()),
            Resource::SshKey(_) | Resource::Firewall(_) => (None, None, None, false),
            Resource::Vpc(v) => (Some(v.region.as_str()), None, None, false),
        };
        Self { kind: resource.kind(), region, variant, size_gib, unassigned }
    }
}

/// The price of `resource`, per hour, from `prices`: `Ok(None)` when nothing in the list applies
/// to it (free, or unknown: the list says which by having no entry), an error when the figures
/// cannot be computed with.
pub fn hourly_price<'a>(
    resource: &Resource,
    prices: &'a [ResourcePrice],
) -> Result<Option<(Decimal, &'a ResourcePrice)>, String> {
    hourly_price_of(&PriceKey::of(resource), prices)
}

/// [`hourly_price`] of whatever `key` describes.
pub fn hourly_price_of<'a>(
    key: &PriceKey<'_>,
    prices: &'a [ResourcePrice],
) -> Result<Option<(Decimal, &'a ResourcePrice)>, String> {
    // The most specific entry wins: region and variant, then region, then variant, then any.
    let applies = |p: &&ResourcePrice| {
        p.kind == key.kind
            && p.region.as_deref().is_none_or(|r| Some(r) == key.region)
            && p.variant.as_deref().is_none_or(|v| Some(v) == key.variant)
            && (p.billable == Billable::Always || key.unassigned)
    };
    let Some(price) = prices.iter().filter(applies).max_by_key(|p| (p.region.is_some(), p.variant.is_some()))
    else {
        return Ok(None);
    };
    if price.amount.is_sign_negative() {
        return Err(format!("a negative price for {} ({})", key.kind, price.amount));
    }
    let too_large = || format!("the price of a {} is too large to compute", key.kind);
    let hourly = match price.unit {
        PriceUnit::Hour => price.amount,
        PriceUnit::Month => price.amount.checked_div(HOURS_PER_MONTH).ok_or_else(too_large)?,
        PriceUnit::GibMonth => {
            let size = key.size_gib.ok_or_else(|| format!("{} has no size to price per GiB", key.kind))?;
            price
                .amount
                .checked_mul(size)
                .ok_or_else(too_large)?
                .checked_div(HOURS_PER_MONTH)
                .ok_or_else(too_large)?
        }
    };
    Ok(Some((hourly, price)))
}

/// What something priced at `hourly` costs from `from` until `until` (UTC): its hours in each
/// calendar month it touches at `hourly`, each month at most the monthly figure
/// (`hourly` x [`HOURS_PER_MONTH`]), as both clouds cap an hourly charge at the month's price.
/// Counted to the second; nothing before `from` or after `until`.
pub fn charge_between(
    hourly: Decimal,
    from: time::OffsetDateTime,
    until: time::OffsetDateTime,
) -> Result<Decimal, String> {
    let too_large = || "the charge is too large to compute".to_owned();
    let monthly = hourly.checked_mul(HOURS_PER_MONTH).ok_or_else(too_large)?;
    let mut total = Decimal::ZERO;
    let mut cursor = from.to_offset(time::UtcOffset::UTC);
    let until = until.to_offset(time::UtcOffset::UTC);
    while cursor < until {
        let next_month = crate::cost::month_start(cursor)
            .replace_day(1)
            .ok()
            .and_then(|start| {
                let (year, month) = match start.month() {
                    time::Month::December => (start.year() + 1, time::Month::January),
                    m => (start.year(), m.next()),
                };
                start.replace_year(year).ok()?.replace_month(month).ok()
            })
            .ok_or_else(|| "a span past the calendar".to_owned())?;
        let end = next_month.min(until);
        let seconds = Decimal::from((end - cursor).whole_seconds());
        let in_month = hourly
            .checked_mul(seconds)
            .ok_or_else(too_large)?
            .checked_div(Decimal::from(3600))
            .ok_or_else(too_large)?
            .min(monthly);
        total = total.checked_add(in_month).ok_or_else(too_large)?;
        cursor = end;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use time::OffsetDateTime;

    use super::*;
    use crate::resource::{ReservedIp, ResourceId, Volume};

    fn price(kind: ResourceKind, unit: PriceUnit, amount: &str, billable: Billable) -> ResourcePrice {
        ResourcePrice {
            kind,
            region: None,
            variant: None,
            unit,
            amount: amount.parse().expect("decimal"),
            billable,
            currency: "USD".into(),
            source: "test".into(),
            as_of: "2026-12-02".into(),
            grade: Grade::Secondary,
        }
    }

    fn volume(size: u64, attached: bool) -> Resource {
        Resource::Volume(Volume {
            id: ResourceId("v".into()),
            name: "v".into(),
            region: "nyc1".into(),
            size_gib: size,
            status: if attached { VolumeStatus::InUse } else { VolumeStatus::Available },
            provider_status: String::new(),
            attached_to: if attached { vec![crate::InstanceId("1".into())] } else { vec![] },
            volume_type: None,
            description: None,
            tags: vec![],
            created_at: OffsetDateTime::UNIX_EPOCH,
        })
    }

    #[test]
    fn a_volume_costs_its_size_per_gib_month_attached_or_not() {
        let prices = [price(ResourceKind::Volume, PriceUnit::GibMonth, "0.10", Billable::Always)];
        let (hourly, _) = hourly_price(&volume(100, false), &prices).expect("priced").expect("a price");
        // $10 a month over 730 hours (the division rounds in the 28th digit).
        assert_eq!((hourly * HOURS_PER_MONTH).round_dp(12), "10".parse::<Decimal>().expect("decimal"));
        assert!(hourly_price(&volume(100, true), &prices).expect("priced").is_some());
    }

    #[test]
    fn an_unassigned_price_applies_only_to_what_is_unassigned() {
        let prices = [price(ResourceKind::ReservedIp, PriceUnit::Month, "5.00", Billable::Unassigned)];
        let ip = |assigned: Option<&str>| {
            Resource::ReservedIp(ReservedIp {
                id: ResourceId("203.0.113.7".into()),
                address: "203.0.113.7".parse::<IpAddr>().expect("ip"),
                region: "nyc1".into(),
                assigned_to: assigned.map(|i| crate::InstanceId(i.into())),
                locked: false,
                tags: vec![],
                created_at: None,
            })
        };
        assert!(hourly_price(&ip(None), &prices).expect("priced").is_some());
        assert!(hourly_price(&ip(Some("1")), &prices).expect("priced").is_none(), "assigned IPs are free");
    }

    fn cents(amount: Decimal) -> String {
        crate::cost::to_cents(amount).to_string()
    }

    // Hand-checked: $0.10 per GiB-month x 100 GiB = $10.00 a month = 10/730 an hour. From
    // 2027-01-15 for 45 days: January's 17 days (408 h) = $5.589..., February's 28 days (672 h)
    // = $9.205... (under the $10.00 cap); in all 1,080 h x 10/730 = $14.7945... = $14.79.
    #[test]
    fn a_100_gib_volume_for_45_days_from_2027_01_15_costs_14_79() {
        let prices = [price(ResourceKind::Volume, PriceUnit::GibMonth, "0.10", Billable::Always)];
        let (hourly, _) = hourly_price(&volume(100, true), &prices).expect("priced").expect("a price");
        let from = time::macros::datetime!(2027-01-15 00:00 UTC);
        let total = charge_between(hourly, from, from + time::Duration::days(45)).expect("charge");
        assert_eq!(cents(total), "14.79");
        assert_eq!(cents(hourly * HOURS_PER_MONTH), "10.00");
    }

    // Hand-checked: an unassigned reserved IP at $5.00 a month. January 2027 has 744 hours:
    // 744 x 5/730 = $5.0958..., capped at the month's $5.00. A 730-hour month is $5.00 too.
    #[test]
    fn an_unassigned_reserved_ip_for_a_month_costs_5_00() {
        let prices = [price(ResourceKind::ReservedIp, PriceUnit::Month, "5.00", Billable::Unassigned)];
        let ip = Resource::ReservedIp(ReservedIp {
            id: ResourceId("203.0.113.7".into()),
            address: "203.0.113.7".parse::<IpAddr>().expect("ip"),
            region: "nyc1".into(),
            assigned_to: None,
            locked: false,
            tags: vec![],
            created_at: None,
        });
        let (hourly, _) = hourly_price(&ip, &prices).expect("priced").expect("a price");
        let january = time::macros::datetime!(2027-01-01 00:00 UTC);
        let february = time::macros::datetime!(2027-02-01 00:00 UTC);
        assert_eq!(cents(charge_between(hourly, january, february).expect("charge")), "5.00");
        assert_eq!(cents(hourly * HOURS_PER_MONTH), "5.00");
    }

    // Hand-checked: gp3 in eu-west-1 at $0.088 per GB-month x 200 GB = $17.60 a month; a day is
    // 24 h x 17.60/730 = $0.5786... = $0.58. (AWS's own worked example spreads a GB-month over
    // a 30-day month, which would make it $0.5867 = $0.59: the 730-hour month is our rule and
    // is named in the answers' assumptions.)
    #[test]
    fn gp3_200_gb_in_eu_west_1_for_a_day_costs_0_58() {
        let gp3 = ResourcePrice {
            region: Some("eu-west-1".into()),
            variant: Some("gp3".into()),
            ..price(ResourceKind::Volume, PriceUnit::GibMonth, "0.088", Billable::Always)
        };
        let gp2 = ResourcePrice {
            region: Some("eu-west-1".into()),
            variant: Some("gp2".into()),
            ..price(ResourceKind::Volume, PriceUnit::GibMonth, "0.11", Billable::Always)
        };
        let Resource::Volume(mut ebs) = volume(200, true) else { unreachable!() };
        ebs.region = "eu-west-1".into();
        ebs.volume_type = Some("gp3".into());
        let table = [gp2, gp3];
        let (hourly, used) = hourly_price(&Resource::Volume(ebs), &table).expect("priced").expect("a price");
        assert_eq!(used.variant.as_deref(), Some("gp3"));
        let from = time::macros::datetime!(2027-03-10 00:00 UTC);
        let day = charge_between(hourly, from, from + time::Duration::days(1)).expect("charge");
        assert_eq!(cents(day), "0.58");
    }

    #[test]
    fn figures_too_large_or_negative_are_errors_not_panics() {
        let huge =
            [price(ResourceKind::Volume, PriceUnit::GibMonth, &Decimal::MAX.to_string(), Billable::Always)];
        assert!(hourly_price(&volume(16_384, false), &huge).is_err());
        let negative = [price(ResourceKind::Volume, PriceUnit::GibMonth, "-1", Billable::Always)];
        assert!(hourly_price(&volume(1, false), &negative).is_err());
    }
}
