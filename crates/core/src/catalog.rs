//! What a provider offers: regions, instance types (with prices) and images.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A data-centre region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// The provider's slug (`nyc1`).
    pub id: String,
    /// Human name (`New York 1`).
    pub name: String,
    pub available: bool,
    pub features: Vec<String>,
    /// Instance types that can be created here.
    pub instance_types: Vec<String>,
}

/// A machine type with its list prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceType {
    /// The provider's slug (`s-1vcpu-1gb`).
    pub id: String,
    /// The provider's class of machine (`Basic`, `General Purpose`, ...).
    pub description: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// Included outbound transfer, in TiB per month.
    pub transfer_tib: Decimal,
    /// Price per hour in `currency`.
    pub price_hourly: Decimal,
    /// Price per month in `currency`.
    pub price_monthly: Decimal,
    pub currency: String,
    pub regions: Vec<String>,
    pub available: bool,
    /// GPU count; zero for CPU machines (which are billed differently on some clouds).
    pub gpus: u32,
    /// Prices by region, for clouds whose prices differ by region (EC2's do; DigitalOcean's do
    /// not, and leave this `None`). When it is `Some`, a region missing from it has no known
    /// price, and `price_hourly`/`price_monthly` are only those of the provider's default region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_prices: Option<BTreeMap<String, RegionalPrice>>,
}

/// An instance type's price in one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionalPrice {
    pub hourly: Decimal,
    pub monthly: Decimal,
}

impl InstanceType {
    /// Whether this type can be created in `region`: the one rule for it (a type lists its
    /// regions; a region's own list of types is derived, never consulted).
    pub fn offered_in(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }

    /// This type as priced in `region`: itself when its prices are the same everywhere, `None`
    /// when they vary by region and `region`'s is not known.
    pub fn priced_in(&self, region: &str) -> Option<InstanceType> {
        let Some(prices) = &self.regional_prices else { return Some(self.clone()) };
        let price = prices.get(region)?;
        Some(InstanceType { price_hourly: price.hourly, price_monthly: price.monthly, ..self.clone() })
    }
}

/// A bootable image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Numeric id as a string.
    pub id: String,
    /// Slug for public images (`ubuntu-24-04-x64`); private images have none.
    pub slug: Option<String>,
    pub name: String,
    pub distribution: String,
    pub public: bool,
    /// `base`, `snapshot`, `backup`, `custom`...
    pub kind: String,
    pub regions: Vec<String>,
    pub min_disk_gib: Option<u64>,
    pub status: String,
}
