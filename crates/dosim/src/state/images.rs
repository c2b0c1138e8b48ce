//! Private images (custom uploads and droplet snapshots) and SSH keys.
//!
//! A droplet snapshot is an image of type `snapshot` that remembers the droplet it was taken
//! from; it outlives that droplet, and deleting it (through `/v2/images` or `/v2/snapshots`)
//! takes it off the droplet's `snapshot_ids` if the droplet still exists.

use std::time::Instant;

use time::OffsetDateTime;

use super::World;
use super::lifetime::{Measure, Retired};
use crate::catalog::{self, PublicImageSpec};
use crate::error::DoError;
use crate::wire::StringOrId;

/// The image a droplet was made from.
#[derive(Debug, Clone)]
pub enum ImageRef {
    Public(&'static PublicImageSpec),
    Private(Box<PrivateImage>),
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
    /// The billable size in hundredths of a GiB (a whole number, so costs need no float).
    pub size_centi_gib: u64,
    /// The droplet a snapshot was taken from; it may no longer exist.
    pub source_droplet: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SshKey {
    pub id: u64,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
}

pub fn image_distribution(image: &ImageRef) -> String {
    match image {
        ImageRef::Public(p) => p.distribution.to_owned(),
        ImageRef::Private(p) => p.distribution.clone(),
    }
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

impl World {
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

    /// Adds a private image that becomes available after the transition time. Its billable
    /// size is a tenth of `min_disk_size`, as a freshly installed system uses little of a disk.
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
        for tag in &tags {
            self.known_tags.insert(tag.clone());
        }
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
                created_at: self.clock.now(),
                ready_at: now + self.transition,
                min_disk_size,
                size_centi_gib: min_disk_size * 10,
                source_droplet: None,
            },
        );
        id
    }

    /// Deletes a private image; a snapshot leaves its droplet's `snapshot_ids`.
    pub fn delete_private_image(&mut self, id: u64) -> Result<PrivateImage, DoError> {
        let image = self.private_images.remove(&id).ok_or_else(DoError::not_found)?;
        if let Some(droplet) = image.source_droplet.and_then(|d| self.droplets.get_mut(&d)) {
            droplet.snapshot_ids.retain(|s| *s != id);
        }
        self.retired.push(Retired {
            kind: if image.kind == "snapshot" { "snapshot" } else { "image" },
            id: id.to_string(),
            name: image.name.clone(),
            region: image.regions.first().cloned().unwrap_or_default(),
            measure: Measure::CentiGib(image.size_centi_gib),
            created_at: image.created_at,
            deleted_at: self.clock.now(),
            history: Vec::new(),
            backups: None,
            project: None,
        });
        Ok(image)
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

    /// A key by the path's `ssh_key_identifier`: its id or its fingerprint.
    pub fn ssh_key_id(&self, identifier: &str) -> Option<u64> {
        match identifier.parse::<u64>() {
            Ok(id) => self.ssh_keys.contains_key(&id).then_some(id),
            Err(_) => self.ssh_keys.values().find(|k| k.fingerprint == identifier).map(|k| k.id),
        }
    }
}
