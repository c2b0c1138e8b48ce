//! Block storage volumes, their actions (attach, detach, resize) and their snapshots.
//!
//! The rules, from the spec and from DigitalOcean's observed answers (see the README's
//! conformance list): a name is unique per region (409 otherwise); a volume attaches to one
//! droplet of its own region, at most fifteen per droplet; an attached volume cannot be deleted
//! (409); detaching from a droplet it is not attached to is a 404; a volume only grows, to at
//! most 16 TiB. A snapshot keeps the volume's size and region, and outlives the volume.

use std::time::Instant;

use time::OffsetDateTime;

use super::World;
use super::droplets::MAX_VOLUMES_PER_DROPLET;
use super::lifetime::{Change, History, Measure, Retired, gib_at_creation};
use super::table::Keyed;
use crate::catalog::{self, RegionSpec};
use crate::error::DoError;

/// The largest volume: 16 TiB.
pub const MAX_VOLUME_GIB: u64 = 16 * 1024;

#[derive(Debug, Clone)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub description: String,
    pub region: &'static RegionSpec,
    pub size_gib: u64,
    pub filesystem_type: String,
    pub filesystem_label: String,
    pub droplet_id: Option<u64>,
    pub tags: Vec<String>,
    pub created_at: OffsetDateTime,
    pub action_ids: Vec<u64>,
    pub history: History,
}

impl Keyed for Volume {
    fn key(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone)]
pub struct VolumeSnapshot {
    pub id: String,
    pub name: String,
    /// The volume it was taken from; it may no longer exist.
    pub volume_id: String,
    pub region: &'static RegionSpec,
    /// The size of the volume it was taken from: the least a volume made from it can have.
    pub min_disk_size: u64,
    /// The billable size in hundredths of a GiB.
    pub size_centi_gib: u64,
    pub tags: Vec<String>,
    pub created_at: OffsetDateTime,
}

impl Keyed for VolumeSnapshot {
    fn key(&self) -> &str {
        &self.id
    }
}

/// A volume create that has passed the spec's shape checks.
pub struct NewVolume {
    pub name: String,
    pub description: String,
    pub region: String,
    pub size_gib: u64,
    pub snapshot_id: Option<String>,
    pub filesystem_type: Option<String>,
    pub filesystem_label: Option<String>,
    pub tags: Vec<String>,
}

/// What a volume action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeAction {
    Attach { droplet_id: u64 },
    Detach { droplet_id: u64 },
    Resize { gib: u64 },
}

impl VolumeAction {
    fn kind(self) -> &'static str {
        match self {
            Self::Attach { .. } => "attach_volume",
            Self::Detach { .. } => "detach_volume",
            Self::Resize { .. } => "resize_volume",
        }
    }
}

/// "Lowercase ... numbers, letters and -, up to a limit of 64 characters ... must begin with a
/// letter" (the spec's `volume_base.name`).
fn check_volume_name(name: &str) -> Result<(), DoError> {
    let valid = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(DoError::unprocessable(
            "Name must be lowercase letters, numbers and dashes, start with a letter and be at most 64 characters.",
        ));
    }
    Ok(())
}

/// `filesystem_type` is `ext4` or `xfs`; a label needs a type and fits its limit (16 or 12).
fn check_filesystem(kind: Option<&str>, label: Option<&str>) -> Result<(), DoError> {
    let limit = match kind {
        None if label.is_some() => {
            return Err(DoError::unprocessable("filesystem_label may only be used with filesystem_type."));
        }
        None => return Ok(()),
        Some("ext4") => 16,
        Some("xfs") => 12,
        Some(other) => {
            return Err(DoError::unprocessable(format!(
                "'{other}' is not a supported filesystem (ext4, xfs)."
            )));
        }
    };
    if label.is_some_and(|l| l.chars().count() > limit) {
        return Err(DoError::unprocessable(format!("filesystem_label is limited to {limit} characters.")));
    }
    Ok(())
}

pub fn check_size(gib: u64) -> Result<(), DoError> {
    if !(1..=MAX_VOLUME_GIB).contains(&gib) {
        return Err(DoError::unprocessable("size_gigabytes must be between 1 and 16384."));
    }
    Ok(())
}

