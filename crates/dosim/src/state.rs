//! The simulated account: droplets, actions, private images and SSH keys, and how they change.
//!
//! Time-driven changes (a droplet booting, an action completing) are not run by a timer: every
//! object keeps the instant its pending change lands, and its state is read *as of now*. That
//! keeps 100,000 droplets cheap and makes every read consistent with the clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::catalog::{self, PublicImageSpec, RegionSpec, SizeSpec};
use crate::error::DoError;
use crate::ids::Ids;
use crate::wire::{DropletCreateBody, StringOrId};

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

/// The image a droplet was made from.
#[derive(Debug, Clone)]
pub enum ImageRef {
    Public(&'static PublicImageSpec),
    Private(Box<PrivateImage>),
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
    pub backups: bool,
    pub ipv6: bool,
    pub monitoring: bool,
    pub vpc_uuid: String,
    pub snapshot_ids: Vec<u64>,
    pub action_ids: Vec<u64>,
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

    fn begin_change(&mut self, target: Status, now: Instant, takes: Duration) {
        self.status = self.status_at(now);
        self.pending = Some(Pending { target, ready_at: now + takes });
    }
}

#[derive(Debug, Clone)]
pub struct Action {
    pub id: u64,
    pub kind: String,
    pub droplet_id: Option<u64>,
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
}

#[derive(Debug, Clone)]
pub struct PrivateImage {
    pub id: u64,
    pub name: String,
    /// `custom` (uploaded) or `snapshot` (taken from a droplet).
    pub kind: &'static str,
    pub distribution: String,
    pub description: String,
    pub regions: Vec<String>,
    pub tags: Vec<String>,
    pub created_at: OffsetDateTime,
    pub ready_at: Instant,
    pub min_disk_size: u64,
    pub size_gigabytes: f64,
}

#[derive(Debug, Clone)]
pub struct SshKey {
    pub id: u64,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
}

/// Everything one simulated account holds.
pub struct World {
    /// How long boots, power actions and image imports take.
    pub transition: Duration,
    /// Where ids come from; shared by every account so that none is handed out twice.
    ids: Arc<Ids>,
    /// Seeds the ids of this account's default VPCs, so that each account has its own.
    vpc_seed: String,
    pub droplets: BTreeMap<u64, Droplet>,
    pub actions: HashMap<u64, Action>,
    pub private_images: BTreeMap<u64, PrivateImage>,
    pub ssh_keys: BTreeMap<u64, SshKey>,
    /// Every tag a droplet has carried; DigitalOcean keeps tags as objects of their own.
    known_tags: HashSet<String>,
}

/// The fields of a droplet create that have been checked.
pub struct CheckedCreate {
    pub names: Vec<String>,
    pub size: &'static SizeSpec,
    pub region: &'static RegionSpec,
    pub image: ImageRef,
    pub tags: Vec<String>,
    pub backups: bool,
    pub ipv6: bool,
    pub monitoring: bool,
    pub vpc_uuid: Option<String>,
}

const MAX_USER_DATA_BYTES: usize = 64 * 1024;
const MAX_NAMES_PER_CREATE: usize = 10;

fn check_name(name: &str) -> Result<(), DoError> {
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

impl World {
    pub fn new(transition: Duration, ids: Arc<Ids>, vpc_seed: &str) -> Self {
        Self {
            transition,
            ids,
            vpc_seed: vpc_seed.to_owned(),
            droplets: BTreeMap::new(),
            actions: HashMap::new(),
            private_images: BTreeMap::new(),
            ssh_keys: BTreeMap::new(),
            known_tags: HashSet::new(),
        }
    }

    /// Fills the account with `count` running droplets spread over the catalogue.
    pub fn prepopulate(&mut self, count: usize) {
        let basic: Vec<&'static SizeSpec> =
            catalog::SIZES.iter().filter(|s| s.description == "Basic").collect();
        let now = OffsetDateTime::now_utc();
        let image = &catalog::PUBLIC_IMAGES[0];
        self.known_tags.insert("dosim".to_owned());
        for (i, id) in self.ids.droplets(count).enumerate() {
            let region = &catalog::REGIONS[i % catalog::REGIONS.len()];
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
                    backups: false,
                    ipv6: false,
                    monitoring: false,
                    vpc_uuid: default_vpc(&self.vpc_seed, region.slug),
                    snapshot_ids: Vec::new(),
                    action_ids: Vec::new(),
                },
            );
        }
    }

