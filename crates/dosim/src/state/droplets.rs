//! Droplets and their actions: create, power changes, resize, snapshot, delete.
//!
//! Deleting a droplet is where the other resources meet it, so it goes through one place,
//! [`World::retire_droplet`]: its volumes are detached, its reserved IP unassigned, its firewall
//! memberships and project assignment dropped, and a [`Retired`] record kept. Its snapshots stay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::images::{ImageRef, image_distribution};
use super::lifetime::{BackupPlan, Change, History, Measure, Retired, backups_at_creation, size_at_creation};
use super::{World, check_tag};
use crate::catalog::{self, RegionSpec, SizeSpec};
use crate::clock::Clock;
use crate::error::DoError;
use crate::wire::{DropletActionBody, DropletCreateBody, StringOrId};

/// DigitalOcean's droplet statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    Active,
    Off,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Active => "active",
            Self::Off => "off",
        }
    }
}

/// A status change that lands at `ready_at`.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub target: Status,
    pub ready_at: Instant,
}

#[derive(Debug, Clone)]
pub struct Droplet {
    pub id: u64,
    pub name: String,
    pub size: &'static SizeSpec,
    pub region: &'static RegionSpec,
    pub image: ImageRef,
    pub tags: Vec<String>,
    pub created_at: OffsetDateTime,
    pub status: Status,
    pub pending: Option<Pending>,
    /// The backup plan, if backups are on.
    pub backups: Option<BackupPlan>,
    pub ipv6: bool,
    pub monitoring: bool,
    /// Shared with every droplet of the same VPC: 100,000 droplets hold ten strings.
    pub vpc_uuid: Arc<str>,
    pub snapshot_ids: Vec<u64>,
    pub action_ids: Vec<u64>,
    /// Volumes attached, in the order they were attached.
    pub volume_ids: Vec<String>,
    pub history: History,
}

impl Droplet {
    /// The status as of `now`, with any pending change that has landed applied.
    pub fn status_at(&self, now: Instant) -> Status {
        match self.pending {
            Some(p) if now >= p.ready_at => p.target,
            _ => self.status,
        }
    }

    /// A droplet is locked while a change is under way; it refuses new actions then.
    pub fn locked_at(&self, now: Instant) -> bool {
        self.pending.is_some_and(|p| now < p.ready_at)
    }

    /// Starts a change to `target`, landing after `takes`; a power change goes in the history
    /// with the moment it lands, as `clock` tells it.
    fn begin_change(&mut self, target: Status, now: Instant, takes: Duration, clock: &Clock) {
        self.status = self.status_at(now);
        self.pending = Some(Pending { target, ready_at: now + takes });
        let change = match (self.status, target) {
            (Status::Active, Status::Off) => Some(Change::PoweredOff),
            (Status::Off, Status::Active) => Some(Change::PoweredOn),
            _ => None,
        };
        if let Some(change) = change {
            self.history.push((clock.landing(takes), change));
        }
    }
}

#[derive(Debug, Clone)]
pub struct Action {
    pub id: u64,
    pub kind: String,
    pub resource_id: Option<u64>,
    /// `droplet`, `volume`, `reserved_ip` or `backend`.
    pub resource_type: &'static str,
    pub region_slug: Option<&'static str>,
    pub started_at: OffsetDateTime,
    pub done_at: Instant,
    pub takes: Duration,
}

impl Action {
    pub fn completed_at(&self, now: Instant) -> Option<OffsetDateTime> {
        (now >= self.done_at).then(|| self.started_at + self.takes)
    }

    pub fn is_for_droplet(&self, droplet_id: u64) -> bool {
        self.resource_type == "droplet" && self.resource_id == Some(droplet_id)
    }
}

/// The fields of a droplet create that have been checked.
pub struct CheckedCreate {
    pub names: Vec<String>,
    pub size: &'static SizeSpec,
    pub region: &'static RegionSpec,
    pub image: ImageRef,
    pub tags: Vec<String>,
    pub backups: Option<BackupPlan>,
    pub ipv6: bool,
    pub monitoring: bool,
    pub vpc_uuid: Arc<str>,
    pub volume_ids: Vec<String>,
}

