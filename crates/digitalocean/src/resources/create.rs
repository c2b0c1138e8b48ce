//! Creating resources exactly once per operation (the rules per kind are in the module doc of
//! [`crate::resources`]): look for what an earlier call made, send only when nothing is found,
//! and after an unknown outcome look again before sending again.

use std::time::{Duration, Instant};

use nephele_core::operation::ActionStatus;
use nephele_core::{
    CreateResource, OperationId, ProviderError, Resource, ResourceName, SnapshotSourceKind, SnapshotStatus,
};
use reqwest::Method;

use super::{mapping, validate, wire};
use crate::pagination::ListOf;
use crate::transport::Retry;
use crate::{DigitalOcean, operation_tag};

/// How often a droplet busy taking a snapshot is looked at again. Snapshots take minutes on
/// DigitalOcean, so a slow poll spends little of the rate budget.
const SNAPSHOT_POLL: Duration = Duration::from_secs(3);

fn conflict(message: String) -> ProviderError {
    ProviderError::Conflict { message, detail: Default::default() }
}

/// A droplet id the validation already accepted.
fn droplet_number(raw: &str) -> Result<u64, ProviderError> {
    raw.parse().map_err(|_| ProviderError::invalid("source_id", "is not a droplet id"))
}

/// The tags a create sends: the caller's, and the operation's own.
fn with_operation_tag<'a>(tags: &'a [String], tag: &'a str) -> Vec<&'a str> {
    tags.iter().map(String::as_str).filter(|t| *t != tag).chain(std::iter::once(tag)).collect()
}

