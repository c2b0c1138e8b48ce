//! Resources beyond instances — volumes, snapshots, SSH keys, firewalls, reserved IPs, VPCs — by
//! one set of routes parameterised by kind (`{kind}` is the URL's plural: `volumes`,
//! `reserved-ips`...): list (from the inventory, with `limit` and `cursor`), get (a live read),
//! create, delete and actions (each one operation: 202, `Idempotency-Key`, exactly once), a VPC's
//! members, and the fleet-wide list `GET /api/v1/{kind}`.
//!
//! An account whose provider lacks the kind answers 404 `not_supported`, naming the kinds it
//! does support.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use nephele_core::resource::MAX_VOLUME_GIB;
use nephele_core::{
    CreateResource, FirewallRule, InstanceId, OperationId, Provider, ProviderError, Resource, ResourceAction,
    ResourceId, ResourceKind, is_valid_tag,
};
use nephele_engine::failure::Failure;
use nephele_engine::inventory::Snapshot;
use nephele_engine::operations::idempotency::StoredReply;
use nephele_engine::operations::record::OperationRequest;
use nephele_engine::store::OperationState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorCode, FieldError, ProviderFailure};
use super::instances::{Submitted, freshness, read_failure, rfc3339, run_operation};
use super::json::{ApiJson, from_value};
use super::views::{Accepted, Links, OperationRef};
use crate::api::idempotency;
use crate::app::AppState;
use crate::auth::Principal;

/// The most items one page holds.
const MAX_LIMIT: usize = 1000;

/// The kinds, as the URL names them (the document's name for them).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KindName {
    Volumes,
    Snapshots,
    SshKeys,
    Firewalls,
    ReservedIps,
    Vpcs,
}

/// The kind a URL segment names, or 404.
fn kind_of(segment: &str) -> Result<ResourceKind, ApiError> {
    ResourceKind::from_plural(segment).ok_or_else(|| {
        ApiError::not_found(format!(
            "no such kind {:?}; the kinds are instances, volumes, snapshots, ssh-keys, firewalls, reserved-ips and vpcs",
            segment.chars().take(32).collect::<String>()
        ))
    })
}

/// The provider named `name`, when it supports `kind`; else 404 (`not_supported` naming what it
/// does support).
fn provider_with(state: &AppState, name: &str, kind: ResourceKind) -> Result<Arc<dyn Provider>, ApiError> {
    let provider = super::provider(state, name)?;
    let declared = provider.info().capabilities;
    if declared.iter().any(|c| c == kind.capability()) {
        return Ok(provider);
    }
    let supported: Vec<&str> = ResourceKind::ALL
        .into_iter()
        .filter(|k| declared.iter().any(|c| c == k.capability()))
        .map(ResourceKind::plural)
        .collect();
    let supported = if supported.is_empty() { "no resource kinds".to_owned() } else { supported.join(", ") };
    Err(ApiError(Failure::new(
        ErrorCode::NotSupported,
        format!(
            "provider {name:?} does not support {}; it supports instances and {supported}",
            kind.plural()
        ),
    )))
}

/// The resource a path names: its kind (404 when there is no such kind), its provider (404
/// `not_supported` when the provider lacks the kind) and its id (422 when it cannot be one).
fn target(
    state: &AppState,
    name: &str,
    kind: &str,
    id: &str,
) -> Result<(ResourceKind, Arc<dyn Provider>, ResourceId), ApiError> {
    let kind = kind_of(kind)?;
    let provider = provider_with(state, name, kind)?;
    let id = ResourceId::parse(id).map_err(|message| ApiError::invalid_field("id", message))?;
    Ok((kind, provider, id))
}

/// `?region=&tag=&name=&fresh=&limit=&cursor=` on resource lists.
#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResourceQuery {
    /// Only resources in this region.
    region: Option<String>,
    /// Only resources with this tag.
    tag: Option<String>,
    /// Only resources with this name.
    name: Option<String>,
    /// Read the provider now rather than the inventory.
    fresh: Option<bool>,
    /// At most this many (1-1000); the whole list when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Where the previous page ended (its `next`).
    #[param(max_length = 512)]
    cursor: Option<String>,
}

