//! One simulated account's resources and how they change: droplets and their actions, images
//! and SSH keys, volumes and snapshots, firewalls, reserved IPs, VPCs, projects and tags.
//!
//! Time-driven changes (a droplet booting, an action completing) are not run by a timer: every
//! object keeps the instant its pending change lands, and its state is read *as of now*. That
//! keeps 100,000 droplets cheap and makes every read consistent with the clock. Those instants
//! are real ([`Instant`]); every time of day recorded here comes from the account's [`Clock`],
//! never from the wall clock directly, so that a test can set it.
//!
//! The rules that tie resources together live here, never in the routes: a volume attaches only
//! within its region and is detached when its droplet goes; snapshots outlive their sources; an
//! unassigned reserved IP stays reserved; a VPC with members is not deleted; names are unique
//! where DigitalOcean says so. Each resource keeps its lifetime ([`lifetime`]) so that usage can
//! later be worked out from this state alone.

mod destroy;
mod droplets;
mod firewalls;
mod images;
pub mod lifetime;
mod projects;
mod reserved_ips;
mod table;
mod tags;
mod volumes;
mod vpcs;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

pub use destroy::{AssociatedKind, AssociatedResource, Chosen, DestroyStatus, DestroyedResource};
pub use droplets::{Action, Droplet};
pub use firewalls::{Firewall, FirewallSpec, Rule, Targets, normalize_ports, parse_protocol};
pub use images::{ImageRef, PrivateImage, SshKey};
pub use projects::{Project, ProjectFields};
pub use reserved_ips::{IpAction, ReservedIp};
pub use table::Table;
pub use tags::{TagCounts, TagTarget};
pub use volumes::{NewVolume, Volume, VolumeAction, VolumeSnapshot};
pub use vpcs::{NewVpc, Vpc, VpcChange};

use crate::catalog;
use crate::clock::Clock;
use crate::error::DoError;
use crate::ids::Ids;
use lifetime::Retired;

/// Resources to create in an account before serving, for benchmarks: a share of each is left
/// unattached, unassigned or orphaned on purpose (see [`World::add_fixtures`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fixtures {
    pub volumes: usize,
    pub snapshots: usize,
    pub reserved_ips: usize,
}

/// Everything one simulated account holds.
pub struct World {
    /// How long boots, power actions and image imports take.
    pub transition: Duration,
    /// Where ids come from; shared by every account so that none is handed out twice.
    ids: Arc<Ids>,
    /// The time of day, simulated or real; shared by every account.
    pub clock: Arc<Clock>,
    /// When the account was opened: its first invoice is for this month.
    pub opened_at: OffsetDateTime,
    pub droplets: BTreeMap<u64, Droplet>,
    pub actions: HashMap<u64, Action>,
    pub private_images: BTreeMap<u64, PrivateImage>,
    pub ssh_keys: BTreeMap<u64, SshKey>,
    pub volumes: Table<Volume>,
    pub volume_snapshots: Table<VolumeSnapshot>,
    pub firewalls: Table<Firewall>,
    pub reserved_ips: Table<ReservedIp>,
    pub vpcs: Table<Vpc>,
    /// Each region's default VPC id.
    default_vpcs: HashMap<&'static str, Arc<str>>,
    pub projects: Table<Project>,
    /// Resources in a project other than the default one: URN -> (project id, since when).
    assignments: HashMap<String, (String, OffsetDateTime)>,
    /// Every tag there is; DigitalOcean keeps tags as objects of their own.
    pub known_tags: BTreeSet<String>,
    /// Destroy-with-associated-resources requests, by droplet id (kept after the droplet goes).
    destroys: HashMap<u64, DestroyStatus>,
    /// Deleted resources, for usage to be worked out later.
    pub retired: Vec<Retired>,
}

pub fn check_tag(tag: &str) -> Result<(), DoError> {
    let valid = !tag.is_empty()
        && tag.len() <= 255
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_'));
    if !valid {
        return Err(DoError::unprocessable(
            "Tag names can only contain letters, numbers, colons, dashes and underscores, and be at most 255 characters long.",
        ));
    }
    Ok(())
}

/// The items of `items` without repeats, in first-seen order.
pub fn unique<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

impl World {
    /// An empty account: a default VPC in every region and a default project.
    pub fn new(transition: Duration, ids: Arc<Ids>, clock: Arc<Clock>) -> Self {
        let created_at = clock.now();
        let mut world = Self {
            transition,
            ids,
            clock,
            opened_at: created_at,
            droplets: BTreeMap::new(),
            actions: HashMap::new(),
            private_images: BTreeMap::new(),
            ssh_keys: BTreeMap::new(),
            volumes: Table::default(),
            volume_snapshots: Table::default(),
            firewalls: Table::default(),
            reserved_ips: Table::default(),
            vpcs: Table::default(),
            default_vpcs: HashMap::new(),
            projects: Table::default(),
            assignments: HashMap::new(),
            known_tags: BTreeSet::new(),
            destroys: HashMap::new(),
            retired: Vec::new(),
        };
        world.add_default_vpcs(created_at);
        world.add_default_project(created_at);
        world
    }

