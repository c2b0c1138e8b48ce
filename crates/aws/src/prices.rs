//! The price catalogues shipped with the plugin, and how EC2 bills: instances from
//! `data/ec2-linux-prices.json`, everything else (EBS, snapshots, public IPv4, the free kinds)
//! from `data/ec2-resource-prices.json`, each figure there with its source, date and grade. See
//! `data/README.md` for where they come from.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use nephele_core::money::{self, FigureRefused, MAX_PRICE_HOURLY, MAX_PRICE_MONTHLY, OutOfRange};
use nephele_core::{BillingPolicy, ProviderError, RegionalPrice, ResourcePrice};
use rust_decimal::Decimal;
use serde::Deserialize;

const CATALOGUE: &str = include_str!("../data/ec2-linux-prices.json");
const RESOURCE_PRICES: &str = include_str!("../data/ec2-resource-prices.json");

/// The most any resource price may be in its unit: far above any real one ($0.125 per GB-month
/// is EBS's dearest storage), low enough that no estimate overflows.
const MAX_RESOURCE_PRICE: Decimal = Decimal::from_parts(1_000, 0, 0, false, 0);

/// Hours in AWS's month, as its own calculator counts them (365 x 24 / 12).
const HOURS_PER_MONTH: u32 = 730;

#[derive(Deserialize)]
pub struct Catalogue {
    pub source: Source,
    /// Instance type -> region -> USD per hour. Unknown prices are absent.
    pub prices: BTreeMap<String, BTreeMap<String, Decimal>>,
}

#[derive(Deserialize)]
pub struct Source {
    pub version: String,
    pub updated: String,
}

/// The catalogue, read once. It is part of the binary, so a failure to read it is a build
/// defect that a unit test catches; an empty catalogue stands in rather than a panic.
pub static PRICES: LazyLock<Catalogue> = LazyLock::new(|| {
    serde_json::from_str(CATALOGUE).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the EC2 price catalogue does not parse");
        Catalogue {
            source: Source { version: "none".into(), updated: "none".into() },
            prices: BTreeMap::new(),
        }
    })
});

impl Catalogue {
    /// Every known price of `instance_type`, by region. The file is ours, but it is still data
    /// read at run time: a price outside the money ceilings is refused, naming type and region,
    /// rather than computed with.
    pub fn regional(&self, instance_type: &str) -> Result<BTreeMap<String, RegionalPrice>, ProviderError> {
        let mut prices = BTreeMap::new();
        for (region, hourly) in self.prices.get(instance_type).into_iter().flatten() {
            let field = |what: &str| format!("prices.{instance_type}.{region}.{what}");
            let refused = |e: FigureRefused| {
                ProviderError::invalid_response(format!("the EC2 price catalogue is unusable: {e}"))
            };
            let hourly = money::check(field("hourly"), *hourly, MAX_PRICE_HOURLY).map_err(refused)?;
            let monthly = hourly.checked_mul(Decimal::from(HOURS_PER_MONTH)).ok_or_else(|| {
                refused(FigureRefused {
                    field: field("monthly"),
                    reason: OutOfRange { value: hourly, max: MAX_PRICE_MONTHLY },
                })
            })?;
            let monthly = money::check(field("monthly"), monthly, MAX_PRICE_MONTHLY).map_err(refused)?;
            prices.insert(region.clone(), RegionalPrice { hourly, monthly });
        }
        Ok(prices)
    }
}

#[derive(Deserialize)]
struct ResourcePriceList {
    prices: Vec<ResourcePrice>,
}

/// What EC2 resources cost (`data/ec2-resource-prices.json`). The file is ours, but it is data
/// read at run time: one that does not parse, or a figure out of range, is an unusable answer
/// naming the entry, never a price.
pub fn resource_prices() -> Result<Vec<ResourcePrice>, ProviderError> {
    read_resource_prices(RESOURCE_PRICES)
}

