//! Elastic IPs as reserved IPs: allocated in a region (tagged at allocation), associated with an
//! instance (moved from another, as DigitalOcean's assign moves a reserved IP), disassociated,
//! released (after a disassociation, as a DigitalOcean reserved IP is deleted while assigned).
//!
//! EC2 keeps no allocation time; one Nephele allocates carries it in a tag
//! (`nephele-created-at`), so the waste report can say how long it has been held.
//!
//! An address counts as assigned only to a live instance: EC2 drops the association when the
//! instance terminates, moto keeps it, and an address on a terminated instance serves nothing
//! (and is billed all the same: AWS charges every public IPv4 address by the hour).

use std::collections::BTreeSet;
use std::net::IpAddr;

use nephele_core::{InstanceId, OperationId, ProviderError, ReservedIp, ResourceId, ResourceKind};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    CREATED_AT_TAG, conflict, has_id_shape, invalid, not_found, operation_tag, parse_time, shown_tags,
    tag_specification, tags_for, unclear,
};
use crate::client::Params;
use crate::provider::{Aws, Query, is_instance_id, push_filter};
use crate::wire::{Page, Set, Tag};

/// `DescribeAddresses` is not paged.
const QUERY: Query = Query { action: "DescribeAddresses", page_size: None, what: "address list" };
/// Most values one `Describe*` filter takes.
const FILTER_VALUES: usize = 200;
/// The states of an instance an address can serve.
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeAddresses {
    #[serde(default)]
    addresses_set: Set<Address>,
}

impl Page for DescribeAddresses {
    type Item = Address;
    fn split(self) -> (Vec<Address>, Option<String>) {
        (self.addresses_set.items, None)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    allocation_id: Option<String>,
    public_ip: String,
    association_id: Option<String>,
    instance_id: Option<String>,
    #[serde(default)]
    tag_set: Set<Tag>,
}

impl Address {
    fn instance(&self) -> Option<&str> {
        self.instance_id.as_deref().filter(|i| !i.is_empty())
    }

