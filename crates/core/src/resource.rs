//! Everything an account pays for besides its instances: block volumes, snapshots, SSH keys,
//! firewalls, reserved IPs and VPCs, in terms every provider shares.
//!
//! Each kind is a capability a provider declares (`ProviderInfo::capabilities` names it by
//! [`ResourceKind::capability`]); a provider without it answers [`crate::ProviderError::NotSupported`].
//! The [`crate::Provider`] trait reaches every kind through five calls — list, get, create,
//! delete, act — so the engine treats every kind alike (inventory, operations, costs, events).
//!
//! Changes are exactly once: a create carries its operation's id and the provider adopts what
//! an earlier call with that id made, where the cloud keeps a record (a tag, or a name it holds
//! unique); an action is checked against the resource's state ([`ResourceAction::is_done`])
//! before it is sent again, so a lost answer never does a thing twice.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::instance::InstanceId;
use crate::operation::{OperationId, ProviderAction};

/// A kind of resource, as the API names it in URLs (`/api/v1/providers/{a}/volumes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Volume,
    Snapshot,
    SshKey,
    Firewall,
    ReservedIp,
    Vpc,
}

impl ResourceKind {
    pub const ALL: [Self; 6] =
        [Self::Volume, Self::Snapshot, Self::SshKey, Self::Firewall, Self::ReservedIp, Self::Vpc];

    /// The URL segment: `volumes`, `snapshots`, `ssh-keys`, `firewalls`, `reserved-ips`, `vpcs`.
    pub const fn plural(self) -> &'static str {
        match self {
            Self::Volume => "volumes",
            Self::Snapshot => "snapshots",
            Self::SshKey => "ssh-keys",
            Self::Firewall => "firewalls",
            Self::ReservedIp => "reserved-ips",
            Self::Vpc => "vpcs",
        }
    }

    /// The singular name used in records and events (`volume`, `reserved_ip`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::Snapshot => "snapshot",
            Self::SshKey => "ssh_key",
            Self::Firewall => "firewall",
            Self::ReservedIp => "reserved_ip",
            Self::Vpc => "vpc",
        }
    }

    /// The capability a provider declares for this kind (`ProviderInfo::capabilities`).
    pub const fn capability(self) -> &'static str {
        match self {
            Self::Volume => "volumes",
            Self::Snapshot => "snapshots",
            Self::SshKey => "ssh_keys",
            Self::Firewall => "firewalls",
            Self::ReservedIp => "reserved_ips",
            Self::Vpc => "vpcs",
        }
    }

    /// The kind a URL segment names.
    pub fn from_plural(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.plural() == segment)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s || k.plural() == s).ok_or_else(|| {
            format!(
                "unknown kind {s:?}; expected one of volume, snapshot, ssh_key, firewall, reserved_ip, vpc"
            )
        })
    }
}

/// A provider's own id for a resource (a volume's UUID, `vol-0abc`, an IP address, a key's id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(pub String);

/// The longest resource id Nephele accepts.
pub const MAX_RESOURCE_ID_LEN: usize = 128;

impl ResourceId {
    /// 1 to [`MAX_RESOURCE_ID_LEN`] visible ASCII characters, none of them `/`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_RESOURCE_ID_LEN {
            return Err(format!("must be 1 to {MAX_RESOURCE_ID_LEN} characters, got {}", raw.len()));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
            return Err("must be visible ASCII characters other than `/`".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A block storage volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: ResourceId,
    pub name: String,
    pub region: String,
    pub size_gib: u64,
    /// `creating`, `available` (attached to nothing), `in_use` or `deleting`, normalised.
    pub status: VolumeStatus,
    /// The provider's own word for the state.
    pub provider_status: String,
    /// The instances it is attached to (one on every cloud Nephele speaks to).
    pub attached_to: Vec<InstanceId>,
    /// EBS volume type (`gp3`, `gp2`); `None` where the cloud has one kind (DigitalOcean).
    pub volume_type: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeStatus {
    Creating,
    Available,
    InUse,
    Deleting,
    Unknown,
}

/// What a snapshot was taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotSourceKind {
    Instance,
    Volume,
}

/// A point-in-time copy of an instance's disk or of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: ResourceId,
    pub name: String,
    pub source_kind: SnapshotSourceKind,
    /// The instance or volume it was taken of (which may be gone since).
    pub source_id: String,
    pub regions: Vec<String>,
    /// Billed size in GiB (DigitalOcean's `size_gigabytes`, EBS's volume size).
    pub size_gib: rust_decimal::Decimal,
    /// The size a volume or disk made from it needs.
    pub min_disk_gib: Option<u64>,
    /// `pending`, `available` or `error`, normalised.
    pub status: SnapshotStatus,
    pub tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotStatus {
    Pending,
    Available,
    Error,
}

/// A public key instances can be created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKey {
    pub id: ResourceId,
    pub name: String,
    /// The provider's fingerprint (MD5 colon-hex on DigitalOcean and for imported EC2 keys).
    pub fingerprint: String,
    /// The public key, when the provider shows it (EC2 shows it only at import).
    pub public_key: Option<String>,
}

