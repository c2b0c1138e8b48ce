//! Changes to existing resources: volume attach, detach and resize; reserved IP assign and
//! unassign; a firewall's rules, droplets and tags.
//!
//! Each is sent once, plainly: the operations engine reads the resource and asks
//! [`nephele_core::ResourceAction::is_done`] before it ever sends one again. Setting a
//! firewall's rules is a difference: the rules it has and should not are removed first, then
//! the missing ones added, so the firewall never briefly allows more than either set (and
//! never passes DigitalOcean's 50 rules on the way). Rules are removed exactly as DigitalOcean
//! holds them, targets Nephele does not model (load balancers, Kubernetes) included.

use nephele_core::{ActionStarted, ProviderError, Resource, ResourceAction, ResourceKind};
use reqwest::Method;

use super::{mapping, segment, validate, wire};
use crate::DigitalOcean;
use crate::transport::Retry;

impl DigitalOcean {
    /// Starts `action` once.
    pub(crate) async fn act_on_resource(
        &self,
        action: &ResourceAction,
    ) -> Result<ActionStarted, ProviderError> {
        validate::action(action)?;
        let (kind, id) = action.target();
        let id = segment(kind, id)?;
        match action {
            ResourceAction::AttachVolume { instance_id, .. } => {
                let body = wire::VolumeActionBody::Attach {
                    droplet_id: validate::droplet("instance_id", instance_id)?,
                };
                self.volume_action(id, &body).await
            }
            ResourceAction::DetachVolume { instance_id, .. } => {
                let body = wire::VolumeActionBody::Detach {
                    droplet_id: validate::droplet("instance_id", instance_id)?,
                };
                self.volume_action(id, &body).await
            }
            ResourceAction::ResizeVolume { volume_id, size_gib } => {
                let Resource::Volume(volume) = self.get_resource_of(ResourceKind::Volume, volume_id).await?
                else {
                    return Err(ProviderError::invalid_response(
                        "DigitalOcean answered a volume read with another kind",
                    ));
                };
                if *size_gib <= volume.size_gib {
                    return Err(ProviderError::invalid(
                        "size_gib",
                        format!(
                            "volumes only grow: {} is {} GiB, asked for {size_gib}",
                            volume.id, volume.size_gib
                        ),
                    ));
                }
                let body =
                    wire::VolumeActionBody::Resize { size_gigabytes: *size_gib, region: &volume.region };
                self.volume_action(id, &body).await
            }
            ResourceAction::AssignReservedIp { instance_id, .. } => {
                let body = wire::ReservedIpActionBody::Assign {
                    droplet_id: validate::droplet("instance_id", instance_id)?,
                };
                self.reserved_ip_action(id, &body).await
            }
            ResourceAction::UnassignReservedIp { .. } => {
                self.reserved_ip_action(id, &wire::ReservedIpActionBody::Unassign).await
            }
            ResourceAction::SetFirewallRules { inbound, outbound, .. } => {
                self.set_firewall_rules(id, inbound, outbound).await?;
                Ok(ActionStarted::default())
            }
            ResourceAction::AddFirewallInstances { instance_ids, .. }
            | ResourceAction::RemoveFirewallInstances { instance_ids, .. } => {
                let droplet_ids = instance_ids
                    .iter()
                    .map(|i| validate::droplet("instance_ids", i))
                    .collect::<Result<Vec<_>, _>>()?;
                let method = if matches!(action, ResourceAction::AddFirewallInstances { .. }) {
                    Method::POST
                } else {
                    Method::DELETE
                };
                let body = serde_json::json!({ "droplet_ids": droplet_ids });
                self.send_no_answer(
                    method,
                    &format!("/v2/firewalls/{id}/droplets"),
                    Some(&body),
                    Retry::Once,
                )
                .await?;
                Ok(ActionStarted::default())
            }
            ResourceAction::AddFirewallTags { tags, .. }
            | ResourceAction::RemoveFirewallTags { tags, .. } => {
                let method = if matches!(action, ResourceAction::AddFirewallTags { .. }) {
                    Method::POST
                } else {
                    Method::DELETE
                };
                let body = serde_json::json!({ "tags": tags });
                self.send_no_answer(method, &format!("/v2/firewalls/{id}/tags"), Some(&body), Retry::Once)
                    .await?;
                Ok(ActionStarted::default())
            }
        }
    }

    async fn volume_action(
        &self,
        volume: &str,
        body: &wire::VolumeActionBody<'_>,
    ) -> Result<ActionStarted, ProviderError> {
        let path = format!("/v2/volumes/{volume}/actions");
        let started = self.post_once::<crate::wire::ActionOne>(&path, body, "volume action").await?;
        Ok(ActionStarted { action: Some(crate::mapping::action(started.action)), resource: None })
    }

    async fn reserved_ip_action(
        &self,
        ip: &str,
        body: &wire::ReservedIpActionBody,
    ) -> Result<ActionStarted, ProviderError> {
        let path = format!("/v2/reserved_ips/{ip}/actions");
        let started = self.post_once::<crate::wire::ActionOne>(&path, body, "reserved IP action").await?;
        Ok(ActionStarted { action: Some(crate::mapping::action(started.action)), resource: None })
    }

    /// Removes the rules the firewall has and `inbound`/`outbound` lack, then adds the missing.
    async fn set_firewall_rules(
        &self,
        firewall: &str,
        inbound: &[nephele_core::FirewallRule],
        outbound: &[nephele_core::FirewallRule],
    ) -> Result<(), ProviderError> {
        let current = self
            .get_one::<wire::FirewallOne>(&format!("/v2/firewalls/{firewall}"), "firewall")
            .await?
            .firewall;
        let wanted_in: Vec<wire::InboundRule> = inbound.iter().map(mapping::inbound_rule).collect();
        let wanted_out: Vec<wire::OutboundRule> = outbound.iter().map(mapping::outbound_rule).collect();
        let has_in = |r: &wire::InboundRule, among: &[wire::InboundRule]| {
            among.iter().any(|o| {
                mapping::same_rule(&r.protocol, &r.ports, &r.sources, &o.protocol, &o.ports, &o.sources)
            })
        };
        let has_out = |r: &wire::OutboundRule, among: &[wire::OutboundRule]| {
            among.iter().any(|o| {
                mapping::same_rule(
                    &r.protocol,
                    &r.ports,
                    &r.destinations,
                    &o.protocol,
                    &o.ports,
                    &o.destinations,
                )
            })
        };
        let remove = wire::FirewallRules {
            inbound_rules: current.inbound_rules.iter().filter(|r| !has_in(r, &wanted_in)).cloned().collect(),
            outbound_rules: current
                .outbound_rules
                .iter()
                .filter(|r| !has_out(r, &wanted_out))
                .cloned()
                .collect(),
        };
        let add = wire::FirewallRules {
            inbound_rules: wanted_in.iter().filter(|r| !has_in(r, &current.inbound_rules)).cloned().collect(),
            outbound_rules: wanted_out
                .iter()
                .filter(|r| !has_out(r, &current.outbound_rules))
                .cloned()
                .collect(),
        };
        let path = format!("/v2/firewalls/{firewall}/rules");
        for (method, rules) in [(Method::DELETE, remove), (Method::POST, add)] {
            if rules.inbound_rules.is_empty() && rules.outbound_rules.is_empty() {
                continue;
            }
            let body = super::encode(&rules)?;
            self.send_no_answer(method, &path, Some(&body), Retry::Once).await?;
        }
        Ok(())
    }
}
