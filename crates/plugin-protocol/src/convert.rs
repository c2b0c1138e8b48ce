//! `nephele-core` values as protocol messages, and back.
//!
//! `into_wire` functions cannot fail. `from_wire` functions check everything (numbers, enums,
//! times, decimals, UUIDs, and every string's and list's length, by [`crate::limits`]) and say
//! which field was wrong: a host reads a plugin's answer with them and a plugin reads the host's
//! request with them, and neither trusts the other.

use std::str::FromStr;

use nephele_core::cost::Metering;
use nephele_core::money::{MAX_BACKUP_RATE, MAX_MINIMUM_CHARGE, MAX_PRICE_HOURLY, MAX_PRICE_MONTHLY};
use nephele_core::{
    ActionId, ActionStatus, BillingPolicy, CreateInstances, Image, Instance, InstanceFilter, InstanceId,
    InstanceName, InstanceStatus, InstanceType, OperationId, PowerAction, ProviderAction, ProviderError,
    ProviderInfo, Region, RegionalPrice,
};
use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::{MAX_INSTANCES_PER_PAGE, limits, wire};

/// A message field that cannot be read as what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub field: &'static str,
    pub message: String,
}

impl Malformed {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }

    /// As the host sees it: the plugin answered something it cannot use.
    pub fn into_invalid_response(self, plugin: &str) -> ProviderError {
        ProviderError::InvalidResponse {
            message: format!("plugin {plugin} sent an unusable `{}`: {}", self.field, self.message),
            detail: Default::default(),
        }
    }

    /// As a plugin sees it: the host's request is invalid.
    pub fn into_invalid_input(self) -> ProviderError {
        ProviderError::InvalidInput {
            field: Some(self.field.to_owned()),
            message: self.message,
            detail: Default::default(),
        }
    }
}

type Read<T> = Result<T, Malformed>;

// --- times and numbers --------------------------------------------------------------------------

pub fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    let nanos = t.unix_timestamp_nanos();
    prost_types::Timestamp {
        seconds: i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX),
        nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    }
}

pub fn read_timestamp(t: &prost_types::Timestamp, field: &'static str) -> Read<OffsetDateTime> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Malformed::new(field, "nanos out of range"));
    }
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|e| Malformed::new(field, e.to_string()))
}

fn required_timestamp(t: Option<&prost_types::Timestamp>, field: &'static str) -> Read<OffsetDateTime> {
    read_timestamp(t.ok_or_else(|| Malformed::new(field, "missing"))?, field)
}

fn decimal(text: &str, field: &'static str) -> Read<Decimal> {
    Decimal::from_str(text.trim())
        .map_err(|_| Malformed::new(field, format!("{text:?} is not a decimal number")))
}

fn non_negative_decimal(text: &str, field: &'static str) -> Read<Decimal> {
    let value = decimal(text, field)?;
    if value.is_sign_negative() {
        return Err(Malformed::new(field, "must not be negative"));
    }
    Ok(value)
}

/// Money from the other side: a decimal in `0..=max` (see [`nephele_core::money`] for the
/// ceilings), so no figure a plugin sends can overflow the host's cost arithmetic.
fn money(text: &str, field: &'static str, max: Decimal) -> Read<Decimal> {
    nephele_core::money::within(decimal(text, field)?, max).map_err(|e| Malformed::new(field, e.to_string()))
}

pub fn operation_id(text: &str, field: &'static str) -> Read<OperationId> {
    uuid::Uuid::parse_str(text).map(OperationId).map_err(|_| Malformed::new(field, "must be a UUID"))
}

fn non_empty(text: String, field: &'static str) -> Read<String> {
    if text.trim().is_empty() {
        return Err(Malformed::new(field, "must not be empty"));
    }
    Ok(text)
}

// --- provider info ------------------------------------------------------------------------------

/// The most instances a plugin may say one create makes.
pub const MAX_INSTANCES_PER_CREATE: u32 = 100;

pub fn info(info: &ProviderInfo, rate_limit_per_minute: Option<u32>) -> wire::ProviderInfo {
    wire::ProviderInfo {
        name: info.name.clone(),
        display_name: info.display_name.clone(),
        version: info.version.clone(),
        default_region: info.default_region.clone(),
        capabilities: info.capabilities.clone(),
        rate_limit_per_minute,
        max_instances_per_create: info.max_instances_per_create,
    }
}

