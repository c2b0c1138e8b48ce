//! DigitalOcean's resources as Nephele's provider-neutral ones, and firewall rules back again.
//!
//! Answers are untrusted: a timestamp, address, size or rule that cannot be read is an
//! unusable answer naming the field, never a guessed value. DigitalOcean keeps no status for
//! volumes or snapshots: a volume is `in_use` while attached to a droplet and `available`
//! otherwise; a snapshot that is listed is `available`.

use std::net::IpAddr;
use std::str::FromStr;

use nephele_core::{
    Firewall, FirewallRule, InstanceId, Ports, Protocol, ProviderError, ReservedIp, Resource, ResourceId,
    RuleTargets, Snapshot, SnapshotSourceKind, SnapshotStatus, SshKey, Volume, VolumeStatus, Vpc, VpcMember,
};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::wire;

/// The largest snapshot size believed, in GiB: a million GiB is far past any disk or volume.
const MAX_SNAPSHOT_GIB: f64 = 1_000_000.0;

fn unusable(what: &str, field: &str, why: impl std::fmt::Display) -> ProviderError {
    ProviderError::invalid_response(format!("DigitalOcean sent a {what} with an unusable `{field}`: {why}"))
}

fn timestamp(what: &str, raw: &str) -> Result<OffsetDateTime, ProviderError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| unusable(what, "created_at", nephele_core::upstream_text(raw, &[])))
}

