//! EBS snapshots, of a volume or of an instance.
//!
//! A snapshot "of an instance" is a snapshot of its root volume, tagged with the instance's id
//! (`nephele-source-instance`) so that it still says what it was taken of once the instance
//! and the volume are gone. That is what DigitalOcean's droplet snapshot holds too (its disk,
//! not its attached volumes), and it keeps one create one resource; EC2's multi-volume
//! `CreateSnapshots` would make a set, and an AMI would be an image rather than a snapshot.
//!
//! Lists are of the account's own snapshots: `Owner=self` and the account's id as an
//! `owner-id` filter. EC2 needs only the first; moto ignores it and answers every public
//! snapshot it holds (about 1,300), so the second is what keeps the list to the account. The
//! id is read once from the region's `default` security group (its owner); an account with no
//! security group in its default region is listed with `Owner=self` alone.

use nephele_core::{
    CreateResource, InstanceId, ProviderError, ResourceId, ResourceKind, Snapshot, SnapshotSourceKind,
    SnapshotStatus,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    SOURCE_INSTANCE_TAG, check_tags, conflict, has_id_shape, invalid, not_found, operation_tag, parse_time,
    shown_tags, tag_specification, tags_for, unclear,
};
use crate::client::Params;
use crate::provider::{Aws, Query, is_instance_id, push_filter};
use crate::wire::{Page, Set, Tag};

const QUERY: Query = Query { action: "DescribeSnapshots", page_size: Some("1000"), what: "snapshot list" };

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSnapshots {
    #[serde(default)]
    snapshot_set: Set<Ec2Snapshot>,
    next_token: Option<String>,
}

impl Page for DescribeSnapshots {
    type Item = Ec2Snapshot;
    fn split(self) -> (Vec<Ec2Snapshot>, Option<String>) {
        (self.snapshot_set.items, self.next_token)
    }
}