const MAX_USER_DATA_BYTES: usize = 64 * 1024;
const MAX_NAMES_PER_CREATE: usize = 10;
/// "Up to fifteen volumes may be attached to a Droplet at a time" (the spec's volume actions).
pub const MAX_VOLUMES_PER_DROPLET: usize = 15;

pub fn check_name(name: &str) -> Result<(), DoError> {
    let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let valid_ends = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 255 || !valid_chars || !valid_ends {
        return Err(DoError::unprocessable(
            "Name Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)",
        ));
    }
    Ok(())
}

impl World {
    /// Fills the account with `count` running droplets spread over the catalogue.
    pub fn prepopulate(&mut self, count: usize) {
        let basic: Vec<&'static SizeSpec> =
            catalog::SIZES.iter().filter(|s| s.description == "Basic").collect();
        let now = self.clock.now();
        let image = &catalog::PUBLIC_IMAGES[0];
        if count > 0 {
            self.known_tags.insert("dosim".to_owned());
            // The oldest was made `count` minutes ago: the account has been open since then.
            self.opened_at = self.opened_at.min(now - time::Duration::minutes(count as i64));
        }
        for (i, id) in self.ids.droplets(count).enumerate() {
            let region = &catalog::REGIONS[i % catalog::REGIONS.len()];
            let vpc_uuid = self.default_vpc(region.slug);
            self.droplets.insert(
                id,
                Droplet {
                    id,
                    name: format!("sim-{:06}", i + 1),
                    size: basic[i % basic.len()],
                    region,
                    image: ImageRef::Public(image),
                    tags: vec!["dosim".to_owned()],
                    created_at: now - time::Duration::minutes((count - i) as i64),
                    status: Status::Active,
                    pending: None,
                    backups: None,
                    ipv6: false,
                    monitoring: false,
                    vpc_uuid,
                    snapshot_ids: Vec::new(),
                    action_ids: Vec::new(),
                    volume_ids: Vec::new(),
                    history: Vec::new(),
                },
            );
        }
    }

    /// Checks a create request the way DigitalOcean does, answering its 422s.
    pub fn check_create(&self, body: DropletCreateBody) -> Result<CheckedCreate, DoError> {
        let names = match (body.name, body.names) {
            (Some(name), None) => vec![name],
            (None, Some(names)) => names,
            (Some(_), Some(_)) => {
                return Err(DoError::unprocessable("Specify either name or names, not both."));
            }
            (None, None) => return Err(DoError::unprocessable("Name is required.")),
        };
        if names.is_empty() {
            return Err(DoError::unprocessable("Names must contain at least one name."));
        }
        if names.len() > MAX_NAMES_PER_CREATE {
            return Err(DoError::unprocessable("You may only create up to 10 Droplets at once."));
        }
        for name in &names {
            check_name(name)?;
        }
        let size_slug = body.size.ok_or_else(|| DoError::unprocessable("Size is required."))?;
        let size = catalog::size_by_slug(&size_slug)
            .ok_or_else(|| DoError::unprocessable("You specified an invalid size for Droplet creation."))?;
        let image_ref = body.image.ok_or_else(|| DoError::unprocessable("Image is required."))?;
        let image = self
            .find_image(&image_ref)
            .ok_or_else(|| DoError::unprocessable("You specified an invalid image for Droplet creation."))?;
        let region = match body.region {
            Some(slug) => catalog::region(&slug).ok_or_else(|| {
                DoError::unprocessable("You specified an invalid region for Droplet creation.")
            })?,
            None => catalog::REGIONS
                .iter()
                .find(|r| size.offered_in(r.slug))
                .ok_or_else(|| DoError::unprocessable("Size is not available in any region."))?,
        };
        if !size.offered_in(region.slug) {
            return Err(DoError::unprocessable("Size is not available in this region."));
        }
        if body.user_data.as_ref().is_some_and(|u| u.len() > MAX_USER_DATA_BYTES) {
            return Err(DoError::unprocessable("User data is limited to 64 KiB."));
        }
        let tags = body.tags.unwrap_or_default();
        for tag in &tags {
            check_tag(tag)?;
        }
        for key in &body.ssh_keys {
            let known = self.ssh_keys.values().any(|k| match key {
                StringOrId::Id(id) => k.id == *id,
                StringOrId::Text(text) => &k.fingerprint == text || k.id.to_string() == *text,
            });
            if !known {
                return Err(DoError::unprocessable("Invalid key identifiers for Droplet creation."));
            }
        }
        let vpc_uuid = match body.vpc_uuid {
            None => self.default_vpc(region.slug),
            Some(id) => match self.vpcs.get(&id) {
                Some(vpc) if vpc.region.slug == region.slug => Arc::from(id),
                Some(_) => {
                    return Err(DoError::unprocessable("The VPC must be in the same region as the Droplet."));
                }
                None => {
                    return Err(DoError::unprocessable("You specified an invalid VPC for Droplet creation."));
                }
            },
        };
        self.check_volumes_for_create(&body.volumes, region, names.len())?;
        let backups = match body.backups {
            true => Some(BackupPlan::from_policy(body.backup_policy.as_ref())?),
            false => None,
        };
        Ok(CheckedCreate {
            names,
            size,
            region,
            image,
            tags,
            backups,
            ipv6: body.ipv6,
            monitoring: body.monitoring,
            vpc_uuid,
            volume_ids: body.volumes,
        })
    }