fn optional_timestamp(what: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, ProviderError> {
    raw.filter(|r| !r.is_empty()).map(|r| timestamp(what, r)).transpose()
}

fn instances(ids: &[u64]) -> Vec<InstanceId> {
    ids.iter().map(|id| InstanceId(id.to_string())).collect()
}

pub fn volume(volume: wire::Volume) -> Result<Resource, ProviderError> {
    let attached = !volume.droplet_ids.is_empty();
    Ok(Resource::Volume(Volume {
        created_at: timestamp("volume", &volume.created_at)?,
        id: ResourceId(volume.id),
        name: volume.name,
        region: volume.region.slug,
        size_gib: volume.size_gigabytes,
        status: if attached { VolumeStatus::InUse } else { VolumeStatus::Available },
        // DigitalOcean has no word of its own for a volume's state; this is Nephele's.
        provider_status: if attached { "attached" } else { "unattached" }.to_owned(),
        attached_to: instances(&volume.droplet_ids),
        volume_type: None,
        description: volume.description.filter(|d| !d.is_empty()),
        tags: volume.tags,
    }))
}

/// A snapshot's float size as exact GiB: the shortest decimal that prints the same float.
fn snapshot_size(what: &str, size: f64) -> Result<Decimal, ProviderError> {
    if !size.is_finite() || !(0.0..=MAX_SNAPSHOT_GIB).contains(&size) {
        return Err(unusable(what, "size_gigabytes", size));
    }
    Decimal::from_str(&size.to_string()).map_err(|e| unusable(what, "size_gigabytes", e))
}

pub fn snapshot(snapshot: wire::Snapshot) -> Result<Resource, ProviderError> {
    let source_kind = match snapshot.resource_type.as_str() {
        "droplet" => SnapshotSourceKind::Instance,
        "volume" => SnapshotSourceKind::Volume,
        other => return Err(unusable("snapshot", "resource_type", nephele_core::upstream_text(other, &[]))),
    };
    Ok(Resource::Snapshot(Snapshot {
        created_at: timestamp("snapshot", &snapshot.created_at)?,
        size_gib: snapshot_size("snapshot", snapshot.size_gigabytes)?,
        id: ResourceId(snapshot.id),
        name: snapshot.name,
        source_kind,
        source_id: snapshot.resource_id,
        regions: snapshot.regions,
        min_disk_gib: snapshot.min_disk_size,
        status: SnapshotStatus::Available,
        tags: snapshot.tags,
    }))
}

/// A snapshot as a droplet's own list shows it (it names no source: the droplet is `source`).
pub fn droplet_snapshot(snapshot: wire::DropletSnapshot, droplet: u64) -> Result<Resource, ProviderError> {
    Ok(Resource::Snapshot(Snapshot {
        created_at: timestamp("droplet snapshot", &snapshot.created_at)?,
        size_gib: snapshot_size("droplet snapshot", snapshot.size_gigabytes)?,
        id: ResourceId(snapshot.id.to_string()),
        name: snapshot.name,
        source_kind: SnapshotSourceKind::Instance,
        source_id: droplet.to_string(),
        regions: snapshot.regions,
        min_disk_gib: snapshot.min_disk_size,
        status: SnapshotStatus::Available,
        tags: Vec::new(),
    }))
}

pub fn ssh_key(key: wire::SshKey) -> Resource {
    Resource::SshKey(SshKey {
        id: ResourceId(key.id.to_string()),
        name: key.name,
        fingerprint: key.fingerprint,
        public_key: Some(key.public_key),
    })
}

fn protocol(raw: &str) -> Result<Protocol, ProviderError> {
    match raw {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "icmp" => Ok(Protocol::Icmp),
        other => Err(unusable("firewall rule", "protocol", nephele_core::upstream_text(other, &[]))),
    }
}

/// `"0"` (or `"all"`, or nothing) is every port; otherwise a port or `low-high`.
fn ports(protocol: Protocol, raw: &str) -> Result<Ports, ProviderError> {
    if protocol == Protocol::Icmp || matches!(raw, "" | "0" | "all") {
        return Ok(Ports::All);
    }
    let port = |text: &str| text.trim().parse::<u16>().ok().filter(|p| *p >= 1);
    let range = match raw.split_once('-') {
        Some((low, high)) => port(low).zip(port(high)),
        None => port(raw).map(|p| (p, p)),
    };
    match range {
        Some((from, to)) if from <= to => Ok(Ports::Range { from, to }),
        _ => Err(unusable("firewall rule", "ports", nephele_core::upstream_text(raw, &[]))),
    }
}

/// Targets Nephele has no word for (load balancers, Kubernetes clusters) are not shown; they
/// stay on DigitalOcean's side, and rule changes send them back untouched.
fn targets(target: wire::RuleTarget) -> RuleTargets {
    RuleTargets {
        addresses: target.addresses,
        instance_ids: instances(&target.droplet_ids),
        tags: target.tags,
    }
}

fn rule(
    protocol_raw: &str,
    ports_raw: &str,
    target: wire::RuleTarget,
) -> Result<FirewallRule, ProviderError> {
    let protocol = protocol(protocol_raw)?;
    Ok(FirewallRule { protocol, ports: ports(protocol, ports_raw)?, targets: targets(target) })
}

pub fn firewall(firewall: wire::Firewall) -> Result<Resource, ProviderError> {
    let inbound = firewall
        .inbound_rules
        .into_iter()
        .map(|r| rule(&r.protocol, &r.ports, r.sources))
        .collect::<Result<_, _>>()?;
    let outbound = firewall
        .outbound_rules
        .into_iter()
        .map(|r| rule(&r.protocol, &r.ports, r.destinations))
        .collect::<Result<_, _>>()?;
    Ok(Resource::Firewall(Firewall {
        created_at: optional_timestamp("firewall", firewall.created_at.as_deref())?,
        id: ResourceId(firewall.id),
        name: firewall.name,
        status: firewall.status,
        inbound,
        outbound,
        instance_ids: instances(&firewall.droplet_ids),
        tags: firewall.tags,
        vpc_id: None,
    }))
}

pub fn reserved_ip(ip: wire::ReservedIp) -> Result<Resource, ProviderError> {
    let address = ip
        .ip
        .parse::<IpAddr>()
        .map_err(|_| unusable("reserved IP", "ip", nephele_core::upstream_text(&ip.ip, &[])))?;
    Ok(Resource::ReservedIp(ReservedIp {
        id: ResourceId(ip.ip),
        address,
        region: ip.region.slug,
        assigned_to: ip.droplet.map(|d| InstanceId(d.id.to_string())),
        locked: ip.locked,
        tags: Vec::new(),
        created_at: None,
    }))
}

pub fn vpc(vpc: wire::Vpc) -> Result<Resource, ProviderError> {
    Ok(Resource::Vpc(Vpc {
        created_at: optional_timestamp("VPC", vpc.created_at.as_deref())?,
        id: ResourceId(vpc.id),
        name: vpc.name,
        region: vpc.region,
        ip_range: vpc.ip_range,
        default: vpc.default,
        description: vpc.description.filter(|d| !d.is_empty()),
    }))
}

/// A member's URN (`do:droplet:123`) names its kind and id; droplets are Nephele's instances.
pub fn vpc_member(member: wire::VpcMember) -> Result<VpcMember, ProviderError> {
    let mut parts = member.urn.splitn(3, ':');
    let (Some("do"), Some(kind), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unusable("VPC member", "urn", nephele_core::upstream_text(&member.urn, &[])));
    };
    let kind = match kind {
        "droplet" => "instance",
        "volume" => "volume",
        "floatingip" | "reservedip" => "reserved_ip",
        other => other,
    };
    Ok(VpcMember { kind: kind.to_owned(), id: id.to_owned(), name: member.name })
}

