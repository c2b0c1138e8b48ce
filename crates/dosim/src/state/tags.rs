//! Tags as objects of their own: made explicitly or by tagging a resource, counted per kind of
//! resource, and deleted with every use of them.
//!
//! Droplets, private images, volumes and volume snapshots can be tagged through
//! `/v2/tags/{tag}/resources`; firewalls refer to tags but are not tagged. Deleting a tag untags
//! everything and takes it off firewalls too.

use std::collections::HashMap;

use super::World;
use crate::error::DoError;

/// How many resources of each kind carry a tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagCounts {
    pub droplets: usize,
    pub images: usize,
    pub volumes: usize,
    pub volume_snapshots: usize,
}

impl TagCounts {
    pub fn total(&self) -> usize {
        self.droplets + self.images + self.volumes + self.volume_snapshots
    }
}

/// A resource named in a tag or untag request.
pub struct TagTarget {
    pub resource_id: String,
    /// `droplet`, `image`, `volume` or `volume_snapshot`.
    pub resource_type: String,
}

fn set_tag(tags: &mut Vec<String>, tag: &str, on: bool) {
    if on {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    } else {
        tags.retain(|t| t != tag);
    }
}

impl World {
    /// Makes a tag (making one that exists is not an error: it is simply there).
    pub fn create_tag(&mut self, name: &str) -> Result<(), DoError> {
        super::check_tag(name)?;
        self.known_tags.insert(name.to_owned());
        Ok(())
    }

    /// Counts, for every tag, the resources of each kind that carry it, in one pass.
    pub fn tag_counts(&self) -> HashMap<&str, TagCounts> {
        fn count<'a>(counts: &mut HashMap<&'a str, TagCounts>, tags: &'a [String], bump: fn(&mut TagCounts)) {
            for tag in tags {
                bump(counts.entry(tag.as_str()).or_default());
            }
        }
        let mut counts: HashMap<&str, TagCounts> = HashMap::new();
        for droplet in self.droplets.values() {
            count(&mut counts, &droplet.tags, |c| c.droplets += 1);
        }
        for image in self.private_images.values() {
            count(&mut counts, &image.tags, |c| c.images += 1);
        }
        for volume in self.volumes.values() {
            count(&mut counts, &volume.tags, |c| c.volumes += 1);
        }
        for snapshot in self.volume_snapshots.values() {
            count(&mut counts, &snapshot.tags, |c| c.volume_snapshots += 1);
        }
        counts
    }

    pub fn delete_tag(&mut self, name: &str) -> Result<(), DoError> {
        if !self.known_tags.remove(name) {
            return Err(DoError::not_found());
        }
        for droplet in self.droplets.values_mut() {
            set_tag(&mut droplet.tags, name, false);
        }
        for image in self.private_images.values_mut() {
            set_tag(&mut image.tags, name, false);
        }
        for volume in self.volumes.values_mut() {
            set_tag(&mut volume.tags, name, false);
        }
        for snapshot in self.volume_snapshots.values_mut() {
            set_tag(&mut snapshot.tags, name, false);
        }
        for firewall in self.firewalls.values_mut() {
            set_tag(&mut firewall.tags, name, false);
            for rule in firewall.inbound.iter_mut().chain(firewall.outbound.iter_mut()) {
                set_tag(&mut rule.targets.tags, name, false);
            }
        }
        Ok(())
    }

    /// Tags (or, with `on == false`, untags) resources. Every one must exist before any changes.
    pub fn tag_resources(&mut self, name: &str, targets: &[TagTarget], on: bool) -> Result<(), DoError> {
        if !self.known_tags.contains(name) {
            return Err(DoError::not_found());
        }
        if targets.is_empty() {
            return Err(DoError::unprocessable("resources must name at least one resource."));
        }
        for target in targets {
            if !self.taggable_exists(target) {
                return Err(DoError::unprocessable(format!(
                    "{} {:?} does not exist in this account.",
                    target.resource_type, target.resource_id
                )));
            }
        }
        for target in targets {
            let id = target.resource_id.as_str();
            let tags = match target.resource_type.as_str() {
                "droplet" => {
                    id.parse::<u64>().ok().and_then(|id| self.droplets.get_mut(&id)).map(|d| &mut d.tags)
                }
                "image" => id
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| self.private_images.get_mut(&id))
                    .map(|i| &mut i.tags),
                "volume" => self.volumes.get_mut(id).map(|v| &mut v.tags),
                "volume_snapshot" => self.volume_snapshots.get_mut(id).map(|s| &mut s.tags),
                _ => None,
            };
            if let Some(tags) = tags {
                set_tag(tags, name, on);
            }
        }
        Ok(())
    }

    fn taggable_exists(&self, target: &TagTarget) -> bool {
        let id = target.resource_id.as_str();
        match target.resource_type.as_str() {
            "droplet" => id.parse::<u64>().is_ok_and(|id| self.droplets.contains_key(&id)),
            "image" => id.parse::<u64>().is_ok_and(|id| self.private_images.contains_key(&id)),
            "volume" => self.volumes.contains(id),
            "volume_snapshot" => self.volume_snapshots.contains(id),
            _ => false,
        }
    }
}