    /// Volumes named in a create must exist here, be free and be in the droplet's region; a
    /// volume attaches to one droplet, so a multi-create cannot name any.
    fn check_volumes_for_create(
        &self,
        volume_ids: &[String],
        region: &RegionSpec,
        droplets: usize,
    ) -> Result<(), DoError> {
        if volume_ids.is_empty() {
            return Ok(());
        }
        if droplets > 1 {
            return Err(DoError::unprocessable("A volume can be attached to one Droplet only."));
        }
        if volume_ids.len() > MAX_VOLUMES_PER_DROPLET {
            return Err(DoError::unprocessable("A Droplet can have at most 15 volumes attached."));
        }
        for id in volume_ids {
            let volume = self.volumes.get(id).ok_or_else(|| {
                DoError::unprocessable("You specified an invalid volume for Droplet creation.")
            })?;
            if volume.region.slug != region.slug {
                return Err(DoError::unprocessable("The volume must be in the same region as the Droplet."));
            }
            if volume.droplet_id.is_some() {
                return Err(DoError::unprocessable("The volume is already attached to another Droplet."));
            }
        }
        Ok(())
    }

    /// Creates droplets in status `new`, each with a `create` action; returns (droplet, action) ids.
    pub fn create_droplets(&mut self, create: CheckedCreate, now: Instant) -> Vec<(u64, u64)> {
        let wall = self.clock.now();
        for tag in &create.tags {
            self.known_tags.insert(tag.clone());
        }
        let mut made = Vec::with_capacity(create.names.len());
        for name in create.names {
            let id = self.ids.droplet();
            let mut droplet = Droplet {
                id,
                name,
                size: create.size,
                region: create.region,
                image: create.image.clone(),
                tags: create.tags.clone(),
                created_at: wall,
                status: Status::New,
                pending: None,
                backups: create.backups,
                ipv6: create.ipv6,
                monitoring: create.monitoring,
                vpc_uuid: create.vpc_uuid.clone(),
                snapshot_ids: Vec::new(),
                action_ids: Vec::new(),
                volume_ids: Vec::new(),
                history: Vec::new(),
            };
            droplet.begin_change(Status::Active, now, self.transition, &self.clock);
            let action_id = self.record_action("create", "droplet", Some(id), Some(create.region.slug), now);
            droplet.action_ids.push(action_id);
            self.droplets.insert(id, droplet);
            made.push((id, action_id));
        }
        if let [(droplet_id, _)] = made.as_slice() {
            for volume_id in &create.volume_ids {
                self.attach_volume_unchecked(volume_id, *droplet_id, wall);
            }
        }
        made
    }

