//! The price catalogue shipped with the plugin (`data/ec2-linux-prices.json`, see
//! `data/README.md` for where it comes from), and how EC2 bills.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use nephele_core::{BillingPolicy, RegionalPrice};
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
    /// Every known price of `instance_type`, by region.
    pub fn regional(&self, instance_type: &str) -> BTreeMap<String, RegionalPrice> {
        self.prices
            .get(instance_type)
            .into_iter()
            .flatten()
            .map(|(region, hourly)| {
                let price =
                    RegionalPrice { hourly: *hourly, monthly: *hourly * Decimal::from(HOURS_PER_MONTH) };
                (region.clone(), price)
            })
            .collect()
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
        let t3 = PRICES.regional("t3.micro");
        assert_eq!(t3["us-east-1"].hourly, Decimal::from_str("0.0104").expect("decimal"));
        assert_eq!(t3["us-east-1"].monthly, Decimal::from_str("7.592").expect("decimal"));
        assert!(!t3.contains_key("eu-central-1"), "0.0 in Libcloud means unknown, and is left out");
        assert_eq!(PRICES.source.updated, "2025-03-02");
    }

    #[test]
    fn the_policy_is_per_second_without_a_cap() {
        let policy = billing_policy();
        assert!(!policy.monthly_cap);
        assert!(policy.free_when_stopped);
        assert_eq!(policy.minimum_seconds, 60);
    }
}
