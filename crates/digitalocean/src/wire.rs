//! DigitalOcean's JSON, as this client reads the OpenAPI document.
//!
//! These types deliberately duplicate the simulator's (`dosim::wire`): each side reads the spec
//! on its own, so a misreading on either side shows up as a failing test rather than as two
//! halves that agree with each other. Fields the spec marks required are required here too;
//! the rest default, so an answer with less than we hoped is still read.

use serde::{Deserialize, Serialize};

/// DigitalOcean's error body.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// One page of any list: the items come under the resource's plural name.
#[derive(Debug, Deserialize)]
pub struct Paged<T> {
    #[serde(
        alias = "droplets",
        alias = "regions",
        alias = "sizes",
        alias = "images",
        alias = "actions",
        alias = "ssh_keys",
        alias = "volumes",
        alias = "snapshots",
        alias = "firewalls",
        alias = "reserved_ips",
        alias = "vpcs",
        alias = "members"
    )]
    pub items: Vec<T>,
    #[serde(default)]
    pub links: Option<Links>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Links {
    #[serde(default)]
    pub pages: Option<PageLinks>,
    #[serde(default)]
    pub actions: Vec<ActionLink>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageLinks {
    pub next: Option<String>,
    pub last: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Meta {
    pub total: u64,
}

#[derive(Debug, Deserialize)]
pub struct ActionLink {
    pub id: u64,
    #[serde(default)]
    pub rel: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Region {
    pub name: String,
    pub slug: String,
    pub features: Vec<String>,
    pub available: bool,
    pub sizes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GpuInfo {
    #[serde(default)]
    pub count: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Size {
    pub slug: String,
    pub memory: u64,
    pub vcpus: u32,
    pub disk: u64,
    pub transfer: f64,
    /// Sent as a float; see [`crate::mapping::price`] for how it becomes money.
    pub price_monthly: f64,
    pub price_hourly: f64,
    pub regions: Vec<String>,
    pub available: bool,
    pub description: String,
    #[serde(default)]
    pub gpu_info: Option<GpuInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub distribution: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub min_disk_size: Option<u64>,
    #[serde(default)]
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NetworkV4 {
    pub ip_address: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NetworkV6 {
    pub ip_address: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Networks {
    #[serde(default)]
    pub v4: Vec<NetworkV4>,
    #[serde(default)]
    pub v6: Vec<NetworkV6>,
}

/// The image a droplet was made from: its id and slug are all an instance keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct DropletImage {
    pub id: u64,
    #[serde(default)]
    pub slug: Option<String>,
}

/// The region a droplet is in: its slug is all an instance keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct DropletRegion {
    pub slug: String,
}

/// A droplet, read for what an [`nephele_core::Instance`] keeps. The spec's embedded objects
/// (`image`, `region`, `size`) are read down to the fields used, and the rest is skipped
/// unkept: a region repeats its whole size list and an image its region list in every droplet,
/// and allocating them only to drop them was most of the cost of decoding a list.
#[derive(Debug, Clone, Deserialize)]
pub struct Droplet {
    pub id: u64,
    pub name: String,
    pub memory: u64,
    pub vcpus: u32,
    pub disk: u64,
    pub locked: bool,
    pub status: String,
    pub created_at: String,
    pub features: Vec<String>,
    pub image: DropletImage,
    pub size_slug: String,
    pub networks: Networks,
    pub region: DropletRegion,
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct DropletOne {
    pub droplet: Droplet,
}

/// The 202 answer to a create: one droplet or several, and their create actions.
#[derive(Debug, Deserialize)]
pub struct DropletCreated {
    #[serde(default)]
    pub droplet: Option<Droplet>,
    #[serde(default)]
    pub droplets: Vec<Droplet>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub id: u64,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
    #[serde(default)]
    pub resource_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct ActionOne {
    pub action: Action,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Account {
    pub droplet_limit: u64,
    pub email: String,
    pub uuid: String,
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub struct AccountOne {
    pub account: Account,
}

/// Body of `POST /v2/droplets`.
#[derive(Debug, Serialize)]
pub struct CreateDroplets<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<&'a str>>,
    pub region: &'a str,
    pub size: &'a str,
    /// A slug, or a numeric id sent as a number (the spec's `oneOf` string/integer).
    pub image: serde_json::Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<serde_json::Value>,
    pub backups: bool,
    pub ipv6: bool,
    pub monitoring: bool,
    pub tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_uuid: Option<&'a str>,
}