    /// Records an action that completes after the transition time.
    pub(super) fn record_action(
        &mut self,
        kind: &str,
        resource_type: &'static str,
        resource_id: Option<u64>,
        region_slug: Option<&'static str>,
        now: Instant,
    ) -> u64 {
        let id = self.ids.action();
        self.actions.insert(
            id,
            super::Action {
                id,
                kind: kind.to_owned(),
                resource_id,
                resource_type,
                region_slug,
                started_at: self.clock.now(),
                done_at: now + self.transition,
                takes: self.clock.span(self.transition),
            },
        );
        id
    }

    pub fn delete_droplet(&mut self, id: u64) -> Result<(), DoError> {
        self.retire_droplet(id).map(|_| ()).ok_or_else(DoError::not_found)
    }

    pub fn delete_droplets_by_tag(&mut self, tag: &str) -> Result<usize, DoError> {
        if !self.known_tags.contains(tag) {
            return Err(DoError::not_found());
        }
        let doomed: Vec<u64> =
            self.droplets.values().filter(|d| d.tags.iter().any(|t| t == tag)).map(|d| d.id).collect();
        for id in &doomed {
            self.retire_droplet(*id);
        }
        Ok(doomed.len())
    }

    /// Removes a droplet and undoes what tied other resources to it; its snapshots stay.
    pub(super) fn retire_droplet(&mut self, id: u64) -> Option<Droplet> {
        let droplet = self.droplets.remove(&id)?;
        let wall = self.clock.now();
        for volume_id in &droplet.volume_ids {
            if let Some(volume) = self.volumes.get_mut(volume_id) {
                volume.droplet_id = None;
                volume.history.push((wall, Change::Detached));
            }
        }
        for ip in self.reserved_ips.values_mut().filter(|ip| ip.droplet_id == Some(id)) {
            ip.droplet_id = None;
            ip.history.push((wall, Change::Detached));
        }
        for firewall in self.firewalls.values_mut() {
            firewall.droplet_ids.retain(|d| *d != id);
        }
        let urn = format!("do:droplet:{id}");
        let project = self.project_name_of(&urn);
        self.assignments.remove(&urn);
        self.retired.push(Retired {
            kind: "droplet",
            id: id.to_string(),
            name: droplet.name.clone(),
            region: droplet.region.slug.to_owned(),
            measure: Measure::Size(size_at_creation(&droplet.history, droplet.size.slug)),
            created_at: droplet.created_at,
            deleted_at: wall,
            history: droplet.history.clone(),
            backups: backups_at_creation(&droplet.history, droplet.backups),
            project: Some(project),
        });
        Some(droplet)
    }

    /// Starts a droplet action, with DigitalOcean's rules for when it is refused.
    pub fn start_action(
        &mut self,
        droplet_id: u64,
        body: DropletActionBody,
        now: Instant,
    ) -> Result<u64, DoError> {
        const KNOWN: &[&str] = &[
            "enable_backups",
            "disable_backups",
            "change_backup_policy",
            "reboot",
            "power_cycle",
            "shutdown",
            "power_off",
            "power_on",
            "restore",
            "password_reset",
            "resize",
            "rebuild",
            "rename",
            "change_kernel",
            "enable_ipv6",
            "snapshot",
        ];
        if !KNOWN.contains(&body.kind.as_str()) {
            return Err(DoError::unprocessable(format!("'{}' is not a valid action type.", body.kind)));
        }
        let transition = self.transition;
        let mut droplet = self.droplets.remove(&droplet_id).ok_or_else(DoError::not_found)?;
        let outcome = match Self::apply_action(&mut droplet, &body, now, transition, &self.clock) {
            Ok(snapshot_name) => {
                let action_id = self.record_action(
                    &body.kind,
                    "droplet",
                    Some(droplet_id),
                    Some(droplet.region.slug),
                    now,
                );
                droplet.action_ids.push(action_id);
                if let Some(name) = snapshot_name {
                    let image_id = self.add_private_image(
                        name,
                        "snapshot",
                        image_distribution(&droplet.image),
                        vec![droplet.region.slug.to_owned()],
                        Vec::new(),
                        now,
                        droplet.size.disk_gb,
                    );
                    if let Some(image) = self.private_images.get_mut(&image_id) {
                        image.source_droplet = Some(droplet_id);
                    }
                    droplet.snapshot_ids.push(image_id);
                }
                Ok(action_id)
            }
            Err(e) => Err(e),
        };
        self.droplets.insert(droplet_id, droplet);
        outcome
    }

