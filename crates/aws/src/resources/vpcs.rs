//! VPCs: made with a range (`CidrBlock`, /16 to /28 as EC2 allows; when none is given, the
//! first 10.N.0.0/16 that overlaps none of the region's VPCs), named by their `Name` tag, the
//! region's default VPC marked `default` and never deleted. Members are the VPC's live
//! instances and its subnets.

use nephele_core::{CreateResource, ProviderError, ResourceId, ResourceKind, Vpc, VpcMember};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::cidr::Cidr;
use super::{
    DESCRIPTION_TAG, check_description, conflict, has_id_shape, invalid, not_found, operation_tag,
    tag_specification, tags_for, unclear,
};
use crate::client::Params;
use crate::provider::{Aws, Query, push_filter};
use crate::wire::{Page, Set, Tag};

const QUERY: Query = Query { action: "DescribeVpcs", page_size: Some("1000"), what: "VPC list" };
const SUBNETS: Query = Query { action: "DescribeSubnets", page_size: Some("1000"), what: "subnet list" };
/// The states of an instance that is still in its VPC.
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeVpcs {
    #[serde(default)]
    vpc_set: Set<Ec2Vpc>,
    next_token: Option<String>,
}

impl Page for DescribeVpcs {
    type Item = Ec2Vpc;
    fn split(self) -> (Vec<Ec2Vpc>, Option<String>) {
        (self.vpc_set.items, self.next_token)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ec2Vpc {
    vpc_id: String,
    cidr_block: Option<String>,
    is_default: Option<bool>,
    #[serde(default)]
    tag_set: Set<Tag>,
}

#[derive(Debug, Deserialize)]
struct CreatedVpc {
    vpc: Ec2Vpc,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSubnets {
    #[serde(default)]
    subnet_set: Set<Subnet>,
    next_token: Option<String>,
}

impl Page for DescribeSubnets {
    type Item = Subnet;
    fn split(self) -> (Vec<Subnet>, Option<String>) {
        (self.subnet_set.items, self.next_token)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    subnet_id: String,
    cidr_block: Option<String>,
    #[serde(default)]
    tag_set: Set<Tag>,
}

fn vpc(region: &str, raw: &Ec2Vpc) -> Vpc {
    let default = raw.is_default.unwrap_or(false);
    let name = raw.tag_set.value_of("Name").unwrap_or(if default { "default" } else { &raw.vpc_id });
    Vpc {
        id: ResourceId(raw.vpc_id.clone()),
        name: name.to_owned(),
        region: region.to_owned(),
        ip_range: raw.cidr_block.clone().unwrap_or_default(),
        default,
        description: raw.tag_set.value_of(DESCRIPTION_TAG).map(str::to_owned),
        created_at: None,
    }
}

/// A VPC range as EC2 takes it: IPv4, /16 to /28, host bits zero.
fn check_range(raw: &str) -> Result<Cidr, ProviderError> {
    let cidr = Cidr::parse(raw).map_err(|e| invalid("ip_range", e))?;
    if !cidr.is_ipv4() || !(16..=28).contains(&cidr.prefix) {
        return Err(invalid("ip_range", format!("{raw:?}: a VPC's range is an IPv4 block of /16 to /28")));
    }
    Ok(cidr)
}

/// The first 10.N.0.0/16 that overlaps none of `taken`.
fn free_range(taken: &[Cidr]) -> Option<Cidr> {
    (0u8..=255)
        .map(|n| Cidr { address: std::net::Ipv4Addr::new(10, n, 0, 0).into(), prefix: 16 })
        .find(|candidate| !taken.iter().any(|t| t.overlaps(candidate)))
}

impl Aws {
    pub(crate) async fn list_vpcs(&self) -> Result<Vec<Vpc>, ProviderError> {
        let found = self.describe_everywhere::<DescribeVpcs>(QUERY, &Params::new()).await?;
        Ok(found
            .iter()
            .map(|(region, raw)| {
                self.remember_resource(&raw.vpc_id, region);
                vpc(region, raw)
            })
            .collect())
    }

    async fn find_vpc(&self, id: &str) -> Result<Option<(String, Ec2Vpc)>, ProviderError> {
        if !has_id_shape(id, "vpc-") {
            return Ok(None);
        }
        let mut params = Params::new();
        push_filter(&mut params, "vpc-id", &[id]);
        self.locate::<DescribeVpcs>(id, QUERY, &params).await
    }

    /// The region of a VPC, `None` when there is no such VPC.
    pub(crate) async fn vpc_region(&self, id: &str) -> Result<Option<String>, ProviderError> {
        Ok(self.find_vpc(id).await?.map(|(region, _)| region))
    }

    pub(crate) async fn get_vpc(&self, id: &ResourceId) -> Result<Vpc, ProviderError> {
        let (region, raw) = self.find_vpc(&id.0).await?.ok_or_else(|| not_found(ResourceKind::Vpc, id))?;
        Ok(vpc(&region, &raw))
    }

    async fn vpc_made_by(
        &self,
        region: &str,
        operation: nephele_core::OperationId,
    ) -> Result<Option<Vpc>, ProviderError> {
        let mut params = Params::new();
        push_filter(&mut params, "tag-key", &[&operation_tag(operation)]);
        let found = self.describe::<DescribeVpcs>(region, QUERY, &params, self.client.deadline()).await?;
        Ok(found.first().map(|raw| {
            self.remember_resource(&raw.vpc_id, region);
            vpc(region, raw)
        }))
    }

    pub(crate) async fn create_vpc(&self, request: &CreateResource) -> Result<Vpc, ProviderError> {
        let CreateResource::Vpc { operation_id, name, region, ip_range, description } = request else {
            return Err(invalid("kind", "not a VPC"));
        };
        self.check_region("region", region)?;
        let wanted = ip_range.as_deref().map(check_range).transpose()?;
        if let Some(text) = description {
            check_description("description", text)?;
        }
        if let Some(made) = self.vpc_made_by(region, *operation_id).await? {
            return Ok(made);
        }
        let range = match wanted {
            Some(range) => range,
            None => {
                let existing = self
                    .describe::<DescribeVpcs>(region, QUERY, &Params::new(), self.client.deadline())
                    .await?;
                let taken: Vec<Cidr> = existing
                    .iter()
                    .filter_map(|v| v.cidr_block.as_deref().and_then(|c| Cidr::parse(c).ok()))
                    .collect();
                free_range(&taken).ok_or_else(|| {
                    conflict(format!("every 10.N.0.0/16 overlaps a VPC in {region}; name an ip_range"))
                })?
            }
        };
        let mut params: Params = vec![("CidrBlock".into(), range.to_string())];
        let tags = tags_for(*operation_id, Some(name.as_str()), description.as_deref(), &[]);
        tag_specification(&mut params, "vpc", &tags);
        match self.client.call::<CreatedVpc>(region, "CreateVpc", &params, self.client.deadline()).await {
            Ok(made) => {
                self.remember_resource(&made.vpc.vpc_id, region);
                Ok(vpc(region, &made.vpc))
            }
            Err(e) if unclear(&e) => self.vpc_made_by(region, *operation_id).await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn delete_vpc(&self, id: &ResourceId) -> Result<(), ProviderError> {
        let (region, raw) = self.find_vpc(&id.0).await?.ok_or_else(|| not_found(ResourceKind::Vpc, id))?;
        if raw.is_default.unwrap_or(false) {
            return Err(conflict(format!(
                "{id} is the default VPC of {region}, which Nephele does not delete"
            )));
        }
        let params: Params = vec![("VpcId".into(), id.0.clone())];
        self.client.call::<IgnoredAny>(&region, "DeleteVpc", &params, self.client.deadline()).await?;
        Ok(())
    }

    /// The VPC's live instances and its subnets.
    pub(crate) async fn vpc_members_of(&self, id: &ResourceId) -> Result<Vec<VpcMember>, ProviderError> {
        let (region, _) = self.find_vpc(&id.0).await?.ok_or_else(|| not_found(ResourceKind::Vpc, id))?;
        let deadline = self.client.deadline();
        let mut filters = Params::new();
        push_filter(&mut filters, "vpc-id", &[&id.0]);
        let subnets = self.describe::<DescribeSubnets>(&region, SUBNETS, &filters, deadline).await?;
        push_filter(&mut filters, "instance-state-name", &LIVE_STATES);
        let instances = self.list_region(&region, &filters, deadline).await?;
        let mut members: Vec<VpcMember> = instances
            .iter()
            .map(|(_, i)| VpcMember {
                kind: "instance".to_owned(),
                id: i.instance_id.clone(),
                name: i.tag_set.value_of("Name").unwrap_or(&i.instance_id).to_owned(),
            })
            .collect();
        members.extend(subnets.iter().map(|s| VpcMember {
            kind: "subnet".to_owned(),
            id: s.subnet_id.clone(),
            name: s.tag_set.value_of("Name").or(s.cidr_block.as_deref()).unwrap_or(&s.subnet_id).to_owned(),
        }));
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_ipv4_blocks_of_16_to_28() {
        assert!(check_range("10.20.0.0/16").is_ok());
        assert!(check_range("192.168.1.0/28").is_ok());
        for bad in ["10.0.0.0/8", "10.0.0.0/29", "fd00::/48", "10.0.0.1/16", "ten"] {
            let refused = check_range(bad).expect_err(bad);
            assert!(refused.to_string().contains("`ip_range`"), "{refused}");
        }
    }

    #[test]
    fn a_free_range_overlaps_no_vpc_of_the_region() {
        let taken =
            [Cidr::parse("172.31.0.0/16").expect("cidr"), Cidr::parse("10.0.128.0/24").expect("cidr")];
        assert_eq!(free_range(&taken).map(|c| c.to_string()).as_deref(), Some("10.1.0.0/16"));
        assert_eq!(free_range(&[Cidr::parse("10.0.0.0/8").expect("cidr")]), None);
    }

    #[test]
    fn the_default_vpc_is_named_and_marked() {
        let xml = "<item><vpcId>vpc-1</vpcId><cidrBlock>172.31.0.0/16</cidrBlock><isDefault>true</isDefault><tagSet/></item>";
        let raw: Ec2Vpc = quick_xml::de::from_str(xml).expect("vpc");
        let read = vpc("eu-west-1", &raw);
        assert!(read.default);
        assert_eq!((read.name.as_str(), read.ip_range.as_str()), ("default", "172.31.0.0/16"));
    }
}
