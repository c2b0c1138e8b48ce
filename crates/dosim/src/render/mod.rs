//! Turns the simulated account into DigitalOcean's JSON objects.

mod billing;
mod networking;
mod organising;
mod storage;

pub use billing::*;
pub use networking::*;
pub use organising::*;
pub use storage::*;

use std::time::Instant;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::catalog::{self, PublicImageSpec, RegionSpec, SizeSpec};
use crate::state::{Action, Droplet, ImageRef, PrivateImage, SshKey};
use crate::wire::{
    ActionJson, DiskInfo, DiskSize, DropletJson, GpuInfo, GpuVram, ImageJson, NetworkV4, NetworkV6, Networks,
    RegionJson, SizeJson, SshKeyJson,
};

/// Hundredths of a GiB as the spec's float `size_gigabytes`.
pub fn centi_gib(centi: u64) -> f64 {
    centi as f64 / 100.0
}

/// Whole cents as the spec's money strings (`"10.00"`).
pub fn dollars(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// RFC 3339 in UTC, seconds precision, as DigitalOcean writes it (`2020-07-21T18:37:44Z`).
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn region(spec: &RegionSpec) -> RegionJson {
    RegionJson {
        name: spec.name.to_owned(),
        slug: spec.slug.to_owned(),
        features: catalog::REGION_FEATURES.to_vec(),
        available: true,
        sizes: catalog::sizes_in(spec.slug),
    }
}

fn disk_info(size: &SizeSpec) -> Vec<DiskInfo> {
    vec![DiskInfo { kind: "local", size: DiskSize { amount: size.disk_gb, unit: "gib" } }]
}

fn gpu_info(size: &SizeSpec) -> Option<GpuInfo> {
    size.gpu.as_ref().map(|g| GpuInfo {
        count: g.count,
        model: g.model,
        vram: GpuVram { amount: g.vram_gib, unit: "gib" },
    })
}

pub fn size(spec: &SizeSpec) -> SizeJson {
    SizeJson {
        slug: spec.slug,
        memory: spec.memory_mb,
        vcpus: spec.vcpus,
        disk: spec.disk_gb,
        transfer: spec.transfer_tb,
        price_monthly: spec.price_monthly(),
        price_hourly: spec.price_hourly(),
        regions: catalog::REGIONS.iter().map(|r| r.slug).filter(|r| spec.offered_in(r)).collect(),
        available: true,
        description: spec.description,
        disk_info: disk_info(spec),
        gpu_info: gpu_info(spec),
    }
}

/// Public images were all "created" on one fixed day.
fn public_image_created_at() -> String {
    "2026-04-24T10:12:31Z".to_owned()
}

pub fn public_image(spec: &PublicImageSpec) -> ImageJson {
    ImageJson {
        id: spec.id,
        name: spec.name.to_owned(),
        // DigitalOcean-produced images report `snapshot` as their type (the spec says so).
        kind: "snapshot",
        distribution: spec.distribution.to_owned(),
        slug: Some(spec.slug.to_owned()),
        public: true,
        regions: catalog::region_slugs().into_iter().map(str::to_owned).collect(),
        created_at: public_image_created_at(),
        min_disk_size: Some(spec.min_disk_size),
        size_gigabytes: Some(spec.size_gigabytes),
        description: String::new(),
        tags: Vec::new(),
        status: "available",
        error_message: String::new(),
    }
}

pub fn private_image(image: &PrivateImage, now: Instant) -> ImageJson {
    let ready = now >= image.ready_at;
    ImageJson {
        id: image.id,
        name: image.name.clone(),
        kind: image.kind,
        distribution: image.distribution.clone(),
        slug: None,
        public: false,
        regions: image.regions.clone(),
        created_at: timestamp(image.created_at),
        min_disk_size: Some(image.min_disk_size),
        size_gigabytes: ready.then_some(centi_gib(image.size_centi_gib)),
        description: image.description.clone(),
        tags: image.tags.clone(),
        status: if ready { "available" } else { "NEW" },
        error_message: String::new(),
    }
}

fn image_of(reference: &ImageRef, now: Instant) -> ImageJson {
    match reference {
        ImageRef::Public(spec) => public_image(spec),
        ImageRef::Private(image) => private_image(image, now),
    }
}

/// Addresses derived from the droplet id, so they are stable and unique.
fn networks(droplet: &Droplet) -> Networks {
    let n = droplet.id;
    let public = format!("164.{}.{}.{}", 90 + (n >> 16) % 40, (n >> 8) % 256, n % 254 + 1);
    let private = format!("10.{}.{}.{}", 100 + (n >> 16) % 100, (n >> 8) % 256, n % 254 + 1);
    let mut v6 = Vec::new();
    if droplet.ipv6 {
        v6.push(NetworkV6 {
            ip_address: format!("2604:a880:400:d1::{:x}:{:x}", (n >> 16) & 0xffff, n & 0xffff),
            netmask: 64,
            gateway: "2604:a880:400:d1::1".to_owned(),
            kind: "public",
        });
    }
    Networks {
        v4: vec![
            NetworkV4 {
                ip_address: private,
                netmask: "255.255.240.0",
                gateway: "nil".to_owned(),
                kind: "private",
            },
            NetworkV4 {
                gateway: format!("164.{}.{}.1", 90 + (n >> 16) % 40, (n >> 8) % 256),
                ip_address: public,
                netmask: "255.255.240.0",
                kind: "public",
            },
        ],
        v6,
    }
}

pub fn droplet(droplet: &Droplet, now: Instant) -> DropletJson {
    let mut features = vec!["private_networking".to_owned()];
    if droplet.backups.is_some() {
        features.push("backups".to_owned());
    }
    if droplet.ipv6 {
        features.push("ipv6".to_owned());
    }
    if droplet.monitoring {
        features.push("monitoring".to_owned());
    }
    DropletJson {
        id: droplet.id,
        name: droplet.name.clone(),
        memory: droplet.size.memory_mb,
        vcpus: droplet.size.vcpus,
        disk: droplet.size.disk_gb,
        disk_info: disk_info(droplet.size),
        locked: droplet.locked_at(now),
        status: droplet.status_at(now).as_str(),
        kernel: None,
        created_at: timestamp(droplet.created_at),
        features,
        backup_ids: Vec::new(),
        next_backup_window: None,
        snapshot_ids: droplet.snapshot_ids.clone(),
        image: image_of(&droplet.image, now),
        volume_ids: droplet.volume_ids.clone(),
        size: size(droplet.size),
        size_slug: droplet.size.slug,
        networks: networks(droplet),
        region: region(droplet.region),
        tags: droplet.tags.clone(),
        vpc_uuid: droplet.vpc_uuid.to_string(),
        gpu_info: gpu_info(droplet.size),
    }
}

pub fn action(action: &Action, now: Instant) -> ActionJson {
    let completed_at = action.completed_at(now);
    ActionJson {
        id: action.id,
        status: if completed_at.is_some() { "completed" } else { "in-progress" },
        kind: action.kind.clone(),
        started_at: timestamp(action.started_at),
        completed_at: completed_at.map(timestamp),
        resource_id: action.resource_id,
        resource_type: action.resource_type,
        region: action.region_slug.and_then(catalog::region).map(region),
        region_slug: action.region_slug.map(str::to_owned),
        project_id: None,
    }
}

pub fn ssh_key(key: &SshKey) -> SshKeyJson {
    SshKeyJson {
        id: key.id,
        fingerprint: key.fingerprint.clone(),
        public_key: key.public_key.clone(),
        name: key.name.clone(),
    }
}