    /// Sets a droplet's backup plan, recording the change (which moves its price) if there is one.
    /// It takes effect when asked: backups are billed from the moment they are turned on.
    fn change_backups(droplet: &mut Droplet, to: Option<BackupPlan>, clock: &Clock) {
        let from = droplet.backups;
        if from != to {
            droplet.backups = to;
            droplet.history.push((clock.now(), Change::Backups { from, to }));
        }
    }

    /// Applies an action's effect; returns a snapshot name when one must be taken.
    fn apply_action(
        droplet: &mut Droplet,
        body: &DropletActionBody,
        now: Instant,
        transition: Duration,
        clock: &Clock,
    ) -> Result<Option<String>, DoError> {
        if droplet.locked_at(now) {
            return Err(DoError::unprocessable("Droplet already has a pending event."));
        }
        let current = droplet.status_at(now);
        match body.kind.as_str() {
            "power_off" | "shutdown" => droplet.begin_change(Status::Off, now, transition, clock),
            "power_on" | "reboot" | "power_cycle" => {
                droplet.begin_change(Status::Active, now, transition, clock)
            }
            "rename" => {
                let name = body.name.as_deref().ok_or_else(|| DoError::unprocessable("Name is required."))?;
                check_name(name)?;
                droplet.name = name.to_owned();
                droplet.begin_change(current, now, transition, clock);
            }
            "resize" => {
                let slug = body.size.as_deref().ok_or_else(|| DoError::unprocessable("Size is required."))?;
                let size = catalog::size_by_slug(slug)
                    .filter(|s| s.offered_in(droplet.region.slug))
                    .ok_or_else(|| DoError::unprocessable("You specified an invalid size for resize."))?;
                if current != Status::Off {
                    return Err(DoError::unprocessable("Droplet must be powered off to resize."));
                }
                let from = droplet.size.slug;
                droplet.size = size;
                droplet.history.push((clock.landing(transition), Change::Resized { from, to: size.slug }));
                droplet.begin_change(current, now, transition, clock);
            }
            "snapshot" => {
                let name = body.name.clone().unwrap_or_else(|| format!("{}-snapshot", droplet.name));
                droplet.begin_change(current, now, transition, clock);
                return Ok(Some(name));
            }
            "enable_backups" => {
                let plan = BackupPlan::from_policy(body.backup_policy.as_ref())?;
                Self::change_backups(droplet, Some(plan), clock);
                droplet.begin_change(current, now, transition, clock);
            }
            "disable_backups" => {
                Self::change_backups(droplet, None, clock);
                droplet.begin_change(current, now, transition, clock);
            }
            "change_backup_policy" => {
                let policy = body
                    .backup_policy
                    .as_ref()
                    .ok_or_else(|| DoError::unprocessable("backup_policy is required."))?;
                let plan = BackupPlan::from_policy(Some(policy))?;
                if droplet.backups.is_none() {
                    return Err(DoError::unprocessable("Backups are not enabled for this Droplet."));
                }
                Self::change_backups(droplet, Some(plan), clock);
                droplet.begin_change(current, now, transition, clock);
            }
            "enable_ipv6" => {
                droplet.ipv6 = true;
                droplet.begin_change(current, now, transition, clock);
            }
            // restore, rebuild, password_reset, change_kernel: accepted, nothing visible changes.
            _ => droplet.begin_change(current, now, transition, clock),
        }
        Ok(None)
    }
}