/// Whether `name` may name a provider in URLs: 1 to 32 of `a-z`, `0-9`, `-` (an account's name).
pub fn is_valid_provider_name(name: &str) -> bool {
    nephele_core::is_valid_account_name(name)
}

pub fn read_info(info: wire::ProviderInfo) -> Read<ProviderInfo> {
    let info = limits::info(info)?;
    if !is_valid_provider_name(&info.name) {
        return Err(Malformed::new("name", "must be 1 to 32 of a-z, 0-9 and -"));
    }
    Ok(ProviderInfo {
        name: info.name,
        display_name: info.display_name,
        version: info.version,
        default_region: info.default_region,
        capabilities: info.capabilities,
        // A plugin cannot ask a create to make more than any cloud allows in one call.
        max_instances_per_create: info.max_instances_per_create.clamp(1, MAX_INSTANCES_PER_CREATE),
    })
}

// --- instances ----------------------------------------------------------------------------------

fn status(s: InstanceStatus) -> wire::InstanceStatus {
    match s {
        InstanceStatus::Provisioning => wire::InstanceStatus::Provisioning,
        InstanceStatus::Running => wire::InstanceStatus::Running,
        InstanceStatus::Stopped => wire::InstanceStatus::Stopped,
        InstanceStatus::Archived => wire::InstanceStatus::Archived,
        InstanceStatus::Unknown => wire::InstanceStatus::Unknown,
    }
}

fn read_status(raw: i32) -> InstanceStatus {
    match wire::InstanceStatus::try_from(raw) {
        Ok(wire::InstanceStatus::Provisioning) => InstanceStatus::Provisioning,
        Ok(wire::InstanceStatus::Running) => InstanceStatus::Running,
        Ok(wire::InstanceStatus::Stopped) => InstanceStatus::Stopped,
        Ok(wire::InstanceStatus::Archived) => InstanceStatus::Archived,
        _ => InstanceStatus::Unknown,
    }
}

pub fn instance(i: &Instance) -> wire::Instance {
    wire::Instance {
        id: i.id.0.clone(),
        name: i.name.clone(),
        status: status(i.status) as i32,
        provider_status: i.provider_status.clone(),
        instance_type: i.instance_type.clone(),
        region: i.region.clone(),
        image: i.image.clone(),
        vcpus: i.vcpus,
        memory_mib: i.memory_mib,
        disk_gib: i.disk_gib,
        public_ipv4: i.public_ipv4.clone(),
        private_ipv4: i.private_ipv4.clone(),
        public_ipv6: i.public_ipv6.clone(),
        tags: i.tags.clone(),
        features: i.features.clone(),
        locked: i.locked,
        created_at: Some(timestamp(i.created_at)),
    }
}

pub fn read_instance(i: wire::Instance) -> Read<Instance> {
    let i = limits::instance(i)?;
    Ok(Instance {
        id: InstanceId(non_empty(i.id, "instance.id")?),
        status: read_status(i.status),
        created_at: required_timestamp(i.created_at.as_ref(), "instance.created_at")?,
        name: i.name,
        provider_status: i.provider_status,
        instance_type: i.instance_type,
        region: i.region,
        image: i.image,
        vcpus: i.vcpus,
        memory_mib: i.memory_mib,
        disk_gib: i.disk_gib,
        public_ipv4: i.public_ipv4,
        private_ipv4: i.private_ipv4,
        public_ipv6: i.public_ipv6,
        tags: i.tags,
        features: i.features,
        locked: i.locked,
    })
}

/// A list of instances that is not a streamed page (a create's answer): at most a page's worth.
pub fn read_instances(list: Vec<wire::Instance>) -> Read<Vec<Instance>> {
    limits::count(&list, "instances", MAX_INSTANCES_PER_PAGE)?;
    list.into_iter().map(read_instance).collect()
}

pub fn filter(f: &InstanceFilter) -> wire::InstanceFilter {
    wire::InstanceFilter {
        region: f.region.clone(),
        status: f.status.map(|s| status(s) as i32),
        tag: f.tag.clone(),
        name: f.name.clone(),
    }
}

