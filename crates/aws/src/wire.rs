//! EC2's XML answers (API version 2016-11-15), as far as Nephele reads them. Lists are
//! `<xxxSet><item>...</item></xxxSet>`; elements Nephele does not read are ignored.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// `<xxxSet>`: the items of a list.
#[derive(Debug, Clone, Deserialize)]
pub struct Set<T> {
    #[serde(rename = "item", default = "Vec::new")]
    pub items: Vec<T>,
}

/// A page of a paged `Describe*` answer: its items and the next page's token.
pub trait Page: DeserializeOwned {
    type Item;
    fn split(self) -> (Vec<Self::Item>, Option<String>);
}

impl Page for DescribeInstances {
    type Item = Instance;
    fn split(self) -> (Vec<Instance>, Option<String>) {
        let instances = self.reservation_set.items.into_iter().flat_map(|r| r.instances_set.items).collect();
        (instances, self.next_token)
    }
}

impl Page for DescribeInstanceTypes {
    type Item = InstanceTypeInfo;
    fn split(self) -> (Vec<InstanceTypeInfo>, Option<String>) {
        (self.instance_type_set.items, self.next_token)
    }
}

impl Page for DescribeInstanceTypeOfferings {
    type Item = Offering;
    fn split(self) -> (Vec<Offering>, Option<String>) {
        (self.instance_type_offering_set.items, self.next_token)
    }
}

impl Page for DescribeImages {
    type Item = ImageInfo;
    fn split(self) -> (Vec<ImageInfo>, Option<String>) {
        (self.images_set.items, self.next_token)
    }
}

impl<T> Default for Set<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeInstances {
    #[serde(default)]
    pub reservation_set: Set<Reservation>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    #[serde(default)]
    pub instances_set: Set<Instance>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInstances {
    #[serde(default)]
    pub instances_set: Set<Instance>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub instance_id: String,
    pub image_id: Option<String>,
    pub instance_state: State,
    pub instance_type: String,
    pub launch_time: Option<String>,
    pub private_ip_address: Option<String>,
    pub ip_address: Option<String>,
    #[serde(default)]
    pub tag_set: Set<Tag>,
    pub cpu_options: Option<CpuOptions>,
    pub placement: Option<Placement>,
    pub vpc_id: Option<String>,
    pub root_device_name: Option<String>,
    /// The EBS volumes attached, by device name (the root volume among them).
    #[serde(default)]
    pub block_device_mapping: Set<BlockDevice>,
    /// The instance's security groups.
    #[serde(default)]
    pub group_set: Set<GroupRef>,
    #[serde(default)]
    pub network_interface_set: Set<NetworkInterface>,
}

impl Instance {
    /// Its availability zone (`us-east-1a`).
    pub fn zone(&self) -> Option<&str> {
        self.placement.as_ref().and_then(|p| p.availability_zone.as_deref()).filter(|z| !z.is_empty())
    }

    /// The ids of its security groups: the instance's own list, or, where that is empty (moto
    /// leaves it so for an instance launched without groups), its primary interface's.
    pub fn security_groups(&self) -> Vec<String> {
        let own: Vec<String> = self.group_set.items.iter().map(|g| g.group_id.clone()).collect();
        if !own.is_empty() {
            return own;
        }
        self.network_interface_set
            .items
            .iter()
            .find(|n| n.attachment.as_ref().and_then(|a| a.device_index).unwrap_or(0) == 0)
            .map(|n| n.group_set.items.iter().map(|g| g.group_id.clone()).collect())
            .unwrap_or_default()
    }

    /// Its root EBS volume, when it has one.
    pub fn root_volume(&self) -> Option<&str> {
        let root = self.root_device_name.as_deref()?;
        self.block_device_mapping
            .items
            .iter()
            .find(|d| d.device_name == root)
            .and_then(|d| d.ebs.as_ref())
            .map(|e| e.volume_id.as_str())
    }