/// The protocol a firewall rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
}

/// Ports of a rule: all of them, or an inclusive range (`from == to` for one port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Ports {
    All,
    Range { from: u16, to: u16 },
}

/// Where traffic of a rule comes from (inbound) or goes to (outbound).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleTargets {
    /// IPv4 and IPv6 addresses and CIDR blocks (`0.0.0.0/0`, `::/0`).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Instances by id (DigitalOcean droplet ids; not offered by EC2 security groups).
    #[serde(default)]
    pub instance_ids: Vec<InstanceId>,
    /// Instances by tag (DigitalOcean only).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One firewall rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FirewallRule {
    pub protocol: Protocol,
    /// Must be [`Ports::All`] for ICMP.
    pub ports: Ports,
    pub targets: RuleTargets,
}

/// A cloud firewall (DigitalOcean) or security group (EC2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firewall {
    pub id: ResourceId,
    pub name: String,
    /// The provider's status word (`succeeded`, `waiting`, `failed` on DigitalOcean).
    pub status: String,
    pub inbound: Vec<FirewallRule>,
    pub outbound: Vec<FirewallRule>,
    /// Instances it applies to directly.
    pub instance_ids: Vec<InstanceId>,
    /// Instance tags it applies to (DigitalOcean only).
    pub tags: Vec<String>,
    /// The VPC a security group belongs to (EC2).
    pub vpc_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub created_at: Option<OffsetDateTime>,
}

/// A public IPv4 address reserved in a region (DigitalOcean reserved IP, EC2 Elastic IP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedIp {
    /// The address itself on DigitalOcean, the allocation id (`eipalloc-...`) on EC2.
    pub id: ResourceId,
    pub address: IpAddr,
    pub region: String,
    /// The instance it is assigned to; unassigned reserved IPs cost money on both clouds.
    pub assigned_to: Option<InstanceId>,
    /// True while the provider is moving it and refuses actions.
    pub locked: bool,
    pub tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub created_at: Option<OffsetDateTime>,
}

/// A private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: ResourceId,
    pub name: String,
    pub region: String,
    /// Its range of private addresses (`10.10.10.0/24`).
    pub ip_range: String,
    /// The region's default VPC, which cannot be deleted.
    pub default: bool,
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub created_at: Option<OffsetDateTime>,
}

/// Something inside a VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcMember {
    /// `instance`, or a resource kind, or the provider's word for what else it is.
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// One resource of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    Volume(Volume),
    Snapshot(Snapshot),
    SshKey(SshKey),
    Firewall(Firewall),
    ReservedIp(ReservedIp),
    Vpc(Vpc),
}

impl Resource {
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Volume(_) => ResourceKind::Volume,
            Self::Snapshot(_) => ResourceKind::Snapshot,
            Self::SshKey(_) => ResourceKind::SshKey,
            Self::Firewall(_) => ResourceKind::Firewall,
            Self::ReservedIp(_) => ResourceKind::ReservedIp,
            Self::Vpc(_) => ResourceKind::Vpc,
        }
    }

    pub fn id(&self) -> &ResourceId {
        match self {
            Self::Volume(r) => &r.id,
            Self::Snapshot(r) => &r.id,
            Self::SshKey(r) => &r.id,
            Self::Firewall(r) => &r.id,
            Self::ReservedIp(r) => &r.id,
            Self::Vpc(r) => &r.id,
        }
    }

    /// Its name; a reserved IP's is its address.
    pub fn name(&self) -> String {
        match self {
            Self::Volume(r) => r.name.clone(),
            Self::Snapshot(r) => r.name.clone(),
            Self::SshKey(r) => r.name.clone(),
            Self::Firewall(r) => r.name.clone(),
            Self::ReservedIp(r) => r.address.to_string(),
            Self::Vpc(r) => r.name.clone(),
        }
    }

    /// The region it lives in, when it lives in one (keys and firewalls are global on
    /// DigitalOcean; snapshots may be in several).
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::Volume(r) => Some(&r.region),
            Self::Snapshot(r) => r.regions.first().map(String::as_str),
            Self::ReservedIp(r) => Some(&r.region),
            Self::Vpc(r) => Some(&r.region),
            Self::SshKey(_) | Self::Firewall(_) => None,
        }
    }

    pub fn tags(&self) -> &[String] {
        match self {
            Self::Volume(r) => &r.tags,
            Self::Snapshot(r) => &r.tags,
            Self::ReservedIp(r) => &r.tags,
            Self::SshKey(_) | Self::Firewall(_) | Self::Vpc(_) => &[],
        }
    }

    pub fn created_at(&self) -> Option<OffsetDateTime> {
        match self {
            Self::Volume(r) => Some(r.created_at),
            Self::Snapshot(r) => Some(r.created_at),
            Self::Firewall(r) => r.created_at,
            Self::ReservedIp(r) => r.created_at,
            Self::Vpc(r) => r.created_at,
            Self::SshKey(_) => None,
        }
    }
}

