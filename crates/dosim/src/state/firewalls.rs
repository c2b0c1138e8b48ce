//! Cloud firewalls: rules, droplet and tag membership, and the short `waiting` spell after each
//! change while DigitalOcean applies it to the droplets.
//!
//! Limits are DigitalOcean's (docs "Firewalls limits"): at most 10 droplets by id and 5 tags per
//! firewall, and 50 rules inbound and outbound together. Referenced droplets and tags must exist
//! in the account ("Tag names must exist in order to be referenced", the spec says).

use std::net::IpAddr;
use std::time::Instant;

use time::OffsetDateTime;

use super::World;
use super::table::Keyed;
use crate::error::DoError;

pub const MAX_DROPLETS_PER_FIREWALL: usize = 10;
pub const MAX_TAGS_PER_FIREWALL: usize = 5;
pub const MAX_RULES_PER_FIREWALL: usize = 50;

/// Where a rule lets traffic come from (inbound) or go to (outbound).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub addresses: Vec<String>,
    pub droplet_ids: Vec<u64>,
    pub load_balancer_uids: Vec<String>,
    pub kubernetes_ids: Vec<String>,
    pub tags: Vec<String>,
}

impl Targets {
    fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.droplet_ids.is_empty()
            && self.load_balancer_uids.is_empty()
            && self.kubernetes_ids.is_empty()
            && self.tags.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `tcp`, `udp` or `icmp`.
    pub protocol: &'static str,
    /// A port, a range `8000-9000`, or `0` for all (always `0` for ICMP).
    pub ports: String,
    pub targets: Targets,
}

#[derive(Debug, Clone)]
pub struct Firewall {
    pub id: String,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub droplet_ids: Vec<u64>,
    pub tags: Vec<String>,
    pub inbound: Vec<Rule>,
    pub outbound: Vec<Rule>,
    /// Until then the last change is still being applied (`status: waiting`).
    pub settled_at: Instant,
    /// The droplets the last change touches, and whether each is being removed.
    pub pending: Vec<(u64, bool)>,
}

impl Keyed for Firewall {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Firewall {
    pub fn settled(&self, now: Instant) -> bool {
        now >= self.settled_at
    }
}

/// A whole firewall as a create or an update gives it.
pub struct FirewallSpec {
    pub name: String,
    pub droplet_ids: Vec<u64>,
    pub tags: Vec<String>,
    pub inbound: Vec<Rule>,
    pub outbound: Vec<Rule>,
}

impl FirewallSpec {
    /// The same firewall with repeated droplets and tags named once.
    fn without_repeats(self) -> Self {
        Self { droplet_ids: super::unique(self.droplet_ids), tags: super::unique(self.tags), ..self }
    }
}

/// "The name must begin with an alphanumeric character. Subsequent characters must either be
/// alphanumeric characters, a period (.), or a dash (-)" (and at least one follows: `+`).
fn check_firewall_name(name: &str) -> Result<(), DoError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && name.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !valid {
        return Err(DoError::unprocessable(
            "name must begin with a letter or digit and contain only letters, digits, '.' and '-'.",
        ));
    }
    Ok(())
}

/// The protocol as a static string, or the 422 DigitalOcean gives.
pub fn parse_protocol(protocol: &str) -> Result<&'static str, DoError> {
    match protocol {
        "tcp" => Ok("tcp"),
        "udp" => Ok("udp"),
        "icmp" => Ok("icmp"),
        other => Err(DoError::unprocessable(format!("'{other}' is not a valid protocol (tcp, udp, icmp)."))),
    }
}

/// `0`, a port, or `low-high`, each 1..=65535; ICMP has no ports and reports `0`.
pub fn normalize_ports(protocol: &str, ports: &str) -> Result<String, DoError> {
    if protocol == "icmp" {
        return Ok("0".to_owned());
    }
    let port = |text: &str| text.parse::<u16>().ok().filter(|p| *p >= 1);
    let valid = ports == "0"
        || port(ports).is_some()
        || ports
            .split_once('-')
            .is_some_and(|(low, high)| matches!((port(low), port(high)), (Some(l), Some(h)) if l <= h));
    if !valid {
        return Err(DoError::unprocessable(format!(
            "ports must be a port, a range like 8000-9000, or 0 for all; got {ports:?}."
        )));
    }
    Ok(ports.to_owned())
}

