//! Security groups as firewalls.
//!
//! A group is made in the VPC the request names (in that VPC's region), else in the default
//! region's default VPC. Its rules are set as a difference: what EC2 holds and the request does
//! not is revoked, what the request holds and EC2 does not is authorized, so setting the same
//! rules twice sends nothing the second time. A new group's rules are exactly the request's: the
//! allow-all outbound rule EC2 adds to every group is revoked unless it is asked for, as a
//! DigitalOcean firewall with no outbound rule lets nothing out.
//!
//! How rules map: one EC2 permission per protocol, port range and address block. EC2's
//! "all traffic" (`-1`) is shown as tcp, udp and icmp on every port, and those three on one
//! block are written back as one `-1`, so a rule set read and set again is unchanged. ICMP to an
//! IPv6 block is EC2's `icmpv6`. Permissions Nephele's rules cannot say (ones that name other
//! security groups or prefix lists, other protocols, single ICMP types) are neither shown nor
//! changed.
//!
//! Members are instances whose interfaces carry the group (`ModifyInstanceAttribute` with the
//! instance's whole list of groups, plus or minus this one). EC2 rules cannot name instances
//! or tags, and groups cannot be applied by instance tag: those fields are refused naming them.

use std::collections::{BTreeMap, BTreeSet};

