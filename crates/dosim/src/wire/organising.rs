//! Projects and tags, as the spec shapes them.

use serde::{Deserialize, Serialize};

use super::present;

#[derive(Serialize)]
pub struct ProjectJson {
    pub id: String,
    pub owner_uuid: String,
    pub owner_id: u64,
    pub name: String,
    pub description: String,
    pub purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize)]
pub struct ResourceLinks {
    #[serde(rename = "self")]
    pub self_link: String,
}

#[derive(Serialize)]
pub struct ResourceJson {
    pub urn: String,
    pub assigned_at: String,
    pub links: ResourceLinks,
    /// `ok`, `assigned`, `already_assigned` or `not_found`.
    pub status: &'static str,
}

/// Body of a project create, PUT or PATCH (which fields are required depends on the verb).
#[derive(Deserialize)]
pub struct ProjectBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub purpose: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub environment: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub is_default: Option<bool>,
}

#[derive(Deserialize)]
pub struct ProjectAssignBody {
    #[serde(default, deserialize_with = "present")]
    pub resources: Option<Vec<String>>,
}

#[derive(Serialize)]
pub struct TagCountJson {
    pub count: usize,
}

#[derive(Serialize)]
pub struct TagResourcesJson {
    pub count: usize,
    pub droplets: TagCountJson,
    pub images: TagCountJson,
    pub volumes: TagCountJson,
    pub volume_snapshots: TagCountJson,
    pub databases: TagCountJson,
}

#[derive(Serialize)]
pub struct TagJson {
    pub name: String,
    pub resources: TagResourcesJson,
}

/// The 400 of `POST /v2/tags`, which has a shape of its own (`error_with_root_causes`).
#[derive(Serialize)]
pub struct RootCausesJson {
    pub error: String,
    pub messages: Option<Vec<String>>,
    pub root_causes: Vec<String>,
}

#[derive(Deserialize)]
pub struct TagCreateBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
}

#[derive(Deserialize)]
pub struct TagResourceItem {
    #[serde(default, deserialize_with = "present")]
    pub resource_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub resource_type: Option<String>,
}

#[derive(Deserialize)]
pub struct TagResourcesBody {
    pub resources: Vec<TagResourceItem>,
}