    /// Whether it is gone or going (a terminated instance holds nothing).
    pub fn is_terminated(&self) -> bool {
        matches!(self.instance_state.name.as_str(), "shutting-down" | "terminated")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub availability_zone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDevice {
    pub device_name: String,
    pub ebs: Option<EbsRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EbsRef {
    pub volume_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    pub group_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    #[serde(default)]
    pub group_set: Set<GroupRef>,
    pub attachment: Option<InterfaceAttachment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceAttachment {
    pub device_index: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct State {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuOptions {
    pub core_count: Option<u32>,
    pub threads_per_core: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl Set<Tag> {
    /// The value of the tag `key`, when it is there and not empty.
    pub fn value_of(&self, key: &str) -> Option<&str> {
        self.items.iter().find(|t| t.key == key).and_then(|t| t.value.as_deref()).filter(|v| !v.is_empty())
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.items.iter().any(|t| t.key == key)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRegions {
    #[serde(default)]
    pub region_info: Set<RegionInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionInfo {
    pub region_name: String,
    pub opt_in_status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeInstanceTypes {
    #[serde(default)]
    pub instance_type_set: Set<InstanceTypeInfo>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTypeInfo {
    pub instance_type: String,
    pub v_cpu_info: Option<VCpuInfo>,
    pub memory_info: Option<MemoryInfo>,
    pub instance_storage_info: Option<InstanceStorageInfo>,
    pub gpu_info: Option<GpuInfo>,
    pub current_generation: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VCpuInfo {
    pub default_v_cpus: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryInfo {
    pub size_in_mi_b: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStorageInfo {
    pub total_size_in_g_b: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GpuInfo {
    #[serde(default)]
    pub gpus: Set<Gpu>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Gpu {
    pub count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeInstanceTypeOfferings {
    #[serde(default)]
    pub instance_type_offering_set: Set<Offering>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offering {
    pub instance_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImages {
    #[serde(default)]
    pub images_set: Set<ImageInfo>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    pub image_id: String,
    pub name: Option<String>,
    pub image_state: Option<String>,
    pub is_public: Option<bool>,
    pub platform_details: Option<String>,
    pub image_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeAvailabilityZones {
    #[serde(default)]
    pub availability_zone_info: Set<Zone>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    pub zone_name: String,
    pub zone_state: Option<String>,
    pub zone_type: Option<String>,
}

/// An error answer: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/>`.
#[derive(Debug, Deserialize)]
pub struct ErrorResponse {
    #[serde(rename = "Errors")]
    pub errors: Errors,
    #[serde(rename = "RequestID", alias = "RequestId")]
    pub request_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Errors {
    #[serde(rename = "Error", default)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorItem {
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Message", default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of EC2's documented example answer.
    #[test]
    fn a_describe_instances_answer_is_read() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
  <reservationSet>
    <item>
      <reservationId>r-1234567890abcdef0</reservationId>
      <instancesSet>
        <item>
          <instanceId>i-1234567890abcdef0</instanceId>
          <imageId>ami-bff32ccc</imageId>
          <instanceState><code>16</code><name>running</name></instanceState>
          <instanceType>t2.micro</instanceType>
          <launchTime>2018-05-08T16:46:19.000Z</launchTime>
          <placement><availabilityZone>eu-west-1c</availabilityZone></placement>
          <privateIpAddress>192.168.1.88</privateIpAddress>
          <ipAddress>54.194.252.215</ipAddress>
          <tagSet><item><key>Name</key><value>web</value></item><item><key>env</key><value/></item></tagSet>
          <cpuOptions><coreCount>1</coreCount><threadsPerCore>1</threadsPerCore></cpuOptions>
        </item>
      </instancesSet>
    </item>
  </reservationSet>
  <nextToken>abc</nextToken>
</DescribeInstancesResponse>"#;
        let answer: DescribeInstances = quick_xml::de::from_str(xml).expect("parses");
        let instance = &answer.reservation_set.items[0].instances_set.items[0];
        assert_eq!(instance.instance_id, "i-1234567890abcdef0");
        assert_eq!(instance.instance_state.name, "running");
        assert_eq!(instance.tag_set.items.len(), 2);
        assert_eq!(instance.tag_set.items[0].value.as_deref(), Some("web"));
        assert_eq!(answer.next_token.as_deref(), Some("abc"));
    }

    #[test]
    fn an_error_answer_is_read() {
        let xml = "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not exist</Message></Error></Errors><RequestID>ea966190</RequestID></Response>";
        let answer: ErrorResponse = quick_xml::de::from_str(xml).expect("parses");
        assert_eq!(answer.errors.errors[0].code, "InvalidInstanceID.NotFound");
        assert_eq!(answer.request_id.as_deref(), Some("ea966190"));
    }
}