/// A name for a resource Nephele creates: 1-64 of lowercase letters, digits and `-`, starting
/// with a letter (DigitalOcean's volume rule, the strictest of the kinds and clouds).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ResourceName(String);

impl ResourceName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 64 {
            return Err(format!("must be 1 to 64 characters, got {}", raw.len()));
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err("must start with a lowercase letter".to_owned());
        }
        if let Some(bad) = raw.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(format!("may contain only lowercase letters, digits and `-`; found {bad:?}"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ResourceName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The largest volume either cloud makes, in GiB (DigitalOcean 16 TiB; EBS gp3 16 TiB).
pub const MAX_VOLUME_GIB: u64 = 16_384;

/// A request to create one resource, exactly once for its `operation_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreateResource {
    Volume {
        operation_id: OperationId,
        name: ResourceName,
        region: String,
        size_gib: u64,
        /// Made from this snapshot (its size then wins on DigitalOcean).
        #[serde(default)]
        snapshot_id: Option<ResourceId>,
        /// EBS type (`gp3` by default on EC2); ignored where the cloud has one kind.
        #[serde(default)]
        volume_type: Option<String>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
    },
    Snapshot {
        operation_id: OperationId,
        name: ResourceName,
        source_kind: SnapshotSourceKind,
        source_id: String,
        #[serde(default)]
        tags: Vec<String>,
    },
    SshKey {
        operation_id: OperationId,
        name: String,
        public_key: String,
    },
    Firewall {
        operation_id: OperationId,
        name: ResourceName,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        inbound: Vec<FirewallRule>,
        #[serde(default)]
        outbound: Vec<FirewallRule>,
        #[serde(default)]
        instance_ids: Vec<InstanceId>,
        #[serde(default)]
        tags: Vec<String>,
        /// The VPC a security group is made in (EC2; the region's default VPC when absent).
        #[serde(default)]
        vpc_id: Option<String>,
    },
    ReservedIp {
        operation_id: OperationId,
        region: String,
        /// Assigned at once to this instance, when given.
        #[serde(default)]
        instance_id: Option<InstanceId>,
    },
    Vpc {
        operation_id: OperationId,
        name: ResourceName,
        region: String,
        /// A private range (`10.10.10.0/24`); the provider picks one when absent.
        #[serde(default)]
        ip_range: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
}

impl CreateResource {
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Volume { .. } => ResourceKind::Volume,
            Self::Snapshot { .. } => ResourceKind::Snapshot,
            Self::SshKey { .. } => ResourceKind::SshKey,
            Self::Firewall { .. } => ResourceKind::Firewall,
            Self::ReservedIp { .. } => ResourceKind::ReservedIp,
            Self::Vpc { .. } => ResourceKind::Vpc,
        }
    }

    pub fn operation_id(&self) -> OperationId {
        match self {
            Self::Volume { operation_id, .. }
            | Self::Snapshot { operation_id, .. }
            | Self::SshKey { operation_id, .. }
            | Self::Firewall { operation_id, .. }
            | Self::ReservedIp { operation_id, .. }
            | Self::Vpc { operation_id, .. } => *operation_id,
        }
    }
}

