//! DigitalOcean's JSON for the resources beyond droplets, as this client reads
//! `openapi-resources.yaml`: volumes and their actions, snapshots, SSH keys, firewalls, reserved
//! IPs, VPCs and a droplet's associated resources.
//!
//! Like [`crate::wire`], these types are written from the spec and never shared with `dosim`.
//! Only the fields Nephele uses are read (serde skips the rest without keeping them: a
//! reserved IP's whole droplet object, a volume's region with its size list); fields the spec
//! marks `nullable` may be `null`, and lists that may be missing default to empty.

use serde::{Deserialize, Deserializer, Serialize};

/// A list the spec marks `nullable`: `null` and absent both read as empty.
fn nullable_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A region object where the spec embeds a whole one: only its slug is read.
#[derive(Debug, Clone, Deserialize)]
pub struct RegionRef {
    pub slug: String,
}

/// `volume_full`.
#[derive(Debug, Clone, Deserialize)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub region: RegionRef,
    pub size_gigabytes: u64,
    #[serde(default, deserialize_with = "nullable_list")]
    pub droplet_ids: Vec<u64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub tags: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
pub struct VolumeOne {
    pub volume: Volume,
}

/// Body of `POST /v2/volumes` (`volumes_ext4` without a filesystem: Nephele formats nothing).
#[derive(Debug, Serialize)]
pub struct CreateVolume<'a> {
    pub name: &'a str,
    pub size_gigabytes: u64,
    pub region: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub tags: Vec<&'a str>,
}

/// Body of `POST /v2/volumes/{id}/actions` (`volume_action_post_*`).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VolumeActionBody<'a> {
    Attach { droplet_id: u64 },
    Detach { droplet_id: u64 },
    Resize { size_gigabytes: u64, region: &'a str },
}

/// `snapshots`: a droplet or volume snapshot as `/v2/snapshots` and the volume's snapshots
/// give it (ids are strings here, numbers for droplet snapshots elsewhere).
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub min_disk_size: Option<u64>,
    /// "The billable size of the snapshot in gigabytes", a float.
    pub size_gigabytes: f64,
    pub resource_id: String,
    /// `droplet` or `volume`.
    pub resource_type: String,
    #[serde(default, deserialize_with = "nullable_list")]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct SnapshotOne {
    pub snapshot: Snapshot,
}

/// `droplet_snapshot`: a snapshot in `/v2/droplets/{id}/snapshots` (numeric id, no tags).
#[derive(Debug, Clone, Deserialize)]
pub struct DropletSnapshot {
    pub id: u64,
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub min_disk_size: Option<u64>,
    pub size_gigabytes: f64,
    /// `snapshot` or `backup`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Body of `POST /v2/volumes/{id}/snapshots`.
#[derive(Debug, Serialize)]
pub struct CreateVolumeSnapshot<'a> {
    pub name: &'a str,
    pub tags: Vec<&'a str>,
}

/// `sshKeys`.
#[derive(Debug, Clone, Deserialize)]
pub struct SshKey {
    pub id: u64,
    pub fingerprint: String,
    pub public_key: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct SshKeyOne {
    pub ssh_key: SshKey,
}

#[derive(Debug, Serialize)]
pub struct CreateSshKey<'a> {
    pub name: &'a str,
    pub public_key: &'a str,
}

/// `firewall_rule_target`. Kept whole (load balancers and Kubernetes clusters included) so a
/// rule Nephele removes is sent back exactly as DigitalOcean holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct RuleTarget {
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable_list")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable_list")]
    pub droplet_ids: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable_list")]
    pub load_balancer_uids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable_list")]
    pub kubernetes_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable_list")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct InboundRule {
    pub protocol: String,
    pub ports: String,
    pub sources: RuleTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct OutboundRule {
    pub protocol: String,
    pub ports: String,
    pub destinations: RuleTarget,
}