pub fn read_filter(f: Option<wire::InstanceFilter>) -> InstanceFilter {
    let f = f.unwrap_or_default();
    InstanceFilter { region: f.region, status: f.status.map(read_status), tag: f.tag, name: f.name }
}

pub fn create(request: &CreateInstances) -> wire::CreateInstancesRequest {
    wire::CreateInstancesRequest {
        operation_id: request.operation_id.to_string(),
        names: request.names.iter().map(|n| n.as_str().to_owned()).collect(),
        instance_type: request.instance_type.clone(),
        region: request.region.clone(),
        image: request.image.clone(),
        ssh_keys: request.ssh_keys.clone(),
        tags: request.tags.clone(),
        user_data: request.user_data.clone(),
        backups: request.backups,
        ipv6: request.ipv6,
        monitoring: request.monitoring,
        vpc_uuid: request.vpc_uuid.clone(),
    }
}

pub fn read_create(r: wire::CreateInstancesRequest) -> Read<CreateInstances> {
    let names = r
        .names
        .iter()
        .map(|n| InstanceName::parse(n).map_err(|e| Malformed::new("names", format!("{n:?}: {e}"))))
        .collect::<Read<Vec<_>>>()?;
    if names.is_empty() {
        return Err(Malformed::new("names", "must name at least one instance"));
    }
    Ok(CreateInstances {
        operation_id: operation_id(&r.operation_id, "operation_id")?,
        names,
        instance_type: non_empty(r.instance_type, "instance_type")?,
        region: non_empty(r.region, "region")?,
        image: non_empty(r.image, "image")?,
        ssh_keys: r.ssh_keys,
        tags: r.tags,
        user_data: r.user_data,
        backups: r.backups,
        ipv6: r.ipv6,
        monitoring: r.monitoring,
        vpc_uuid: r.vpc_uuid,
    })
}

// --- power actions ------------------------------------------------------------------------------

pub fn power_action(a: PowerAction) -> wire::PowerActionKind {
    match a {
        PowerAction::PowerOn => wire::PowerActionKind::PowerOn,
        PowerAction::PowerOff => wire::PowerActionKind::PowerOff,
        PowerAction::Shutdown => wire::PowerActionKind::Shutdown,
        PowerAction::Reboot => wire::PowerActionKind::Reboot,
        PowerAction::PowerCycle => wire::PowerActionKind::PowerCycle,
    }
}

pub fn read_power_action(raw: i32) -> Read<PowerAction> {
    match wire::PowerActionKind::try_from(raw) {
        Ok(wire::PowerActionKind::PowerOn) => Ok(PowerAction::PowerOn),
        Ok(wire::PowerActionKind::PowerOff) => Ok(PowerAction::PowerOff),
        Ok(wire::PowerActionKind::Shutdown) => Ok(PowerAction::Shutdown),
        Ok(wire::PowerActionKind::Reboot) => Ok(PowerAction::Reboot),
        Ok(wire::PowerActionKind::PowerCycle) => Ok(PowerAction::PowerCycle),
        _ => Err(Malformed::new("action", format!("{raw} is not a power action"))),
    }
}

pub fn action(a: &ProviderAction) -> wire::Action {
    wire::Action {
        id: a.id.0.clone(),
        kind: a.kind.clone(),
        status: match a.status {
            ActionStatus::InProgress => wire::ActionStatus::InProgress,
            ActionStatus::Completed => wire::ActionStatus::Completed,
            ActionStatus::Errored => wire::ActionStatus::Errored,
        } as i32,
        instance_id: a.instance_id.as_ref().map(|i| i.0.clone()),
        started_at: a.started_at.map(timestamp),
        completed_at: a.completed_at.map(timestamp),
    }
}