impl DigitalOcean {
    /// Creates `request` exactly once for its operation id.
    pub(crate) async fn create_resource_once(
        &self,
        request: &CreateResource,
    ) -> Result<Resource, ProviderError> {
        validate::create(request)?;
        if let Some(made) = self.find_made(request).await? {
            self.transport.metrics.adopted_resource();
            return Ok(made);
        }
        for attempt in 1..=self.max_attempts {
            match self.post_resource_create(request).await {
                Ok(made) => return Ok(made),
                Err(error @ ProviderError::Unavailable { .. }) => {
                    // The create may or may not have happened: ask, never guess.
                    self.transport.metrics.ambiguous_create();
                    tracing::warn!(
                        attempt,
                        %error,
                        kind = %request.kind(),
                        operation_id = %request.operation_id(),
                        "create outcome unknown; looking for what it made"
                    );
                    if let Some(made) = self.find_made(request).await? {
                        self.transport.metrics.adopted_resource();
                        return Ok(made);
                    }
                    // Without a record to look for, a second send could make a second one.
                    let can_find = !matches!(request, CreateResource::ReservedIp { instance_id: None, .. });
                    if attempt == self.max_attempts || !can_find {
                        return Err(error);
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(ProviderError::unavailable("the create was not attempted"))
    }

    /// What an earlier call with this request's operation id made, if DigitalOcean shows it.
    async fn find_made(&self, request: &CreateResource) -> Result<Option<Resource>, ProviderError> {
        match request {
            CreateResource::Volume { operation_id, name, region, .. } => {
                self.find_volume(*operation_id, name, region).await
            }
            CreateResource::Snapshot {
                operation_id,
                name,
                source_kind: SnapshotSourceKind::Volume,
                source_id,
                ..
            } => self.find_volume_snapshot(*operation_id, name, source_id).await,
            CreateResource::Snapshot {
                name, source_kind: SnapshotSourceKind::Instance, source_id, ..
            } => self.find_droplet_snapshot(droplet_number(source_id)?, name.as_str(), None).await,
            CreateResource::SshKey { public_key, .. } => self.find_ssh_key(public_key).await,
            CreateResource::Firewall { name, .. } => self.find_firewall(name).await,
            CreateResource::ReservedIp { instance_id: Some(instance), .. } => {
                let droplet = validate::droplet("instance_id", instance)?;
                self.find_reserved_ip_on(droplet).await
            }
            CreateResource::ReservedIp { instance_id: None, .. } => Ok(None),
            CreateResource::Vpc { name, region, .. } => self.find_vpc(name, region).await,
        }
    }

    /// Sends the create once.
    async fn post_resource_create(&self, request: &CreateResource) -> Result<Resource, ProviderError> {
        match request {
            CreateResource::Volume {
                operation_id,
                name,
                region,
                size_gib,
                snapshot_id,
                description,
                tags,
                ..
            } => {
                let tag = operation_tag(*operation_id);
                let body = wire::CreateVolume {
                    name: name.as_str(),
                    size_gigabytes: *size_gib,
                    region,
                    snapshot_id: snapshot_id.as_ref().map(|s| s.0.as_str()),
                    description: description.as_deref(),
                    tags: with_operation_tag(tags, &tag),
                };
                mapping::volume(
                    self.post_once::<wire::VolumeOne>("/v2/volumes", &body, "volume").await?.volume,
                )
            }
            CreateResource::Snapshot {
                operation_id,
                name,
                source_kind: SnapshotSourceKind::Volume,
                source_id,
                tags,
            } => {
                let tag = operation_tag(*operation_id);
                let body =
                    wire::CreateVolumeSnapshot { name: name.as_str(), tags: with_operation_tag(tags, &tag) };
                let path = format!("/v2/volumes/{source_id}/snapshots");
                mapping::snapshot(
                    self.post_once::<wire::SnapshotOne>(&path, &body, "volume snapshot").await?.snapshot,
                )
            }
            CreateResource::Snapshot {
                name, source_kind: SnapshotSourceKind::Instance, source_id, ..
            } => {
                let droplet = droplet_number(source_id)?;
                let body = serde_json::json!({ "type": "snapshot", "name": name.as_str() });
                let path = format!("/v2/droplets/{droplet}/actions");
                let action =
                    self.post_once::<crate::wire::ActionOne>(&path, &body, "snapshot action").await?.action;
                let action = crate::mapping::action(action);
                self.find_droplet_snapshot(droplet, name.as_str(), Some(action)).await?.ok_or_else(|| {
                    ProviderError::invalid_response(format!(
                        "DigitalOcean finished the snapshot of droplet {droplet} but shows no snapshot named {name:?}",
                        name = name.as_str()
                    ))
                })
            }
            CreateResource::SshKey { name, public_key, .. } => {
                let body = wire::CreateSshKey { name, public_key };
                match self.post_once::<wire::SshKeyOne>("/v2/account/keys", &body, "SSH key").await {
                    Ok(made) => Ok(mapping::ssh_key(made.ssh_key)),
                    // DigitalOcean refuses a key the account already holds: that one is adopted.
                    Err(refused @ ProviderError::InvalidInput { .. }) => {
                        match self.find_ssh_key(public_key).await? {
                            Some(held) => {
                                self.transport.metrics.adopted_resource();
                                Ok(held)
                            }
                            None => Err(refused),
                        }
                    }
                    Err(other) => Err(other),
                }
            }
            CreateResource::Firewall { name, inbound, outbound, instance_ids, tags, .. } => {
                let body = wire::CreateFirewall {
                    name: name.as_str(),
                    inbound_rules: inbound.iter().map(mapping::inbound_rule).collect(),
                    outbound_rules: outbound.iter().map(mapping::outbound_rule).collect(),
                    droplet_ids: instance_ids.iter().filter_map(|i| i.0.parse().ok()).collect(),
                    tags: tags.iter().map(String::as_str).collect(),
                };
                mapping::firewall(
                    self.post_once::<wire::FirewallOne>("/v2/firewalls", &body, "firewall").await?.firewall,
                )
            }
            CreateResource::ReservedIp { region, instance_id, .. } => {
                let body = match instance_id {
                    Some(instance) => wire::CreateReservedIp::ToDroplet {
                        droplet_id: validate::droplet("instance_id", instance)?,
                    },
                    None => wire::CreateReservedIp::InRegion { region },
                };
                mapping::reserved_ip(
                    self.post_once::<wire::ReservedIpOne>("/v2/reserved_ips", &body, "reserved IP")
                        .await?
                        .reserved_ip,
                )
            }
            CreateResource::Vpc { name, region, ip_range, description, .. } => {
                let body = wire::CreateVpc {
                    name: name.as_str(),
                    region,
                    ip_range: ip_range.as_deref(),
                    description: description.as_deref(),
                };
                mapping::vpc(self.post_once::<wire::VpcOne>("/v2/vpcs", &body, "VPC").await?.vpc)
            }
        }
    }

    /// The volume called `name` in `region` if this operation made it; a conflict if someone
    /// else's holds the name.
    async fn find_volume(
        &self,
        operation_id: OperationId,
        name: &ResourceName,
        region: &str,
    ) -> Result<Option<Resource>, ProviderError> {
        let filters = [("name", name.as_str()), ("region", region)];
        let list = ListOf { path: "/v2/volumes", filters: &filters, what: "volume list" };
        let tag = operation_tag(operation_id);
        let found = self.list_all(list, mapping::volume).await?;
        let Some(volume) = found.into_iter().find(|v| match v {
            Resource::Volume(v) => v.name == name.as_str() && v.region == region,
            _ => false,
        }) else {
            return Ok(None);
        };
        if volume.tags().contains(&tag) {
            Ok(Some(volume))
        } else {
            Err(conflict(format!(
                "a volume named {:?} already exists in {region} and was not made by this operation",
                name.as_str()
            )))
        }
    }

    async fn find_volume_snapshot(
        &self,
        operation_id: OperationId,
        name: &ResourceName,
        volume: &str,
    ) -> Result<Option<Resource>, ProviderError> {
        let path = format!("/v2/volumes/{volume}/snapshots");
        let list = ListOf { path: &path, filters: &[], what: "volume snapshot list" };
        let tag = operation_tag(operation_id);
        let found = self.list_all(list, mapping::snapshot).await?;
        let mine = |r: &Resource| matches!(r, Resource::Snapshot(s) if s.name == name.as_str());
        let named: Vec<Resource> = found.into_iter().filter(mine).collect();
        if let Some(made) = named.iter().find(|s| s.tags().contains(&tag)) {
            return Ok(Some(made.clone()));
        }
        if named.is_empty() {
            Ok(None)
        } else {
            Err(conflict(format!(
                "volume {volume} already has a snapshot named {:?} that this operation did not make",
                name.as_str()
            )))
        }
    }

    /// The droplet's snapshot called `name`. When it is not there yet and the droplet is busy
    /// (taking it, or taking `action`), waits within the call deadline for it to appear; an
    /// errored `action` is an error.
    async fn find_droplet_snapshot(
        &self,
        droplet: u64,
        name: &str,
        action: Option<nephele_core::ProviderAction>,
    ) -> Result<Option<Resource>, ProviderError> {
        let deadline = Instant::now() + self.transport.call_deadline();
        let path = format!("/v2/droplets/{droplet}/snapshots");
        loop {
            let list = ListOf { path: &path, filters: &[], what: "droplet snapshot list" };
            let snapshots = self.list_all(list, |s: wire::DropletSnapshot| Ok(s)).await?;
            let busy = match &action {
                Some(action) => {
                    let now = self.get_action_state(&action.id).await?;
                    if now.status == ActionStatus::Errored {
                        return Err(conflict(format!(
                            "DigitalOcean's snapshot of droplet {droplet} errored"
                        )));
                    }
                    now.status == ActionStatus::InProgress
                }
                None => {
                    let reply = self
                        .transport
                        .send(Method::GET, &format!("/v2/droplets/{droplet}"), None, Retry::Idempotent)
                        .await?;
                    reply.decode::<crate::wire::DropletOne>("droplet")?.droplet.locked
                }
            };
            if let Some(found) = snapshots.into_iter().find(|s| s.name == name && s.kind == "snapshot") {
                let mut resource = mapping::droplet_snapshot(found, droplet)?;
                if let Resource::Snapshot(s) = &mut resource
                    && busy
                {
                    s.status = SnapshotStatus::Pending;
                }
                return Ok(Some(resource));
            }
            if !busy {
                return Ok(None);
            }
            if Instant::now() + SNAPSHOT_POLL > deadline {
                return Err(ProviderError::unavailable(format!(
                    "droplet {droplet} is still taking a snapshot; its outcome is looked for again on the next attempt"
                )));
            }
            tokio::time::sleep(SNAPSHOT_POLL).await;
        }
    }

    async fn get_action_state(
        &self,
        id: &nephele_core::ActionId,
    ) -> Result<nephele_core::ProviderAction, ProviderError> {
        let reply =
            self.transport.send(Method::GET, &format!("/v2/actions/{id}"), None, Retry::Idempotent).await?;
        Ok(crate::mapping::action(reply.decode::<crate::wire::ActionOne>("action")?.action))
    }

    /// The account's key with the same key material (type and base64 body, whatever comment).
    async fn find_ssh_key(&self, public_key: &str) -> Result<Option<Resource>, ProviderError> {
        let material = |key: &str| {
            let mut parts = key.split_whitespace();
            (parts.next().map(str::to_owned), parts.next().map(str::to_owned))
        };
        let wanted = material(public_key);
        let list = ListOf { path: "/v2/account/keys", filters: &[], what: "SSH key list" };
        let keys = self.list_all(list, |k: wire::SshKey| Ok(k)).await?;
        Ok(keys.into_iter().find(|k| material(&k.public_key) == wanted).map(mapping::ssh_key))
    }

    /// The one firewall called `name`; refuses to guess between several.
    async fn find_firewall(&self, name: &ResourceName) -> Result<Option<Resource>, ProviderError> {
        let list = ListOf { path: "/v2/firewalls", filters: &[], what: "firewall list" };
        let mut named: Vec<Resource> = self
            .list_all(list, mapping::firewall)
            .await?
            .into_iter()
            .filter(|f| matches!(f, Resource::Firewall(f) if f.name == name.as_str()))
            .collect();
        match named.len() {
            0 => Ok(None),
            1 => Ok(named.pop()),
            n => Err(conflict(format!(
                "{n} firewalls are named {:?}; DigitalOcean keeps no record of which one an operation made, so none is adopted",
                name.as_str()
            ))),
        }
    }

    /// The reserved IP assigned to `droplet` (a droplet holds one at most).
    async fn find_reserved_ip_on(&self, droplet: u64) -> Result<Option<Resource>, ProviderError> {
        let list = ListOf { path: "/v2/reserved_ips", filters: &[], what: "reserved IP list" };
        let wanted = droplet.to_string();
        Ok(self.list_all(list, mapping::reserved_ip).await?.into_iter().find(
            |ip| matches!(ip, Resource::ReservedIp(ip) if ip.assigned_to.as_ref().is_some_and(|i| i.0 == wanted)),
        ))
    }

    /// The VPC called `name` (unique per account), which must be in `region`.
    async fn find_vpc(&self, name: &ResourceName, region: &str) -> Result<Option<Resource>, ProviderError> {
        let list = ListOf { path: "/v2/vpcs", filters: &[], what: "VPC list" };
        let found = self
            .list_all(list, mapping::vpc)
            .await?
            .into_iter()
            .find(|v| matches!(v, Resource::Vpc(v) if v.name == name.as_str()));
        match found {
            Some(Resource::Vpc(vpc)) if vpc.region != region => Err(conflict(format!(
                "a VPC named {:?} already exists in {}; VPC names are unique per account",
                name.as_str(),
                vpc.region
            ))),
            other => Ok(other),
        }
    }
}
