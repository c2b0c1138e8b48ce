//! Firewalls, reserved IPs and VPCs, as the spec shapes them.

use serde::{Deserialize, Serialize};

use super::{ActionLink, DropletJson, RegionJson, present};

/// A rule's sources or destinations; empty lists are left out, as DigitalOcean does.
#[derive(Serialize, Deserialize, Default)]
pub struct TargetsJson {
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "present_vec")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "present_vec")]
    pub droplet_ids: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "present_vec")]
    pub load_balancer_uids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "present_vec")]
    pub kubernetes_ids: Vec<String>,
    /// `existing_tags_array` is nullable.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable_vec")]
    pub tags: Vec<String>,
}

/// A list the spec does not mark nullable: absent is empty, `null` is refused.
fn present_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Vec::<T>::deserialize(deserializer)
}

/// A list the spec marks nullable: absent and `null` are both empty.
fn nullable_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<T>>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[derive(Serialize, Deserialize)]
pub struct InboundRuleJson {
    pub protocol: String,
    pub ports: String,
    pub sources: TargetsJson,
}

#[derive(Serialize, Deserialize)]
pub struct OutboundRuleJson {
    pub protocol: String,
    pub ports: String,
    pub destinations: TargetsJson,
}

#[derive(Serialize)]
pub struct PendingChangeJson {
    pub droplet_id: u64,
    pub removing: bool,
    pub status: &'static str,
}

#[derive(Serialize)]
pub struct FirewallJson {
    pub id: String,
    pub name: String,
    /// `waiting` while a change is being applied, then `succeeded`.
    pub status: &'static str,
    pub created_at: String,
    pub pending_changes: Vec<PendingChangeJson>,
    pub droplet_ids: Vec<u64>,
    pub tags: Vec<String>,
    pub inbound_rules: Vec<InboundRuleJson>,
    pub outbound_rules: Vec<OutboundRuleJson>,
}

/// Body of `POST /v2/firewalls` and `PUT /v2/firewalls/{id}`: the whole firewall.
#[derive(Deserialize)]
pub struct FirewallBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub droplet_ids: Vec<u64>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub inbound_rules: Vec<InboundRuleJson>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub outbound_rules: Vec<OutboundRuleJson>,
}

#[derive(Deserialize)]
pub struct FirewallDropletsBody {
    pub droplet_ids: Vec<u64>,
}

#[derive(Deserialize)]
pub struct FirewallTagsBody {
    /// Required, but `existing_tags_array` is nullable.
    pub tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct FirewallRulesBody {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub inbound_rules: Vec<InboundRuleJson>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub outbound_rules: Vec<OutboundRuleJson>,
}

#[derive(Serialize)]
pub struct ReservedIpJson {
    pub ip: String,
    pub region: RegionJson,
    /// The whole droplet it is assigned to, or `null`.
    pub droplet: Option<DropletJson>,
    pub locked: bool,
    pub project_id: String,
}

/// `links` of a reserved IP create: the droplet and the assignment action, when assigned.
#[derive(Serialize, Default)]
pub struct ReservedIpLinks {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub droplets: Vec<ActionLink>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionLink>,
}

/// Body of `POST /v2/reserved_ips`: exactly one of `droplet_id` and `region` (a `oneOf`).
#[derive(Deserialize)]
pub struct ReservedIpCreateBody {
    #[serde(default, deserialize_with = "present")]
    pub droplet_id: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub project_id: Option<String>,
}

#[derive(Deserialize)]
pub struct ReservedIpActionBody {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "present")]
    pub droplet_id: Option<u64>,
}

#[derive(Serialize)]
pub struct VpcJson {
    pub id: String,
    pub urn: String,
    pub name: String,
    pub description: String,
    pub region: &'static str,
    pub ip_range: String,
    pub default: bool,
    pub created_at: String,
}

#[derive(Serialize)]
pub struct VpcMemberJson {
    pub urn: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Deserialize)]
pub struct VpcCreateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub ip_range: Option<String>,
}

#[derive(Deserialize)]
pub struct VpcUpdateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub default: Option<bool>,
}