impl ResourceQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let query: Self = super::query::parse(raw.unwrap_or_default())?;
        if let Some(limit) = query.limit
            && !(1..=MAX_LIMIT).contains(&limit)
        {
            return Err(ApiError::invalid_field("limit", format!("must be 1 to {MAX_LIMIT}, got {limit}")));
        }
        if query.limit.is_none() && query.cursor.is_some() {
            return Err(ApiError::invalid_field("cursor", "is given without limit"));
        }
        Ok(query)
    }

    fn keeps(&self, resource: &Resource) -> bool {
        self.region.as_deref().is_none_or(|r| resource.region() == Some(r))
            && self.tag.as_deref().is_none_or(|t| resource.tags().iter().any(|x| x == t))
            && self.name.as_deref().is_none_or(|n| resource.name() == n)
    }
}

/// A page's position: the account and id of its last item, and the inventory versions it was
/// read from. Opaque to callers (hex). Pages follow the stable order (account, then id), so a
/// cursor stays good after the copy changes: the next page starts after its last item.
#[derive(Debug, PartialEq, Eq)]
pub struct Cursor {
    pub versions: u64,
    pub account: String,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let plain = format!("{}\n{}\n{}", self.versions, self.account, self.id);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::invalid_field("cursor", "is not a cursor this API gave out");
        if !raw.len().is_multiple_of(2) || raw.len() > 512 {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..raw.len())
            .step_by(2)
            .map(|i| raw.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let plain = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = plain.splitn(3, '\n');
        let (Some(versions), Some(account), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        Ok(Self {
            versions: versions.parse().map_err(|_| bad())?,
            account: account.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// One page of a list ordered by (account, id): the items after `cursor`, at most `limit`, and
/// the cursor of the next page when there is more.
pub fn page<T>(
    items: Vec<(String, String, T)>,
    limit: Option<usize>,
    cursor: Option<&Cursor>,
    versions: u64,
) -> (Vec<T>, Option<String>) {
    let Some(limit) = limit else { return (items.into_iter().map(|(_, _, t)| t).collect(), None) };
    let after =
        |account: &str, id: &str| cursor.is_none_or(|c| (account, id) > (c.account.as_str(), c.id.as_str()));
    let mut kept: Vec<(String, String, T)> =
        items.into_iter().filter(|(account, id, _)| after(account, id)).take(limit + 1).collect();
    let next = if kept.len() > limit {
        kept.truncate(limit);
        kept.last()
            .map(|(account, id, _)| Cursor { versions, account: account.clone(), id: id.clone() }.encode())
    } else {
        None
    };
    (kept.into_iter().map(|(_, _, t)| t).collect(), next)
}

/// A resource as the API shows it: the provider-neutral fields of its kind (`kind` names it),
/// its account and where to find it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceView {
    /// The account (provider) it belongs to.
    pub provider: String,
    /// The resource: `kind` (`volume`, `snapshot`, `ssh_key`, `firewall`, `reserved_ip`, `vpc`),
    /// `id`, and the fields of its kind.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub resource: Resource,
    pub links: Links,
}

impl ResourceView {
    pub fn new(provider: &str, resource: Resource) -> Self {
        let links = Links {
            this: format!("/api/v1/providers/{provider}/{}/{}", resource.kind().plural(), resource.id()),
        };
        Self { provider: provider.to_owned(), resource, links }
    }
}

/// A list of resources of one kind.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceList {
    pub resources: Vec<ResourceView>,
    /// When the oldest copy in it was read from the provider (RFC 3339, UTC).
    pub as_of: Option<String>,
    /// Whether a provider failed and its last good copy is shown.
    pub stale: bool,
    /// Providers that failed, with why.
    pub errors: Vec<ProviderFailure>,
    /// The cursor of the next page, when `limit` was given and there is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The `(account, id, view)` rows of `kind` in `snapshot` that `query` keeps, by id.
fn rows(
    account: &str,
    snapshot: &Snapshot,
    kind: ResourceKind,
    query: &ResourceQuery,
) -> Vec<(String, String, ResourceView)> {
    snapshot
        .resources_of(kind)
        .map(|list| {
            list.iter()
                .filter(|r| query.keeps(r))
                .map(|r| (account.to_owned(), r.id().0.clone(), ResourceView::new(account, r.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /api/v1/providers/{provider}/{kind}`: from the inventory.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/{kind}", tag = "resources",
    params(("provider" = String, Path, description = "A configured provider's (account's) name"),
        ("kind" = KindName, Path, description = "The kind of resource"), ResourceQuery),
    responses((status = 200, description = "The account's resources of that kind", body = ResourceList)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path((name, kind)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourceList>, ApiError> {
    let kind = kind_of(&kind)?;
    provider_with(&state, &name, kind)?;
    let query = ResourceQuery::parse(raw.as_deref())?;
    let cursor = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let snapshot = state.inventory.snapshot(&name, freshness(query.fresh.unwrap_or(false), &headers)).await?;
    let (resources, next) =
        page(rows(&name, &snapshot, kind, &query), query.limit, cursor.as_ref(), snapshot.version);
    Ok(Json(ResourceList {
        resources,
        as_of: rfc3339(snapshot.resources_as_of(kind)),
        stale: snapshot.is_stale() || snapshot.resources_error(kind).is_some(),
        errors: snapshot
            .error
            .iter()
            .chain(snapshot.resources_error(kind))
            .map(|e| read_failure(&name, e))
            .collect(),
        next,
    }))
}

/// `GET /api/v1/{kind}`: the resources of that kind of every account this key may use (those
/// whose provider supports the kind), from the inventory; an account that fails is reported.
#[utoipa::path(get, path = "/api/v1/{kind}", tag = "resources",
    params(("kind" = KindName, Path, description = "The kind of resource"), ResourceQuery),
    responses((status = 200, description = "Every account's resources of that kind", body = ResourceList)))]
#[tracing::instrument(skip_all)]
pub async fn fleet(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourceList>, ApiError> {
    let kind = kind_of(&kind)?;
    let query = ResourceQuery::parse(raw.as_deref())?;
    let cursor = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let freshness = freshness(query.fresh.unwrap_or(false), &headers);
    let mut names: Vec<String> = state
        .providers
        .all()
        .filter(|(name, provider)| {
            principal.may_use(name) && provider.info().capabilities.iter().any(|c| c == kind.capability())
        })
        .map(|(name, _)| name)
        .collect();
    names.sort();
    let reads = names.iter().map(|name| {
        let inventory = state.inventory.clone();
        async move { (name.clone(), inventory.snapshot(name, freshness).await) }
    });
    let results = futures_util::future::join_all(reads).await;
    let mut all = Vec::new();
    let mut errors = Vec::new();
    let (mut stale, mut versions, mut oldest) = (false, 0u64, None);
    for (name, result) in &results {
        match result {
            Ok(snapshot) => {
                all.extend(rows(name, snapshot, kind, &query));
                versions = versions.wrapping_add(snapshot.version);
                let as_of = snapshot.resources_as_of(kind);
                oldest = oldest.min(Some(as_of)).or(Some(as_of));
                for e in snapshot.error.iter().chain(snapshot.resources_error(kind)) {
                    stale = true;
                    errors.push(read_failure(name, e));
                }
            }
            Err(e) => errors.push(read_failure(name, e)),
        }
    }
    let (resources, next) = page(all, query.limit, cursor.as_ref(), versions);
    Ok(Json(ResourceList { resources, as_of: oldest.and_then(rfc3339), stale, errors, next }))
}

/// One resource, read from the provider now (and written into the inventory).
#[utoipa::path(get, path = "/api/v1/providers/{provider}/{kind}/{id}", tag = "resources",
    params(("provider" = String, Path, description = "A configured provider's (account's) name"),
        ("kind" = KindName, Path, description = "The kind of resource"),
        ("id" = String, Path, description = "The resource's id at the provider")),
    responses((status = 200, description = "The resource", body = ResourceView)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((name, kind, id)): Path<(String, String, String)>,
) -> Result<Json<ResourceView>, ApiError> {
    let (kind, provider, id) = target(&state, &name, &kind, &id)?;
    match provider.get_resource(kind, &id).await {
        Ok(resource) => {
            state.inventory.upsert_resource(&name, &resource);
            Ok(Json(ResourceView::new(&name, resource)))
        }
        Err(e @ ProviderError::NotFound { .. }) => {
            state.inventory.remove_resource(&name, kind, &id);
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// What is inside a VPC.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VpcMemberView {
    /// `instance`, a resource kind, or the provider's word for what else it is.
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// A VPC's members.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VpcMembers {
    pub members: Vec<VpcMemberView>,
}

/// `GET .../vpcs/{id}/members`, read from the provider now (only VPCs have members).
#[utoipa::path(get, path = "/api/v1/providers/{provider}/{kind}/{id}/members", tag = "resources",
    params(("provider" = String, Path, description = "A configured provider's (account's) name"),
        ("kind" = KindName, Path, description = "The kind of resource: only `vpcs` have members"),
        ("id" = String, Path, description = "The VPC's id at the provider")),
    responses((status = 200, description = "What is inside the VPC", body = VpcMembers)))]
#[tracing::instrument(skip_all)]
pub async fn members(
    State(state): State<Arc<AppState>>,
    Path((name, kind, id)): Path<(String, String, String)>,
) -> Result<Json<VpcMembers>, ApiError> {
    let kind_named = kind_of(&kind)?;
    if kind_named != ResourceKind::Vpc {
        return Err(ApiError::not_found(format!("{} have no members; only vpcs do", kind_named.plural())));
    }
    let (_, provider, id) = target(&state, &name, &kind, &id)?;
    let members = provider.vpc_members(&id).await?;
    Ok(Json(VpcMembers {
        members: members
            .into_iter()
            .map(|m| VpcMemberView { kind: m.kind, id: m.id, name: m.name })
            .collect(),
    }))
}

/// A volume to create.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeBody {
    /// 1-64 lowercase letters, digits and `-`, starting with a letter.
    #[schema(pattern = "^[a-z][a-z0-9-]{0,63}$")]
    name: String,
    /// Its size in GiB (1 to 16,384).
    #[schema(minimum = 1, maximum = 16384)]
    size_gib: u64,
    /// A region's id; the provider's default region when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    /// Made from this snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot_id: Option<String>,
    /// EBS type (`gp3` by default on EC2); ignored where the cloud has one kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    volume_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// What a snapshot is taken of.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKindName {
    Instance,
    Volume,
}

/// A snapshot to take.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotBody {
    #[schema(pattern = "^[a-z][a-z0-9-]{0,63}$")]
    name: String,
    source_kind: SourceKindName,
    /// The instance's or volume's id.
    #[schema(min_length = 1, max_length = 128)]
    source_id: String,
    #[serde(default)]
    tags: Vec<String>,
}

/// A public key to import.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshKeyBody {
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// The public key in OpenSSH form (`ssh-ed25519 AAAA... comment`).
    #[schema(min_length = 1, max_length = 16384)]
    public_key: String,
}

/// A firewall (security group on EC2) to create.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallBody {
    #[schema(pattern = "^[a-z][a-z0-9-]{0,63}$")]
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Rules: `{protocol: tcp|udp|icmp, ports: {kind: all} | {kind: range, from, to}, targets: {addresses, instance_ids, tags}}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    inbound: Vec<FirewallRule>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    outbound: Vec<FirewallRule>,
    #[serde(default)]
    instance_ids: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// The VPC a security group is made in (EC2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vpc_id: Option<String>,
}

/// A reserved IP (Elastic IP on EC2) to allocate.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservedIpBody {
    /// A region's id; the provider's default region when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    /// Assigned at once to this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_id: Option<String>,
}

/// A VPC to create.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpcBody {
    #[schema(pattern = "^[a-z][a-z0-9-]{0,63}$")]
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    /// A private range (`10.10.10.0/24`); the provider picks one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip_range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

/// The body of a create: the one of the kind the URL names, bare (not wrapped in its kind's
/// name). Untagged, so that the document says so (`oneOf` the bodies).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum CreateResourceBody {
    Volume(VolumeBody),
    Snapshot(SnapshotBody),
    SshKey(SshKeyBody),
    Firewall(FirewallBody),
    ReservedIp(ReservedIpBody),
    Vpc(VpcBody),
}

/// Tags on a create: at most 50, each a valid tag.
fn check_tags(raw: &Value) -> Result<(), ApiError> {
    let Some(tags) = raw.get("tags").and_then(Value::as_array) else { return Ok(()) };
    if tags.len() > 50 {
        return Err(ApiError::invalid_field("tags", format!("must be at most 50 tags, got {}", tags.len())));
    }
    let errors: Vec<FieldError> = tags
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.as_str().is_some_and(is_valid_tag))
        .map(|(i, _)| {
            FieldError::new(format!("tags[{i}]"), "must be 1..255 letters, digits, `:`, `-` or `_`")
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(ApiError::invalid(errors)) }
}

/// The body `raw`, for a create of `kind`, as the request the operation records.
fn create_request(
    kind: ResourceKind,
    raw: &Value,
    provider: &dyn Provider,
    operation_id: OperationId,
) -> Result<CreateResource, ApiError> {
    check_tags(raw)?;
    let mut body = match kind {
        ResourceKind::Volume => {
            let body: VolumeBody = from_value(raw)?;
            if !(1..=MAX_VOLUME_GIB).contains(&body.size_gib) {
                return Err(ApiError::invalid_field(
                    "size_gib",
                    format!("must be 1 to {MAX_VOLUME_GIB} GiB, got {}", body.size_gib),
                ));
            }
            serde_json::to_value(body)
        }
        ResourceKind::Snapshot => serde_json::to_value(from_value::<SnapshotBody>(raw)?),
        ResourceKind::SshKey => {
            let body: SshKeyBody = from_value(raw)?;
            if body.name.is_empty() || body.name.len() > 255 {
                return Err(ApiError::invalid_field("name", "must be 1 to 255 characters"));
            }
            if body.public_key.is_empty() || body.public_key.len() > 16384 {
                return Err(ApiError::invalid_field("public_key", "must be 1 to 16,384 characters"));
            }
            serde_json::to_value(body)
        }
        ResourceKind::Firewall => serde_json::to_value(from_value::<FirewallBody>(raw)?),
        ResourceKind::ReservedIp => serde_json::to_value(from_value::<ReservedIpBody>(raw)?),
        ResourceKind::Vpc => serde_json::to_value(from_value::<VpcBody>(raw)?),
    }
    .map_err(|e| ApiError::invalid_field("body", e.to_string()))?;
    if let Some(object) = body.as_object_mut() {
        object.insert("kind".into(), Value::from(kind.as_str()));
        object.insert("operation_id".into(), Value::from(operation_id.to_string()));
        if matches!(kind, ResourceKind::Volume | ResourceKind::ReservedIp | ResourceKind::Vpc)
            && !object.contains_key("region")
        {
            object.insert("region".into(), Value::from(super::region_or_default(None, provider)?));
        }
    }
    from_value(&body)
}

/// 202 to a create: the resource as it is so far (once the provider made it), and its operation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceView>,
    pub operation_id: String,
    pub operation: OperationRef,
}

const IDEMPOTENCY_KEY: &str = "Makes a retried request answer what the first did: 1-255 visible ASCII characters, bare or as a structured-field string in double quotes";

/// `POST /api/v1/providers/{provider}/{kind}`: creates one resource, exactly once.
#[utoipa::path(post, path = "/api/v1/providers/{provider}/{kind}", tag = "resources",
    params(("provider" = String, Path, description = "A configured provider's (account's) name"),
        ("kind" = KindName, Path, description = "The kind of resource"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^([!#-~][!-~]{0,254}|\"[!#-\\[\\]-~]{1,255}\")$", description = IDEMPOTENCY_KEY)),
    request_body = CreateResourceBody,
    responses((status = 202, description = "Being created: follow the operation", body = CreatedResource,
        headers(("Location" = String, description = "The resource, once made")))))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((name, kind)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(raw, _): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    let provider = provider_with(&state, &name, kind)?;
    let operation_id = OperationId::new();
    let request = create_request(kind, &raw, provider.as_ref(), operation_id)?;
    // Budgets that block are asked before anything is recorded or sent.
    let check = nephele_engine::budgets::CreateCheck {
        account: &name,
        provider: provider.as_ref(),
        creating: nephele_engine::budgets::Creating::Resource(&request),
        operation_id: operation_id.to_string(),
        override_reason: None,
        principal: &principal.id,
    };
    let verdict = match super::budgets::guard_create(&state, &principal, &headers, check).await {
        Ok(verdict) => verdict,
        Err(refusal) => return Ok(refusal),
    };
    tracing::info!(provider = %name, %operation_id, kind = %kind, "creating a resource");
    let submitted = Submitted {
        operation_id,
        provider: &name,
        request: OperationRequest::CreateResource(request),
        method: "POST",
        path: format!("/api/v1/providers/{name}/{}", kind.plural()),
        body: &raw,
    };
    let op_id = operation_id.to_string();
    let view_name = name.clone();
    let answered = run_operation(&state, &principal, &headers, submitted, move |outcome| {
        let resource = outcome.resource.map(|r| ResourceView::new(&view_name, r));
        let location = resource.as_ref().map(|r| r.links.this.clone());
        let operation = OperationRef::new(&op_id, outcome.state.unwrap_or(OperationState::Pending));
        let body = CreatedResource { resource, operation_id: op_id, operation };
        StoredReply { location, ..idempotency::reply(StatusCode::ACCEPTED, &body) }
    })
    .await;
    verdict.settle(&state, answered).await
}

/// `DELETE /api/v1/providers/{provider}/{kind}/{id}`: 204 once deleted, 202 while under way.
#[utoipa::path(delete, path = "/api/v1/providers/{provider}/{kind}/{id}", tag = "resources",
    params(("provider" = String, Path, description = "A configured provider's (account's) name"),
        ("kind" = KindName, Path, description = "The kind of resource"),
        ("id" = String, Path, description = "The resource's id at the provider"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^([!#-~][!-~]{0,254}|\"[!#-\\[\\]-~]{1,255}\")$", description = IDEMPOTENCY_KEY)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 202, description = "Being deleted: follow the operation", body = Accepted)))]
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((name, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (kind, _, resource_id) = target(&state, &name, &kind, &id)?;
    let operation_id = OperationId::new();
    tracing::info!(provider = %name, %operation_id, kind = %kind, id = %resource_id, "deleting a resource");
    let submitted = Submitted {
        operation_id,
        provider: &name,
        request: OperationRequest::DeleteResource { kind, id: resource_id },
        method: "DELETE",
        path: format!("/api/v1/providers/{name}/{}/{id}", kind.plural()),
        body: &Value::Null,
    };
    let op_id = operation_id.to_string();
    run_operation(&state, &principal, &headers, submitted, move |outcome| {
        deleted_reply(&op_id, outcome.state)
    })
    .await
}

/// 204 for a delete done, else 202 with the operation to follow.
pub(super) fn deleted_reply(op_id: &str, state: Option<OperationState>) -> StoredReply {
    match state {
        Some(OperationState::Succeeded) => StoredReply {
            status: StatusCode::NO_CONTENT.as_u16(),
            body: None,
            location: None,
            operation_id: None,
        },
        state => idempotency::reply(
            StatusCode::ACCEPTED,
            &Accepted::new(op_id, state.unwrap_or(OperationState::Pending)),
        ),
    }
}

/// An action on a resource: `type` names it, and which kinds take it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResourceActionBody {
    /// Volumes: attach to an instance in the same region.
    Attach { instance_id: String },
    /// Volumes: detach from an instance.
    Detach { instance_id: String },
    /// Volumes: grow to `size_gib` (never shrink).
    Resize {
        #[schema(minimum = 1, maximum = 16384)]
        size_gib: u64,
    },
    /// Reserved IPs: assign to an instance.
    Assign { instance_id: String },
    /// Reserved IPs: assign to nothing.
    Unassign,
    /// Firewalls: replace the rules with these.
    SetRules {
        #[serde(default)]
        #[schema(value_type = Vec<Object>)]
        inbound: Vec<FirewallRule>,
        #[serde(default)]
        #[schema(value_type = Vec<Object>)]
        outbound: Vec<FirewallRule>,
    },
    /// Firewalls: apply to these instances too.
    AddInstances { instance_ids: Vec<String> },
    /// Firewalls: no longer apply to these instances.
    RemoveInstances { instance_ids: Vec<String> },
    /// Firewalls (DigitalOcean): apply to instances with these tags too.
    AddTags { tags: Vec<String> },
    /// Firewalls (DigitalOcean): no longer apply to instances with these tags.
    RemoveTags { tags: Vec<String> },
}

/// The action `body` asks of resource `id` of `kind`, or a 422 naming `type` when the kind does
/// not take it.
fn resource_action(
    kind: ResourceKind,
    id: ResourceId,
    body: ResourceActionBody,
) -> Result<ResourceAction, ApiError> {
    let instance = |raw: String, field: &str| {
        InstanceId::parse(&raw).map_err(|message| ApiError::invalid_field(field.to_owned(), message))
    };
    let instances = |raw: Vec<String>| -> Result<Vec<InstanceId>, ApiError> {
        if raw.is_empty() || raw.len() > 50 {
            return Err(ApiError::invalid_field("instance_ids", "must name 1 to 50 instances"));
        }
        raw.into_iter().map(|i| instance(i, "instance_ids")).collect()
    };
    let tags = |raw: Vec<String>| -> Result<Vec<String>, ApiError> {
        if raw.is_empty() || raw.len() > 50 || !raw.iter().all(|t| is_valid_tag(t)) {
            return Err(ApiError::invalid_field("tags", "must be 1 to 50 valid tags"));
        }
        Ok(raw)
    };
    let action = match (kind, body) {
        (ResourceKind::Volume, ResourceActionBody::Attach { instance_id }) => {
            ResourceAction::AttachVolume { volume_id: id, instance_id: instance(instance_id, "instance_id")? }
        }
        (ResourceKind::Volume, ResourceActionBody::Detach { instance_id }) => {
            ResourceAction::DetachVolume { volume_id: id, instance_id: instance(instance_id, "instance_id")? }
        }
        (ResourceKind::Volume, ResourceActionBody::Resize { size_gib }) => {
            if !(1..=MAX_VOLUME_GIB).contains(&size_gib) {
                return Err(ApiError::invalid_field(
                    "size_gib",
                    format!("must be 1 to {MAX_VOLUME_GIB} GiB, got {size_gib}"),
                ));
            }
            ResourceAction::ResizeVolume { volume_id: id, size_gib }
        }
        (ResourceKind::ReservedIp, ResourceActionBody::Assign { instance_id }) => {
            ResourceAction::AssignReservedIp { ip_id: id, instance_id: instance(instance_id, "instance_id")? }
        }
        (ResourceKind::ReservedIp, ResourceActionBody::Unassign) => {
            ResourceAction::UnassignReservedIp { ip_id: id }
        }
        (ResourceKind::Firewall, ResourceActionBody::SetRules { inbound, outbound }) => {
            ResourceAction::SetFirewallRules { firewall_id: id, inbound, outbound }
        }
        (ResourceKind::Firewall, ResourceActionBody::AddInstances { instance_ids }) => {
            ResourceAction::AddFirewallInstances { firewall_id: id, instance_ids: instances(instance_ids)? }
        }
        (ResourceKind::Firewall, ResourceActionBody::RemoveInstances { instance_ids }) => {
            ResourceAction::RemoveFirewallInstances {
                firewall_id: id,
                instance_ids: instances(instance_ids)?,
            }
        }
        (ResourceKind::Firewall, ResourceActionBody::AddTags { tags: t }) => {
            ResourceAction::AddFirewallTags { firewall_id: id, tags: tags(t)? }
        }
        (ResourceKind::Firewall, ResourceActionBody::RemoveTags { tags: t }) => {
            ResourceAction::RemoveFirewallTags { firewall_id: id, tags: tags(t)? }
        }
        (kind, _) => {
            let takes = match kind {
                ResourceKind::Volume => "attach, detach or resize",
                ResourceKind::ReservedIp => "assign or unassign",
                ResourceKind::Firewall => {
                    "set_rules, add_instances, remove_instances, add_tags or remove_tags"
                }
                _ => "no actions",
            };
            return Err(ApiError::invalid_field("type", format!("{} take {takes}", kind.plural())));
        }
    };
    Ok(action)
}

/// 202 to an action: the provider's action id once it has one, the resource as it stands when
/// it is done, and the operation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceActionAccepted {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceView>,
    pub operation_id: String,
    pub operation: OperationRef,
}

/// `POST /api/v1/providers/{provider}/{kind}/{id}/actions`: one change, exactly once.
#[utoipa::path(post, path = "/api/v1/providers/{provider}/{kind}/{id}/actions", tag = "resources",
    params(("provider" = String, Path, description = "A configured provider's (account's) name"),
        ("kind" = KindName, Path, description = "The kind of resource: volumes, reserved-ips or firewalls"),
        ("id" = String, Path, description = "The resource's id at the provider"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^([!#-~][!-~]{0,254}|\"[!#-\\[\\]-~]{1,255}\")$", description = IDEMPOTENCY_KEY)),
    request_body = ResourceActionBody,
    responses((status = 202, description = "Started: follow the operation", body = ResourceActionAccepted)))]
#[tracing::instrument(skip_all)]
pub async fn act(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((name, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<ResourceActionBody>,
) -> Result<Response, ApiError> {
    let (kind, _, resource_id) = target(&state, &name, &kind, &id)?;
    let action = resource_action(kind, resource_id, body)?;
    // A volume never shrinks: refused here when the inventory knows its size.
    if let ResourceAction::ResizeVolume { volume_id, size_gib } = &action
        && let Some(snapshot) = state.inventory.peek(&name)
        && let Some(Resource::Volume(volume)) = snapshot
            .resources_of(ResourceKind::Volume)
            .and_then(|list| list.iter().find(|r| r.id() == volume_id))
        && volume.size_gib > *size_gib
    {
        return Err(ApiError::invalid_field(
            "size_gib",
            format!("a volume only grows: it is {} GiB, asked {size_gib}", volume.size_gib),
        ));
    }
    let operation_id = OperationId::new();
    tracing::info!(provider = %name, %operation_id, kind = %kind, action = action.name(), "resource action");
    let submitted = Submitted {
        operation_id,
        provider: &name,
        request: OperationRequest::ResourceAction(action),
        method: "POST",
        path: format!("/api/v1/providers/{name}/{}/{id}/actions", kind.plural()),
        body: &raw,
    };
    let op_id = operation_id.to_string();
    let view_name = name.clone();
    run_operation(&state, &principal, &headers, submitted, move |outcome| {
        let body = ResourceActionAccepted {
            action_id: outcome.action.map(|a| a.id.0),
            resource: outcome.resource.map(|r| ResourceView::new(&view_name, r)),
            operation: OperationRef::new(&op_id, outcome.state.unwrap_or(OperationState::Pending)),
            operation_id: op_id,
        };
        idempotency::reply(StatusCode::ACCEPTED, &body)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        let cursor = Cursor { versions: 42, account: "do-prod".into(), id: "vol-1".into() };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
        for bad in ["", "zz", "0", "41"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_follow_account_then_id_and_end_without_a_next() {
        let items: Vec<(String, String, u32)> =
            (0..5).map(|i| ("a".to_owned(), format!("id-{i}"), i)).collect();
        let (first, next) = page(items.clone(), Some(2), None, 1);
        assert_eq!(first, vec![0, 1]);
        let cursor = Cursor::decode(&next.expect("more")).expect("cursor");
        let (second, next) = page(items.clone(), Some(2), Some(&cursor), 1);
        assert_eq!(second, vec![2, 3]);
        let cursor = Cursor::decode(&next.expect("more")).expect("cursor");
        let (last, next) = page(items.clone(), Some(2), Some(&cursor), 1);
        assert_eq!((last, next), (vec![4], None));
        assert_eq!(page(items, None, None, 1).0.len(), 5, "without limit, the whole list");
    }
}