    fn association(&self) -> Option<&str> {
        self.association_id.as_deref().filter(|a| !a.is_empty())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Allocated {
    allocation_id: String,
}

/// One address of `region`; `live` holds the instances known to be live there.
fn reserved_ip(region: &str, raw: &Address, live: &BTreeSet<String>) -> Result<ReservedIp, ProviderError> {
    let address: IpAddr = raw.public_ip.parse().map_err(|_| {
        ProviderError::invalid_response(format!(
            "an Elastic IP whose address {:?} is no IP address",
            raw.public_ip
        ))
    })?;
    let id = raw.allocation_id.clone().filter(|a| !a.is_empty()).unwrap_or_else(|| raw.public_ip.clone());
    Ok(ReservedIp {
        id: ResourceId(id),
        address,
        region: region.to_owned(),
        assigned_to: raw.instance().filter(|i| live.contains(*i)).map(|i| InstanceId(i.to_owned())),
        locked: false,
        tags: shown_tags(&raw.tag_set),
        created_at: parse_time(raw.tag_set.value_of(CREATED_AT_TAG)),
    })
}

impl Aws {
    /// Which of `instances` (of `region`) are live.
    async fn live_instances(
        &self,
        region: &str,
        instances: &[&str],
    ) -> Result<BTreeSet<String>, ProviderError> {
        let mut live = BTreeSet::new();
        let deadline = self.client.deadline();
        for chunk in instances.chunks(FILTER_VALUES) {
            let mut filters = Params::new();
            push_filter(&mut filters, "instance-id", chunk);
            push_filter(&mut filters, "instance-state-name", &LIVE_STATES);
            live.extend(
                self.list_region(region, &filters, deadline).await?.into_iter().map(|(_, i)| i.instance_id),
            );
        }
        Ok(live)
    }

    /// `addresses` of `region` as reserved IPs, each assigned only to a live instance.
    async fn reserved_ips(
        &self,
        region: &str,
        addresses: &[Address],
    ) -> Result<Vec<ReservedIp>, ProviderError> {
        let instances: Vec<&str> = addresses.iter().filter_map(Address::instance).collect();
        let live = if instances.is_empty() {
            BTreeSet::new()
        } else {
            self.live_instances(region, &instances).await?
        };
        addresses
            .iter()
            .map(|raw| {
                if let Some(id) = &raw.allocation_id {
                    self.remember_resource(id, region);
                }
                reserved_ip(region, raw, &live)
            })
            .collect()
    }

    pub(crate) async fn list_addresses(&self) -> Result<Vec<ReservedIp>, ProviderError> {
        let found = self.describe_everywhere::<DescribeAddresses>(QUERY, &Params::new()).await?;
        let mut ips = Vec::with_capacity(found.len());
        for region in self.regions_default_first() {
            let here: Vec<Address> =
                found.iter().filter(|(r, _)| *r == region).map(|(_, a)| a.clone()).collect();
            if !here.is_empty() {
                ips.extend(self.reserved_ips(&region, &here).await?);
            }
        }
        Ok(ips)
    }

    async fn find_address(&self, id: &ResourceId) -> Result<(String, Address), ProviderError> {
        if !has_id_shape(&id.0, "eipalloc-") {
            return Err(not_found(ResourceKind::ReservedIp, id));
        }
        let mut params = Params::new();
        push_filter(&mut params, "allocation-id", &[&id.0]);
        self.locate::<DescribeAddresses>(&id.0, QUERY, &params)
            .await?
            .ok_or_else(|| not_found(ResourceKind::ReservedIp, id))
    }

    pub(crate) async fn get_address(&self, id: &ResourceId) -> Result<ReservedIp, ProviderError> {
        let (region, raw) = self.find_address(id).await?;
        let mut list = self.reserved_ips(&region, std::slice::from_ref(&raw)).await?;
        list.pop().ok_or_else(|| not_found(ResourceKind::ReservedIp, id))
    }

    async fn address_made_by(
        &self,
        region: &str,
        operation: OperationId,
    ) -> Result<Option<Address>, ProviderError> {
        let mut params = Params::new();
        push_filter(&mut params, "tag-key", &[&operation_tag(operation)]);
        let found =
            self.describe::<DescribeAddresses>(region, QUERY, &params, self.client.deadline()).await?;
        Ok(found.into_iter().next())
    }

    pub(crate) async fn allocate_address(
        &self,
        operation_id: OperationId,
        region: &str,
        instance_id: Option<&InstanceId>,
    ) -> Result<ReservedIp, ProviderError> {
        self.check_region("region", region)?;
        // The instance is checked before anything is allocated, so a wrong id leaves no address.
        if let Some(instance_id) = instance_id {
            let (home, instance) = match self.find_raw(instance_id).await {
                Ok(found) => found,
                Err(ProviderError::NotFound { .. }) => {
                    return Err(invalid(
                        "instance_id",
                        format!("no instance {instance_id} in this provider's regions"),
                    ));
                }
                Err(e) => return Err(e),
            };
            if home != region {
                return Err(invalid(
                    "instance_id",
                    format!("instance {instance_id} is in {home}, not {region}"),
                ));
            }
            if instance.is_terminated() {
                return Err(conflict(format!("instance {instance_id} is {}", instance.instance_state.name)));
            }
        }
        let allocation = match self.address_made_by(region, operation_id).await? {
            Some(made) => made.allocation_id.unwrap_or_default(),
            None => {
                let mut params: Params = vec![("Domain".into(), "vpc".into())];
                let mut tags = tags_for(operation_id, None, None, &[]);
                let now = time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
                let now = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                tags.push((CREATED_AT_TAG.to_owned(), now));
                tag_specification(&mut params, "elastic-ip", &tags);
                match self
                    .client
                    .call::<Allocated>(region, "AllocateAddress", &params, self.client.deadline())
                    .await
                {
                    Ok(allocated) => allocated.allocation_id,
                    Err(e) if unclear(&e) => match self.address_made_by(region, operation_id).await? {
                        Some(made) => made.allocation_id.unwrap_or_default(),
                        None => return Err(e),
                    },
                    Err(e) => return Err(e),
                }
            }
        };
        self.remember_resource(&allocation, region);
        let id = ResourceId(allocation);
        match instance_id {
            Some(instance_id) => self.assign_address(&id, instance_id).await,
            None => self.get_address(&id).await,
        }
    }

    pub(crate) async fn assign_address(
        &self,
        id: &ResourceId,
        instance_id: &InstanceId,
    ) -> Result<ReservedIp, ProviderError> {
        if !is_instance_id(&instance_id.0) {
            return Err(invalid("instance_id", format!("{instance_id} is not an EC2 instance id (i-...)")));
        }
        let current = self.get_address(id).await?;
        if current.assigned_to.as_ref() == Some(instance_id) {
            return Ok(current);
        }
        let (home, instance) = match self.find_raw(instance_id).await {
            Ok(found) => found,
            Err(ProviderError::NotFound { .. }) => {
                return Err(invalid(
                    "instance_id",
                    format!("no instance {instance_id} in this provider's regions"),
                ));
            }
            Err(e) => return Err(e),
        };
        if home != current.region {
            return Err(invalid(
                "instance_id",
                format!("instance {instance_id} is in {home} and address {id} in {}", current.region),
            ));
        }
        if instance.is_terminated() {
            return Err(conflict(format!("instance {instance_id} is {}", instance.instance_state.name)));
        }
        let params: Params = vec![
            ("AllocationId".into(), id.0.clone()),
            ("InstanceId".into(), instance_id.0.clone()),
            // Moved from another instance, as DigitalOcean's assign moves a reserved IP.
            ("AllowReassociation".into(), "true".into()),
        ];
        self.client
            .call::<IgnoredAny>(&current.region, "AssociateAddress", &params, self.client.deadline())
            .await?;
        self.get_address(id).await
    }

    pub(crate) async fn unassign_address(&self, id: &ResourceId) -> Result<ReservedIp, ProviderError> {
        let (region, raw) = self.find_address(id).await?;
        if let Some(association) = raw.association() {
            let params: Params = vec![("AssociationId".into(), association.to_owned())];
            self.client
                .call::<IgnoredAny>(&region, "DisassociateAddress", &params, self.client.deadline())
                .await?;
        }
        self.get_address(id).await
    }

    pub(crate) async fn release_address(&self, id: &ResourceId) -> Result<(), ProviderError> {
        let (region, raw) = self.find_address(id).await?;
        let deadline = self.client.deadline();
        if let Some(association) = raw.association() {
            let params: Params = vec![("AssociationId".into(), association.to_owned())];
            self.client.call::<IgnoredAny>(&region, "DisassociateAddress", &params, deadline).await?;
        }
        let params: Params = vec![("AllocationId".into(), id.0.clone())];
        self.client.call::<IgnoredAny>(&region, "ReleaseAddress", &params, deadline).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_on_a_dead_instance_is_unassigned() {
        let xml = "<item><allocationId>eipalloc-1</allocationId><publicIp>198.51.100.7</publicIp><associationId>eipassoc-1</associationId><instanceId>i-gone</instanceId><tagSet/></item>";
        let raw: Address = quick_xml::de::from_str(xml).expect("address");
        let live = BTreeSet::from(["i-live".to_owned()]);
        assert_eq!(reserved_ip("us-east-1", &raw, &live).expect("ip").assigned_to, None);
        let live = BTreeSet::from(["i-gone".to_owned()]);
        assert_eq!(
            reserved_ip("us-east-1", &raw, &live).expect("ip").assigned_to,
            Some(InstanceId("i-gone".into()))
        );
    }

    #[test]
    fn an_empty_instance_element_is_no_instance_and_a_bad_address_is_refused() {
        let xml = "<item><allocationId>eipalloc-1</allocationId><publicIp>198.51.100.7</publicIp><instanceId/><tagSet/></item>";
        let raw: Address = quick_xml::de::from_str(xml).expect("address");
        assert_eq!(raw.instance(), None);
        let xml = "<item><allocationId>eipalloc-1</allocationId><publicIp>not-an-ip</publicIp></item>";
        let raw: Address = quick_xml::de::from_str(xml).expect("address");
        assert!(reserved_ip("us-east-1", &raw, &BTreeSet::new()).is_err());
    }
}
