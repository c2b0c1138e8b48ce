//! Checks made before any resource call, so no budget is spent on what DigitalOcean would
//! refuse: each refusal is `InvalidInput` naming the field.
//!
//! The limits are DigitalOcean's (spec and docs, see `facts-resources.md`): volumes of 1 to
//! 16,384 GiB that only grow; firewall names of at least two letters, digits, `.` and `-`; at
//! most 10 droplets and 5 tags per firewall and 50 rules inbound and outbound together; every
//! rule with a target; VPC descriptions of at most 255 characters.

use std::net::IpAddr;

use nephele_core::resource::MAX_VOLUME_GIB;
use nephele_core::{
    CreateResource, FirewallRule, InstanceId, Ports, Protocol, ProviderError, ResourceAction,
    SnapshotSourceKind,
};

use crate::validate::tag;

pub const MAX_FIREWALL_DROPLETS: usize = 10;
pub const MAX_FIREWALL_TAGS: usize = 5;
pub const MAX_FIREWALL_RULES: usize = 50;
/// The longest public key accepted: far above a 16,384-bit RSA key (about 2.8 KB).
pub const MAX_PUBLIC_KEY_BYTES: usize = 16 * 1024;
const MAX_SSH_KEY_NAME: usize = 255;
const MAX_VPC_DESCRIPTION: usize = 255;
/// Longest free text sent as a volume's description (DigitalOcean states none; this bounds it).
const MAX_VOLUME_DESCRIPTION: usize = 1024;

fn refuse(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(field, message)
}

/// A volume size DigitalOcean makes.
pub fn volume_size(field: &str, size_gib: u64) -> Result<(), ProviderError> {
    if (1..=MAX_VOLUME_GIB).contains(&size_gib) {
        Ok(())
    } else {
        Err(refuse(field, format!("must be 1 to {MAX_VOLUME_GIB} GiB, got {size_gib}")))
    }
}

/// A droplet id: a positive integer.
pub fn droplet(field: &str, id: &InstanceId) -> Result<u64, ProviderError> {
    id.0.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        refuse(field, format!("{:?} is not a droplet id", nephele_core::upstream_text(&id.0, &[])))
    })
}

/// A region slug as DigitalOcean writes them (`nyc1`): lowercase letters and digits.
fn region(field: &str, region: &str) -> Result<(), ProviderError> {
    if !region.is_empty()
        && region.len() <= 16
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(refuse(field, "must be a region slug such as nyc1"))
    }
}

/// An id that goes into a URL path: letters, digits, `-`, `.`, `_` and `:` only.
pub fn path_safe(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
}

fn tags(field: &str, tags: &[String]) -> Result<(), ProviderError> {
    tags.iter().try_for_each(|t| {
        tag(t).map_err(|_| {
            refuse(field, format!("tag {t:?} must be 1..255 characters of letters, digits, `:`, `-` and `_`"))
        })
    })
}

/// An IPv4 or IPv6 address, or a CIDR block of one.
fn address(text: &str) -> bool {
    let (ip, prefix) = match text.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (text, None),
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= 32)),
        Ok(IpAddr::V6(_)) => prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= 128)),
        Err(_) => false,
    }
}

fn rules(field: &str, rules: &[FirewallRule]) -> Result<(), ProviderError> {
    for (index, rule) in rules.iter().enumerate() {
        let at = format!("{field}[{index}]");
        match (rule.protocol, rule.ports) {
            (Protocol::Icmp, Ports::Range { .. }) => {
                return Err(refuse(&format!("{at}.ports"), "ICMP has no ports: use all"));
            }
            (_, Ports::Range { from, to }) if from == 0 || from > to => {
                return Err(refuse(
                    &format!("{at}.ports"),
                    format!("{from}-{to} is not a range of ports 1..65535"),
                ));
            }
            _ => {}
        }
        let targets = &rule.targets;
        if targets.addresses.is_empty() && targets.instance_ids.is_empty() && targets.tags.is_empty() {
            return Err(refuse(
                &format!("{at}.targets"),
                "every rule needs at least one address, instance or tag",
            ));
        }
        if let Some(bad) = targets.addresses.iter().find(|a| !address(a)) {
            return Err(refuse(
                &format!("{at}.targets.addresses"),
                format!("{:?} is not an IP address or CIDR block", nephele_core::upstream_text(bad, &[])),
            ));
        }
        for id in &targets.instance_ids {
            droplet(&format!("{at}.targets.instance_ids"), id)?;
        }
        tags(&format!("{at}.targets.tags"), &targets.tags)?;
    }
    Ok(())
}

