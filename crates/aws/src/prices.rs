//! The price catalogue shipped with the plugin (`data/ec2-linux-prices.json`, see
//! `data/README.md` for where it comes from), and how EC2 bills.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use nephele_core::money::{self, FigureRefused, MAX_PRICE_HOURLY, MAX_PRICE_MONTHLY, OutOfRange};
use nephele_core::{BillingPolicy, ProviderError, RegionalPrice};
use rust_decimal::Decimal;
use serde::Deserialize;

const CATALOGUE: &str = include_str!("../data/ec2-linux-prices.json");

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

    #[test]
    fn the_policy_is_per_second_without_a_cap() {
        let policy = billing_policy();
        assert!(!policy.monthly_cap);
        assert!(policy.free_when_stopped);
        assert_eq!(policy.minimum_seconds, 60);
    }
}