pub fn read_action(a: wire::Action) -> Read<ProviderAction> {
    let a = limits::action(a)?;
    let status = match wire::ActionStatus::try_from(a.status) {
        Ok(wire::ActionStatus::InProgress) => ActionStatus::InProgress,
        Ok(wire::ActionStatus::Completed) => ActionStatus::Completed,
        Ok(wire::ActionStatus::Errored) => ActionStatus::Errored,
        _ => return Err(Malformed::new("action.status", format!("{} is not an action status", a.status))),
    };
    Ok(ProviderAction {
        id: ActionId(non_empty(a.id, "action.id")?),
        kind: a.kind,
        status,
        instance_id: a.instance_id.map(InstanceId),
        started_at: a.started_at.as_ref().map(|t| read_timestamp(t, "action.started_at")).transpose()?,
        completed_at: a
            .completed_at
            .as_ref()
            .map(|t| read_timestamp(t, "action.completed_at"))
            .transpose()?,
    })
}

// --- catalogue ----------------------------------------------------------------------------------

pub fn region(r: &Region) -> wire::Region {
    wire::Region {
        id: r.id.clone(),
        name: r.name.clone(),
        available: r.available,
        features: r.features.clone(),
        instance_types: r.instance_types.clone(),
    }
}

pub fn read_region(r: wire::Region) -> Read<Region> {
    let r = limits::region(r)?;
    Ok(Region {
        id: non_empty(r.id, "region.id")?,
        name: r.name,
        available: r.available,
        features: r.features,
        instance_types: r.instance_types,
    })
}

/// A plugin's regions: at most [`limits::MAX_REGIONS`], each read with [`read_region`].
pub fn read_regions(list: Vec<wire::Region>) -> Read<Vec<Region>> {
    limits::count(&list, "regions", limits::MAX_REGIONS)?;
    list.into_iter().map(read_region).collect()
}

pub fn instance_type(t: &InstanceType) -> wire::InstanceType {
    wire::InstanceType {
        id: t.id.clone(),
        description: t.description.clone(),
        vcpus: t.vcpus,
        memory_mib: t.memory_mib,
        disk_gib: t.disk_gib,
        transfer_tib: t.transfer_tib.to_string(),
        price_hourly: t.price_hourly.to_string(),
        price_monthly: t.price_monthly.to_string(),
        currency: t.currency.clone(),
        regions: t.regions.clone(),
        available: t.available,
        gpus: t.gpus,
        regional_pricing: t.regional_prices.is_some(),
        regional_prices: t
            .regional_prices
            .iter()
            .flatten()
            .map(|(region, price)| {
                let price = wire::RegionalPrice {
                    hourly: price.hourly.to_string(),
                    monthly: price.monthly.to_string(),
                };
                (region.clone(), price)
            })
            .collect(),
    }
}

pub fn read_instance_type(t: wire::InstanceType) -> Read<InstanceType> {
    let t = limits::instance_type(t)?;
    let mut prices = std::collections::BTreeMap::new();
    for (region, price) in t.regional_prices {
        let price = RegionalPrice {
            hourly: money(&price.hourly, "instance_type.regional_prices.hourly", MAX_PRICE_HOURLY)?,
            monthly: money(&price.monthly, "instance_type.regional_prices.monthly", MAX_PRICE_MONTHLY)?,
        };
        prices.insert(non_empty(region, "instance_type.regional_prices")?, price);
    }
    Ok(InstanceType {
        regional_prices: t.regional_pricing.then_some(prices),
        id: non_empty(t.id, "instance_type.id")?,
        transfer_tib: non_negative_decimal(&t.transfer_tib, "instance_type.transfer_tib")?,
        price_hourly: money(&t.price_hourly, "instance_type.price_hourly", MAX_PRICE_HOURLY)?,
        price_monthly: money(&t.price_monthly, "instance_type.price_monthly", MAX_PRICE_MONTHLY)?,
        currency: non_empty(t.currency, "instance_type.currency")?,
        description: t.description,
        vcpus: t.vcpus,
        memory_mib: t.memory_mib,
        disk_gib: t.disk_gib,
        regions: t.regions,
        available: t.available,
        gpus: t.gpus,
    })
}

/// A plugin's instance types: at most [`limits::MAX_CATALOGUE`], each read with
/// [`read_instance_type`].
pub fn read_instance_types(list: Vec<wire::InstanceType>) -> Read<Vec<InstanceType>> {
    limits::count(&list, "instance_types", limits::MAX_CATALOGUE)?;
    list.into_iter().map(read_instance_type).collect()
}

