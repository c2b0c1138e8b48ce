//! Everything an EC2 account pays for besides its instances, behind the `Provider` trait's
//! resource calls: EBS volumes (`volumes`) and snapshots (`snapshots`), key pairs (`keys`),
//! security groups as firewalls (`firewalls`), Elastic IPs as reserved IPs (`addresses`) and
//! VPCs (`vpcs`), across every configured region as instances are.
//!
//! Exactly once: every create tags what it makes `nephele-req-<operation id>` in the same call
//! (`TagSpecifications`, so nothing it makes is ever untagged), looks that tag up before it
//! sends anything, and looks again when a change's answer was lost or unreadable before it
//! reports a failure. Key pairs are held unique by name as well. A delete of what is not there
//! is `NotFound`, which the engine reads as an earlier attempt done; actions are checked against
//! what EC2 shows ([`nephele_core::ResourceAction::is_done`]) by the engine, and each action here
//! answers without a call when EC2 already shows its effect.
//!
//! Every request is checked here before any call (sizes, names, ranges, rule shapes, tags),
//! naming the field: EC2 refuses some of it only after a round trip, and moto accepts most of
//! it (a volume of 0 GiB, a zone that does not exist, a key name no pair has).
//!
//! Never list "all my snapshots" without the owner's id (moto answers `Owner=self` with 1,300
//! public ones), never detach a volume without its instance id (moto answers 500), and never
//! read a list without the bounds of `Aws::pages` (pages, bytes, the call's deadline).

mod addresses;
pub(crate) mod cidr;
mod firewalls;
pub(crate) mod keys;
mod snapshots;
mod volumes;
mod vpcs;

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::join_all;
use nephele_core::{
    ActionStarted, CreateResource, OperationId, ProviderError, Resource, ResourceAction, ResourceId,
    ResourceKind, is_valid_tag,
};
use tokio::time::Instant;

use crate::client::Params;
use crate::mapping::{self, OPERATION_TAG_PREFIX};
use crate::provider::{Aws, Query};
use crate::wire::{self, Set, Tag};

/// The tag a snapshot of an instance's root volume carries, naming the instance: EC2 knows only
/// the volume, and the snapshot should still say what it was taken of once both are gone.
const SOURCE_INSTANCE_TAG: &str = "nephele-source-instance";
/// When Nephele allocated an Elastic IP: EC2 does not say, and the waste report needs an age.
const CREATED_AT_TAG: &str = "nephele-created-at";
/// Where a volume's or VPC's description is kept (EC2 has no field for it).
const DESCRIPTION_TAG: &str = "Description";
/// Most tags a caller may put on one resource: EC2 allows 50, and Nephele adds up to four of
/// its own (`Name`, `Description`, the operation, a snapshot's source).
const MAX_USER_TAGS: usize = 40;
/// The longest description EC2 keeps (a security group's `GroupDescription`, a tag's value).
const MAX_DESCRIPTION: usize = 255;
/// Resources whose region is remembered, at most: past it the memory starts again (a miss only
/// costs a look-up in every region).
const MAX_REMEMBERED: usize = 200_000;

/// What the resource kinds remember between calls.
#[derive(Default)]
pub struct Memory {
    /// The region each resource was last seen in, by id: ids do not say.
    homes: Mutex<HashMap<String, String>>,
    /// Each region's availability zones, in name order, once read.
    zones: tokio::sync::Mutex<HashMap<String, Vec<String>>>,
    /// The account's own id, once read (see `snapshots`).
    account: tokio::sync::OnceCell<String>,
}

impl Memory {
    fn remember(&self, id: &str, region: &str) {
        let mut homes = self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if homes.len() >= MAX_REMEMBERED {
            homes.clear();
        }
        homes.insert(id.to_owned(), region.to_owned());
    }

