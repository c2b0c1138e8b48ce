//! DigitalOcean's JSON shapes, as this simulator reads them from the OpenAPI document.
//!
//! These types deliberately duplicate the ones in the `digitalocean` client crate: each side
//! reads the spec on its own, so a misreading on either side shows up as a failing test rather
//! than as two halves that agree with each other. Do not share them.

mod billing;
mod networking;
mod organising;
mod storage;

pub use billing::*;
pub use networking::*;
pub use organising::*;
pub use storage::*;

use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub id: &'a str,
    pub message: String,
    pub request_id: String,
}

#[derive(Serialize, Clone)]
pub struct RegionJson {
    pub name: String,
    pub slug: String,
    pub features: Vec<&'static str>,
    pub available: bool,
    pub sizes: Vec<&'static str>,
}

#[derive(Serialize, Clone)]
pub struct DiskSize {
    pub amount: u64,
    pub unit: &'static str,
}

#[derive(Serialize, Clone)]
pub struct DiskInfo {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub size: DiskSize,
}

#[derive(Serialize, Clone)]
pub struct GpuVram {
    pub amount: u32,
    pub unit: &'static str,
}

#[derive(Serialize, Clone)]
pub struct GpuInfo {
    pub count: u32,
    pub model: &'static str,
    pub vram: GpuVram,
}

#[derive(Serialize, Clone)]
pub struct SizeJson {
    pub slug: &'static str,
    pub memory: u64,
    pub vcpus: u32,
    pub disk: u64,
    pub transfer: f64,
    pub price_monthly: f64,
    pub price_hourly: f64,
    pub regions: Vec<&'static str>,
    pub available: bool,
    pub description: &'static str,
    pub disk_info: Vec<DiskInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_info: Option<GpuInfo>,
}

#[derive(Serialize, Clone)]
pub struct ImageJson {
    pub id: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub distribution: String,
    pub slug: Option<String>,
    pub public: bool,
    pub regions: Vec<String>,
    pub created_at: String,
    pub min_disk_size: Option<u64>,
    pub size_gigabytes: Option<f64>,
    pub description: String,
    pub tags: Vec<String>,
    pub status: &'static str,
    pub error_message: String,
}

#[derive(Serialize)]
pub struct NetworkV4 {
    pub ip_address: String,
    pub netmask: &'static str,
    pub gateway: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
pub struct NetworkV6 {
    pub ip_address: String,
    pub netmask: u32,
    pub gateway: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
pub struct Networks {
    pub v4: Vec<NetworkV4>,
    pub v6: Vec<NetworkV6>,
}

#[derive(Serialize)]
pub struct BackupWindow {
    pub start: String,
    pub end: String,
}

#[derive(Serialize)]
pub struct DropletJson {
    pub id: u64,
    pub name: String,
    pub memory: u64,
    pub vcpus: u32,
    pub disk: u64,
    pub disk_info: Vec<DiskInfo>,
    pub locked: bool,
    pub status: &'static str,
    pub kernel: Option<()>,
    pub created_at: String,
    pub features: Vec<String>,
    pub backup_ids: Vec<u64>,
    pub next_backup_window: Option<BackupWindow>,
    pub snapshot_ids: Vec<u64>,
    pub image: ImageJson,
    pub volume_ids: Vec<String>,
    pub size: SizeJson,
    pub size_slug: &'static str,
    pub networks: Networks,
    pub region: RegionJson,
    pub tags: Vec<String>,
    pub vpc_uuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_info: Option<GpuInfo>,
}

#[derive(Serialize)]
pub struct ActionJson {
    pub id: u64,
    pub status: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub resource_id: Option<u64>,
    pub resource_type: &'static str,
    pub region: Option<RegionJson>,
    pub region_slug: Option<String>,
    /// Reserved IP actions also name the project the address is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

#[derive(Serialize)]
pub struct ActionLink {
    pub id: u64,
    pub rel: &'static str,
    pub href: String,
}

#[derive(Serialize)]
pub struct SshKeyJson {
    pub id: u64,
    pub fingerprint: String,
    pub public_key: String,
    pub name: String,
}

#[derive(Serialize)]
pub struct AccountTeam {
    pub uuid: String,
    pub name: String,
}

#[derive(Serialize)]
pub struct AccountJson {
    pub droplet_limit: u64,
    pub floating_ip_limit: u64,
    pub email: String,
    pub name: String,
    pub uuid: String,
    pub email_verified: bool,
    pub status: &'static str,
    pub status_message: String,
    pub team: AccountTeam,
}

/// `links.pages` of a paginated list; absent links are left out, as DigitalOcean does.
#[derive(Serialize, Default)]
pub struct PageLinks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

/// Body of `POST /v2/droplets`: `name` or `names`, plus the shared fields.
#[derive(Deserialize)]
pub struct DropletCreateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub names: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub size: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub image: Option<StringOrId>,
    #[serde(default, deserialize_with = "present")]
    pub region: Option<String>,
    #[serde(default)]
    pub ssh_keys: Vec<StringOrId>,
    #[serde(default)]
    pub backups: bool,
    #[serde(default, deserialize_with = "present")]
    pub backup_policy: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub ipv6: bool,
    #[serde(default)]
    pub monitoring: bool,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub user_data: Option<String>,
    #[serde(default)]
    pub private_networking: bool,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    pub vpc_uuid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub with_droplet_agent: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub public_networking: Option<bool>,
}

/// Reads an optional field the spec does not mark `nullable`: absent is `None`, but an explicit
/// `null` is refused, as DigitalOcean refuses it.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A field the spec types as "string or integer" (image slug or id, SSH key fingerprint or id).
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
pub enum StringOrId {
    Id(u64),
    Text(String),
}

/// Body of `POST /v2/droplets/{id}/actions`; which extra fields matter depends on `type`.
#[derive(Deserialize)]
pub struct DropletActionBody {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub size: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub disk: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub image: Option<StringOrId>,
    #[serde(default, deserialize_with = "present")]
    pub kernel: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub backup_policy: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
pub struct CustomImageBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub distribution: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct ImageUpdateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub distribution: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
}

#[derive(Deserialize)]
pub struct SshKeyUpdateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
}

#[derive(Deserialize)]
pub struct SshKeyCreateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub public_key: Option<String>,
}