pub fn image(i: &Image) -> wire::Image {
    wire::Image {
        id: i.id.clone(),
        slug: i.slug.clone(),
        name: i.name.clone(),
        distribution: i.distribution.clone(),
        public: i.public,
        kind: i.kind.clone(),
        regions: i.regions.clone(),
        min_disk_gib: i.min_disk_gib,
        status: i.status.clone(),
    }
}

pub fn read_image(i: wire::Image) -> Read<Image> {
    let i = limits::image(i)?;
    Ok(Image {
        id: non_empty(i.id, "image.id")?,
        slug: i.slug,
        name: i.name,
        distribution: i.distribution,
        public: i.public,
        kind: i.kind,
        regions: i.regions,
        min_disk_gib: i.min_disk_gib,
        status: i.status,
    })
}

/// A plugin's images: at most [`limits::MAX_CATALOGUE`], each read with [`read_image`].
pub fn read_images(list: Vec<wire::Image>) -> Read<Vec<Image>> {
    limits::count(&list, "images", limits::MAX_CATALOGUE)?;
    list.into_iter().map(read_image).collect()
}

pub fn billing_policy(p: &BillingPolicy) -> wire::BillingPolicy {
    wire::BillingPolicy {
        name: p.name.clone(),
        metering: match p.metering {
            Metering::PerSecond => wire::Metering::PerSecond,
            Metering::PerStartedHour => wire::Metering::PerStartedHour,
        } as i32,
        monthly_cap: p.monthly_cap,
        minimum_seconds: p.minimum_seconds,
        minimum_charge: p.minimum_charge.to_string(),
        weekly_backup_rate: p.weekly_backup_rate.to_string(),
        daily_backup_rate: p.daily_backup_rate.to_string(),
        free_when_stopped: p.free_when_stopped,
        assumptions: p.assumptions.clone(),
    }
}

