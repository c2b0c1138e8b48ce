//! Volumes, volume actions, snapshots (of volumes and droplets) and the droplet's
//! destroy-with-associated-resources, as the spec shapes them.

use serde::{Deserialize, Serialize};

use super::{RegionJson, present};

#[derive(Serialize)]
pub struct VolumeJson {
    pub id: String,
    pub region: RegionJson,
    pub droplet_ids: Vec<u64>,
    pub name: String,
    pub description: String,
    pub size_gigabytes: u64,
    pub created_at: String,
    pub filesystem_type: String,
    pub filesystem_label: String,
    pub tags: Vec<String>,
}

/// A snapshot in `/v2/snapshots` and `/v2/volumes/.../snapshots`: ids are strings here, for
/// droplet snapshots too.
#[derive(Serialize)]
pub struct SnapshotJson {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub regions: Vec<String>,
    pub min_disk_size: u64,
    pub size_gigabytes: f64,
    pub resource_id: String,
    /// `droplet` or `volume`.
    pub resource_type: &'static str,
    pub tags: Vec<String>,
}

/// A snapshot in `/v2/droplets/{id}/snapshots` (and a backup in `.../backups`): a numeric id.
#[derive(Serialize)]
pub struct DropletSnapshotJson {
    pub id: u64,
    pub name: String,
    pub created_at: String,
    pub regions: Vec<String>,
    pub min_disk_size: u64,
    pub size_gigabytes: f64,
    /// `snapshot` or `backup`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
pub struct AssociatedJson {
    pub id: String,
    pub name: String,
    /// USD per month if kept after the droplet is destroyed, as a string with two decimals.
    pub cost: String,
}

#[derive(Serialize, Default)]
pub struct AssociatedListJson {
    pub reserved_ips: Vec<AssociatedJson>,
    pub floating_ips: Vec<AssociatedJson>,
    pub snapshots: Vec<AssociatedJson>,
    pub volumes: Vec<AssociatedJson>,
    pub volume_snapshots: Vec<AssociatedJson>,
}

#[derive(Serialize)]
pub struct DestroyedJson {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroyed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Serialize, Default)]
pub struct DestroyedListJson {
    pub reserved_ips: Vec<DestroyedJson>,
    pub floating_ips: Vec<DestroyedJson>,
    pub snapshots: Vec<DestroyedJson>,
    pub volumes: Vec<DestroyedJson>,
    pub volume_snapshots: Vec<DestroyedJson>,
}

#[derive(Serialize)]
pub struct DestroyStatusJson {
    pub droplet: DestroyedJson,
    pub resources: DestroyedListJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    pub failures: usize,
}

/// Body of `POST /v2/volumes` (the spec's `volumes_ext4` / `volumes_xfs`).
#[derive(Deserialize)]
pub struct VolumeCreateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub size_gigabytes: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub snapshot_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub filesystem_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub filesystem_label: Option<String>,
    /// `tags_array` is nullable.
    pub tags: Option<Vec<String>>,
}

/// Body of the volume action operations; which fields matter depends on `type`.
#[derive(Deserialize)]
pub struct VolumeActionBody {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "present")]
    pub droplet_id: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub size_gigabytes: Option<u64>,
    /// Named in the spec's description of the by-name operation, not in its schema.
    #[serde(default, deserialize_with = "present")]
    pub volume_name: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct VolumeSnapshotCreateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Body of the selective destroy: ids of associated resources to destroy with the droplet.
#[derive(Deserialize, Default)]
pub struct SelectiveDestroyBody {
    /// Deprecated alias of `reserved_ips`.
    #[serde(default, deserialize_with = "present")]
    pub floating_ips: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub reserved_ips: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub snapshots: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub volumes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub volume_snapshots: Option<Vec<String>>,
}