/// `firewall`.
#[derive(Debug, Clone, Deserialize)]
pub struct Firewall {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub droplet_ids: Vec<u64>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub inbound_rules: Vec<InboundRule>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub outbound_rules: Vec<OutboundRule>,
}

#[derive(Debug, Deserialize)]
pub struct FirewallOne {
    pub firewall: Firewall,
}

/// Body of `POST /v2/firewalls`.
#[derive(Debug, Serialize)]
pub struct CreateFirewall<'a> {
    pub name: &'a str,
    pub inbound_rules: Vec<InboundRule>,
    pub outbound_rules: Vec<OutboundRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub droplet_ids: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<&'a str>,
}

/// Body of `POST|DELETE /v2/firewalls/{id}/rules`.
#[derive(Debug, Serialize)]
pub struct FirewallRules {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inbound_rules: Vec<InboundRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outbound_rules: Vec<OutboundRule>,
}

/// The droplet a reserved IP is assigned to: the spec embeds the whole droplet; its id is all
/// Nephele reads.
#[derive(Debug, Clone, Deserialize)]
pub struct DropletRef {
    pub id: u64,
}

/// `reserved_ip`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReservedIp {
    pub ip: String,
    pub region: RegionRef,
    #[serde(default)]
    pub droplet: Option<DropletRef>,
    #[serde(default)]
    pub locked: bool,
}

#[derive(Debug, Deserialize)]
pub struct ReservedIpOne {
    pub reserved_ip: ReservedIp,
}

/// Body of `POST /v2/reserved_ips`: one of the two shapes of `reserved_ip_create`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum CreateReservedIp<'a> {
    ToDroplet { droplet_id: u64 },
    InRegion { region: &'a str },
}

/// Body of `POST /v2/reserved_ips/{ip}/actions`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReservedIpActionBody {
    Assign { droplet_id: u64 },
    Unassign,
}

/// `vpc`.
#[derive(Debug, Clone, Deserialize)]
pub struct Vpc {
    pub id: String,
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub ip_range: String,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct VpcOne {
    pub vpc: Vpc,
}

/// Body of `POST /v2/vpcs`.
#[derive(Debug, Serialize)]
pub struct CreateVpc<'a> {
    pub name: &'a str,
    pub region: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
}

/// `vpc_member`: `urn` is `do:<kind>:<id>`.
#[derive(Debug, Clone, Deserialize)]
pub struct VpcMember {
    pub urn: String,
    #[serde(default)]
    pub name: String,
}

/// `associated_resource`.
#[derive(Debug, Clone, Deserialize)]
pub struct Associated {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// `GET /v2/droplets/{id}/destroy_with_associated_resources`.
#[derive(Debug, Default, Deserialize)]
pub struct AssociatedList {
    #[serde(default, deserialize_with = "nullable_list")]
    pub reserved_ips: Vec<Associated>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub snapshots: Vec<Associated>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub volumes: Vec<Associated>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub volume_snapshots: Vec<Associated>,
}

/// Body of `DELETE .../destroy_with_associated_resources/selective`.
#[derive(Debug, Default, Serialize)]
pub struct SelectiveDestroy {
    pub reserved_ips: Vec<String>,
    pub snapshots: Vec<String>,
    pub volumes: Vec<String>,
    pub volume_snapshots: Vec<String>,
}

/// One resource in a destroy's status.
#[derive(Debug, Clone, Deserialize)]
pub struct Destroyed {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub error_message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DestroyedLists {
    #[serde(default, deserialize_with = "nullable_list")]
    pub reserved_ips: Vec<Destroyed>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub snapshots: Vec<Destroyed>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub volumes: Vec<Destroyed>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub volume_snapshots: Vec<Destroyed>,
}

/// `GET .../destroy_with_associated_resources/status`.
#[derive(Debug, Deserialize)]
pub struct DestroyStatus {
    #[serde(default)]
    pub resources: DestroyedLists,
    #[serde(default)]
    pub completed_at: Option<String>,
    #[serde(default)]
    pub failures: u64,
}