impl World {
    /// Creates a volume (from a snapshot when one is named: then it takes the snapshot's size).
    pub fn create_volume(&mut self, new: NewVolume) -> Result<String, DoError> {
        check_volume_name(&new.name)?;
        let region = catalog::region(&new.region)
            .ok_or_else(|| DoError::unprocessable("Storage is not supported for this region."))?;
        check_filesystem(new.filesystem_type.as_deref(), new.filesystem_label.as_deref())?;
        for tag in &new.tags {
            super::check_tag(tag)?;
        }
        let size_gib = match &new.snapshot_id {
            Some(snapshot_id) => {
                let snapshot = self
                    .volume_snapshots
                    .get(snapshot_id)
                    .ok_or_else(|| DoError::unprocessable("The snapshot_id names no volume snapshot."))?;
                if snapshot.region.slug != region.slug {
                    return Err(DoError::unprocessable("The snapshot is not available in this region."));
                }
                snapshot.min_disk_size
            }
            None => {
                check_size(new.size_gib)?;
                new.size_gib
            }
        };
        if self.volumes.values().any(|v| v.name == new.name && v.region.slug == region.slug) {
            return Err(DoError::conflict("A volume with this name already exists in the region."));
        }
        Ok(self.insert_volume(new, region, size_gib))
    }

    /// Adds a volume that has passed the checks.
    pub(super) fn insert_volume(
        &mut self,
        new: NewVolume,
        region: &'static RegionSpec,
        size_gib: u64,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        for tag in &new.tags {
            self.known_tags.insert(tag.clone());
        }
        let volume = Volume {
            id: id.clone(),
            name: new.name,
            description: new.description,
            region,
            size_gib,
            filesystem_type: new.filesystem_type.unwrap_or_default(),
            filesystem_label: new.filesystem_label.unwrap_or_default(),
            droplet_id: None,
            tags: new.tags,
            created_at: self.clock.now(),
            action_ids: Vec::new(),
            history: Vec::new(),
        };
        self.volumes.insert(self.ids.sequence(), volume);
        id
    }

    /// The volume named `name` in `region`, as the by-name operations find it.
    pub fn volume_by_name(&self, name: &str, region: &str) -> Option<&Volume> {
        self.volumes.values().find(|v| v.name == name && v.region.slug == region)
    }

    pub fn delete_volume(&mut self, id: &str) -> Result<(), DoError> {
        let volume = self.volumes.get(id).ok_or_else(DoError::not_found)?;
        if volume.droplet_id.is_some() {
            return Err(DoError::conflict(
                "A volume that's attached to a Droplet cannot be deleted. Detach it first.",
            ));
        }
        let Some(volume) = self.volumes.remove(id) else {
            return Err(DoError::not_found());
        };
        let urn = format!("do:volume:{id}");
        let project = self.project_name_of(&urn);
        self.assignments.remove(&urn);
        self.retired.push(Retired {
            kind: "volume",
            id: volume.id,
            name: volume.name,
            region: volume.region.slug.to_owned(),
            measure: Measure::Gib(gib_at_creation(&volume.history, volume.size_gib)),
            created_at: volume.created_at,
            deleted_at: self.clock.now(),
            history: volume.history,
            backups: None,
            project: Some(project),
        });
        Ok(())
    }

    /// Attaches without checking: for droplet creates (checked before) and fixtures.
    pub(super) fn attach_volume_unchecked(&mut self, volume_id: &str, droplet_id: u64, at: OffsetDateTime) {
        if let (Some(volume), Some(droplet)) =
            (self.volumes.get_mut(volume_id), self.droplets.get_mut(&droplet_id))
        {
            volume.droplet_id = Some(droplet_id);
            volume.history.push((at, Change::Attached { droplet_id }));
            droplet.volume_ids.push(volume_id.to_owned());
        }
    }