use nephele_core::{
    CreateResource, Firewall, FirewallRule, InstanceId, Ports, Protocol, ProviderError, ResourceId,
    ResourceKind, RuleTargets,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::cidr::Cidr;
use super::{
    check_description, conflict, has_id_shape, invalid, not_found, operation_tag, tag_specification, unclear,
};
use crate::client::Params;
use crate::provider::{Aws, Query, is_instance_id, push_filter};
use crate::wire::{Page, Set};

const QUERY: Query =
    Query { action: "DescribeSecurityGroups", page_size: Some("1000"), what: "security group list" };
/// Most permissions one direction of a group may be given (EC2's ceiling per interface).
const MAX_PERMISSIONS: usize = 1000;
/// Most instances one change of membership may name.
const MAX_MEMBERS_PER_CHANGE: usize = 100;
/// Most values one `Describe*` filter takes.
const FILTER_VALUES: usize = 200;
/// The states of an instance that still holds its security groups.
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSecurityGroups {
    #[serde(default)]
    security_group_info: Set<SecurityGroup>,
    next_token: Option<String>,
}

impl Page for DescribeSecurityGroups {
    type Item = SecurityGroup;
    fn split(self) -> (Vec<SecurityGroup>, Option<String>) {
        (self.security_group_info.items, self.next_token)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    group_id: String,
    group_name: String,
    vpc_id: Option<String>,
    #[serde(default)]
    ip_permissions: Set<IpPermission>,
    #[serde(default)]
    ip_permissions_egress: Set<IpPermission>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpPermission {
    ip_protocol: String,
    from_port: Option<i32>,
    to_port: Option<i32>,
    #[serde(default)]
    ip_ranges: Set<IpRange>,
    #[serde(default)]
    ipv6_ranges: Set<Ipv6Range>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpRange {
    cidr_ip: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ipv6Range {
    cidr_ipv6: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedGroup {
    group_id: String,
}

/// One EC2 permission on one block: `protocol` is `tcp`, `udp`, `icmp`, `icmpv6` or `-1`
/// (all), ports are absent for `-1` and `-1`/`-1` for all ICMP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Permission {
    protocol: String,
    ports: Option<(i32, i32)>,
    cidr: Cidr,
}

const EVERY_PORT: (i32, i32) = (0, 65_535);
const EVERY_ICMP: (i32, i32) = (-1, -1);

/// The refusal of targets by tag: EC2 has none.
pub(crate) fn no_tag_targets(field: &str) -> ProviderError {
    invalid(field, "EC2 security groups apply to instances, not to instance tags; name the instances instead")
}

/// A request's rules as permissions, each checked: addresses only (EC2 rules name no instance
/// or tag), at least one, ports in order, ICMP on every port. `field` is `inbound` or `outbound`.
fn permissions_of(field: &str, rules: &[FirewallRule]) -> Result<BTreeSet<Permission>, ProviderError> {
    let mut permissions = BTreeSet::new();
    for (n, rule) in rules.iter().enumerate() {
        let at = |what: &str| format!("{field}[{n}].{what}");
        if !rule.targets.instance_ids.is_empty() {
            return Err(invalid(
                &at("targets.instance_ids"),
                "EC2 security group rules name address blocks, not instances",
            ));
        }
        if !rule.targets.tags.is_empty() {
            return Err(no_tag_targets(&at("targets.tags")));
        }
        if rule.targets.addresses.is_empty() {
            return Err(invalid(&at("targets.addresses"), "at least one address or block"));
        }
        let ports = match (rule.protocol, rule.ports) {
            (Protocol::Icmp, Ports::All) => EVERY_ICMP,
            (Protocol::Icmp, Ports::Range { .. }) => {
                return Err(invalid(&at("ports"), "ICMP rules cover every port (`all`)"));
            }
            (_, Ports::All) => EVERY_PORT,
            (_, Ports::Range { from, to }) if from > to => {
                return Err(invalid(&at("ports"), format!("from ({from}) is after to ({to})")));
            }
            (_, Ports::Range { from, to }) => (i32::from(from), i32::from(to)),
        };
        for (m, address) in rule.targets.addresses.iter().enumerate() {
            let cidr =
                Cidr::parse(address).map_err(|e| invalid(&at(&format!("targets.addresses[{m}]")), e))?;
            let protocol = match rule.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Icmp if cidr.is_ipv4() => "icmp",
                Protocol::Icmp => "icmpv6",
            };
            permissions.insert(Permission { protocol: protocol.to_owned(), ports: Some(ports), cidr });
        }
    }
    let permissions = compress(permissions);
    if permissions.len() > MAX_PERMISSIONS {
        return Err(invalid(
            field,
            format!("at most {MAX_PERMISSIONS} address-and-port permissions, got {}", permissions.len()),
        ));
    }
    Ok(permissions)
}

/// tcp, udp and icmp on every port of one block are EC2's `-1` on that block.
fn compress(mut permissions: BTreeSet<Permission>) -> BTreeSet<Permission> {
    let blocks: BTreeSet<Cidr> = permissions.iter().map(|p| p.cidr).collect();
    for cidr in blocks {
        let icmp = if cidr.is_ipv4() { "icmp" } else { "icmpv6" };
        let three = [("tcp", EVERY_PORT), ("udp", EVERY_PORT), (icmp, EVERY_ICMP)]
            .map(|(protocol, ports)| Permission { protocol: protocol.to_owned(), ports: Some(ports), cidr });
        if three.iter().all(|p| permissions.contains(p)) {
            for p in &three {
                permissions.remove(p);
            }
            permissions.insert(Permission { protocol: "-1".to_owned(), ports: None, cidr });
        }
    }
    permissions
}

/// The permissions of a group Nephele manages (on blocks, of the protocols it knows), as EC2
/// spells them.
fn permissions_held(raw: &[IpPermission]) -> BTreeSet<Permission> {
    let mut held = BTreeSet::new();
    for p in raw {
        let protocol = match p.ip_protocol.as_str() {
            "-1" | "tcp" | "udp" | "icmp" | "icmpv6" => p.ip_protocol.clone(),
            "6" => "tcp".to_owned(),
            "17" => "udp".to_owned(),
            "1" => "icmp".to_owned(),
            "58" => "icmpv6".to_owned(),
            _ => continue,
        };
        let ports = match (protocol.as_str(), p.from_port, p.to_port) {
            ("-1", _, _) => None,
            (_, Some(from), Some(to)) => Some((from, to)),
            _ => continue,
        };
        if protocol.starts_with("icmp") && ports != Some(EVERY_ICMP) {
            continue;
        }
        let blocks = p.ip_ranges.items.iter().map(|r| r.cidr_ip.as_str());
        let blocks = blocks.chain(p.ipv6_ranges.items.iter().map(|r| r.cidr_ipv6.as_str()));
        for block in blocks {
            if let Ok(cidr) = Cidr::parse(block) {
                held.insert(Permission { protocol: protocol.clone(), ports, cidr });
            }
        }
    }
    held
}

/// Permissions as Nephele's rules: one rule per protocol and ports, with its blocks.
fn rules_of(permissions: &BTreeSet<Permission>) -> Vec<FirewallRule> {
    let mut grouped: BTreeMap<(Protocol, Ports), Vec<String>> = BTreeMap::new();
    for p in permissions {
        let as_rules: Vec<(Protocol, Ports)> = match (p.protocol.as_str(), p.ports) {
            ("-1", _) => {
                vec![(Protocol::Tcp, Ports::All), (Protocol::Udp, Ports::All), (Protocol::Icmp, Ports::All)]
            }
            ("icmp" | "icmpv6", _) => vec![(Protocol::Icmp, Ports::All)],
            (protocol, Some(ports)) => {
                let protocol = if protocol == "tcp" { Protocol::Tcp } else { Protocol::Udp };
                let ports = match (u16::try_from(ports.0), u16::try_from(ports.1)) {
                    _ if ports == EVERY_PORT => Ports::All,
                    (Ok(from), Ok(to)) => Ports::Range { from, to },
                    _ => continue,
                };
                vec![(protocol, ports)]
            }
            _ => continue,
        };
        for key in as_rules {
            grouped.entry(key).or_default().push(p.cidr.to_string());
        }
    }
    grouped
        .into_iter()
        .map(|((protocol, ports), addresses)| FirewallRule {
            protocol,
            ports,
            targets: RuleTargets { addresses, ..RuleTargets::default() },
        })
        .collect()
}

/// `IpPermissions.N` for a set of permissions, one block each.
fn permission_params(group_id: &str, permissions: &BTreeSet<&Permission>) -> Params {
    let mut params: Params = vec![("GroupId".into(), group_id.to_owned())];
    for (n, p) in permissions.iter().enumerate() {
        let at = |what: &str| format!("IpPermissions.{}.{what}", n + 1);
        params.push((at("IpProtocol"), p.protocol.clone()));
        if let Some((from, to)) = p.ports {
            params.push((at("FromPort"), from.to_string()));
            params.push((at("ToPort"), to.to_string()));
        }
        if p.cidr.is_ipv4() {
            params.push((at("IpRanges.1.CidrIp"), p.cidr.to_string()));
        } else {
            params.push((at("Ipv6Ranges.1.CidrIpv6"), p.cidr.to_string()));
        }
    }
    params
}

/// A group as a firewall. Its tags are not shown: a firewall's `tags` are the instance tags it
/// applies to, which EC2 has no notion of (the operation's tag stays on the group, for look-ups).
fn firewall(raw: &SecurityGroup, members: Vec<InstanceId>) -> Firewall {
    Firewall {
        id: ResourceId(raw.group_id.clone()),
        name: raw.group_name.clone(),
        // A group has no state of its own: its changes apply when EC2 answers them.
        status: "active".to_owned(),
        inbound: rules_of(&permissions_held(&raw.ip_permissions.items)),
        outbound: rules_of(&permissions_held(&raw.ip_permissions_egress.items)),
        instance_ids: members,
        tags: Vec::new(),
        vpc_id: raw.vpc_id.clone().filter(|v| !v.is_empty()),
        created_at: None,
    }
}

fn check_instance_ids(field: &str, ids: &[InstanceId]) -> Result<(), ProviderError> {
    if ids.len() > MAX_MEMBERS_PER_CHANGE {
        return Err(invalid(
            field,
            format!("at most {MAX_MEMBERS_PER_CHANGE} instances at once, got {}", ids.len()),
        ));
    }
    if let Some((n, bad)) = ids.iter().enumerate().find(|(_, i)| !is_instance_id(&i.0)) {
        return Err(invalid(&format!("{field}[{n}]"), format!("{bad} is not an EC2 instance id (i-...)")));
    }
    Ok(())
}

impl Aws {
    /// The live instances of `region` that carry each of `groups`.
    async fn members(
        &self,
        region: &str,
        groups: &[&str],
    ) -> Result<BTreeMap<String, Vec<InstanceId>>, ProviderError> {
        let mut members: BTreeMap<String, Vec<InstanceId>> = BTreeMap::new();
        let deadline = self.client.deadline();
        for chunk in groups.chunks(FILTER_VALUES) {
            let mut filters = Params::new();
            push_filter(&mut filters, "instance.group-id", chunk);
            push_filter(&mut filters, "instance-state-name", &LIVE_STATES);
            for (_, instance) in self.list_region(region, &filters, deadline).await? {
                for group in instance.security_groups() {
                    if chunk.contains(&group.as_str()) {
                        members.entry(group).or_default().push(InstanceId(instance.instance_id.clone()));
                    }
                }
            }
        }
        Ok(members)
    }

    async fn firewalls_of(
        &self,
        region: &str,
        groups: &[SecurityGroup],
    ) -> Result<Vec<Firewall>, ProviderError> {
        let ids: Vec<&str> = groups.iter().map(|g| g.group_id.as_str()).collect();
        let mut members = self.members(region, &ids).await?;
        Ok(groups
            .iter()
            .map(|g| {
                self.remember_resource(&g.group_id, region);
                firewall(g, members.remove(&g.group_id).unwrap_or_default())
            })
            .collect())
    }

    pub(crate) async fn list_firewalls(&self) -> Result<Vec<Firewall>, ProviderError> {
        let found = self.describe_everywhere::<DescribeSecurityGroups>(QUERY, &Params::new()).await?;
        let mut firewalls = Vec::new();
        for region in self.regions_default_first() {
            let here: Vec<SecurityGroup> =
                found.iter().filter(|(r, _)| *r == region).map(|(_, g)| g.clone()).collect();
            if !here.is_empty() {
                firewalls.extend(self.firewalls_of(&region, &here).await?);
            }
        }
        Ok(firewalls)
    }

    async fn find_group(&self, id: &ResourceId) -> Result<(String, SecurityGroup), ProviderError> {
        if !has_id_shape(&id.0, "sg-") {
            return Err(not_found(ResourceKind::Firewall, id));
        }
        let mut params = Params::new();
        push_filter(&mut params, "group-id", &[&id.0]);
        self.locate::<DescribeSecurityGroups>(&id.0, QUERY, &params)
            .await?
            .ok_or_else(|| not_found(ResourceKind::Firewall, id))
    }

    pub(crate) async fn get_firewall(&self, id: &ResourceId) -> Result<Firewall, ProviderError> {
        let (region, group) = self.find_group(id).await?;
        let mut list = self.firewalls_of(&region, std::slice::from_ref(&group)).await?;
        list.pop().ok_or_else(|| not_found(ResourceKind::Firewall, id))
    }

    /// The group one create operation made in `region`, if it made one.
    async fn group_made_by(
        &self,
        region: &str,
        operation: nephele_core::OperationId,
    ) -> Result<Option<SecurityGroup>, ProviderError> {
        let mut params = Params::new();
        push_filter(&mut params, "tag-key", &[&operation_tag(operation)]);
        let found =
            self.describe::<DescribeSecurityGroups>(region, QUERY, &params, self.client.deadline()).await?;
        Ok(found.into_iter().next())
    }

    pub(crate) async fn create_firewall(&self, request: &CreateResource) -> Result<Firewall, ProviderError> {
        let CreateResource::Firewall {
            operation_id,
            name,
            description,
            inbound,
            outbound,
            instance_ids,
            tags,
            vpc_id,
        } = request
        else {
            return Err(invalid("kind", "not a firewall"));
        };
        if !tags.is_empty() {
            return Err(no_tag_targets("tags"));
        }
        if name.as_str().starts_with("sg-") {
            return Err(invalid("name", "EC2 refuses security group names that start with `sg-`"));
        }
        if let Some(text) = description {
            check_description("description", text)?;
        }
        let inbound_wanted = permissions_of("inbound", inbound)?;
        let outbound_wanted = permissions_of("outbound", outbound)?;
        check_instance_ids("instance_ids", instance_ids)?;
        let region = match vpc_id {
            Some(vpc) => match self.vpc_region(vpc).await? {
                Some(region) => region,
                None => return Err(invalid("vpc_id", format!("no VPC {vpc} in this provider's regions"))),
            },
            None => self.settings().default_region.clone(),
        };
        let group = match self.group_made_by(&region, *operation_id).await? {
            Some(group) => group,
            None => {
                let mut params: Params = vec![
                    ("GroupName".into(), name.as_str().to_owned()),
                    (
                        "GroupDescription".into(),
                        description.clone().unwrap_or_else(|| name.as_str().to_owned()),
                    ),
                ];
                if let Some(vpc) = vpc_id {
                    params.push(("VpcId".into(), vpc.clone()));
                }
                tag_specification(
                    &mut params,
                    "security-group",
                    &[(operation_tag(*operation_id), String::new())],
                );
                let created = self
                    .client
                    .call::<CreatedGroup>(&region, "CreateSecurityGroup", &params, self.client.deadline())
                    .await;
                let group_id = match created {
                    Ok(created) => created.group_id,
                    Err(e) if unclear(&e) => match self.group_made_by(&region, *operation_id).await? {
                        Some(group) => group.group_id,
                        None => return Err(e),
                    },
                    Err(e) => return Err(e),
                };
                self.remember_resource(&group_id, &region);
                self.find_group(&ResourceId(group_id)).await?.1
            }
        };
        // An earlier attempt may have stopped anywhere after the group was made: every step
        // from here on does only what is not yet done.
        self.converge_rules(&region, &group, &inbound_wanted, &outbound_wanted).await?;
        let id = ResourceId(group.group_id.clone());
        if !instance_ids.is_empty() {
            return self.change_firewall_members(&id, instance_ids, true).await;
        }
        self.get_firewall(&id).await
    }

    /// Authorizes what is wanted and not held, then revokes what is held and not wanted.
    async fn converge_rules(
        &self,
        region: &str,
        group: &SecurityGroup,
        inbound: &BTreeSet<Permission>,
        outbound: &BTreeSet<Permission>,
    ) -> Result<(), ProviderError> {
        let deadline = self.client.deadline();
        for (wanted, held, direction) in [
            (inbound, permissions_held(&group.ip_permissions.items), "Ingress"),
            (outbound, permissions_held(&group.ip_permissions_egress.items), "Egress"),
        ] {
            let missing: BTreeSet<&Permission> = wanted.difference(&held).collect();
            let extra: BTreeSet<&Permission> = held.difference(wanted).collect();
            if !missing.is_empty() {
                let action = format!("AuthorizeSecurityGroup{direction}");
                let params = permission_params(&group.group_id, &missing);
                self.client.call::<IgnoredAny>(region, &action, &params, deadline).await?;
            }
            if !extra.is_empty() {
                let action = format!("RevokeSecurityGroup{direction}");
                let params = permission_params(&group.group_id, &extra);
                self.client.call::<IgnoredAny>(region, &action, &params, deadline).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn set_firewall_rules(
        &self,
        id: &ResourceId,
        inbound: &[FirewallRule],
        outbound: &[FirewallRule],
    ) -> Result<Firewall, ProviderError> {
        let inbound = permissions_of("inbound", inbound)?;
        let outbound = permissions_of("outbound", outbound)?;
        let (region, group) = self.find_group(id).await?;
        self.converge_rules(&region, &group, &inbound, &outbound).await?;
        self.get_firewall(id).await
    }

    /// Adds the group to (or removes it from) each instance's list of groups.
    pub(crate) async fn change_firewall_members(
        &self,
        id: &ResourceId,
        instance_ids: &[InstanceId],
        add: bool,
    ) -> Result<Firewall, ProviderError> {
        check_instance_ids("instance_ids", instance_ids)?;
        let (region, group) = self.find_group(id).await?;
        for (n, instance_id) in instance_ids.iter().enumerate() {
            let field = format!("instance_ids[{n}]");
            let (home, instance) = match self.find_raw(instance_id).await {
                Ok(found) => found,
                Err(ProviderError::NotFound { .. }) if !add => continue,
                Err(ProviderError::NotFound { .. }) => {
                    return Err(invalid(
                        &field,
                        format!("no instance {instance_id} in this provider's regions"),
                    ));
                }
                Err(e) => return Err(e),
            };
            let mut groups = instance.security_groups();
            let has = groups.contains(&group.group_id);
            if has == add || (!add && instance.is_terminated()) {
                continue;
            }
            if add {
                if instance.is_terminated() {
                    return Err(conflict(format!(
                        "instance {instance_id} is {}",
                        instance.instance_state.name
                    )));
                }
                if home != region || instance.vpc_id != group.vpc_id {
                    return Err(invalid(
                        &field,
                        format!(
                            "instance {instance_id} is in {} ({home}) and firewall {id} in {} ({region}); a security group applies within its VPC",
                            instance.vpc_id.as_deref().unwrap_or("no VPC"),
                            group.vpc_id.as_deref().unwrap_or("no VPC"),
                        ),
                    ));
                }
                groups.push(group.group_id.clone());
            } else {
                groups.retain(|g| *g != group.group_id);
                if groups.is_empty() {
                    return Err(conflict(format!(
                        "firewall {id} is instance {instance_id}'s only security group, and EC2 instances keep at least one; add it to another first"
                    )));
                }
            }
            let mut params: Params = vec![("InstanceId".into(), instance_id.0.clone())];
            params.extend(groups.iter().enumerate().map(|(m, g)| (format!("GroupId.{}", m + 1), g.clone())));
            self.client
                .call::<IgnoredAny>(&home, "ModifyInstanceAttribute", &params, self.client.deadline())
                .await?;
        }
        self.get_firewall(id).await
    }

    /// Refused while instances use the group, as EC2 refuses it (`DependencyViolation`); moto
    /// would delete it from under them.
    pub(crate) async fn delete_firewall(&self, id: &ResourceId) -> Result<(), ProviderError> {
        let (region, group) = self.find_group(id).await?;
        if group.group_name == "default" {
            return Err(conflict(format!("{id} is its VPC's default security group, which EC2 keeps")));
        }
        let members = self.members(&region, &[group.group_id.as_str()]).await?;
        if let Some(used) = members.get(&group.group_id).filter(|m| !m.is_empty()) {
            let used: Vec<String> = used.iter().map(ToString::to_string).collect();
            return Err(conflict(format!(
                "firewall {id} is in use by {}; remove them first",
                used.join(", ")
            )));
        }
        let params: Params = vec![("GroupId".into(), id.0.clone())];
        self.client
            .call::<IgnoredAny>(&region, "DeleteSecurityGroup", &params, self.client.deadline())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: Protocol, ports: Ports, addresses: &[&str]) -> FirewallRule {
        FirewallRule {
            protocol,
            ports,
            targets: RuleTargets {
                addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
                ..Default::default()
            },
        }
    }

    fn held(xml: &str) -> BTreeSet<Permission> {
        let set: Set<IpPermission> =
            quick_xml::de::from_str(&format!("<ipPermissions>{xml}</ipPermissions>")).expect("xml");
        permissions_held(&set.items)
    }

    #[test]
    fn all_traffic_reads_as_three_rules_and_writes_back_as_one() {
        let all = held(
            "<item><ipProtocol>-1</ipProtocol><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>",
        );
        let rules = rules_of(&all);
        assert_eq!(rules.len(), 3, "{rules:?}");
        assert!(rules.iter().all(|r| r.ports == Ports::All && r.targets.addresses == ["0.0.0.0/0"]));
        assert_eq!(permissions_of("outbound", &rules).expect("valid"), all, "read and set again: unchanged");
    }

    #[test]
    fn rules_become_one_permission_per_block_and_group_back() {
        let wanted = permissions_of(
            "inbound",
            &[
                rule(Protocol::Tcp, Ports::Range { from: 22, to: 22 }, &["203.0.113.0/24", "2001:db8::/32"]),
                rule(Protocol::Icmp, Ports::All, &["10.0.0.0/8", "::/0"]),
                rule(Protocol::Udp, Ports::All, &["10.0.0.5"]),
            ],
        )
        .expect("valid");
        let protocols: Vec<&str> = wanted.iter().map(|p| p.protocol.as_str()).collect();
        assert_eq!(wanted.len(), 5);
        assert!(protocols.contains(&"icmpv6") && protocols.contains(&"icmp"));
        let back = rules_of(&wanted);
        let ssh = back.iter().find(|r| r.ports == Ports::Range { from: 22, to: 22 }).expect("ssh");
        assert_eq!(ssh.targets.addresses, ["203.0.113.0/24", "2001:db8::/32"]);
        let udp = back.iter().find(|r| r.protocol == Protocol::Udp).expect("udp");
        assert_eq!(
            (udp.ports, udp.targets.addresses.as_slice()),
            (Ports::All, &["10.0.0.5/32".to_owned()][..])
        );
    }

    #[test]
    fn permissions_rules_cannot_say_are_left_alone() {
        let xml = "<item><ipProtocol>tcp</ipProtocol><fromPort>443</fromPort><toPort>443</toPort><groups><item><groupId>sg-1</groupId></item></groups><ipRanges/></item>\
                   <item><ipProtocol>50</ipProtocol><ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges></item>\
                   <item><ipProtocol>icmp</ipProtocol><fromPort>8</fromPort><toPort>-1</toPort><ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges></item>\
                   <item><ipProtocol>6</ipProtocol><fromPort>80</fromPort><toPort>80</toPort><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>";
        let read = held(xml);
        assert_eq!(read.len(), 1, "only the tcp/80 rule is Nephele's to show and change: {read:?}");
        assert_eq!(read.iter().next().map(|p| p.protocol.as_str()), Some("tcp"));
    }

    #[test]
    fn rule_shapes_ec2_cannot_hold_are_refused_naming_the_field() {
        let by_instance = FirewallRule {
            protocol: Protocol::Tcp,
            ports: Ports::All,
            targets: RuleTargets { instance_ids: vec![InstanceId("i-1".into())], ..Default::default() },
        };
        let by_tag = FirewallRule {
            protocol: Protocol::Tcp,
            ports: Ports::All,
            targets: RuleTargets {
                addresses: vec!["0.0.0.0/0".into()],
                tags: vec!["web".into()],
                ..Default::default()
            },
        };
        let cases = [
            (by_instance, "inbound[0].targets.instance_ids"),
            (by_tag, "inbound[0].targets.tags"),
            (rule(Protocol::Tcp, Ports::All, &[]), "inbound[0].targets.addresses"),
            (rule(Protocol::Tcp, Ports::Range { from: 90, to: 80 }, &["0.0.0.0/0"]), "inbound[0].ports"),
            (rule(Protocol::Icmp, Ports::Range { from: 8, to: 8 }, &["0.0.0.0/0"]), "inbound[0].ports"),
            (
                rule(Protocol::Udp, Ports::All, &["0.0.0.0/0", "10.0.0.1/8"]),
                "inbound[0].targets.addresses[1]",
            ),
        ];
        for (bad, field) in cases {
            match permissions_of("inbound", std::slice::from_ref(&bad)) {
                Err(ProviderError::InvalidInput { field: Some(f), .. }) => assert_eq!(f, field),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
