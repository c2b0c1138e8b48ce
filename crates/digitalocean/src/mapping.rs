//! DigitalOcean's objects as Nephele's provider-neutral ones.
//!
//! What DigitalOcean (or whatever answers at `base_url`) sends is read as untrusted: a size whose
//! price is negative, unreadable or above [`nephele_core::money`]'s ceilings is an unusable answer
//! naming the field, never a figure that reaches the cost engine.

use std::str::FromStr;

use nephele_core::money::{self, MAX_PRICE_HOURLY, MAX_PRICE_MONTHLY};
use nephele_core::operation::ActionStatus;
use nephele_core::{
    ActionId, Image, Instance, InstanceStatus, InstanceType, ProviderAction, ProviderError, Region,
};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::wire;

/// DigitalOcean sends prices as `f32`s widened to JSON doubles (`0.00743999984115362`). Printing
/// the value back as an `f32` gives the shortest decimal that round-trips, which is the price
/// DigitalOcean meant (`0.00744`); from there on it is exact decimal money. `None` for a number
/// no decimal holds (beyond about 7.9 x 10^28).
pub fn price(value: f64) -> Option<Decimal> {
    Decimal::from_str(&(value as f32).to_string())
        .ok()
        .or_else(|| Decimal::from_f64_retain(value).map(|d| d.round_dp(5)))
}

/// A size's price field, read and checked against `max`.
fn size_price(slug: &str, field: &str, value: f64, max: Decimal) -> Result<Decimal, ProviderError> {
    let refused = |why: String| {
        ProviderError::invalid_response(format!(
            "DigitalOcean's size {} has an unusable `{field}`: {why}",
            nephele_core::upstream_text(slug, &[])
        ))
    };
    let decimal = price(value).ok_or_else(|| refused(format!("{value} is not a price")))?;
    money::within(decimal, max).map_err(|e| refused(e.to_string()))
}

pub fn status(provider_status: &str) -> InstanceStatus {
    match provider_status {
        "new" => InstanceStatus::Provisioning,
        "active" => InstanceStatus::Running,
        "off" => InstanceStatus::Stopped,
        "archive" => InstanceStatus::Archived,
        _ => InstanceStatus::Unknown,
    }
}

fn timestamp(raw: &str) -> Result<OffsetDateTime, ProviderError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| ProviderError::unavailable(format!("DigitalOcean sent an unreadable timestamp {raw:?}")))
}

fn first_address<'a>(networks: impl Iterator<Item = (&'a str, &'a str)>, wanted: &str) -> Option<String> {
    networks.filter(|(kind, _)| *kind == wanted).map(|(_, ip)| ip.to_owned()).next()
}

pub fn instance(droplet: wire::Droplet) -> Result<Instance, ProviderError> {
    let v4 = || droplet.networks.v4.iter().map(|n| (n.kind.as_str(), n.ip_address.as_str()));
    let v6 = droplet.networks.v6.iter().map(|n| (n.kind.as_str(), n.ip_address.as_str()));
    Ok(Instance {
        id: droplet.id.into(),
        public_ipv4: first_address(v4(), "public"),
        private_ipv4: first_address(v4(), "private"),
        public_ipv6: first_address(v6, "public"),
        status: status(&droplet.status),
        created_at: timestamp(&droplet.created_at)?,
        image: droplet.image.slug.clone().unwrap_or_else(|| droplet.image.id.to_string()),
        name: droplet.name,
        provider_status: droplet.status,
        instance_type: droplet.size_slug,
        region: droplet.region.slug,
        vcpus: droplet.vcpus,
        memory_mib: droplet.memory,
        disk_gib: droplet.disk,
        tags: droplet.tags,
        features: droplet.features,
        locked: droplet.locked,
    })
}

pub fn region(region: wire::Region) -> Region {
    Region {
        id: region.slug,
        name: region.name,
        available: region.available,
        features: region.features,
        instance_types: region.sizes,
    }
}

pub fn instance_type(size: wire::Size) -> Result<InstanceType, ProviderError> {
    Ok(InstanceType {
        price_hourly: size_price(&size.slug, "price_hourly", size.price_hourly, MAX_PRICE_HOURLY)?,
        price_monthly: size_price(&size.slug, "price_monthly", size.price_monthly, MAX_PRICE_MONTHLY)?,
        // Not money: shown, never computed with.
        transfer_tib: price(size.transfer).filter(|t| !t.is_sign_negative()).unwrap_or_default(),
        gpus: size.gpu_info.map(|g| g.count).unwrap_or(0),
        id: size.slug,
        description: size.description,
        vcpus: size.vcpus,
        memory_mib: size.memory,
        disk_gib: size.disk,
        currency: "USD".to_owned(),
        regions: size.regions,
        available: size.available,
        // One price everywhere.
        regional_prices: None,
    })
}

pub fn image(image: wire::Image) -> Image {
    Image {
        id: image.id.to_string(),
        slug: image.slug,
        name: image.name,
        distribution: image.distribution,
        public: image.public,
        kind: image.kind,
        regions: image.regions,
        min_disk_gib: image.min_disk_size,
        status: image.status,
    }
}

pub fn action(action: wire::Action) -> ProviderAction {
    let parse = |raw: Option<String>| raw.and_then(|r| OffsetDateTime::parse(&r, &Rfc3339).ok());
    ProviderAction {
        id: ActionId(action.id.to_string()),
        status: match action.status.as_str() {
            "completed" => ActionStatus::Completed,
            "errored" => ActionStatus::Errored,
            _ => ActionStatus::InProgress,
        },
        kind: action.kind,
        instance_id: action.resource_id.map(Into::into),
        started_at: parse(action.started_at),
        completed_at: parse(action.completed_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_prices_become_the_decimal_digitalocean_meant() {
        assert_eq!(price(0.007_439_999_841_153_62), Decimal::from_str("0.00744").ok());
        assert_eq!(price(f64::from(0.008_93_f32)), Decimal::from_str("0.00893").ok());
        assert_eq!(price(6.0), Some(Decimal::from(6)));
        assert_eq!(price(2278.08), Decimal::from_str("2278.08").ok());
        assert_eq!(price(1e300), None);
    }

    #[test]
    fn prices_out_of_range_are_unusable_answers_naming_the_field() {
        for (hourly, monthly, field) in [
            (-10.0, 6.0, "price_hourly"),
            (7.9e28, 6.0, "price_hourly"),
            (1e300, 6.0, "price_hourly"),
            (0.00893, -1.0, "price_monthly"),
            (0.00893, 1e12, "price_monthly"),
        ] {
            let size: wire::Size = serde_json::from_value(serde_json::json!({
                "slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25, "transfer": 1.0,
                "price_monthly": monthly, "price_hourly": hourly, "regions": ["nyc1"], "available": true,
                "description": "Basic"
            }))
            .expect("size");
            let refused = instance_type(size).expect_err("out of range");
            assert_eq!(refused.code(), nephele_core::ErrorCode::ProviderBadResponse);
            assert!(refused.to_string().contains(field), "{field}: {refused}");
        }
    }

    #[test]
    fn digitalocean_statuses_normalise() {
        assert_eq!(status("new"), InstanceStatus::Provisioning);
        assert_eq!(status("active"), InstanceStatus::Running);
        assert_eq!(status("off"), InstanceStatus::Stopped);
        assert_eq!(status("archive"), InstanceStatus::Archived);
        assert_eq!(status("melting"), InstanceStatus::Unknown);
    }
}
