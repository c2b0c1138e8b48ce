//! Volumes, snapshots and destroy-with-associated-resources as DigitalOcean's JSON.

use std::time::Instant;

use super::{centi_gib, dollars, region, timestamp};
use crate::state::{
    AssociatedKind, AssociatedResource, DestroyStatus, DestroyedResource, PrivateImage, Volume,
    VolumeSnapshot,
};
use crate::wire::{
    AssociatedJson, AssociatedListJson, DestroyStatusJson, DestroyedJson, DestroyedListJson,
    DropletSnapshotJson, SnapshotJson, VolumeJson,
};

pub fn volume(volume: &Volume) -> VolumeJson {
    VolumeJson {
        id: volume.id.clone(),
        region: region(volume.region),
        droplet_ids: volume.droplet_id.into_iter().collect(),
        name: volume.name.clone(),
        description: volume.description.clone(),
        size_gigabytes: volume.size_gib,
        created_at: timestamp(volume.created_at),
        filesystem_type: volume.filesystem_type.clone(),
        filesystem_label: volume.filesystem_label.clone(),
        tags: volume.tags.clone(),
    }
}

pub fn volume_snapshot(snapshot: &VolumeSnapshot) -> SnapshotJson {
    SnapshotJson {
        id: snapshot.id.clone(),
        name: snapshot.name.clone(),
        created_at: timestamp(snapshot.created_at),
        regions: vec![snapshot.region.slug.to_owned()],
        min_disk_size: snapshot.min_disk_size,
        size_gigabytes: centi_gib(snapshot.size_centi_gib),
        resource_id: snapshot.volume_id.clone(),
        resource_type: "volume",
        tags: snapshot.tags.clone(),
    }
}

/// A droplet snapshot in `/v2/snapshots`. Its size is 0 until the image is ready.
pub fn droplet_snapshot_listed(image: &PrivateImage, now: Instant) -> SnapshotJson {
    SnapshotJson {
        id: image.id.to_string(),
        name: image.name.clone(),
        created_at: timestamp(image.created_at),
        regions: image.regions.clone(),
        min_disk_size: image.min_disk_size,
        size_gigabytes: if now >= image.ready_at { centi_gib(image.size_centi_gib) } else { 0.0 },
        resource_id: image.source_droplet.map(|d| d.to_string()).unwrap_or_default(),
        resource_type: "droplet",
        tags: image.tags.clone(),
    }
}

/// A snapshot in `/v2/droplets/{id}/snapshots`.
pub fn droplet_snapshot(image: &PrivateImage, now: Instant) -> DropletSnapshotJson {
    DropletSnapshotJson {
        id: image.id,
        name: image.name.clone(),
        created_at: timestamp(image.created_at),
        regions: image.regions.clone(),
        min_disk_size: image.min_disk_size,
        size_gigabytes: if now >= image.ready_at { centi_gib(image.size_centi_gib) } else { 0.0 },
        kind: "snapshot",
    }
}

pub fn associated(resources: &[AssociatedResource]) -> AssociatedListJson {
    let mut list = AssociatedListJson::default();
    for resource in resources {
        let item = || AssociatedJson {
            id: resource.id.clone(),
            name: resource.name.clone(),
            cost: dollars(resource.monthly_cents),
        };
        match resource.kind {
            AssociatedKind::ReservedIp => {
                list.reserved_ips.push(item());
                // `floating_ips` is the deprecated name of the same list.
                list.floating_ips.push(item());
            }
            AssociatedKind::Snapshot => list.snapshots.push(item()),
            AssociatedKind::Volume => list.volumes.push(item()),
            AssociatedKind::VolumeSnapshot => list.volume_snapshots.push(item()),
        }
    }
    list
}

fn destroyed(resource: &DestroyedResource) -> DestroyedJson {
    DestroyedJson {
        id: resource.id.clone(),
        name: resource.name.clone(),
        destroyed_at: resource.destroyed_at.map(timestamp),
        error_message: resource.error.clone(),
    }
}

pub fn destroy_status(status: &DestroyStatus, now: Instant) -> DestroyStatusJson {
    let list = |kind| {
        status.resources.get(&kind).map(|items| items.iter().map(destroyed).collect()).unwrap_or_default()
    };
    DestroyStatusJson {
        droplet: destroyed(&status.droplet),
        resources: DestroyedListJson {
            reserved_ips: list(AssociatedKind::ReservedIp),
            floating_ips: list(AssociatedKind::ReservedIp),
            snapshots: list(AssociatedKind::Snapshot),
            volumes: list(AssociatedKind::Volume),
            volume_snapshots: list(AssociatedKind::VolumeSnapshot),
        },
        completed_at: status.completed_at(now).map(timestamp),
        failures: status.failures(),
    }
}
