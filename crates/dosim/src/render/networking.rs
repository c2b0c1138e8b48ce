//! Firewalls, reserved IPs and VPCs as DigitalOcean's JSON.

use std::time::Instant;

use super::{droplet, region, timestamp};
use crate::state::{Droplet, Firewall, ReservedIp, Rule, Targets, Vpc};
use crate::wire::{
    FirewallJson, InboundRuleJson, OutboundRuleJson, PendingChangeJson, ReservedIpJson, TargetsJson, VpcJson,
    VpcMemberJson,
};

fn targets(targets: &Targets) -> TargetsJson {
    TargetsJson {
        addresses: targets.addresses.clone(),
        droplet_ids: targets.droplet_ids.clone(),
        load_balancer_uids: targets.load_balancer_uids.clone(),
        kubernetes_ids: targets.kubernetes_ids.clone(),
        tags: targets.tags.clone(),
    }
}

pub fn firewall(firewall: &Firewall, now: Instant) -> FirewallJson {
    let settled = firewall.settled(now);
    FirewallJson {
        id: firewall.id.clone(),
        name: firewall.name.clone(),
        status: if settled { "succeeded" } else { "waiting" },
        created_at: timestamp(firewall.created_at),
        pending_changes: if settled {
            Vec::new()
        } else {
            firewall
                .pending
                .iter()
                .map(|(droplet_id, removing)| PendingChangeJson {
                    droplet_id: *droplet_id,
                    removing: *removing,
                    status: "waiting",
                })
                .collect()
        },
        droplet_ids: firewall.droplet_ids.clone(),
        tags: firewall.tags.clone(),
        inbound_rules: firewall.inbound.iter().map(inbound_rule).collect(),
        outbound_rules: firewall.outbound.iter().map(outbound_rule).collect(),
    }
}

fn inbound_rule(rule: &Rule) -> InboundRuleJson {
    InboundRuleJson {
        protocol: rule.protocol.to_owned(),
        ports: rule.ports.clone(),
        sources: targets(&rule.targets),
    }
}

fn outbound_rule(rule: &Rule) -> OutboundRuleJson {
    OutboundRuleJson {
        protocol: rule.protocol.to_owned(),
        ports: rule.ports.clone(),
        destinations: targets(&rule.targets),
    }
}

/// A reserved IP with the whole droplet it is assigned to, if any.
pub fn reserved_ip(
    ip: &ReservedIp,
    assigned_to: Option<&Droplet>,
    project_id: String,
    now: Instant,
) -> ReservedIpJson {
    ReservedIpJson {
        ip: ip.address.clone(),
        region: region(ip.region),
        droplet: assigned_to.map(|d| droplet(d, now)),
        locked: ip.locked_at(now),
        project_id,
    }
}

pub fn vpc(vpc: &Vpc) -> VpcJson {
    VpcJson {
        id: vpc.id.clone(),
        urn: format!("do:vpc:{}", vpc.id),
        name: vpc.name.clone(),
        description: vpc.description.clone(),
        region: vpc.region.slug,
        ip_range: vpc.ip_range.to_string(),
        default: vpc.default,
        created_at: timestamp(vpc.created_at),
    }
}

pub fn vpc_member(droplet: &Droplet) -> VpcMemberJson {
    VpcMemberJson {
        urn: format!("do:droplet:{}", droplet.id),
        name: droplet.name.clone(),
        created_at: timestamp(droplet.created_at),
    }
}
