//! `destroy_with_associated_resources`: what a droplet leaves behind that keeps costing, and
//! destroying the droplet together with all of it or with a chosen part.
//!
//! A droplet's associated resources are its attached volumes and their snapshots, its own
//! snapshots, and its reserved IP, each with the monthly `cost` it would go on accruing if kept
//! (prices in `catalog`). Whatever is not chosen stays, and keeps accruing. The destroy itself
//! is quick here but reports like DigitalOcean's: per resource when it went (or why not), and
//! `completed_at` once the transition time has passed; a retry while it runs is a 409.

use std::collections::HashMap;
use std::time::Instant;

use time::OffsetDateTime;

use super::World;
use crate::catalog;
use crate::error::DoError;

/// The four kinds of associated resources, in the order the spec lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssociatedKind {
    ReservedIp,
    Snapshot,
    Volume,
    VolumeSnapshot,
}

/// A resource associated with a droplet, with what it costs per month if kept.
#[derive(Debug, Clone)]
pub struct AssociatedResource {
    pub kind: AssociatedKind,
    pub id: String,
    pub name: String,
    pub monthly_cents: u64,
}

/// Which associated resources to destroy with the droplet.
#[derive(Debug, Default)]
pub struct Chosen {
    pub ids: Vec<(AssociatedKind, String)>,
}

/// One resource in a destroy's status.
#[derive(Debug, Clone)]
pub struct DestroyedResource {
    pub id: String,
    pub name: String,
    pub destroyed_at: Option<OffsetDateTime>,
    pub error: Option<String>,
}

/// The status of a droplet's destroy-with-associated-resources, kept after the droplet is gone.
#[derive(Debug, Clone)]
pub struct DestroyStatus {
    pub droplet: DestroyedResource,
    pub resources: HashMap<AssociatedKind, Vec<DestroyedResource>>,
    pub started_at: OffsetDateTime,
    pub done_at: Instant,
    pub takes: std::time::Duration,
}

impl DestroyStatus {
    pub fn completed_at(&self, now: Instant) -> Option<OffsetDateTime> {
        (now >= self.done_at).then(|| self.started_at + self.takes)
    }

    pub fn failures(&self) -> usize {
        self.resources.values().flatten().filter(|r| r.error.is_some()).count()
    }
}

/// What keeping a snapshot costs per month: DigitalOcean charges per GiB-month, at least $0.01.
fn snapshot_cents(centi_gib: u64) -> u64 {
    (centi_gib * catalog::SNAPSHOT_CENTS_PER_GIB_MONTH).div_ceil(100).max(1)
}

impl World {
    /// The billable resources that would outlive the droplet, with their monthly cost.
    pub fn associated_resources(&self, droplet_id: u64) -> Result<Vec<AssociatedResource>, DoError> {
        let droplet = self.droplets.get(&droplet_id).ok_or_else(DoError::not_found)?;
        let mut found = Vec::new();
        if let Some(ip) = self.reserved_ip_of(droplet_id) {
            found.push(AssociatedResource {
                kind: AssociatedKind::ReservedIp,
                id: ip.address.clone(),
                name: ip.address.clone(),
                monthly_cents: catalog::UNASSIGNED_RESERVED_IP_CENTS_PER_MONTH,
            });
        }
        for image in droplet.snapshot_ids.iter().filter_map(|id| self.private_images.get(id)) {
            found.push(AssociatedResource {
                kind: AssociatedKind::Snapshot,
                id: image.id.to_string(),
                name: image.name.clone(),
                monthly_cents: snapshot_cents(image.size_centi_gib),
            });
        }
        for volume in droplet.volume_ids.iter().filter_map(|id| self.volumes.get(id)) {
            found.push(AssociatedResource {
                kind: AssociatedKind::Volume,
                id: volume.id.clone(),
                name: volume.name.clone(),
                monthly_cents: volume.size_gib * catalog::VOLUME_CENTS_PER_GIB_MONTH,
            });
        }
        for snapshot in self.volume_snapshots.values().filter(|s| droplet.volume_ids.contains(&s.volume_id)) {
            found.push(AssociatedResource {
                kind: AssociatedKind::VolumeSnapshot,
                id: snapshot.id.clone(),
                name: snapshot.name.clone(),
                monthly_cents: snapshot_cents(snapshot.size_centi_gib),
            });
        }
        Ok(found)
    }

