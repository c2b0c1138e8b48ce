//! What the API sends: the original project's field names and wrappers, extended, never renamed.

use std::collections::BTreeMap;

use nephele_core::{Image, Instance, InstanceType, Region};
use nephele_engine::store::{ApiKeyRecord, AuditEntry, OperationState};
use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Links {
    #[serde(rename = "self")]
    pub this: String,
}

/// An instance. The first nine fields are the original API's; the rest are additions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    pub status: String,
    #[serde(rename = "type")]
    pub instance_type: String,
    pub region: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    pub tags: Vec<String>,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    /// The account the instance belongs to (its name names it in URLs).
    pub provider: String,
    /// The account's provider type (`digitalocean`, `aws`, a plugin's type).
    pub provider_type: String,
    pub provider_status: String,
    pub image: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub public_ipv6: Option<String>,
    pub features: Vec<String>,
    pub locked: bool,
    pub links: Links,
}

impl InstanceView {
    pub fn new(provider: &str, provider_type: &str, instance: Instance) -> Self {
        Self {
            links: Links { this: format!("/api/v1/providers/{provider}/instances/{}", instance.id) },
            id: instance.id.0,
            name: instance.name,
            status: instance.status.as_str().to_owned(),
            instance_type: instance.instance_type,
            region: instance.region,
            created_at: instance.created_at,
            tags: instance.tags,
            public_ip: instance.public_ipv4,
            private_ip: instance.private_ipv4,
            provider: provider.to_owned(),
            provider_type: provider_type.to_owned(),
            provider_status: instance.provider_status,
            image: instance.image,
            vcpus: instance.vcpus,
            memory_mib: instance.memory_mib,
            disk_gib: instance.disk_gib,
            public_ipv6: instance.public_ipv6,
            features: instance.features,
            locked: instance.locked,
        }
    }
}

/// A list of instances, as `GET .../instances` and `GET /api/v1/instances` send it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InstanceList {
    pub instances: Vec<InstanceView>,
    /// When the oldest copy in it was read from the provider (RFC 3339, UTC).
    pub as_of: Option<String>,
    /// Whether a provider failed and its last good copy is shown.
    pub stale: bool,
    /// Providers that failed, with why.
    pub errors: Vec<super::error::ProviderFailure>,
    /// The cursor of the next page, when `limit` was given and there is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A region: the original's `{id, name, display_name, status}`, plus what it offers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// `available` or `unavailable`.
    pub status: String,
    pub available: bool,
    pub features: Vec<String>,
    pub instance_types: Vec<String>,
}

impl From<&Region> for RegionView {
    fn from(region: &Region) -> Self {
        Self {
            id: region.id.clone(),
            name: region.id.clone(),
            display_name: region.name.clone(),
            status: if region.available { "available" } else { "unavailable" }.to_owned(),
            available: region.available,
            features: region.features.clone(),
            instance_types: region.instance_types.clone(),
        }
    }
}

/// An instance type with its prices as decimal strings.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InstanceTypeView {
    pub id: String,
    pub description: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub transfer_tib: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price_hourly: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price_monthly: Decimal,
    pub currency: String,
    pub gpus: u32,
    pub available: bool,
    pub regions: Vec<String>,
    /// Prices by region, where they differ by region (EC2); `price_hourly` and `price_monthly`
    /// are then those of the provider's default region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regional_prices: Option<BTreeMap<String, RegionalPriceView>>,
}

/// An instance type's prices in one region (decimal strings).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionalPriceView {
    pub hourly: String,
    pub monthly: String,
}

impl From<&InstanceType> for InstanceTypeView {
    fn from(t: &InstanceType) -> Self {
        Self {
            id: t.id.clone(),
            description: t.description.clone(),
            vcpus: t.vcpus,
            memory_mib: t.memory_mib,
            disk_gib: t.disk_gib,
            transfer_tib: t.transfer_tib,
            price_hourly: t.price_hourly,
            price_monthly: t.price_monthly,
            currency: t.currency.clone(),
            gpus: t.gpus,
            available: t.available,
            regions: t.regions.clone(),
            regional_prices: t.regional_prices.as_ref().map(|prices| {
                prices
                    .iter()
                    .map(|(region, p)| {
                        let price = RegionalPriceView {
                            hourly: p.hourly.to_string(),
                            monthly: p.monthly.to_string(),
                        };
                        (region.clone(), price)
                    })
                    .collect()
            }),
        }
    }
}