/// A firewall's whole rule set: 50 rules at most, and (on create) at least one.
pub fn rule_set(
    inbound: &[FirewallRule],
    outbound: &[FirewallRule],
    need_one: bool,
) -> Result<(), ProviderError> {
    let count = inbound.len() + outbound.len();
    if count > MAX_FIREWALL_RULES {
        return Err(refuse(
            "inbound",
            format!(
                "a firewall holds at most {MAX_FIREWALL_RULES} rules inbound and outbound together, got {count}"
            ),
        ));
    }
    if need_one && count == 0 {
        return Err(refuse("inbound", "DigitalOcean needs at least one inbound or outbound rule"));
    }
    rules("inbound", inbound)?;
    rules("outbound", outbound)
}

fn firewall_members(instance_ids: &[InstanceId], tag_names: &[String]) -> Result<(), ProviderError> {
    if instance_ids.len() > MAX_FIREWALL_DROPLETS {
        return Err(refuse(
            "instance_ids",
            format!(
                "a firewall applies to at most {MAX_FIREWALL_DROPLETS} droplets by id, got {}",
                instance_ids.len()
            ),
        ));
    }
    for id in instance_ids {
        droplet("instance_ids", id)?;
    }
    if tag_names.len() > MAX_FIREWALL_TAGS {
        return Err(refuse(
            "tags",
            format!("a firewall applies to at most {MAX_FIREWALL_TAGS} tags, got {}", tag_names.len()),
        ));
    }
    tags("tags", tag_names)
}

/// `type base64 [comment]` with a known key type, within [`MAX_PUBLIC_KEY_BYTES`].
pub fn public_key(key: &str) -> Result<(), ProviderError> {
    if key.len() > MAX_PUBLIC_KEY_BYTES {
        return Err(refuse(
            "public_key",
            format!("must be at most {MAX_PUBLIC_KEY_BYTES} bytes, got {}", key.len()),
        ));
    }
    let mut parts = key.split_whitespace();
    let kind_ok = parts
        .next()
        .is_some_and(|k| k.starts_with("ssh-") || k.starts_with("ecdsa-") || k.starts_with("sk-"));
    let body_ok = parts.next().is_some_and(|b| {
        b.len() >= 16 && b.bytes().all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
    });
    if kind_ok && body_ok {
        Ok(())
    } else {
        Err(refuse("public_key", "must be an OpenSSH public key: `type base64 [comment]`"))
    }
}

/// An RFC 1918 block of /16 to /28 in CIDR notation.
fn private_range(text: &str) -> bool {
    let Some((ip, prefix)) = text.split_once('/') else { return false };
    let (Ok(std::net::IpAddr::V4(ip)), Ok(prefix)) = (ip.parse::<IpAddr>(), prefix.parse::<u8>()) else {
        return false;
    };
    (16..=28).contains(&prefix) && ip.is_private()
}

