//! Projects and tags as DigitalOcean's JSON.

use time::OffsetDateTime;

use super::timestamp;
use crate::state::{Project, TagCounts};
use crate::wire::{ProjectJson, ResourceJson, ResourceLinks, TagCountJson, TagJson, TagResourcesJson};

/// A project, owned by the account with `owner_uuid`.
pub fn project(project: &Project, owner_uuid: &str) -> ProjectJson {
    ProjectJson {
        id: project.id.clone(),
        owner_uuid: owner_uuid.to_owned(),
        owner_id: owner_id(owner_uuid),
        name: project.name.clone(),
        description: project.description.clone(),
        purpose: project.purpose.clone(),
        environment: project.environment.clone(),
        is_default: project.is_default,
        created_at: timestamp(project.created_at),
        updated_at: timestamp(project.updated_at),
    }
}

/// The account's numeric id: the first 6 hex digits of its uuid, as a number.
fn owner_id(owner_uuid: &str) -> u64 {
    owner_uuid.get(..6).and_then(|hex| u64::from_str_radix(hex, 16).ok()).unwrap_or(0)
}

/// Where the API serves a resource named by URN (the id percent-encoded: a URN asked for may
/// hold anything).
fn self_link(base_url: &str, urn: &str) -> String {
    let segment = |id: &str| form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
    match urn.strip_prefix("do:").and_then(|rest| rest.split_once(':')) {
        Some(("droplet", id)) => format!("{base_url}/v2/droplets/{}", segment(id)),
        Some(("volume", id)) => format!("{base_url}/v2/volumes/{}", segment(id)),
        Some(("floatingip", ip)) => format!("{base_url}/v2/reserved_ips/{}", segment(ip)),
        Some((kind, id)) => format!("{base_url}/v2/{kind}s/{}", segment(id)),
        None => format!("{base_url}/v2"),
    }
}

pub fn resource(
    base_url: &str,
    urn: &str,
    assigned_at: OffsetDateTime,
    status: &'static str,
) -> ResourceJson {
    ResourceJson {
        urn: urn.to_owned(),
        assigned_at: timestamp(assigned_at),
        links: ResourceLinks { self_link: self_link(base_url, urn) },
        status,
    }
}

pub fn tag(name: &str, counts: TagCounts) -> TagJson {
    TagJson {
        name: name.to_owned(),
        resources: TagResourcesJson {
            count: counts.total(),
            droplets: TagCountJson { count: counts.droplets },
            images: TagCountJson { count: counts.images },
            volumes: TagCountJson { count: counts.volumes },
            volume_snapshots: TagCountJson { count: counts.volume_snapshots },
            databases: TagCountJson { count: 0 },
        },
    }
}