/// A snapshot as `DescribeSnapshots` and `CreateSnapshot` answer it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ec2Snapshot {
    snapshot_id: String,
    volume_id: Option<String>,
    status: String,
    start_time: Option<String>,
    volume_size: u64,
    description: Option<String>,
    #[serde(default)]
    tag_set: Set<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeSecurityGroupOwners {
    #[serde(default)]
    security_group_info: Set<GroupOwner>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupOwner {
    owner_id: Option<String>,
}

fn status(state: &str) -> SnapshotStatus {
    match state {
        "completed" => SnapshotStatus::Available,
        "error" => SnapshotStatus::Error,
        _ => SnapshotStatus::Pending,
    }
}

/// One snapshot seen in `region`. Its size is the source volume's: EBS bills the blocks stored
/// (less, after the first of a volume), which EC2 does not show, so the size is an upper bound.
fn snapshot(region: &str, raw: &Ec2Snapshot) -> Snapshot {
    let (source_kind, source_id) = match raw.tag_set.value_of(SOURCE_INSTANCE_TAG) {
        Some(instance) => (SnapshotSourceKind::Instance, instance.to_owned()),
        None => (SnapshotSourceKind::Volume, raw.volume_id.clone().unwrap_or_default()),
    };
    let name = raw
        .tag_set
        .value_of("Name")
        .or(raw.description.as_deref().filter(|d| !d.is_empty()))
        .unwrap_or(&raw.snapshot_id);
    Snapshot {
        id: ResourceId(raw.snapshot_id.clone()),
        name: name.to_owned(),
        source_kind,
        source_id,
        regions: vec![region.to_owned()],
        size_gib: Decimal::from(raw.volume_size),
        min_disk_gib: Some(raw.volume_size),
        status: status(&raw.status),
        tags: shown_tags(&raw.tag_set),
        created_at: parse_time(raw.start_time.as_deref()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    }
}

impl Aws {
    /// The account's own id, from the owner of the default region's `default` security group.
    async fn account_id(&self) -> Result<Option<String>, ProviderError> {
        if let Some(known) = self.resources.account.get() {
            return Ok(Some(known.clone()));
        }
        let mut params = Params::new();
        push_filter(&mut params, "group-name", &["default"]);
        let region = self.settings().default_region.clone();
        let answer: DescribeSecurityGroupOwners =
            self.client.call(&region, "DescribeSecurityGroups", &params, self.client.deadline()).await?;
        let owner = answer
            .security_group_info
            .items
            .into_iter()
            .find_map(|g| g.owner_id.filter(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit())));
        if let Some(owner) = &owner {
            let _ = self.resources.account.set(owner.clone());
        }
        Ok(owner)
    }

    /// `Owner=self`, the account's id, and `filters`.
    async fn own_snapshots(&self, filters: &[(&str, &str)]) -> Result<Params, ProviderError> {
        let mut params: Params = vec![("Owner.1".into(), "self".into())];
        if let Some(account) = self.account_id().await? {
            push_filter(&mut params, "owner-id", &[&account]);
        }
        for (name, value) in filters {
            push_filter(&mut params, name, &[value]);
        }
        Ok(params)
    }

    pub(crate) async fn list_snapshots(&self) -> Result<Vec<Snapshot>, ProviderError> {
        let params = self.own_snapshots(&[]).await?;
        let found = self.describe_everywhere::<DescribeSnapshots>(QUERY, &params).await?;
        Ok(found
            .iter()
            .map(|(region, raw)| {
                self.remember_resource(&raw.snapshot_id, region);
                snapshot(region, raw)
            })
            .collect())
    }

    async fn find_snapshot(&self, id: &ResourceId) -> Result<Option<(String, Ec2Snapshot)>, ProviderError> {
        if !has_id_shape(&id.0, "snap-") {
            return Ok(None);
        }
        let params = self.own_snapshots(&[("snapshot-id", &id.0)]).await?;
        self.locate::<DescribeSnapshots>(&id.0, QUERY, &params).await
    }

    pub(crate) async fn get_snapshot(&self, id: &ResourceId) -> Result<Snapshot, ProviderError> {
        let (region, raw) =
            self.find_snapshot(id).await?.ok_or_else(|| not_found(ResourceKind::Snapshot, id))?;
        Ok(snapshot(&region, &raw))
    }

    /// The region and size of one of the account's snapshots (for a volume made from it).
    pub(crate) async fn snapshot_size(
        &self,
        id: &ResourceId,
    ) -> Result<Option<(String, u64)>, ProviderError> {
        Ok(self.find_snapshot(id).await?.map(|(region, raw)| (region, raw.volume_size)))
    }

    /// The snapshot one create operation made, in whichever region.
    async fn snapshot_made_by(
        &self,
        operation: nephele_core::OperationId,
    ) -> Result<Option<Snapshot>, ProviderError> {
        let tag = operation_tag(operation);
        let params = self.own_snapshots(&[("tag-key", &tag)]).await?;
        let found = self.describe_everywhere::<DescribeSnapshots>(QUERY, &params).await?;
        Ok(found.first().map(|(region, raw)| {
            self.remember_resource(&raw.snapshot_id, region);
            snapshot(region, raw)
        }))
    }

    /// The region and id of the volume a snapshot of `source_id` is taken of.
    async fn snapshot_source(
        &self,
        source_kind: SnapshotSourceKind,
        source_id: &str,
    ) -> Result<(String, String), ProviderError> {
        match source_kind {
            SnapshotSourceKind::Volume => {
                if !has_id_shape(source_id, "vol-") {
                    return Err(invalid(
                        "source_id",
                        format!("{source_id:?} is not an EBS volume id (vol-...)"),
                    ));
                }
                match self.volume_region_and_size(source_id).await? {
                    Some((region, _)) => Ok((region, source_id.to_owned())),
                    None => {
                        Err(invalid("source_id", format!("no volume {source_id} in this provider's regions")))
                    }
                }
            }
            SnapshotSourceKind::Instance => {
                if !is_instance_id(source_id) {
                    return Err(invalid(
                        "source_id",
                        format!("{source_id:?} is not an EC2 instance id (i-...)"),
                    ));
                }
                let (region, instance) = match self.find_raw(&InstanceId(source_id.to_owned())).await {
                    Ok(found) => found,
                    Err(ProviderError::NotFound { .. }) => {
                        return Err(invalid(
                            "source_id",
                            format!("no instance {source_id} in this provider's regions"),
                        ));
                    }
                    Err(e) => return Err(e),
                };
                if instance.is_terminated() {
                    return Err(conflict(format!(
                        "instance {source_id} is {}",
                        instance.instance_state.name
                    )));
                }
                let root = instance.root_volume().ok_or_else(|| {
                    invalid(
                        "source_id",
                        format!(
                            "instance {source_id} has no EBS root volume to snapshot (an instance-store root)"
                        ),
                    )
                })?;
                Ok((region, root.to_owned()))
            }
        }
    }

    pub(crate) async fn create_snapshot(&self, request: &CreateResource) -> Result<Snapshot, ProviderError> {
        let CreateResource::Snapshot { operation_id, name, source_kind, source_id, tags } = request else {
            return Err(invalid("kind", "not a snapshot"));
        };
        check_tags("tags", tags)?;
        // Looked up everywhere before the source: the source may be gone since an earlier
        // attempt made the snapshot.
        if let Some(made) = self.snapshot_made_by(*operation_id).await? {
            return Ok(made);
        }
        let (region, volume_id) = self.snapshot_source(*source_kind, source_id).await?;
        let mut params: Params =
            vec![("VolumeId".into(), volume_id), ("Description".into(), name.as_str().to_owned())];
        let mut all_tags = tags_for(*operation_id, Some(name.as_str()), None, tags);
        if *source_kind == SnapshotSourceKind::Instance {
            all_tags.push((SOURCE_INSTANCE_TAG.to_owned(), source_id.clone()));
        }
        tag_specification(&mut params, "snapshot", &all_tags);
        match self
            .client
            .call::<Ec2Snapshot>(&region, "CreateSnapshot", &params, self.client.deadline())
            .await
        {
            Ok(made) => {
                self.remember_resource(&made.snapshot_id, &region);
                Ok(snapshot(&region, &made))
            }
            Err(e) if unclear(&e) => self.snapshot_made_by(*operation_id).await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn delete_snapshot(&self, id: &ResourceId) -> Result<(), ProviderError> {
        let (region, _) =
            self.find_snapshot(id).await?.ok_or_else(|| not_found(ResourceKind::Snapshot, id))?;
        let params: Params = vec![("SnapshotId".into(), id.0.clone())];
        self.client.call::<IgnoredAny>(&region, "DeleteSnapshot", &params, self.client.deadline()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_tagged_with_an_instance_is_of_that_instance() {
        let xml = "<item><snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>completed</status><volumeSize>8</volumeSize><description>root</description><tagSet><item><key>nephele-source-instance</key><value>i-0123456789abcdef0</value></item><item><key>Name</key><value>before-upgrade</value></item><item><key>env</key><value>prod</value></item></tagSet></item>";
        let raw: Ec2Snapshot = quick_xml::de::from_str(xml).expect("snapshot");
        let read = snapshot("eu-west-1", &raw);
        assert_eq!(
            (read.source_kind, read.source_id.as_str()),
            (SnapshotSourceKind::Instance, "i-0123456789abcdef0")
        );
        assert_eq!((read.name.as_str(), read.size_gib), ("before-upgrade", Decimal::from(8)));
        assert_eq!(read.tags, ["env:prod"]);
        assert_eq!(read.status, SnapshotStatus::Available);
    }

    #[test]
    fn a_snapshot_without_the_tag_is_of_its_volume() {
        let xml = "<item><snapshotId>snap-2</snapshotId><volumeId>vol-9</volumeId><status>pending</status><volumeSize>100</volumeSize><tagSet/></item>";
        let raw: Ec2Snapshot = quick_xml::de::from_str(xml).expect("snapshot");
        let read = snapshot("us-east-1", &raw);
        assert_eq!((read.source_kind, read.source_id.as_str()), (SnapshotSourceKind::Volume, "vol-9"));
        assert_eq!((read.name.as_str(), read.status), ("snap-2", SnapshotStatus::Pending));
    }
}