    /// Creates benchmark fixtures after the droplets: volumes (three in four attached to a
    /// droplet of their region while it has room), snapshots (half of droplets, half of
    /// volumes; one in five of a source that no longer exists) and reserved IPs (two in three
    /// assigned to a droplet of their region that has none yet).
    pub fn add_fixtures(&mut self, fixtures: Fixtures) {
        let now = Instant::now();
        let wall = self.clock.now();
        let mut by_region: HashMap<&str, Vec<u64>> = HashMap::new();
        for droplet in self.droplets.values() {
            by_region.entry(droplet.region.slug).or_default().push(droplet.id);
        }
        const SIZES_GIB: [u64; 5] = [10, 50, 100, 250, 500];
        for i in 0..fixtures.volumes {
            let region = &catalog::REGIONS[i % catalog::REGIONS.len()];
            let size_gib = SIZES_GIB[i % SIZES_GIB.len()];
            let new = NewVolume {
                name: format!("vol-{:06}", i + 1),
                description: String::new(),
                region: region.slug.to_owned(),
                size_gib,
                snapshot_id: None,
                filesystem_type: Some("ext4".to_owned()),
                filesystem_label: None,
                tags: Vec::new(),
            };
            // Fixture names are unique by construction, so the per-create name check is skipped.
            let id = self.insert_volume(new, region, size_gib);
            let candidates = by_region.get(region.slug).map(Vec::as_slice).unwrap_or_default();
            if i % 4 != 3 && !candidates.is_empty() {
                let droplet_id = candidates[(i / catalog::REGIONS.len()) % candidates.len()];
                let room = self
                    .droplets
                    .get(&droplet_id)
                    .is_some_and(|d| d.volume_ids.len() < droplets::MAX_VOLUMES_PER_DROPLET);
                if room {
                    self.attach_volume_unchecked(&id, droplet_id, wall);
                }
            }
        }
        let droplet_ids: Vec<u64> = self.droplets.keys().copied().collect();
        let volume_ids: Vec<String> = self.volumes.values().map(|v| v.id.clone()).collect();
        for i in 0..fixtures.snapshots {
            let orphan = i % 5 == 4;
            let name = format!("snap-{:06}", i + 1);
            if i % 2 == 0 {
                let image_id = self.add_private_image(
                    name,
                    "snapshot",
                    "Ubuntu".to_owned(),
                    vec!["nyc1".to_owned()],
                    Vec::new(),
                    now,
                    25,
                );
                let source = match droplet_ids.get(i % droplet_ids.len().max(1)) {
                    Some(id) if !orphan => *id,
                    _ => self.ids.droplet(),
                };
                if let Some(droplet) = self.droplets.get_mut(&source) {
                    droplet.snapshot_ids.push(image_id);
                }
                if let Some(image) = self.private_images.get_mut(&image_id) {
                    image.source_droplet = Some(source);
                    if let Some(droplet) = self.droplets.get(&source) {
                        image.regions = vec![droplet.region.slug.to_owned()];
                        image.min_disk_size = droplet.size.disk_gb;
                        image.size_centi_gib = droplet.size.disk_gb * 10;
                    }
                }
            } else {
                let source = volume_ids.get(i % volume_ids.len().max(1)).filter(|_| !orphan);
                match source {
                    Some(volume_id) => {
                        let _ = self.snapshot_volume(volume_id, name, Vec::new());
                    }
                    None => {
                        let snapshot = VolumeSnapshot {
                            id: uuid::Uuid::new_v4().to_string(),
                            name,
                            volume_id: uuid::Uuid::new_v4().to_string(),
                            region: &catalog::REGIONS[i % catalog::REGIONS.len()],
                            min_disk_size: 100,
                            size_centi_gib: 100 * 100,
                            tags: Vec::new(),
                            created_at: wall,
                        };
                        self.volume_snapshots.insert(self.ids.sequence(), snapshot);
                    }
                }
            }
        }
        // Droplets of each region not yet holding a reserved IP, taken from the front.
        let mut next_free: HashMap<&str, usize> = HashMap::new();
        for i in 0..fixtures.reserved_ips {
            let region = &catalog::REGIONS[i % catalog::REGIONS.len()];
            let Ok(address) = self.reserve_ip_in_region(region.slug, None, now) else { continue };
            if i % 3 == 2 {
                continue;
            }
            let cursor = next_free.entry(region.slug).or_default();
            let free = by_region.get(region.slug).and_then(|ids| ids.get(*cursor)).copied();
            if let (Some(droplet_id), Some(ip)) = (free, self.reserved_ips.get_mut(&address)) {
                *cursor += 1;
                ip.droplet_id = Some(droplet_id);
                ip.history.push((wall, lifetime::Change::Attached { droplet_id }));
            }
        }
    }
}