fn read_resource_prices(text: &str) -> Result<Vec<ResourcePrice>, ProviderError> {
    let unusable = |why: String| {
        ProviderError::invalid_response(format!("the EC2 resource price list is unusable: {why}"))
    };
    let list: ResourcePriceList = serde_json::from_str(text).map_err(|e| unusable(e.to_string()))?;
    for (n, price) in list.prices.iter().enumerate() {
        money::check(format!("prices[{n}].amount"), price.amount, MAX_RESOURCE_PRICE)
            .map_err(|e| unusable(e.to_string()))?;
        if price.source.trim().is_empty() || price.as_of.trim().is_empty() {
            return Err(unusable(format!("prices[{n}] has no source or date")));
        }
    }
    Ok(list.prices)
}

/// On-demand Linux instances are billed per second with a one-minute minimum, and have no
/// monthly cap (EC2 pricing documentation).
pub fn billing_policy() -> BillingPolicy {
    let source = &PRICES.source;
    BillingPolicy::per_second(60)
        .free_when_stopped()
        .assuming("On-demand Linux instances are billed per second with a minimum of 60 seconds, with no monthly cap.")
        .assuming("A stopped instance is not billed for its compute (its EBS volumes are), so the fleet's run-rate leaves it out.")
        .assuming(format!(
            "Prices are on-demand Linux list prices in USD per hour from Apache Libcloud {} (updated {}); other operating systems, Spot, Savings Plans and reserved prices differ.",
            source.version, source.updated
        ))
        .assuming("Not included: EBS volumes (gp3 $0.08 per GB-month in us-east-1), data transfer out, and public IPv4 addresses ($0.005 per hour each since 2024-02-01).")
        .assuming("The span is walked calendar month by calendar month in UTC from the start.")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_catalogue_parses_and_knows_t3_micro() {
        assert!(PRICES.prices.len() > 900, "{} types", PRICES.prices.len());
        let t3 = PRICES.regional("t3.micro").expect("in range");
        assert_eq!(t3["us-east-1"].hourly, Decimal::from_str("0.0104").expect("decimal"));
        assert_eq!(t3["us-east-1"].monthly, Decimal::from_str("7.592").expect("decimal"));
        assert!(!t3.contains_key("eu-central-1"), "0.0 in Libcloud means unknown, and is left out");
        assert_eq!(PRICES.source.updated, "2025-03-02");
    }

    #[test]
    fn every_catalogue_price_is_within_the_money_ceilings() {
        for instance_type in PRICES.prices.keys() {
            assert!(PRICES.regional(instance_type).is_ok(), "{instance_type}");
        }
        assert!(billing_policy().check_figures().is_ok());
    }

    #[test]
    fn a_catalogue_price_out_of_range_is_refused_naming_type_and_region() {
        let broken: Catalogue = serde_json::from_str(
            r#"{"source": {"version": "x", "updated": "x"}, "prices": {"t3.micro": {"us-east-1": "-0.5"}, "x1.huge": {"eu-west-1": "79228162514264337593543950335"}}}"#,
        )
        .expect("parses");
        let negative = broken.regional("t3.micro").expect_err("negative");
        assert!(negative.to_string().contains("prices.t3.micro.us-east-1.hourly"), "{negative}");
        assert_eq!(negative.code(), nephele_core::ErrorCode::ProviderBadResponse);
        assert!(broken.regional("x1.huge").is_err());
        assert_eq!(broken.regional("unknown").map(|p| p.len()), Ok(0));
    }

    fn resource(
        kind: &str,
        region: &str,
        variant: Option<&str>,
        size: u64,
        assigned: bool,
    ) -> nephele_core::Resource {
        let json = match kind {
            "volume" => serde_json::json!({"kind": "volume", "id": "vol-1", "name": "data", "region": region,
                "size_gib": size, "status": if assigned { "in_use" } else { "available" }, "provider_status": "",
                "attached_to": if assigned { vec!["i-1"] } else { vec![] }, "volume_type": variant,
                "description": null, "tags": [], "created_at": "2027-01-15T00:00:00Z"}),
            "snapshot" => {
                serde_json::json!({"kind": "snapshot", "id": "snap-1", "name": "s", "source_kind": "volume",
                "source_id": "vol-1", "regions": [region], "size_gib": size.to_string(), "min_disk_gib": size,
                "status": "available", "tags": [], "created_at": "2027-01-15T00:00:00Z"})
            }
            _ => serde_json::json!({"kind": "reserved_ip", "id": "eipalloc-1", "address": "198.51.100.7",
                "region": region, "assigned_to": if assigned { Some("i-1") } else { None }, "locked": false, "tags": []}),
        };
        serde_json::from_value(json).expect("resource")
    }

    #[test]
    fn resource_prices_carry_their_source_date_and_grade() {
        use nephele_core::pricing::{Grade, hourly_price};
        let prices = resource_prices().expect("the shipped list parses");
        assert!(
            prices.iter().all(|p| p.currency == "USD" && p.as_of == "2026-12-02" && !p.source.is_empty())
        );
        // gp3 200 GB in eu-west-1 for a day: 200 x $0.088 / 730 x 24 = $0.5786...
        let (hourly, price) = hourly_price(&resource("volume", "eu-west-1", Some("gp3"), 200, true), &prices)
            .expect("priced")
            .expect("a price");
        assert_eq!((hourly * Decimal::from(24)).round_dp(4), Decimal::from_str("0.5786").expect("decimal"));
        assert_eq!(price.grade, Grade::Secondary);
        // gp2 in us-east-1: 100 GB for a month is $10.
        let (hourly, _) = hourly_price(&resource("volume", "us-east-1", Some("gp2"), 100, false), &prices)
            .expect("priced")
            .expect("a price");
        assert_eq!((hourly * Decimal::from(730)).round_dp(8), Decimal::from(10));
        // Snapshots: $0.05 per GB-month of their size.
        let (hourly, _) = hourly_price(&resource("snapshot", "us-east-1", None, 100, false), &prices)
            .expect("priced")
            .expect("a price");
        assert_eq!((hourly * Decimal::from(730)).round_dp(8), Decimal::from(5));
        // An Elastic IP bills $0.005 an hour whether assigned or not.
        for assigned in [false, true] {
            let (hourly, _) = hourly_price(&resource("reserved_ip", "eu-west-1", None, 0, assigned), &prices)
                .expect("priced")
                .expect("a price");
            assert_eq!(hourly, Decimal::from_str("0.005").expect("decimal"));
        }
        // Elsewhere, and for types without a figure, there is no price.
        for (region, variant) in
            [("ap-south-1", Some("gp3")), ("us-east-1", Some("io2")), ("us-east-1", Some("st1"))]
        {
            let unknown =
                hourly_price(&resource("volume", region, variant, 100, false), &prices).expect("priced");
            assert!(unknown.is_none(), "{region} {variant:?}");
        }
        assert!(
            hourly_price(&resource("reserved_ip", "us-west-2", None, 0, false), &prices)
                .expect("priced")
                .is_none()
        );
        // Key pairs are free by assumption, and say so.
        let key = prices.iter().find(|p| p.kind == nephele_core::ResourceKind::SshKey).expect("key pairs");
        assert_eq!((key.amount, key.grade), (Decimal::ZERO, Grade::Assumed));
    }

    #[test]
    fn a_resource_price_list_out_of_range_is_refused_naming_the_entry() {
        let list = |amount: &str| {
            format!(
                r#"{{"prices": [{{"kind": "volume", "region": null, "variant": null, "unit": "gib_month", "amount": "{amount}", "billable": "always", "currency": "USD", "source": "s", "as_of": "d", "grade": "assumed"}}]}}"#
            )
        };
        assert!(read_resource_prices(&list("0.08")).is_ok());
        let refused = read_resource_prices(&list("-1")).expect_err("negative");
        assert!(refused.to_string().contains("prices[0].amount"), "{refused}");
        assert!(read_resource_prices(&list("1000000")).is_err());
        assert!(read_resource_prices("{\"prices\": 3}").is_err());
    }

    #[test]
    fn the_policy_is_per_second_without_a_cap() {
        let policy = billing_policy();
        assert!(!policy.monthly_cap);
        assert!(policy.free_when_stopped);
        assert_eq!(policy.minimum_seconds, 60);
    }
}