/// An image instances can be created from.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImageView {
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

impl From<&Image> for ImageView {
    fn from(image: &Image) -> Self {
        Self {
            id: image.id.clone(),
            slug: image.slug.clone(),
            name: image.name.clone(),
            distribution: image.distribution.clone(),
            public: image.public,
            kind: image.kind.clone(),
            regions: image.regions.clone(),
            min_disk_gib: image.min_disk_gib,
            status: image.status.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionList {
    pub regions: Vec<RegionView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InstanceTypeList {
    pub instance_types: Vec<InstanceTypeView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImageList {
    pub images: Vec<ImageView>,
}

/// The operation a mutating request started: follow `links.self` until it is done.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationRef {
    pub id: String,
    pub state: OperationStateName,
    pub links: Links,
}

impl OperationRef {
    pub fn new(id: &str, state: OperationState) -> Self {
        Self {
            id: id.to_owned(),
            state: state.into(),
            links: Links { this: format!("/api/v1/operations/{id}") },
        }
    }
}

/// 202: the request is under way as an operation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub operation_id: String,
    pub operation: OperationRef,
}

impl Accepted {
    pub fn new(id: &str, state: OperationState) -> Self {
        Self { operation_id: id.to_owned(), operation: OperationRef::new(id, state) }
    }
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = OperationState)]
#[serde(rename_all = "snake_case")]
pub enum OperationStateName {
    /// Recorded; the provider has not yet accepted it.
    Pending,
    /// The provider accepted it; Nephele follows it to its end.
    Running,
    Succeeded,
    /// It failed (the reason is in `error`).
    Failed,
}

impl From<OperationStateName> for OperationState {
    fn from(state: OperationStateName) -> Self {
        match state {
            OperationStateName::Pending => Self::Pending,
            OperationStateName::Running => Self::Running,
            OperationStateName::Succeeded => Self::Succeeded,
            OperationStateName::Failed => Self::Failed,
        }
    }
}

impl From<OperationState> for OperationStateName {
    fn from(state: OperationState) -> Self {
        match state {
            OperationState::Pending => Self::Pending,
            OperationState::Running => Self::Running,
            OperationState::Succeeded => Self::Succeeded,
            OperationState::Failed => Self::Failed,
        }
    }
}

/// One audited request.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryView {
    pub id: String,
    pub at: String,
    /// The API key id, or `anonymous`.
    pub principal: String,
    pub role: Option<String>,
    pub method: String,
    /// The request's path; one longer than 256 bytes is cut there and ends with
    /// `…[truncated, N bytes]`, N being its whole length.
    pub path: String,
    /// The client's address.
    pub source: Option<String>,
    pub status: u16,
    /// `succeeded`, `failed` or `denied`.
    pub outcome: String,
    pub operation_id: Option<String>,
    /// The provider the request concerned, if one (a name that is not a well-formed provider
    /// name is not recorded).
    pub provider: Option<String>,
    /// How many requests this entry stands for (failed authentication, and a key's refused or
    /// failed requests past its budget, are summarised).
    pub count: u64,
    /// What the request put on record: an admin's reason to let a create past a blocking
    /// budget, and the budgets it overrode (at most 512 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            principal: e.principal,
            role: e.role,
            method: e.method,
            path: e.path,
            source: e.source,
            status: e.status,
            outcome: e.outcome,
            operation_id: e.operation_id,
            provider: e.provider,
            count: e.count,
            note: e.note,
        }
    }
}

/// A stored key, without its secret.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiKeyRecord)]
pub struct KeyView {
    pub id: String,
    pub role: String,
    pub providers: Option<Vec<String>>,
    pub description: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            role: k.role,
            providers: k.providers,
            description: k.description,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}