pub fn read_billing_policy(p: wire::BillingPolicy) -> Read<BillingPolicy> {
    let p = limits::billing_policy(p)?;
    let metering = match wire::Metering::try_from(p.metering) {
        Ok(wire::Metering::PerSecond) => Metering::PerSecond,
        Ok(wire::Metering::PerStartedHour) => Metering::PerStartedHour,
        _ => {
            return Err(Malformed::new(
                "billing_policy.metering",
                format!("{} is not a metering", p.metering),
            ));
        }
    };
    Ok(BillingPolicy {
        name: non_empty(p.name, "billing_policy.name")?,
        metering,
        monthly_cap: p.monthly_cap,
        minimum_seconds: p.minimum_seconds,
        minimum_charge: money(&p.minimum_charge, "billing_policy.minimum_charge", MAX_MINIMUM_CHARGE)?,
        weekly_backup_rate: money(
            &p.weekly_backup_rate,
            "billing_policy.weekly_backup_rate",
            MAX_BACKUP_RATE,
        )?,
        daily_backup_rate: money(&p.daily_backup_rate, "billing_policy.daily_backup_rate", MAX_BACKUP_RATE)?,
        free_when_stopped: p.free_when_stopped,
        assumptions: p.assumptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample_instance() -> Instance {
        Instance {
            id: InstanceId("42".into()),
            name: "web-1".into(),
            status: InstanceStatus::Stopped,
            provider_status: "off".into(),
            instance_type: "s-1vcpu-1gb".into(),
            region: "nyc1".into(),
            image: "ubuntu-24-04-x64".into(),
            vcpus: 1,
            memory_mib: 1024,
            disk_gib: 25,
            public_ipv4: Some("203.0.113.7".into()),
            private_ipv4: None,
            public_ipv6: None,
            tags: vec!["env:prod".into()],
            features: vec!["monitoring".into()],
            locked: false,
            created_at: datetime!(2026-11-28 17:00:01.5 UTC),
        }
    }

    #[test]
    fn values_round_trip() {
        let i = sample_instance();
        assert_eq!(read_instance(instance(&i)), Ok(i));
        let t = InstanceType {
            id: "s-1vcpu-1gb".into(),
            description: "Basic".into(),
            vcpus: 1,
            memory_mib: 1024,
            disk_gib: 25,
            transfer_tib: Decimal::from_str("1.5").unwrap_or_default(),
            price_hourly: Decimal::from_str("0.00893").unwrap_or_default(),
            price_monthly: Decimal::from(6),
            currency: "USD".into(),
            regions: vec!["nyc1".into()],
            available: true,
            gpus: 0,
            regional_prices: Some(
                [(
                    "us-east-1".to_owned(),
                    RegionalPrice {
                        hourly: Decimal::from_str("0.0104").unwrap_or_default(),
                        monthly: Decimal::from(7),
                    },
                )]
                .into(),
            ),
        };
        assert_eq!(read_instance_type(instance_type(&t)), Ok(t));
        let p = BillingPolicy::per_second_with_monthly_cap(60, Decimal::from_str("0.01").unwrap_or_default())
            .free_when_stopped()
            .assuming("x");
        assert_eq!(read_billing_policy(billing_policy(&p)), Ok(p));
        for a in PowerAction::ALL {
            assert_eq!(read_power_action(power_action(a) as i32), Ok(a));
        }
    }

    #[test]
    fn unusable_fields_are_named() {
        let mut bad = instance(&sample_instance());
        bad.created_at = None;
        assert_eq!(read_instance(bad).map_err(|e| e.field), Err("instance.created_at"));
        let mut price = instance_type(&InstanceType {
            id: "x".into(),
            description: String::new(),
            vcpus: 1,
            memory_mib: 1,
            disk_gib: 1,
            transfer_tib: Decimal::ONE,
            price_hourly: Decimal::ONE,
            price_monthly: Decimal::ONE,
            currency: "USD".into(),
            regions: vec![],
            available: true,
            gpus: 0,
            regional_prices: None,
        });
        price
            .regional_prices
            .insert("r".into(), wire::RegionalPrice { hourly: "-0.1".into(), monthly: "1".into() });
        assert_eq!(
            read_instance_type(price.clone()).map_err(|e| e.field),
            Err("instance_type.regional_prices.hourly")
        );
        price.regional_prices.clear();
        price.price_hourly = "1e400".into();
        assert_eq!(read_instance_type(price.clone()).map_err(|e| e.field), Err("instance_type.price_hourly"));
        price.price_hourly = "-1".into();
        assert_eq!(read_instance_type(price.clone()).map_err(|e| e.field), Err("instance_type.price_hourly"));
        assert!(read_power_action(0).is_err());
        assert_eq!(operation_id("nope", "operation_id").map_err(|e| e.field), Err("operation_id"));
    }

    #[test]
    fn money_past_the_ceilings_is_refused_by_field() {
        let mut price = instance_type(&InstanceType {
            id: "x".into(),
            description: String::new(),
            vcpus: 1,
            memory_mib: 1,
            disk_gib: 1,
            transfer_tib: Decimal::ONE,
            price_hourly: Decimal::ONE,
            price_monthly: Decimal::ONE,
            currency: "USD".into(),
            regions: vec![],
            available: true,
            gpus: 0,
            regional_prices: None,
        });
        price.price_hourly = Decimal::MAX.to_string();
        let refused = read_instance_type(price.clone()).expect_err("too large");
        assert_eq!(refused.field, "instance_type.price_hourly");
        assert!(refused.message.contains("0 to 10000"), "{}", refused.message);
        price.price_hourly = "10000".into();
        price.price_monthly = "10000000.01".into();
        assert_eq!(
            read_instance_type(price.clone()).map_err(|e| e.field),
            Err("instance_type.price_monthly")
        );
        price.price_monthly = "7300000".into();
        price
            .regional_prices
            .insert("r".into(), wire::RegionalPrice { hourly: "1".into(), monthly: "1e20".into() });
        assert_eq!(
            read_instance_type(price).map_err(|e| e.field),
            Err("instance_type.regional_prices.monthly")
        );

        let mut policy = billing_policy(&BillingPolicy::per_second(60));
        policy.minimum_charge = "79228162514264337593543950335".into();
        assert_eq!(
            read_billing_policy(policy.clone()).map_err(|e| e.field),
            Err("billing_policy.minimum_charge")
        );
        policy.minimum_charge = "0.01".into();
        policy.daily_backup_rate = "1000".into();
        assert_eq!(read_billing_policy(policy).map_err(|e| e.field), Err("billing_policy.daily_backup_rate"));
    }
}
