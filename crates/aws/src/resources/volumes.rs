//! EBS volumes: made `gp3` unless another type is asked for, in the region's first zone unless a
//! zone is named (`region: us-east-1b`); attached at the instance's next free device name;
//! detached always naming the instance (moto answers 500 without it); grown with `ModifyVolume`,
//! never shrunk (moto would shrink one, EC2 refuses).

use nephele_core::resource::MAX_VOLUME_GIB;
use nephele_core::{
    CreateResource, InstanceId, ProviderError, ResourceId, ResourceKind, Volume, VolumeStatus,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    check_description, check_tags, conflict, has_id_shape, invalid, not_found, operation_tag, parse_time,
    shown_tags, tag_specification, tags_for, unclear,
};
use crate::client::Params;
use crate::provider::{Aws, Query, push_filter};
use crate::wire::{self, Page, Set, Tag};

const QUERY: Query = Query { action: "DescribeVolumes", page_size: Some("500"), what: "volume list" };

/// The types Nephele makes, with the sizes EBS allows each, in GiB. `io1` and `io2` need
/// provisioned IOPS, which the request has no field for.
fn size_range(volume_type: &str) -> Option<(u64, u64)> {
    match volume_type {
        "gp3" | "gp2" => Some((1, MAX_VOLUME_GIB)),
        "st1" | "sc1" => Some((125, MAX_VOLUME_GIB)),
        "standard" => Some((1, 1024)),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeVolumes {
    #[serde(default)]
    volume_set: Set<Ec2Volume>,
    next_token: Option<String>,
}

impl Page for DescribeVolumes {
    type Item = Ec2Volume;
    fn split(self) -> (Vec<Ec2Volume>, Option<String>) {
        (self.volume_set.items, self.next_token)
    }
}

/// A volume as `DescribeVolumes` and `CreateVolume` answer it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ec2Volume {
    volume_id: String,
    size: u64,
    availability_zone: Option<String>,
    status: String,
    volume_type: Option<String>,
    create_time: Option<String>,
    #[serde(default)]
    attachment_set: Set<Attachment>,
    #[serde(default)]
    tag_set: Set<Tag>,
}

impl Ec2Volume {
    /// The instances it is attached to (or being attached to, or detached from).
    fn attached_to(&self) -> Vec<InstanceId> {
        self.attachment_set
            .items
            .iter()
            .filter(|a| a.status.as_deref() != Some("detached") && !a.instance_id.is_empty())
            .map(|a| InstanceId(a.instance_id.clone()))
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    #[serde(default)]
    instance_id: String,
    status: Option<String>,
}

fn status(state: &str) -> VolumeStatus {
    match state {
        "creating" => VolumeStatus::Creating,
        "available" => VolumeStatus::Available,
        "in-use" => VolumeStatus::InUse,
        "deleting" => VolumeStatus::Deleting,
        _ => VolumeStatus::Unknown,
    }
}

fn volume(region: &str, raw: &Ec2Volume) -> Volume {
    Volume {
        id: ResourceId(raw.volume_id.clone()),
        name: raw.tag_set.value_of("Name").unwrap_or(&raw.volume_id).to_owned(),
        region: region.to_owned(),
        size_gib: raw.size,
        status: status(&raw.status),
        provider_status: raw.status.clone(),
        attached_to: raw.attached_to(),
        volume_type: raw.volume_type.clone().filter(|t| !t.is_empty()),
        description: raw.tag_set.value_of(super::DESCRIPTION_TAG).map(str::to_owned),
        tags: shown_tags(&raw.tag_set),
        created_at: parse_time(raw.create_time.as_deref()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    }
}

/// The first device name of `/dev/sdf`..`/dev/sdp` (the range EC2 recommends for EBS) that the
/// instance does not use, as `/dev/sdX` or `/dev/xvdX`.
fn next_device(instance: &wire::Instance) -> Option<String> {
    let used: Vec<char> = instance
        .block_device_mapping
        .items
        .iter()
        .filter_map(|d| {
            let name = d.device_name.strip_prefix("/dev/").unwrap_or(&d.device_name);
            let letters = name.strip_prefix("xvd").or_else(|| name.strip_prefix("sd"))?;
            letters.chars().next()
        })
        .collect();
    ('f'..='p').find(|l| !used.contains(l)).map(|l| format!("/dev/sd{l}"))
}

impl Aws {
    pub(crate) async fn list_volumes(&self) -> Result<Vec<Volume>, ProviderError> {
        let found = self.describe_everywhere::<DescribeVolumes>(QUERY, &Params::new()).await?;
        Ok(found
            .iter()
            .map(|(region, raw)| {
                self.remember_resource(&raw.volume_id, region);
                volume(region, raw)
            })
            .collect())
    }

    /// A volume as EC2 describes it, with its region; `NotFound` when there is none.
    async fn find_volume(&self, id: &ResourceId) -> Result<(String, Ec2Volume), ProviderError> {
        if !has_id_shape(&id.0, "vol-") {
            return Err(not_found(ResourceKind::Volume, id));
        }
        let mut params = Params::new();
        push_filter(&mut params, "volume-id", &[&id.0]);
        self.locate::<DescribeVolumes>(&id.0, QUERY, &params)
            .await?
            .ok_or_else(|| not_found(ResourceKind::Volume, id))
    }

    pub(crate) async fn get_volume(&self, id: &ResourceId) -> Result<Volume, ProviderError> {
        let (region, raw) = self.find_volume(id).await?;
        Ok(volume(&region, &raw))
    }

    /// The volume one create operation made in `region`, if it made one.
    async fn volume_made_by(
        &self,
        region: &str,
        operation: nephele_core::OperationId,
    ) -> Result<Option<Volume>, ProviderError> {
        let mut params = Params::new();
        push_filter(&mut params, "tag-key", &[&operation_tag(operation)]);
        let found = self.describe::<DescribeVolumes>(region, QUERY, &params, self.client.deadline()).await?;
        Ok(found.first().map(|raw| {
            self.remember_resource(&raw.volume_id, region);
            volume(region, raw)
        }))
    }

    /// `region` is a region (the volume goes in its first zone) or one of its zones.
    async fn region_and_zone(&self, raw: &str) -> Result<(String, String), ProviderError> {
        let region = if self.settings().regions.iter().any(|r| r == raw) {
            raw.to_owned()
        } else {
            let as_zone = raw
                .strip_suffix(|c: char| c.is_ascii_lowercase())
                .filter(|r| self.settings().regions.iter().any(|known| known == r));
            match as_zone {
                Some(region) => region.to_owned(),
                None => {
                    self.check_region("region", raw)?;
                    raw.to_owned()
                }
            }
        };
        let zones = self.zones(&region).await?;
        if region == raw {
            let first = zones.first().cloned().unwrap_or_default();
            return Ok((region, first));
        }
        if !zones.iter().any(|z| z == raw) {
            return Err(invalid(
                "region",
                format!("{raw:?} is not an available zone of {region} ({})", zones.join(", ")),
            ));
        }
        Ok((region, raw.to_owned()))
    }

    pub(crate) async fn create_volume(&self, request: &CreateResource) -> Result<Volume, ProviderError> {
        let CreateResource::Volume {
            operation_id,
            name,
            region,
            size_gib,
            snapshot_id,
            volume_type,
            description,
            tags,
        } = request
        else {
            return Err(invalid("kind", "not a volume"));
        };
        let volume_type = volume_type.clone().unwrap_or_else(|| "gp3".to_owned());
        let Some((smallest, largest)) = size_range(&volume_type) else {
            return Err(invalid(
                "volume_type",
                format!(
                    "{volume_type:?} is not one Nephele makes: gp3, gp2, st1, sc1 or standard (io1 and io2 need provisioned IOPS)"
                ),
            ));
        };
        if !(smallest..=largest).contains(size_gib) {
            return Err(invalid(
                "size_gib",
                format!("a {volume_type} volume is {smallest} to {largest} GiB, got {size_gib}"),
            ));
        }
        if let Some(text) = description {
            check_description("description", text)?;
        }
        check_tags("tags", tags)?;
        if let Some(snapshot) = snapshot_id
            && !has_id_shape(&snapshot.0, "snap-")
        {
            return Err(invalid("snapshot_id", format!("{snapshot} is not an EBS snapshot id (snap-...)")));
        }
        let (region, zone) = self.region_and_zone(region).await?;
        if let Some(made) = self.volume_made_by(&region, *operation_id).await? {
            return Ok(made);
        }
        if let Some(snapshot) = snapshot_id {
            let source = self.snapshot_size(snapshot).await?;
            match source {
                None => {
                    return Err(invalid("snapshot_id", format!("no snapshot {snapshot} in this account")));
                }
                Some((home, _)) if home != region => {
                    return Err(invalid(
                        "snapshot_id",
                        format!("snapshot {snapshot} is in {home}, not {region}"),
                    ));
                }
                Some((_, size)) if size > *size_gib => {
                    return Err(invalid(
                        "size_gib",
                        format!("snapshot {snapshot} needs at least {size} GiB"),
                    ));
                }
                Some(_) => {}
            }
        }
        let mut params: Params = vec![
            ("AvailabilityZone".into(), zone),
            ("Size".into(), size_gib.to_string()),
            ("VolumeType".into(), volume_type),
        ];
        if let Some(snapshot) = snapshot_id {
            params.push(("SnapshotId".into(), snapshot.0.clone()));
        }
        let tags = tags_for(*operation_id, Some(name.as_str()), description.as_deref(), tags);
        tag_specification(&mut params, "volume", &tags);
        match self.client.call::<Ec2Volume>(&region, "CreateVolume", &params, self.client.deadline()).await {
            Ok(made) => {
                self.remember_resource(&made.volume_id, &region);
                Ok(volume(&region, &made))
            }
            Err(e) if unclear(&e) => self.volume_made_by(&region, *operation_id).await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn delete_volume(&self, id: &ResourceId) -> Result<(), ProviderError> {
        let (region, raw) = self.find_volume(id).await?;
        if raw.status == "deleting" {
            // An earlier attempt's delete, still under way.
            return Ok(());
        }
        if let Some(instance) = raw.attached_to().first() {
            return Err(conflict(format!("volume {id} is attached to {instance}; detach it first")));
        }
        let params: Params = vec![("VolumeId".into(), id.0.clone())];
        self.client.call::<IgnoredAny>(&region, "DeleteVolume", &params, self.client.deadline()).await?;
        Ok(())
    }

    pub(crate) async fn attach_volume(
        &self,
        id: &ResourceId,
        instance_id: &InstanceId,
    ) -> Result<Volume, ProviderError> {
        let (region, raw) = self.find_volume(id).await?;
        let attached = raw.attached_to();
        if attached.contains(instance_id) {
            return Ok(volume(&region, &raw));
        }
        if let Some(other) = attached.first() {
            return Err(conflict(format!("volume {id} is attached to {other}; detach it first")));
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
        if instance.is_terminated() {
            return Err(conflict(format!("instance {instance_id} is {}", instance.instance_state.name)));
        }
        if home != region {
            return Err(conflict(format!("volume {id} is in {region} and instance {instance_id} in {home}")));
        }
        if let (Some(volume_zone), Some(instance_zone)) = (raw.availability_zone.as_deref(), instance.zone())
            && volume_zone != instance_zone
        {
            return Err(conflict(format!(
                "volume {id} is in zone {volume_zone} and instance {instance_id} in {instance_zone}; EBS attaches within a zone"
            )));
        }
        let device = next_device(&instance).ok_or_else(|| {
            conflict(format!("instance {instance_id} has no free device name in /dev/sdf-/dev/sdp"))
        })?;
        let params: Params = vec![
            ("VolumeId".into(), id.0.clone()),
            ("InstanceId".into(), instance_id.0.clone()),
            ("Device".into(), device),
        ];
        self.client.call::<IgnoredAny>(&region, "AttachVolume", &params, self.client.deadline()).await?;
        self.get_volume(id).await
    }

    pub(crate) async fn detach_volume(
        &self,
        id: &ResourceId,
        instance_id: &InstanceId,
    ) -> Result<Volume, ProviderError> {
        let (region, raw) = self.find_volume(id).await?;
        if !raw.attached_to().contains(instance_id) {
            return Ok(volume(&region, &raw));
        }
        // Always with the instance: EC2 allows leaving it out, moto answers 500 without it.
        let params: Params =
            vec![("VolumeId".into(), id.0.clone()), ("InstanceId".into(), instance_id.0.clone())];
        self.client.call::<IgnoredAny>(&region, "DetachVolume", &params, self.client.deadline()).await?;
        self.get_volume(id).await
    }

    pub(crate) async fn resize_volume(
        &self,
        id: &ResourceId,
        size_gib: u64,
    ) -> Result<Volume, ProviderError> {
        let (region, raw) = self.find_volume(id).await?;
        let volume_type = raw.volume_type.clone().unwrap_or_else(|| "gp3".to_owned());
        let largest = size_range(&volume_type).map_or(MAX_VOLUME_GIB, |(_, largest)| largest);
        if size_gib > largest {
            return Err(invalid(
                "size_gib",
                format!("a {volume_type} volume is at most {largest} GiB, got {size_gib}"),
            ));
        }
        if size_gib < raw.size {
            return Err(invalid(
                "size_gib",
                format!("volumes only grow: {id} is {} GiB, asked for {size_gib}", raw.size),
            ));
        }
        if size_gib == raw.size {
            return Ok(volume(&region, &raw));
        }
        let params: Params = vec![("VolumeId".into(), id.0.clone()), ("Size".into(), size_gib.to_string())];
        self.client.call::<IgnoredAny>(&region, "ModifyVolume", &params, self.client.deadline()).await?;
        self.get_volume(id).await
    }

    /// The region and size of the source volume (for snapshots of it), `None` when there is no
    /// such volume.
    pub(crate) async fn volume_region_and_size(
        &self,
        id: &str,
    ) -> Result<Option<(String, u64)>, ProviderError> {
        match self.find_volume(&ResourceId(id.to_owned())).await {
            Ok((region, raw)) => Ok(Some((region, raw.size))),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance_with_devices(devices: &[&str]) -> wire::Instance {
        let items: String = devices
            .iter()
            .map(|d| {
                format!("<item><deviceName>{d}</deviceName><ebs><volumeId>vol-1</volumeId></ebs></item>")
            })
            .collect();
        let xml = format!(
            "<item><instanceId>i-1</instanceId><instanceState><name>running</name></instanceState><instanceType>t3.micro</instanceType><blockDeviceMapping>{items}</blockDeviceMapping></item>"
        );
        quick_xml::de::from_str(&xml).expect("instance")
    }

    #[test]
    fn the_next_device_is_the_first_free_one_from_sdf() {
        assert_eq!(next_device(&instance_with_devices(&["/dev/sda1"])).as_deref(), Some("/dev/sdf"));
        assert_eq!(
            next_device(&instance_with_devices(&["/dev/sda1", "/dev/sdf", "/dev/xvdg"])).as_deref(),
            Some("/dev/sdh")
        );
        let full: Vec<String> = ('f'..='p').map(|l| format!("/dev/sd{l}")).collect();
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        assert_eq!(next_device(&instance_with_devices(&full)), None);
    }

    #[test]
    fn a_detached_attachment_attaches_nothing() {
        let xml = "<item><volumeId>vol-1</volumeId><size>8</size><status>available</status><attachmentSet><item><instanceId>i-1</instanceId><status>detached</status></item><item><instanceId>i-2</instanceId><status>attaching</status></item></attachmentSet></item>";
        let raw: Ec2Volume = quick_xml::de::from_str(xml).expect("volume");
        assert_eq!(raw.attached_to(), vec![InstanceId("i-2".into())]);
    }

    #[test]
    fn sizes_are_bounded_by_type() {
        assert_eq!(size_range("gp3"), Some((1, 16_384)));
        assert_eq!(size_range("st1"), Some((125, 16_384)));
        assert_eq!(size_range("io2"), None);
    }
}