    /// Resolves an image by id or slug, as droplet create and `GET /v2/images/{id}` do.
    pub fn find_image(&self, reference: &StringOrId) -> Option<ImageRef> {
        match reference {
            StringOrId::Id(id) => catalog::PUBLIC_IMAGES
                .iter()
                .find(|i| i.id == *id)
                .map(ImageRef::Public)
                .or_else(|| self.private_images.get(id).map(|p| ImageRef::Private(Box::new(p.clone())))),
            StringOrId::Text(text) => match text.parse::<u64>() {
                Ok(id) => self.find_image(&StringOrId::Id(id)),
                Err(_) => catalog::PUBLIC_IMAGES.iter().find(|i| i.slug == text).map(ImageRef::Public),
            },
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
        if !body.volumes.is_empty() {
            return Err(DoError::unprocessable("You specified an invalid volume for Droplet creation."));
        }
        Ok(CheckedCreate {
            names,
            size,
            region,
            image,
            tags,
            backups: body.backups,
            ipv6: body.ipv6,
            monitoring: body.monitoring,
            vpc_uuid: body.vpc_uuid,
        })
    }

    /// Creates droplets in status `new`, each with a `create` action; returns (droplet, action) ids.
    pub fn create_droplets(&mut self, create: CheckedCreate, now: Instant) -> Vec<(u64, u64)> {
        let wall = OffsetDateTime::now_utc();
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
                vpc_uuid: create
                    .vpc_uuid
                    .clone()
                    .unwrap_or_else(|| default_vpc(&self.vpc_seed, create.region.slug)),
                snapshot_ids: Vec::new(),
                action_ids: Vec::new(),
            };
            droplet.begin_change(Status::Active, now, self.transition);
            let action_id = self.record_action("create", Some(&mut droplet), now);
            self.droplets.insert(id, droplet);
            made.push((id, action_id));
        }
        made
    }

    fn record_action(&mut self, kind: &str, droplet: Option<&mut Droplet>, now: Instant) -> u64 {
        let id = self.ids.action();
        let (droplet_id, region_slug) = match droplet {
            Some(d) => {
                d.action_ids.push(id);
                (Some(d.id), Some(d.region.slug))
            }
            None => (None, None),
        };
        self.actions.insert(
            id,
            Action {
                id,
                kind: kind.to_owned(),
                droplet_id,
                resource_type: if droplet_id.is_some() { "droplet" } else { "backend" },
                region_slug,
                started_at: OffsetDateTime::now_utc(),
                done_at: now + self.transition,
                takes: self.transition,
            },
        );
        id
    }

    pub fn delete_droplet(&mut self, id: u64) -> Result<(), DoError> {
        self.droplets.remove(&id).map(|_| ()).ok_or_else(DoError::not_found)
    }

    pub fn delete_droplets_by_tag(&mut self, tag: &str) -> Result<usize, DoError> {
        if !self.known_tags.contains(tag) {
            return Err(DoError::not_found());
        }
        let before = self.droplets.len();
        self.droplets.retain(|_, d| !d.tags.iter().any(|t| t == tag));
        Ok(before - self.droplets.len())
    }

    /// Starts a droplet action, with DigitalOcean's rules for when it is refused.
    pub fn start_action(
        &mut self,
        droplet_id: u64,
        body: crate::wire::DropletActionBody,
        now: Instant,
    ) -> Result<u64, DoError> {
        const KNOWN: &[&str] = &[
            "enable_backups",
            "disable_backups",
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
        let result = Self::apply_action(&mut droplet, &body, now, transition);
        let outcome = match result {
            Ok(snapshot_name) => {
                let action_id = self.record_action(&body.kind, Some(&mut droplet), now);
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
                    droplet.snapshot_ids.push(image_id);
                }
                Ok(action_id)
            }
            Err(e) => Err(e),
        };
        self.droplets.insert(droplet_id, droplet);
        outcome
    }

    /// Applies an action's effect; returns a snapshot name when one must be taken.
    fn apply_action(
        droplet: &mut Droplet,
        body: &crate::wire::DropletActionBody,
        now: Instant,
        transition: Duration,
    ) -> Result<Option<String>, DoError> {
        if droplet.locked_at(now) {
            return Err(DoError::unprocessable("Droplet already has a pending event."));
        }
        let current = droplet.status_at(now);
        match body.kind.as_str() {
            "power_off" | "shutdown" => droplet.begin_change(Status::Off, now, transition),
            "power_on" | "reboot" | "power_cycle" => droplet.begin_change(Status::Active, now, transition),
            "rename" => {
                let name = body.name.as_deref().ok_or_else(|| DoError::unprocessable("Name is required."))?;
                check_name(name)?;
                droplet.name = name.to_owned();
                droplet.begin_change(current, now, transition);
            }
            "resize" => {
                let slug = body.size.as_deref().ok_or_else(|| DoError::unprocessable("Size is required."))?;
                let size = catalog::size_by_slug(slug)
                    .filter(|s| s.offered_in(droplet.region.slug))
                    .ok_or_else(|| DoError::unprocessable("You specified an invalid size for resize."))?;
                if current != Status::Off {
                    return Err(DoError::unprocessable("Droplet must be powered off to resize."));
                }
                droplet.size = size;
                droplet.begin_change(current, now, transition);
            }
            "snapshot" => {
                let name = body.name.clone().unwrap_or_else(|| format!("{}-snapshot", droplet.name));
                droplet.begin_change(current, now, transition);
                return Ok(Some(name));
            }
            "enable_backups" => {
                droplet.backups = true;
                droplet.begin_change(current, now, transition);
            }
            "disable_backups" => {
                droplet.backups = false;
                droplet.begin_change(current, now, transition);
            }
            "enable_ipv6" => {
                droplet.ipv6 = true;
                droplet.begin_change(current, now, transition);
            }
            // restore, rebuild, password_reset, change_kernel: accepted, nothing visible changes.
            _ => droplet.begin_change(current, now, transition),
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_private_image(
        &mut self,
        name: String,
        kind: &'static str,
        distribution: String,
        regions: Vec<String>,
        tags: Vec<String>,
        now: Instant,
        min_disk_size: u64,
    ) -> u64 {
        let id = self.ids.image();
        self.private_images.insert(
            id,
            PrivateImage {
                id,
                name,
                kind,
                distribution,
                description: String::new(),
                regions,
                tags,
                created_at: OffsetDateTime::now_utc(),
                ready_at: now + self.transition,
                min_disk_size,
                size_gigabytes: min_disk_size as f64 * 0.1,
            },
        );
        id
    }

    pub fn add_ssh_key(&mut self, name: String, public_key: String) -> Result<u64, DoError> {
        let mut parts = public_key.split_whitespace();
        let kind_ok = parts
            .next()
            .is_some_and(|k| k.starts_with("ssh-") || k.starts_with("ecdsa-") || k.starts_with("sk-"));
        let body_ok = parts.next().is_some_and(|b| {
            b.len() >= 16 && b.chars().all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
        });
        if !(kind_ok && body_ok) {
            return Err(DoError::unprocessable(
                "Key invalid, key should be of the form 'type key [comment]'",
            ));
        }
        if name.trim().is_empty() {
            return Err(DoError::unprocessable("Name is required."));
        }
        if self.ssh_keys.values().any(|k| k.public_key == public_key) {
            return Err(DoError::unprocessable("SSH Key is already in use on your account"));
        }
        let id = self.ids.ssh_key();
        let fingerprint = fingerprint(&public_key);
        self.ssh_keys.insert(id, SshKey { id, name, public_key, fingerprint });
        Ok(id)
    }
}

fn image_distribution(image: &ImageRef) -> String {
    match image {
        ImageRef::Public(p) => p.distribution.to_owned(),
        ImageRef::Private(p) => p.distribution.clone(),
    }
}

/// Every region has one default VPC per account; its id is derived from the account and the
/// region so it stays stable.
fn default_vpc(seed: &str, region: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain([b'/']).chain(region.bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    uuid::Uuid::from_u64_pair(hash, hash.rotate_left(17)).to_string()
}

/// A fingerprint in DigitalOcean's colon-separated hex form. DigitalOcean uses MD5; the spec
/// only promises a string, so a 128-bit FNV-1a hash stands in for it.
fn fingerprint(public_key: &str) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in public_key.bytes() {
        hash = (hash ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    hash.to_be_bytes().iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