    /// Destroys the droplet and the chosen resources (`None`: every associated one).
    pub fn destroy_with_associated(
        &mut self,
        droplet_id: u64,
        chosen: Option<Chosen>,
        now: Instant,
    ) -> Result<(), DoError> {
        let associated = self.associated_resources(droplet_id)?;
        let requested = match chosen {
            Some(chosen) => chosen.ids,
            None => associated.iter().map(|r| (r.kind, r.id.clone())).collect(),
        };
        let droplet = self.retire_droplet(droplet_id).ok_or_else(DoError::not_found)?;
        let started_at = self.clock.now();
        let mut status = DestroyStatus {
            droplet: DestroyedResource {
                id: droplet_id.to_string(),
                name: droplet.name,
                destroyed_at: Some(started_at),
                error: None,
            },
            resources: HashMap::new(),
            started_at,
            done_at: now + self.transition,
            takes: self.clock.span(self.transition),
        };
        for (kind, id) in requested {
            let item = self.destroy_one(kind, &id, &associated);
            status.resources.entry(kind).or_default().push(item);
        }
        self.destroys.insert(droplet_id, status);
        Ok(())
    }

    /// Destroys one associated resource, or says why not.
    fn destroy_one(
        &mut self,
        kind: AssociatedKind,
        id: &str,
        associated: &[AssociatedResource],
    ) -> DestroyedResource {
        let Some(resource) = associated.iter().find(|r| r.kind == kind && r.id == id) else {
            return DestroyedResource {
                id: id.to_owned(),
                name: String::new(),
                destroyed_at: None,
                error: Some("not associated with the Droplet".to_owned()),
            };
        };
        match self.delete_associated(kind, id) {
            Ok(()) => DestroyedResource {
                id: id.to_owned(),
                name: resource.name.clone(),
                destroyed_at: Some(self.clock.now()),
                error: None,
            },
            Err(e) => DestroyedResource {
                id: id.to_owned(),
                name: resource.name.clone(),
                destroyed_at: None,
                error: Some(e.message),
            },
        }
    }

    fn delete_associated(&mut self, kind: AssociatedKind, id: &str) -> Result<(), DoError> {
        match kind {
            AssociatedKind::ReservedIp => self.release_ip(id),
            AssociatedKind::Snapshot => match id.parse::<u64>() {
                Ok(image_id) => self.delete_private_image(image_id).map(|_| ()),
                Err(_) => Err(DoError::not_found()),
            },
            AssociatedKind::Volume => self.delete_volume(id),
            AssociatedKind::VolumeSnapshot => self.delete_volume_snapshot(id),
        }
    }

    pub fn destroy_status(&self, droplet_id: u64) -> Option<&DestroyStatus> {
        self.destroys.get(&droplet_id)
    }

    /// Tries the failed resources of a finished destroy again: 409 while it is still running.
    /// A resource that was never associated with the droplet stays a failure.
    pub fn retry_destroy(&mut self, droplet_id: u64, now: Instant) -> Result<(), DoError> {
        let status = self.destroys.get(&droplet_id).ok_or_else(DoError::not_found)?;
        if status.completed_at(now).is_none() {
            return Err(DoError::conflict("Only one destroy can be active at a time per Droplet."));
        }
        let mut status = status.clone();
        for (kind, items) in &mut status.resources {
            for item in items.iter_mut().filter(|r| r.error.is_some() && !r.name.is_empty()) {
                match self.delete_associated(*kind, &item.id) {
                    // Gone already (destroyed some other way since) counts as destroyed.
                    Ok(()) | Err(DoError { id: "not_found", .. }) => {
                        item.error = None;
                        item.destroyed_at = Some(self.clock.now());
                    }
                    Err(e) => item.error = Some(e.message),
                }
            }
        }
        status.started_at = self.clock.now();
        status.done_at = now + self.transition;
        self.destroys.insert(droplet_id, status);
        Ok(())
    }
}