/// A change to an existing resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ResourceAction {
    AttachVolume {
        volume_id: ResourceId,
        instance_id: InstanceId,
    },
    DetachVolume {
        volume_id: ResourceId,
        instance_id: InstanceId,
    },
    /// Grow a volume; volumes never shrink.
    ResizeVolume {
        volume_id: ResourceId,
        size_gib: u64,
    },
    AssignReservedIp {
        ip_id: ResourceId,
        instance_id: InstanceId,
    },
    UnassignReservedIp {
        ip_id: ResourceId,
    },
    /// Replace a firewall's rules with these.
    SetFirewallRules {
        firewall_id: ResourceId,
        inbound: Vec<FirewallRule>,
        outbound: Vec<FirewallRule>,
    },
    AddFirewallInstances {
        firewall_id: ResourceId,
        instance_ids: Vec<InstanceId>,
    },
    RemoveFirewallInstances {
        firewall_id: ResourceId,
        instance_ids: Vec<InstanceId>,
    },
    AddFirewallTags {
        firewall_id: ResourceId,
        tags: Vec<String>,
    },
    RemoveFirewallTags {
        firewall_id: ResourceId,
        tags: Vec<String>,
    },
}

impl ResourceAction {
    /// The resource it changes.
    pub fn target(&self) -> (ResourceKind, &ResourceId) {
        match self {
            Self::AttachVolume { volume_id, .. }
            | Self::DetachVolume { volume_id, .. }
            | Self::ResizeVolume { volume_id, .. } => (ResourceKind::Volume, volume_id),
            Self::AssignReservedIp { ip_id, .. } | Self::UnassignReservedIp { ip_id } => {
                (ResourceKind::ReservedIp, ip_id)
            }
            Self::SetFirewallRules { firewall_id, .. }
            | Self::AddFirewallInstances { firewall_id, .. }
            | Self::RemoveFirewallInstances { firewall_id, .. }
            | Self::AddFirewallTags { firewall_id, .. }
            | Self::RemoveFirewallTags { firewall_id, .. } => (ResourceKind::Firewall, firewall_id),
        }
    }

    /// The action's name in records and URLs (`attach`, `set_rules`, ...).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::AttachVolume { .. } => "attach",
            Self::DetachVolume { .. } => "detach",
            Self::ResizeVolume { .. } => "resize",
            Self::AssignReservedIp { .. } => "assign",
            Self::UnassignReservedIp { .. } => "unassign",
            Self::SetFirewallRules { .. } => "set_rules",
            Self::AddFirewallInstances { .. } => "add_instances",
            Self::RemoveFirewallInstances { .. } => "remove_instances",
            Self::AddFirewallTags { .. } => "add_tags",
            Self::RemoveFirewallTags { .. } => "remove_tags",
        }
    }

    /// Whether `resource`, as read now, already shows this action's effect. An action is sent
    /// again after a lost answer only when it is not done: that is what makes actions exactly
    /// once on clouds that keep no record of them.
    pub fn is_done(&self, resource: &Resource) -> bool {
        match (self, resource) {
            (Self::AttachVolume { instance_id, .. }, Resource::Volume(v)) => {
                v.attached_to.contains(instance_id)
            }
            (Self::DetachVolume { instance_id, .. }, Resource::Volume(v)) => {
                !v.attached_to.contains(instance_id)
            }
            (Self::ResizeVolume { size_gib, .. }, Resource::Volume(v)) => v.size_gib >= *size_gib,
            (Self::AssignReservedIp { instance_id, .. }, Resource::ReservedIp(ip)) => {
                ip.assigned_to.as_ref() == Some(instance_id)
            }
            (Self::UnassignReservedIp { .. }, Resource::ReservedIp(ip)) => ip.assigned_to.is_none(),
            (Self::SetFirewallRules { inbound, outbound, .. }, Resource::Firewall(f)) => {
                same_rules(&f.inbound, inbound) && same_rules(&f.outbound, outbound)
            }
            (Self::AddFirewallInstances { instance_ids, .. }, Resource::Firewall(f)) => {
                instance_ids.iter().all(|i| f.instance_ids.contains(i))
            }
            (Self::RemoveFirewallInstances { instance_ids, .. }, Resource::Firewall(f)) => {
                instance_ids.iter().all(|i| !f.instance_ids.contains(i))
            }
            (Self::AddFirewallTags { tags, .. }, Resource::Firewall(f)) => {
                tags.iter().all(|t| f.tags.contains(t))
            }
            (Self::RemoveFirewallTags { tags, .. }, Resource::Firewall(f)) => {
                tags.iter().all(|t| !f.tags.contains(t))
            }
            _ => false,
        }
    }
}