/// An IPv4 or IPv6 address, or a CIDR of one.
fn check_address(address: &str) -> Result<(), DoError> {
    let (ip, prefix) = match address.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (address, None),
    };
    let valid = match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= 32)),
        Ok(IpAddr::V6(_)) => prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= 128)),
        Err(_) => false,
    };
    if !valid {
        return Err(DoError::unprocessable(format!("{address:?} is not an IP address or CIDR.")));
    }
    Ok(())
}

impl World {
    fn check_tags_exist(&self, tags: &[String]) -> Result<(), DoError> {
        for tag in tags {
            if !self.known_tags.contains(tag) {
                return Err(DoError::unprocessable(format!("The tag {tag:?} does not exist.")));
            }
        }
        Ok(())
    }

    fn check_droplets_exist(&self, droplet_ids: &[u64]) -> Result<(), DoError> {
        for id in droplet_ids {
            if !self.droplets.contains_key(id) {
                return Err(DoError::unprocessable(format!("Droplet {id} does not exist.")));
            }
        }
        Ok(())
    }

    fn check_rules(&self, rules: &[Rule]) -> Result<(), DoError> {
        for rule in rules {
            if rule.targets.is_empty() {
                return Err(DoError::unprocessable("Every rule needs at least one source or destination."));
            }
            for address in &rule.targets.addresses {
                check_address(address)?;
            }
            self.check_droplets_exist(&rule.targets.droplet_ids)?;
            self.check_tags_exist(&rule.targets.tags)?;
        }
        Ok(())
    }

    fn check_firewall(&self, spec: &FirewallSpec) -> Result<(), DoError> {
        check_firewall_name(&spec.name)?;
        if spec.inbound.is_empty() && spec.outbound.is_empty() {
            return Err(DoError::unprocessable("A firewall needs at least one inbound or outbound rule."));
        }
        self.check_membership(&spec.droplet_ids, &spec.tags)?;
        self.check_rule_count(spec.inbound.len() + spec.outbound.len())?;
        self.check_rules(&spec.inbound)?;
        self.check_rules(&spec.outbound)
    }

    fn check_membership(&self, droplet_ids: &[u64], tags: &[String]) -> Result<(), DoError> {
        if droplet_ids.len() > MAX_DROPLETS_PER_FIREWALL {
            return Err(DoError::unprocessable("A firewall can be assigned to at most 10 Droplets by id."));
        }
        if tags.len() > MAX_TAGS_PER_FIREWALL {
            return Err(DoError::unprocessable("A firewall can have at most 5 tags."));
        }
        self.check_droplets_exist(droplet_ids)?;
        self.check_tags_exist(tags)
    }

    fn check_rule_count(&self, rules: usize) -> Result<(), DoError> {
        if rules > MAX_RULES_PER_FIREWALL {
            return Err(DoError::unprocessable("A firewall can have at most 50 rules."));
        }
        Ok(())
    }

    pub fn create_firewall(&mut self, spec: FirewallSpec, now: Instant) -> Result<String, DoError> {
        let spec = spec.without_repeats();
        self.check_firewall(&spec)?;
        let id = uuid::Uuid::new_v4().to_string();
        let pending = spec.droplet_ids.iter().map(|d| (*d, false)).collect();
        let firewall = Firewall {
            id: id.clone(),
            name: spec.name,
            created_at: self.clock.now(),
            droplet_ids: spec.droplet_ids,
            tags: spec.tags,
            inbound: spec.inbound,
            outbound: spec.outbound,
            settled_at: now + self.transition,
            pending,
        };
        self.firewalls.insert(self.ids.sequence(), firewall);
        Ok(id)
    }

    /// Replaces the whole firewall; what the request leaves out is reset, as the spec says.
    pub fn replace_firewall(&mut self, id: &str, spec: FirewallSpec, now: Instant) -> Result<(), DoError> {
        if !self.firewalls.contains(id) {
            return Err(DoError::not_found());
        }
        let spec = spec.without_repeats();
        self.check_firewall(&spec)?;
        let settled_at = now + self.transition;
        let firewall = self.firewalls.get_mut(id).ok_or_else(DoError::not_found)?;
        let mut pending: Vec<(u64, bool)> = firewall
            .droplet_ids
            .iter()
            .filter(|d| !spec.droplet_ids.contains(d))
            .map(|d| (*d, true))
            .collect();
        pending.extend(spec.droplet_ids.iter().map(|d| (*d, false)));
        firewall.name = spec.name;
        firewall.droplet_ids = spec.droplet_ids;
        firewall.tags = spec.tags;
        firewall.inbound = spec.inbound;
        firewall.outbound = spec.outbound;
        firewall.settled_at = settled_at;
        firewall.pending = pending;
        Ok(())
    }