    /// Starts an action on a volume; `region`, when given, must be the volume's.
    pub fn start_volume_action(
        &mut self,
        volume_id: &str,
        action: VolumeAction,
        region: Option<&str>,
        now: Instant,
    ) -> Result<u64, DoError> {
        let volume = self.volumes.get(volume_id).ok_or_else(DoError::not_found)?;
        let volume_region = volume.region;
        if let Some(region) = region {
            catalog::region(region)
                .ok_or_else(|| DoError::unprocessable("You specified an invalid region."))?;
            if region != volume_region.slug {
                return Err(DoError::unprocessable("The region must be the one the volume is in."));
            }
        }
        let wall = self.clock.now();
        match action {
            VolumeAction::Attach { droplet_id } => {
                let droplet = self.droplets.get(&droplet_id).ok_or_else(|| {
                    DoError::unprocessable("The droplet_id names no Droplet of this account.")
                })?;
                if droplet.region.slug != volume_region.slug {
                    return Err(DoError::unprocessable(
                        "The volume and the Droplet must be in the same region.",
                    ));
                }
                match volume.droplet_id {
                    Some(d) if d == droplet_id => {
                        return Err(DoError::unprocessable(
                            "The volume is already attached to this Droplet.",
                        ));
                    }
                    Some(_) => {
                        return Err(DoError::unprocessable("The volume is attached to another Droplet."));
                    }
                    None => {}
                }
                if droplet.volume_ids.len() >= MAX_VOLUMES_PER_DROPLET {
                    return Err(DoError::unprocessable("A Droplet can have at most 15 volumes attached."));
                }
                self.attach_volume_unchecked(volume_id, droplet_id, wall);
            }
            VolumeAction::Detach { droplet_id } => {
                if volume.droplet_id != Some(droplet_id) {
                    return Err(DoError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "not_found",
                        "error detaching volume from droplet: volume is not attached to droplet",
                    ));
                }
                if let Some(volume) = self.volumes.get_mut(volume_id) {
                    volume.droplet_id = None;
                    volume.history.push((wall, Change::Detached));
                }
                if let Some(droplet) = self.droplets.get_mut(&droplet_id) {
                    droplet.volume_ids.retain(|v| v != volume_id);
                }
            }
            VolumeAction::Resize { gib } => {
                check_size(gib)?;
                if gib <= volume.size_gib {
                    return Err(DoError::unprocessable("Volumes may only be resized upwards."));
                }
                if let Some(volume) = self.volumes.get_mut(volume_id) {
                    let from_gib = volume.size_gib;
                    volume.size_gib = gib;
                    volume.history.push((wall, Change::Grown { from_gib, gib }));
                }
            }
        }
        let action_id = self.record_action(action.kind(), "volume", None, Some(volume_region.slug), now);
        if let Some(volume) = self.volumes.get_mut(volume_id) {
            volume.action_ids.push(action_id);
        }
        Ok(action_id)
    }

    /// Takes a snapshot of a volume, as large as the volume.
    pub fn snapshot_volume(
        &mut self,
        volume_id: &str,
        name: String,
        tags: Vec<String>,
    ) -> Result<String, DoError> {
        let volume = self.volumes.get(volume_id).ok_or_else(DoError::not_found)?;
        if name.trim().is_empty() {
            return Err(DoError::unprocessable("Name is required."));
        }
        for tag in &tags {
            super::check_tag(tag)?;
        }
        let snapshot = VolumeSnapshot {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            volume_id: volume_id.to_owned(),
            region: volume.region,
            min_disk_size: volume.size_gib,
            size_centi_gib: volume.size_gib * 100,
            tags,
            created_at: self.clock.now(),
        };
        for tag in &snapshot.tags {
            self.known_tags.insert(tag.clone());
        }
        let id = snapshot.id.clone();
        self.volume_snapshots.insert(self.ids.sequence(), snapshot);
        Ok(id)
    }

    pub fn delete_volume_snapshot(&mut self, id: &str) -> Result<(), DoError> {
        let snapshot = self.volume_snapshots.remove(id).ok_or_else(DoError::not_found)?;
        self.retired.push(Retired {
            kind: "volume_snapshot",
            id: snapshot.id,
            name: snapshot.name,
            region: snapshot.region.slug.to_owned(),
            measure: Measure::CentiGib(snapshot.size_centi_gib),
            created_at: snapshot.created_at,
            deleted_at: self.clock.now(),
            history: Vec::new(),
            backups: None,
            project: None,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_follow_the_spec() {
        for good in ["a", "data-1", &"x".repeat(64)] {
            assert!(check_volume_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1data", "Data", "data_1", "-a", &"x".repeat(65)] {
            assert!(check_volume_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filesystem_labels_need_a_type_and_fit_its_limit() {
        assert!(check_filesystem(Some("ext4"), Some(&"l".repeat(16))).is_ok());
        assert!(check_filesystem(Some("xfs"), Some(&"l".repeat(13))).is_err());
        assert!(check_filesystem(None, Some("label")).is_err());
        assert!(check_filesystem(Some("ntfs"), None).is_err());
        assert!(check_filesystem(None, None).is_ok());
    }
}