/// A core rule as DigitalOcean writes it: ports `"0"` for all, `"22"`, or `"8000-9000"`.
/// Instance ids are checked to be droplet ids before this runs (see `validate`).
fn wire_ports(rule: &FirewallRule) -> String {
    match (rule.protocol, rule.ports) {
        (Protocol::Icmp, _) | (_, Ports::All) => "0".to_owned(),
        (_, Ports::Range { from, to }) if from == to => from.to_string(),
        (_, Ports::Range { from, to }) => format!("{from}-{to}"),
    }
}

fn wire_protocol(protocol: Protocol) -> String {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
    }
    .to_owned()
}

fn wire_target(targets: &RuleTargets) -> wire::RuleTarget {
    wire::RuleTarget {
        addresses: targets.addresses.clone(),
        droplet_ids: targets.instance_ids.iter().filter_map(|i| i.0.parse().ok()).collect(),
        tags: targets.tags.clone(),
        ..wire::RuleTarget::default()
    }
}

pub fn inbound_rule(rule: &FirewallRule) -> wire::InboundRule {
    wire::InboundRule {
        protocol: wire_protocol(rule.protocol),
        ports: wire_ports(rule),
        sources: wire_target(&rule.targets),
    }
}

pub fn outbound_rule(rule: &FirewallRule) -> wire::OutboundRule {
    wire::OutboundRule {
        protocol: wire_protocol(rule.protocol),
        ports: wire_ports(rule),
        destinations: wire_target(&rule.targets),
    }
}

/// The same rule whatever order its lists are in (DigitalOcean may reorder them).
pub fn same_wire_target(a: &wire::RuleTarget, b: &wire::RuleTarget) -> bool {
    fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    }
    sorted(&a.addresses) == sorted(&b.addresses)
        && sorted(&a.droplet_ids) == sorted(&b.droplet_ids)
        && sorted(&a.load_balancer_uids) == sorted(&b.load_balancer_uids)
        && sorted(&a.kubernetes_ids) == sorted(&b.kubernetes_ids)
        && sorted(&a.tags) == sorted(&b.tags)
}

/// Whether two rules mean the same: protocol, ports (`"0"` and a missing value are both "all")
/// and targets as sets.
pub fn same_rule(
    protocol_a: &str,
    ports_a: &str,
    a: &wire::RuleTarget,
    protocol_b: &str,
    ports_b: &str,
    b: &wire::RuleTarget,
) -> bool {
    let all = |p: &str| matches!(p, "" | "0" | "all");
    protocol_a == protocol_b
        && (ports_a == ports_b || (all(ports_a) && all(ports_b)) || protocol_a == "icmp")
        && same_wire_target(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_read_as_all_one_or_a_range() {
        assert_eq!(ports(Protocol::Tcp, "0").ok(), Some(Ports::All));
        assert_eq!(ports(Protocol::Tcp, "22").ok(), Some(Ports::Range { from: 22, to: 22 }));
        assert_eq!(ports(Protocol::Udp, "8000-9000").ok(), Some(Ports::Range { from: 8000, to: 9000 }));
        assert_eq!(ports(Protocol::Icmp, "whatever").ok(), Some(Ports::All));
        for bad in ["9000-8000", "x", "70000", "-1"] {
            assert!(ports(Protocol::Tcp, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_write_back_as_digitalocean_reads_them() {
        let rule = |protocol, ports| FirewallRule {
            protocol,
            ports,
            targets: RuleTargets { addresses: vec!["0.0.0.0/0".into()], ..RuleTargets::default() },
        };
        assert_eq!(inbound_rule(&rule(Protocol::Tcp, Ports::Range { from: 22, to: 22 })).ports, "22");
        assert_eq!(inbound_rule(&rule(Protocol::Tcp, Ports::Range { from: 1, to: 1024 })).ports, "1-1024");
        assert_eq!(outbound_rule(&rule(Protocol::Udp, Ports::All)).ports, "0");
    }

    #[test]
    fn vpc_members_name_their_kind_from_the_urn() {
        let member = |urn: &str| vpc_member(wire::VpcMember { urn: urn.into(), name: "n".into() });
        assert_eq!(
            member("do:droplet:42").map(|m| (m.kind, m.id)).ok(),
            Some(("instance".into(), "42".into()))
        );
        assert_eq!(member("do:loadbalancer:ab").map(|m| m.kind).ok(), Some("loadbalancer".into()));
        assert!(member("droplet:42").is_err());
    }

    #[test]
    fn snapshot_sizes_are_exact_and_bounded() {
        assert_eq!(snapshot_size("s", 2.34).ok(), Decimal::from_str("2.34").ok());
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(snapshot_size("s", bad).is_err(), "{bad}");
        }
    }
}