    pub fn delete_firewall(&mut self, id: &str) -> Result<(), DoError> {
        self.firewalls.remove(id).map(|_| ()).ok_or_else(DoError::not_found)
    }

    /// Adds (or, with `remove`, takes away) droplets by id.
    pub fn firewall_droplets(
        &mut self,
        id: &str,
        droplet_ids: &[u64],
        remove: bool,
        now: Instant,
    ) -> Result<(), DoError> {
        let firewall = self.firewalls.get(id).ok_or_else(DoError::not_found)?;
        if droplet_ids.is_empty() {
            return Err(DoError::unprocessable("droplet_ids must name at least one Droplet."));
        }
        let mut members = firewall.droplet_ids.clone();
        if remove {
            members.retain(|d| !droplet_ids.contains(d));
        } else {
            self.check_droplets_exist(droplet_ids)?;
            for d in droplet_ids {
                if !members.contains(d) {
                    members.push(*d);
                }
            }
            self.check_membership(&members, &[])?;
        }
        let settled_at = now + self.transition;
        let firewall = self.firewalls.get_mut(id).ok_or_else(DoError::not_found)?;
        firewall.droplet_ids = members;
        firewall.pending = droplet_ids.iter().map(|d| (*d, remove)).collect();
        firewall.settled_at = settled_at;
        Ok(())
    }

    /// Adds (or, with `remove`, takes away) tags.
    pub fn firewall_tags(
        &mut self,
        id: &str,
        tags: &[String],
        remove: bool,
        now: Instant,
    ) -> Result<(), DoError> {
        let firewall = self.firewalls.get(id).ok_or_else(DoError::not_found)?;
        if tags.is_empty() {
            return Err(DoError::unprocessable("tags must name at least one tag."));
        }
        let mut members = firewall.tags.clone();
        if remove {
            members.retain(|t| !tags.contains(t));
        } else {
            self.check_tags_exist(tags)?;
            for tag in tags {
                if !members.contains(tag) {
                    members.push(tag.clone());
                }
            }
            self.check_membership(&[], &members)?;
        }
        let settled_at = now + self.transition;
        let firewall = self.firewalls.get_mut(id).ok_or_else(DoError::not_found)?;
        firewall.tags = members;
        firewall.settled_at = settled_at;
        Ok(())
    }

    /// Adds rules, or (with `remove`) takes away the rules equal to those given.
    pub fn firewall_rules(
        &mut self,
        id: &str,
        inbound: Vec<Rule>,
        outbound: Vec<Rule>,
        remove: bool,
        now: Instant,
    ) -> Result<(), DoError> {
        let firewall = self.firewalls.get(id).ok_or_else(DoError::not_found)?;
        if inbound.is_empty() && outbound.is_empty() {
            return Err(DoError::unprocessable("Give at least one inbound or outbound rule."));
        }
        if !remove {
            self.check_rule_count(
                firewall.inbound.len() + firewall.outbound.len() + inbound.len() + outbound.len(),
            )?;
            self.check_rules(&inbound)?;
            self.check_rules(&outbound)?;
        }
        let settled_at = now + self.transition;
        let firewall = self.firewalls.get_mut(id).ok_or_else(DoError::not_found)?;
        if remove {
            firewall.inbound.retain(|r| !inbound.contains(r));
            firewall.outbound.retain(|r| !outbound.contains(r));
        } else {
            firewall.inbound.extend(inbound);
            firewall.outbound.extend(outbound);
        }
        firewall.settled_at = settled_at;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_a_port_a_range_or_zero() {
        for good in ["0", "22", "8000-9000", "1-65535"] {
            assert_eq!(normalize_ports("tcp", good).ok().as_deref(), Some(good));
        }
        for bad in ["", "all", "65536", "9000-8000", "a-b", "-1", "22,80"] {
            assert!(normalize_ports("udp", bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_ports("icmp", "whatever").ok().as_deref(), Some("0"));
    }

    #[test]
    fn addresses_are_ips_or_cidrs() {
        for good in ["1.2.3.4", "18.0.0.0/8", "::/0", "2001:db8::1"] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in ["1.2.3", "10.0.0.0/33", "::/129", "example.com", ""] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn firewall_names_start_alphanumeric() {
        assert!(check_firewall_name("web-1.prod").is_ok());
        for bad in ["", "a", "-web", "web_1", "web 1"] {
            assert!(check_firewall_name(bad).is_err(), "{bad}");
        }
    }
}