/// Two rule lists mean the same whatever their order (and the order of their targets).
fn same_rules(a: &[FirewallRule], b: &[FirewallRule]) -> bool {
    let normal = |rules: &[FirewallRule]| {
        let mut rules: Vec<FirewallRule> = rules
            .iter()
            .cloned()
            .map(|mut r| {
                r.targets.addresses.sort();
                r.targets.instance_ids.sort();
                r.targets.tags.sort();
                r
            })
            .collect();
        rules.sort();
        rules.dedup();
        rules
    };
    normal(a) == normal(b)
}

/// What a provider answered to an action: the provider's own action to follow, when it keeps
/// one (DigitalOcean), and the resource as it stands, when the answer carried it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActionStarted {
    pub action: Option<ProviderAction>,
    pub resource: Option<Resource>,
}

/// Resources to delete together with an instance (DigitalOcean's
/// `destroy_with_associated_resources/selective`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociatedResources {
    #[serde(default)]
    pub volumes: Vec<ResourceId>,
    #[serde(default)]
    pub snapshots: Vec<ResourceId>,
    #[serde(default)]
    pub reserved_ips: Vec<ResourceId>,
}

impl AssociatedResources {
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty() && self.snapshots.is_empty() && self.reserved_ips.is_empty()
    }

    /// Every resource, with its kind.
    pub fn all(&self) -> impl Iterator<Item = (ResourceKind, &ResourceId)> {
        self.volumes
            .iter()
            .map(|id| (ResourceKind::Volume, id))
            .chain(self.snapshots.iter().map(|id| (ResourceKind::Snapshot, id)))
            .chain(self.reserved_ips.iter().map(|id| (ResourceKind::ReservedIp, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(attached: &[&str], size: u64) -> Resource {
        Resource::Volume(Volume {
            id: ResourceId("v-1".into()),
            name: "data".into(),
            region: "nyc1".into(),
            size_gib: size,
            status: if attached.is_empty() { VolumeStatus::Available } else { VolumeStatus::InUse },
            provider_status: String::new(),
            attached_to: attached.iter().map(|i| InstanceId((*i).into())).collect(),
            volume_type: None,
            description: None,
            tags: vec![],
            created_at: OffsetDateTime::UNIX_EPOCH,
        })
    }

    #[test]
    fn an_action_is_done_when_the_resource_shows_its_effect() {
        let attach = ResourceAction::AttachVolume {
            volume_id: ResourceId("v-1".into()),
            instance_id: InstanceId("7".into()),
        };
        assert!(!attach.is_done(&volume(&[], 100)));
        assert!(attach.is_done(&volume(&["7"], 100)));
        let detach = ResourceAction::DetachVolume {
            volume_id: ResourceId("v-1".into()),
            instance_id: InstanceId("7".into()),
        };
        assert!(detach.is_done(&volume(&[], 100)) && !detach.is_done(&volume(&["7"], 100)));
        let resize = ResourceAction::ResizeVolume { volume_id: ResourceId("v-1".into()), size_gib: 200 };
        assert!(!resize.is_done(&volume(&[], 100)) && resize.is_done(&volume(&[], 200)));
        // An action read against another kind is never "done".
        let assign = ResourceAction::AssignReservedIp {
            ip_id: ResourceId("v-1".into()),
            instance_id: InstanceId("7".into()),
        };
        assert!(!assign.is_done(&volume(&["7"], 100)));
    }

    #[test]
    fn rules_compare_as_sets() {
        let rule = |port: u16, address: &str| FirewallRule {
            protocol: Protocol::Tcp,
            ports: Ports::Range { from: port, to: port },
            targets: RuleTargets { addresses: vec![address.into()], ..RuleTargets::default() },
        };
        assert!(same_rules(&[rule(22, "a"), rule(80, "b")], &[rule(80, "b"), rule(22, "a")]));
        assert!(!same_rules(&[rule(22, "a")], &[rule(22, "b")]));
    }

    #[test]
    fn kinds_name_themselves_in_urls_records_and_capabilities() {
        for kind in ResourceKind::ALL {
            assert_eq!(ResourceKind::from_plural(kind.plural()), Some(kind));
            assert_eq!(kind.as_str().parse::<ResourceKind>(), Ok(kind));
        }
        assert_eq!(ResourceKind::ReservedIp.plural(), "reserved-ips");
        assert_eq!(ResourceKind::SshKey.capability(), "ssh_keys");
    }

    #[test]
    fn resource_names_follow_the_strictest_rule() {
        assert!(ResourceName::parse("data-1").is_ok());
        for bad in ["", "1data", "Data", "data_1", &"a".repeat(65)] {
            assert!(ResourceName::parse(bad).is_err(), "{bad}");
        }
    }
}