    fn home(&self, id: &str) -> Option<String> {
        self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    fn forget(&self, id: &str) {
        self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(field, message)
}

pub(crate) fn conflict(message: impl Into<String>) -> ProviderError {
    ProviderError::Conflict { message: message.into(), detail: Default::default() }
}

pub(crate) fn not_found(kind: ResourceKind, id: &impl std::fmt::Display) -> ProviderError {
    ProviderError::not_found(format!("{kind} {id} not found"))
}

/// Whether a change that failed may have been carried out all the same: its answer was lost
/// or could not be read. (A throttled one was not, but looking costs one read.)
pub(crate) fn unclear(error: &ProviderError) -> bool {
    error.is_retryable()
}

/// EC2's ids: a prefix (`vol-`) and 8 or 17 hex digits. Anything else names nothing, and is
/// answered `NotFound` without a call.
pub(crate) fn has_id_shape(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|hex| matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The tag every resource a create makes carries.
pub(crate) fn operation_tag(operation_id: OperationId) -> String {
    format!("{OPERATION_TAG_PREFIX}{operation_id}")
}

/// `TagSpecification.1` for a create: the resource type and its tags, as key/value pairs.
pub(crate) fn tag_specification(params: &mut Params, resource_type: &str, tags: &[(String, String)]) {
    params.push(("TagSpecification.1.ResourceType".into(), resource_type.into()));
    for (n, (key, value)) in tags.iter().enumerate() {
        params.push((format!("TagSpecification.1.Tag.{}.Key", n + 1), key.clone()));
        params.push((format!("TagSpecification.1.Tag.{}.Value", n + 1), value.clone()));
    }
}

/// The tags a create puts on what it makes: the operation's, a name and description where the
/// kind has them, then the caller's (`key:value` or `key`).
pub(crate) fn tags_for(
    operation_id: OperationId,
    name: Option<&str>,
    description: Option<&str>,
    user: &[String],
) -> Vec<(String, String)> {
    let mut tags = vec![(operation_tag(operation_id), String::new())];
    tags.extend(name.map(|n| ("Name".to_owned(), n.to_owned())));
    tags.extend(description.map(|d| (DESCRIPTION_TAG.to_owned(), d.to_owned())));
    tags.extend(user.iter().map(|t| {
        let (key, value) = mapping::tag_pair(t);
        (key.to_owned(), value.to_owned())
    }));
    tags
}

/// A resource's tags as Nephele shows them: every tag but those that carry a field of their own.
pub(crate) fn shown_tags(tags: &Set<Tag>) -> Vec<String> {
    tags.items
        .iter()
        .filter(|t| {
            !matches!(t.key.as_str(), "Name" | DESCRIPTION_TAG | SOURCE_INSTANCE_TAG | CREATED_AT_TAG)
        })
        .map(mapping::tag_word)
        .collect()
}

/// A caller's tags, checked: Nephele's tag rule, at most [`MAX_USER_TAGS`], none of the keys
/// Nephele keeps for itself.
pub(crate) fn check_tags(field: &str, tags: &[String]) -> Result<(), ProviderError> {
    if tags.len() > MAX_USER_TAGS {
        return Err(invalid(field, format!("at most {MAX_USER_TAGS} tags, got {}", tags.len())));
    }
    for (n, tag) in tags.iter().enumerate() {
        let field = format!("{field}[{n}]");
        if !is_valid_tag(tag) {
            return Err(invalid(&field, "1 to 255 letters, digits, `:`, `-` and `_`"));
        }
        let (key, _) = mapping::tag_pair(tag);
        if key.is_empty() || key.len() > 128 {
            return Err(invalid(&field, "the key (before `:`) must be 1 to 128 characters"));
        }
        // (AWS keeps keys starting `aws:`; a Nephele tag's key holds no `:`.)
        if matches!(key, "Name" | DESCRIPTION_TAG) || key.starts_with("nephele-") {
            return Err(invalid(&field, format!("the key {key:?} is kept for Nephele's own use")));
        }
    }
    Ok(())
}

/// A free-text description EC2 keeps: at most 255 printable ASCII characters.
pub(crate) fn check_description(field: &str, text: &str) -> Result<(), ProviderError> {
    if text.len() > MAX_DESCRIPTION {
        return Err(invalid(field, format!("at most {MAX_DESCRIPTION} characters, got {}", text.len())));
    }
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(invalid(field, "printable ASCII characters only"));
    }
    Ok(())
}

/// Parses a time EC2 gave (`2026-12-02T07:05:01.000Z`).
pub(crate) fn parse_time(text: Option<&str>) -> Option<time::OffsetDateTime> {
    text.and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
}

impl Aws {
    /// The configured regions, the default one first.
    pub(crate) fn regions_default_first(&self) -> Vec<String> {
        let settings = self.settings();
        let mut regions = vec![settings.default_region.clone()];
        regions.extend(settings.regions.iter().filter(|r| **r != settings.default_region).cloned());
        regions
    }

    /// `region` when it is one of this provider's regions.
    pub(crate) fn check_region(&self, field: &str, region: &str) -> Result<(), ProviderError> {
        if self.settings().regions.iter().any(|r| r == region) {
            return Ok(());
        }
        Err(invalid(
            field,
            format!(
                "{region:?} is not one of this provider's regions ({})",
                self.settings().regions.join(", ")
            ),
        ))
    }

    /// Every item of a `Describe*` call in one region, within the provider's bounds.
    pub(crate) async fn describe<P: wire::Page>(
        &self,
        region: &str,
        query: Query,
        params: &Params,
        deadline: Instant,
    ) -> Result<Vec<P::Item>, ProviderError> {
        self.pages::<P>(region, query, params, usize::MAX, deadline).await
    }

    /// A `Describe*` call in every region at once, each item with its region.
    pub(crate) async fn describe_everywhere<P: wire::Page>(
        &self,
        query: Query,
        params: &Params,
    ) -> Result<Vec<(String, P::Item)>, ProviderError> {
        let deadline = self.client.deadline();
        let regions = self.regions_default_first();
        let lists = join_all(regions.iter().map(|r| self.describe::<P>(r, query, params, deadline))).await;
        let mut all = Vec::new();
        for (region, list) in regions.iter().zip(lists) {
            all.extend(list?.into_iter().map(|item| (region.clone(), item)));
        }
        Ok(all)
    }

    /// The one resource a `Describe*` call with `params` (a filter on its id) answers: in the
    /// region it was last seen in, else in every region. Resources never change region, so a
    /// miss where it was seen means it is gone.
    pub(crate) async fn locate<P: wire::Page>(
        &self,
        id: &str,
        query: Query,
        params: &Params,
    ) -> Result<Option<(String, P::Item)>, ProviderError> {
        let deadline = self.client.deadline();
        let regions = match self.resources.home(id) {
            Some(home) => vec![home],
            None => self.regions_default_first(),
        };
        let lists = join_all(regions.iter().map(|r| self.describe::<P>(r, query, params, deadline))).await;
        for (region, list) in regions.iter().zip(lists) {
            if let Some(item) = list?.into_iter().next() {
                self.resources.remember(id, region);
                return Ok(Some((region.clone(), item)));
            }
        }
        self.resources.forget(id);
        Ok(None)
    }

    pub(crate) fn remember_resource(&self, id: &str, region: &str) {
        self.resources.remember(id, region);
    }

    /// A region's availability zones that are available, in name order (read once).
    pub(crate) async fn zones(&self, region: &str) -> Result<Vec<String>, ProviderError> {
        let mut zones = self.resources.zones.lock().await;
        if let Some(known) = zones.get(region) {
            return Ok(known.clone());
        }
        let answer: wire::DescribeAvailabilityZones = self
            .client
            .call(region, "DescribeAvailabilityZones", &Params::new(), self.client.deadline())
            .await?;
        let mut names: Vec<String> = answer
            .availability_zone_info
            .items
            .into_iter()
            .filter(|z| z.zone_type.as_deref().is_none_or(|t| t == "availability-zone"))
            .filter(|z| z.zone_state.as_deref().is_none_or(|s| s == "available"))
            .map(|z| z.zone_name)
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(ProviderError::invalid_response(format!(
                "region {region} answered no availability zone"
            )));
        }
        zones.insert(region.to_owned(), names.clone());
        Ok(names)
    }

    pub(crate) async fn list_resources_of(&self, kind: ResourceKind) -> Result<Vec<Resource>, ProviderError> {
        Ok(match kind {
            ResourceKind::Volume => self.list_volumes().await?.into_iter().map(Resource::Volume).collect(),
            ResourceKind::Snapshot => {
                self.list_snapshots().await?.into_iter().map(Resource::Snapshot).collect()
            }
            ResourceKind::SshKey => self.list_keys().await?.into_iter().map(Resource::SshKey).collect(),
            ResourceKind::Firewall => {
                self.list_firewalls().await?.into_iter().map(Resource::Firewall).collect()
            }
            ResourceKind::ReservedIp => {
                self.list_addresses().await?.into_iter().map(Resource::ReservedIp).collect()
            }
            ResourceKind::Vpc => self.list_vpcs().await?.into_iter().map(Resource::Vpc).collect(),
        })
    }

    pub(crate) async fn get_resource_of(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
    ) -> Result<Resource, ProviderError> {
        Ok(match kind {
            ResourceKind::Volume => Resource::Volume(self.get_volume(id).await?),
            ResourceKind::Snapshot => Resource::Snapshot(self.get_snapshot(id).await?),
            ResourceKind::SshKey => Resource::SshKey(self.get_key(id).await?),
            ResourceKind::Firewall => Resource::Firewall(self.get_firewall(id).await?),
            ResourceKind::ReservedIp => Resource::ReservedIp(self.get_address(id).await?),
            ResourceKind::Vpc => Resource::Vpc(self.get_vpc(id).await?),
        })
    }

    pub(crate) async fn create_resource_of(
        &self,
        request: &CreateResource,
    ) -> Result<Resource, ProviderError> {
        Ok(match request {
            CreateResource::Volume { .. } => Resource::Volume(self.create_volume(request).await?),
            CreateResource::Snapshot { .. } => Resource::Snapshot(self.create_snapshot(request).await?),
            CreateResource::SshKey { operation_id, name, public_key } => {
                Resource::SshKey(self.import_key(*operation_id, name, public_key).await?)
            }
            CreateResource::Firewall { .. } => Resource::Firewall(self.create_firewall(request).await?),
            CreateResource::ReservedIp { operation_id, region, instance_id } => Resource::ReservedIp(
                self.allocate_address(*operation_id, region, instance_id.as_ref()).await?,
            ),
            CreateResource::Vpc { .. } => Resource::Vpc(self.create_vpc(request).await?),
        })
    }

    pub(crate) async fn delete_resource_of(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
    ) -> Result<(), ProviderError> {
        match kind {
            ResourceKind::Volume => self.delete_volume(id).await,
            ResourceKind::Snapshot => self.delete_snapshot(id).await,
            ResourceKind::SshKey => self.delete_key(id).await,
            ResourceKind::Firewall => self.delete_firewall(id).await,
            ResourceKind::ReservedIp => self.release_address(id).await,
            ResourceKind::Vpc => self.delete_vpc(id).await,
        }
    }

    pub(crate) async fn act_on_resource(
        &self,
        action: &ResourceAction,
    ) -> Result<ActionStarted, ProviderError> {
        let resource = match action {
            ResourceAction::AttachVolume { volume_id, instance_id } => {
                Resource::Volume(self.attach_volume(volume_id, instance_id).await?)
            }
            ResourceAction::DetachVolume { volume_id, instance_id } => {
                Resource::Volume(self.detach_volume(volume_id, instance_id).await?)
            }
            ResourceAction::ResizeVolume { volume_id, size_gib } => {
                Resource::Volume(self.resize_volume(volume_id, *size_gib).await?)
            }
            ResourceAction::AssignReservedIp { ip_id, instance_id } => {
                Resource::ReservedIp(self.assign_address(ip_id, instance_id).await?)
            }
            ResourceAction::UnassignReservedIp { ip_id } => {
                Resource::ReservedIp(self.unassign_address(ip_id).await?)
            }
            ResourceAction::SetFirewallRules { firewall_id, inbound, outbound } => {
                Resource::Firewall(self.set_firewall_rules(firewall_id, inbound, outbound).await?)
            }
            ResourceAction::AddFirewallInstances { firewall_id, instance_ids } => {
                Resource::Firewall(self.change_firewall_members(firewall_id, instance_ids, true).await?)
            }
            ResourceAction::RemoveFirewallInstances { firewall_id, instance_ids } => {
                Resource::Firewall(self.change_firewall_members(firewall_id, instance_ids, false).await?)
            }
            ResourceAction::AddFirewallTags { .. } | ResourceAction::RemoveFirewallTags { .. } => {
                return Err(firewalls::no_tag_targets("tags"));
            }
        };
        // EC2 keeps no record of these changes: the resource as it stands is what the engine
        // follows.
        Ok(ActionStarted { action: None, resource: Some(resource) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_the_wrong_shape_name_nothing() {
        assert!(has_id_shape("vol-0123456789abcdef0", "vol-"));
        assert!(has_id_shape("vol-01234567", "vol-"));
        for bad in ["vol-", "vol-xyz", "snap-0123456789abcdef0", "vol-0123456789abcdef0/..", "vol-0123456789"]
        {
            assert!(!has_id_shape(bad, "vol-"), "{bad}");
        }
    }

    #[test]
    fn tags_kept_for_nephele_or_aws_are_refused_naming_the_tag() {
        assert!(check_tags("tags", &["env:prod".into(), "web".into()]).is_ok());
        assert!(check_tags("tags", &["awesome:yes".into()]).is_ok());
        for kept in ["Name:x", "nephele-req-1", "nephele-source-instance:i-1", "Description"] {
            let refused = check_tags("tags", &["ok".into(), kept.into()]).expect_err(kept);
            assert!(refused.to_string().contains("`tags[1]`"), "{refused}");
        }
        let many: Vec<String> = (0..41).map(|n| format!("t{n}")).collect();
        assert!(check_tags("tags", &many).is_err());
    }

    #[test]
    fn a_create_tags_what_it_makes_with_its_operation_first() {
        let operation = OperationId::new();
        let tags = tags_for(operation, Some("data"), None, &["env:prod".into(), "web".into()]);
        assert_eq!(tags[0], (format!("nephele-req-{operation}"), String::new()));
        assert_eq!(tags[1], ("Name".into(), "data".into()));
        assert_eq!(tags[2], ("env".into(), "prod".into()));
        assert_eq!(tags[3], ("web".into(), String::new()));
    }
}