/// Everything about a create that can be known wrong without asking DigitalOcean.
pub fn create(request: &CreateResource) -> Result<(), ProviderError> {
    match request {
        CreateResource::Volume {
            region: slug,
            size_gib,
            snapshot_id,
            description,
            tags: names,
            volume_type,
            ..
        } => {
            region("region", slug)?;
            volume_size("size_gib", *size_gib)?;
            if snapshot_id.as_ref().is_some_and(|s| !path_safe(&s.0)) {
                return Err(refuse("snapshot_id", "is not a volume snapshot id"));
            }
            if volume_type.as_deref().is_some_and(|t| !t.is_empty()) {
                return Err(refuse("volume_type", "DigitalOcean has one kind of volume; leave it out"));
            }
            if description.as_ref().is_some_and(|d| d.chars().count() > MAX_VOLUME_DESCRIPTION) {
                return Err(refuse(
                    "description",
                    format!("must be at most {MAX_VOLUME_DESCRIPTION} characters"),
                ));
            }
            tags("tags", names)
        }
        CreateResource::Snapshot { source_kind, source_id, tags: names, .. } => {
            match source_kind {
                SnapshotSourceKind::Instance => {
                    droplet("source_id", &InstanceId(source_id.clone()))?;
                    if !names.is_empty() {
                        return Err(refuse("tags", "DigitalOcean's droplet snapshots carry no tags"));
                    }
                }
                SnapshotSourceKind::Volume if !path_safe(source_id) => {
                    return Err(refuse("source_id", "is not a volume id"));
                }
                SnapshotSourceKind::Volume => {}
            }
            tags("tags", names)
        }
        CreateResource::SshKey { name, public_key: key, .. } => {
            if name.trim().is_empty() || name.chars().count() > MAX_SSH_KEY_NAME {
                return Err(refuse("name", format!("must be 1 to {MAX_SSH_KEY_NAME} characters")));
            }
            public_key(key)
        }
        CreateResource::Firewall { name, inbound, outbound, instance_ids, tags: names, vpc_id, .. } => {
            // DigitalOcean's pattern `^[a-zA-Z0-9][a-zA-Z0-9\.-]+$` needs two characters.
            if name.as_str().len() < 2 {
                return Err(refuse("name", "DigitalOcean firewall names have at least 2 characters"));
            }
            if vpc_id.is_some() {
                return Err(refuse("vpc_id", "DigitalOcean firewalls belong to no VPC; leave it out"));
            }
            rule_set(inbound, outbound, true)?;
            firewall_members(instance_ids, names)
        }
        CreateResource::ReservedIp { region: slug, instance_id, .. } => match instance_id {
            Some(id) => droplet("instance_id", id).map(|_| ()),
            None => region("region", slug),
        },
        CreateResource::Vpc { region: slug, ip_range, description, .. } => {
            region("region", slug)?;
            if ip_range.as_deref().is_some_and(|r| !private_range(r)) {
                return Err(refuse(
                    "ip_range",
                    "must be a private (RFC 1918) IPv4 block of /16 to /28, such as 10.10.10.0/24",
                ));
            }
            if description.as_ref().is_some_and(|d| d.chars().count() > MAX_VPC_DESCRIPTION) {
                return Err(refuse(
                    "description",
                    format!("must be at most {MAX_VPC_DESCRIPTION} characters"),
                ));
            }
            Ok(())
        }
    }
}

/// Everything about an action that can be known wrong without asking DigitalOcean (a resize's
/// direction needs the volume's size, and is checked when it has been read).
pub fn action(action: &ResourceAction) -> Result<(), ProviderError> {
    match action {
        ResourceAction::AttachVolume { instance_id, .. }
        | ResourceAction::DetachVolume { instance_id, .. } => droplet("instance_id", instance_id).map(|_| ()),
        ResourceAction::ResizeVolume { size_gib, .. } => volume_size("size_gib", *size_gib),
        ResourceAction::AssignReservedIp { instance_id, .. } => {
            droplet("instance_id", instance_id).map(|_| ())
        }
        ResourceAction::UnassignReservedIp { .. } => Ok(()),
        ResourceAction::SetFirewallRules { inbound, outbound, .. } => rule_set(inbound, outbound, false),
        ResourceAction::AddFirewallInstances { instance_ids, .. }
        | ResourceAction::RemoveFirewallInstances { instance_ids, .. } => {
            if instance_ids.is_empty() {
                return Err(refuse("instance_ids", "name at least one instance"));
            }
            firewall_members(instance_ids, &[])
        }
        ResourceAction::AddFirewallTags { tags: names, .. }
        | ResourceAction::RemoveFirewallTags { tags: names, .. } => {
            if names.is_empty() {
                return Err(refuse("tags", "name at least one tag"));
            }
            firewall_members(&[], names)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_ips_or_cidr_blocks() {
        for good in ["1.2.3.4", "0.0.0.0/0", "::/0", "2001:db8::1"] {
            assert!(address(good), "{good}");
        }
        for bad in ["1.2.3", "10.0.0.0/33", "::/129", "example.com", ""] {
            assert!(!address(bad), "{bad}");
        }
    }

    #[test]
    fn vpc_ranges_are_private_and_between_16_and_28() {
        assert!(private_range("10.10.10.0/24"));
        assert!(private_range("192.168.0.0/16"));
        for bad in ["10.0.0.0/8", "10.0.0.0/29", "8.8.8.0/24", "10.0.0.0", "fd00::/16"] {
            assert!(!private_range(bad), "{bad}");
        }
    }

    #[test]
    fn ids_with_url_syntax_are_not_path_safe() {
        assert!(path_safe("506f78a4-e098-11e5-ad9f-000f53306ae1") && path_safe("203.0.113.7"));
        for bad in ["", "a?b", "a#b", "a%2F", "a b"] {
            assert!(!path_safe(bad), "{bad}");
        }
    }
}
