//! Instances: list, create, get, delete, power actions, and the fleet across providers.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nephele_core::operation::ActionStatus;
use nephele_core::{
    ActionId, CreateInstances, InstanceFilter, InstanceId, InstanceName, InstanceStatus, MAX_USER_DATA_BYTES,
    OperationId, PowerAction, Provider, ProviderAction, is_valid_tag,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, FieldError, ProviderFailure};
use super::json::ApiJson;
use super::query::ApiQuery;
use super::rendered::ListAnswer;
use super::views::{Accepted, InstanceList, InstanceView, OperationRef};
use crate::api::idempotency::{self, Begin};
use crate::app::AppState;
use crate::auth::Principal;
use nephele_engine::inventory::{Freshness, ReadError};
use nephele_engine::operations::idempotency::{Keyed, StoredReply};
use nephele_engine::operations::record::OperationRequest;
use nephele_engine::operations::{self as ops};
use nephele_engine::store::{NewOperation, OperationState};
use nephele_engine::validation::unknown;

/// A page asked for: at most `limit` instances after `cursor`.
#[derive(Default)]
struct PageAsked {
    limit: Option<usize>,
    cursor: Option<super::resources::Cursor>,
}

/// `?region=&status=&tag=&name=&fresh=&limit=&cursor=`; any other key is refused so typos do not
/// pass silently, and so is a key given twice (which of two values would count is anyone's
/// guess). Returns the filter, whether a live read was asked for, and the page asked for.
fn parse_filter(raw: Option<&str>) -> Result<(InstanceFilter, bool, PageAsked), ApiError> {
    let mut filter = InstanceFilter::default();
    let mut fresh = false;
    let mut page = PageAsked::default();
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if seen.iter().any(|k| *k == key) {
            if !errors.iter().any(|e: &FieldError| e.field == key) {
                errors.push(FieldError::new(key.as_ref(), "is given more than once; give it once"));
            }
            continue;
        }
        seen.push(key.clone().into_owned());
        match key.as_ref() {
            "region" => filter.region = Some(value.into_owned()),
            "tag" => filter.tag = Some(value.into_owned()),
            "name" => filter.name = Some(value.into_owned()),
            "status" => match value.parse::<InstanceStatus>() {
                Ok(status) => filter.status = Some(status),
                Err(message) => errors.push(FieldError::new("status", message)),
            },
            "fresh" => match value.as_ref() {
                "true" => fresh = true,
                "false" => fresh = false,
                _ => errors.push(FieldError::new("fresh", "must be true or false")),
            },
            "limit" => match value.parse::<usize>() {
                Ok(limit) if (1..=1000).contains(&limit) => page.limit = Some(limit),
                _ => errors.push(FieldError::new("limit", "must be a number from 1 to 1000")),
            },
            "cursor" => match super::resources::Cursor::decode(&value) {
                Ok(cursor) => page.cursor = Some(cursor),
                Err(_) => errors.push(FieldError::new("cursor", "is not a cursor this API gave out")),
            },
            other => errors.push(FieldError::new(
                other,
                "unknown filter; expected region, status, tag, name, fresh, limit or cursor",
            )),
        }
    }
    if page.cursor.is_some() && page.limit.is_none() {
        errors.push(FieldError::new("cursor", "is given without limit"));
    }
    if errors.is_empty() { Ok((filter, fresh, page)) } else { Err(ApiError::invalid(errors)) }
}

/// `answer` cut to the page asked for: the instances passing its filter, in (provider, id)
/// order, after the cursor, at most `limit`; with `next` when there is more. Without a limit,
/// the whole list, as the seed's contract has it.
fn paged(mut answer: ListAnswer, asked: &PageAsked, versions: u64) -> ListAnswer {
    let Some(limit) = asked.limit else { return answer };
    answer.copies.sort_by(|a, b| a.0.cmp(&b.0));
    let rows: Vec<(String, String, (String, nephele_core::Instance))> = answer
        .copies
        .iter()
        .flat_map(|(name, copy)| {
            copy.iter()
                .filter(|i| answer.filter.matches(i))
                .map(move |i| (name.clone(), i.id.0.clone(), (name.clone(), i.clone())))
        })
        .collect();
    let (kept, next) = super::resources::page(rows, Some(limit), asked.cursor.as_ref(), versions);
    let mut copies: Vec<(String, Vec<nephele_core::Instance>)> = Vec::new();
    for (name, instance) in kept {
        match copies.last_mut() {
            Some((last, list)) if *last == name => list.push(instance),
            _ => copies.push((name, vec![instance])),
        }
    }
    answer.copies = copies.into_iter().map(|(name, list)| (name, std::sync::Arc::new(list))).collect();
    answer.next = next;
    answer
}

/// A live read when asked with `?fresh=true` or `Cache-Control: no-cache`; memory otherwise.
pub(super) fn freshness(fresh: bool, headers: &HeaderMap) -> Freshness {
    let no_cache = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-cache")));
    if fresh || no_cache { Freshness::Live } else { Freshness::Cached }
}

/// The `ETag` of a list: which copies it was made from, and the filter as parsed (never the raw
/// query: `?region=a&name=b`, `?name=b&region=a` and `?region=%61&name=b` are one list, and one
/// rendered answer).
fn etag(scope: &str, versions: &[(&str, u64)], filter: &InstanceFilter, page: &PageAsked) -> String {
    let mut tagged: String = scope.to_owned();
    for (provider, version) in versions {
        tagged.push_str(&format!("{provider}:{version};"));
    }
    tagged.push_str(&serde_json::to_string(filter).unwrap_or_default());
    if let Some(limit) = page.limit {
        let cursor = page.cursor.as_ref().map(|c| c.encode()).unwrap_or_default();
        tagged.push_str(&format!(";limit={limit};cursor={cursor}"));
    }
    format!("W/\"{}\"", &nephele_engine::sha256_hex(tagged.as_bytes())[..24])
}

/// The answer to a list: 304 when the caller's `If-None-Match` names this version, else the
/// body (see [`super::rendered`]), with `ETag` and `Age` (seconds since the oldest copy was
/// read) either way.
async fn list_response(
    state: &AppState,
    headers: &HeaderMap,
    etag: String,
    age: std::time::Duration,
    answer: ListAnswer,
) -> Response {
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = state.rendered_lists.body(&etag, answer).await;
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
    response
}

pub(super) fn rfc3339(at: time::OffsetDateTime) -> Option<String> {
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

/// Why a provider's copy could not be read fresh, as a list reports it in `errors`.
pub(super) fn read_failure(provider: &str, error: &ReadError) -> ProviderFailure {
    ProviderFailure::from(&nephele_engine::failure::ProviderIssue::from_read(provider, error))
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        Self(error.into())
    }
}

/// `GET /api/v1/providers/{p}/instances`: from the inventory.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/instances", tag = "instances",
    params(("provider" = String, Path, description = "A configured provider's name"), ListFilter),
    responses(
        (status = 200, description = "The provider's instances", body = InstanceList,
            headers(("ETag" = String), ("Age" = u64, description = "Seconds since the oldest copy was read"))),
        (status = 304, description = "Unchanged since the `If-None-Match` version")))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    super::provider(&state, &name)?;
    let (filter, fresh, page) = parse_filter(raw.as_deref())?;
    let snapshot = state.inventory.snapshot(&name, freshness(fresh, &headers)).await?;
    let tag = etag("provider", &[(&name, snapshot.version)], &filter, &page);
    let answer = ListAnswer {
        errors: snapshot.error.iter().map(|e| read_failure(&name, e)).collect(),
        stale: snapshot.is_stale(),
        as_of: rfc3339(snapshot.as_of),
        provider_types: [(name.clone(), super::provider_type(&state, &name))].into(),
        copies: vec![(name, snapshot.instances.clone())],
        filter,
        next: None,
    };
    let answer = paged(answer, &page, snapshot.version);
    Ok(list_response(&state, &headers, tag, snapshot.age(), answer).await)
}

/// `GET /api/v1/instances`: the instances of every provider this key may use, from the
/// inventory; a provider that fails (or is overdue) is reported, with its last good copy,
/// marked stale, when there is one; never fatal.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", params(ListFilter),
    responses(
        (status = 200, description = "Every provider's instances", body = InstanceList,
            headers(("ETag" = String), ("Age" = u64, description = "Seconds since the oldest copy was read"))),
        (status = 304, description = "Unchanged since the `If-None-Match` version")))]
#[tracing::instrument(skip_all)]
pub async fn fleet(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (filter, fresh, page) = parse_filter(raw.as_deref())?;
    let freshness = freshness(fresh, &headers);
    let reads = state.providers.all().filter(|(name, _)| principal.may_use(name)).map(|(name, _)| {
        let inventory = state.inventory.clone();
        async move {
            let snapshot = inventory.snapshot(&name, freshness).await;
            (name, snapshot)
        }
    });
    let results = futures_util::future::join_all(reads).await;
    // The fleet answer is keyed by every copy it shows, and by which providers the key sees.
    let versions: Vec<(&str, u64)> =
        results.iter().map(|(name, r)| (name.as_str(), r.as_ref().map(|s| s.version).unwrap_or(0))).collect();
    let tag = etag("fleet", &versions, &filter, &page);
    let summed = versions.iter().fold(0u64, |sum, (_, v)| sum.wrapping_add(*v));
    let oldest = results.iter().filter_map(|(_, r)| r.as_ref().ok()).max_by_key(|s| s.age());
    let age = oldest.map(|s| s.age()).unwrap_or_default();
    let mut answer = ListAnswer {
        copies: Vec::new(),
        provider_types: results
            .iter()
            .map(|(name, _)| (name.clone(), super::provider_type(&state, name)))
            .collect(),
        filter,
        as_of: oldest.and_then(|s| rfc3339(s.as_of)),
        stale: false,
        errors: Vec::new(),
        next: None,
    };
    for (name, result) in &results {
        match result {
            Ok(snapshot) => {
                answer.copies.push((name.clone(), snapshot.instances.clone()));
                if let Some(e) = &snapshot.error {
                    answer.stale = true;
                    answer.errors.push(read_failure(name, e));
                }
            }
            Err(e) => answer.errors.push(read_failure(name, e)),
        }
    }
    let answer = paged(answer, &page, summed);
    Ok(list_response(&state, &headers, tag, age, answer).await)
}

/// A string or a number (SSH keys may be given by id or fingerprint).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum StringOrNumber {
    Number(u64),
    Text(String),
}

/// The original API's create body, `{name, type, region, image_id}`, plus optional extras.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// The instance's name: letters, digits, `.` and `-`, starting and ending with a letter or
    /// digit (with `count`, each gets `-1`, `-2`, ... appended).
    #[schema(pattern = "^[A-Za-z0-9]([A-Za-z0-9.-]{0,240}[A-Za-z0-9])?$")]
    name: String,
    /// An instance type's id (`s-1vcpu-1gb`).
    #[serde(rename = "type")]
    #[schema(min_length = 1)]
    instance_type: String,
    /// A region's id; the provider's default region when absent.
    #[schema(min_length = 1)]
    region: Option<String>,
    /// An image's slug or id.
    #[schema(min_length = 1)]
    image_id: String,
    /// SSH keys by id or fingerprint.
    #[serde(default)]
    ssh_keys: Vec<StringOrNumber>,
    #[serde(default)]
    #[schema(inline, value_type = Vec<TagName>)]
    tags: Vec<String>,
    /// Cloud-init user data (at most 64 KiB); never shown again.
    #[schema(max_length = 65536)]
    user_data: Option<String>,
    #[serde(default)]
    backups: bool,
    #[serde(default)]
    ipv6: bool,
    #[serde(default)]
    monitoring: bool,
    /// How many to make (default 1): at most the provider's `max_instances_per_create` (10 on
    /// DigitalOcean, 50 on EC2; see `GET /api/v1/providers/{provider}`).
    #[schema(minimum = 1, maximum = 100)]
    count: Option<u32>,
}

/// A tag: 1-255 letters, digits, `:`, `-` or `_`.
#[derive(utoipa::ToSchema)]
#[schema(pattern = "^[A-Za-z0-9:_-]{1,255}$")]
#[allow(dead_code)]
pub struct TagName(String);

/// `?region=&status=&tag=&name=&fresh=` on instance lists (documentation of [`parse_filter`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListFilter {
    /// Only instances in this region.
    region: Option<String>,
    /// Only instances with this status.
    #[param(value_type = Option<StatusName>)]
    status: Option<String>,
    /// Only instances with this tag.
    tag: Option<String>,
    /// Only instances with this name.
    name: Option<String>,
    /// Read the provider now rather than the inventory.
    fresh: Option<bool>,
    /// At most this many (1-1000), in (provider, id) order; the whole list when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Where the previous page ended (its `next`).
    #[param(max_length = 512)]
    cursor: Option<String>,
}

/// 202 to a create of one instance: the instance as it is so far, and its operation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedInstance {
    #[serde(flatten)]
    pub instance: InstanceView,
    pub operation_id: String,
    pub operation: OperationRef,
}

/// 202 to a create of several (or one whose first step must be retried).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedInstances {
    pub instances: Vec<InstanceView>,
    pub operation_id: String,
    pub operation: OperationRef,
}

/// What a create answers.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Created {
    One(Box<CreatedInstance>),
    Many(CreatedInstances),
}

/// Checks that need no call to the provider: names, count (within what the provider makes in
/// one create, `max_instances_per_create`), user data, tags.
fn check_locally(body: &CreateBody, max_count: u32) -> Result<(Vec<InstanceName>, u32), ApiError> {
    let mut errors = Vec::new();
    let count = body.count.unwrap_or(1);
    if !(1..=max_count).contains(&count) {
        errors.push(FieldError::new(
            "count",
            format!(
                "must be between 1 and {max_count} (what this provider makes in one create), got {count}"
            ),
        ));
    }
    let raw_names: Vec<String> = if count <= 1 {
        vec![body.name.clone()]
    } else {
        (1..=count.min(max_count)).map(|i| format!("{}-{i}", body.name)).collect()
    };
    let mut names = Vec::new();
    match raw_names.iter().map(|n| InstanceName::parse(n)).collect::<Result<Vec<_>, _>>() {
        Ok(parsed) => names = parsed,
        Err(e) => errors.push(FieldError::new("name", e.to_string())),
    }
    if let Some(user_data) = &body.user_data
        && user_data.len() > MAX_USER_DATA_BYTES
    {
        errors.push(FieldError::new(
            "user_data",
            format!("must be at most 64 KiB, got {} bytes", user_data.len()),
        ));
    }
    // Everything here is stored with the operation: each list is bounded in count and in bytes
    // (AWS allows 50 tags an instance; 4 KiB of them is plenty for any naming scheme).
    const MAX_TAGS: usize = 50;
    const MAX_TAG_BYTES_IN_ALL: usize = 4096;
    const MAX_SSH_KEYS: usize = 32;
    const MAX_SSH_KEY_BYTES: usize = 128;
    if body.tags.len() > MAX_TAGS {
        errors.push(FieldError::new(
            "tags",
            format!("must be at most {MAX_TAGS} tags, got {}", body.tags.len()),
        ));
    } else {
        for (i, tag) in body.tags.iter().enumerate() {
            if !is_valid_tag(tag) {
                errors.push(FieldError::new(
                    format!("tags[{i}]"),
                    "must be 1..255 letters, digits, `:`, `-` or `_`",
                ));
            }
        }
        let total: usize = body.tags.iter().map(String::len).sum();
        if total > MAX_TAG_BYTES_IN_ALL {
            errors.push(FieldError::new(
                "tags",
                format!("must be at most {MAX_TAG_BYTES_IN_ALL} bytes in all, got {total}"),
            ));
        }
    }
    if body.ssh_keys.len() > MAX_SSH_KEYS {
        errors.push(FieldError::new(
            "ssh_keys",
            format!("must be at most {MAX_SSH_KEYS} keys, got {}", body.ssh_keys.len()),
        ));
    } else {
        for (i, key) in body.ssh_keys.iter().enumerate() {
            if matches!(key, StringOrNumber::Text(text) if text.is_empty() || text.len() > MAX_SSH_KEY_BYTES)
            {
                errors.push(FieldError::new(
                    format!("ssh_keys[{i}]"),
                    format!("must be a key's id or fingerprint (1 to {MAX_SSH_KEY_BYTES} bytes)"),
                ));
            }
        }
    }
    if errors.is_empty() { Ok((names, count)) } else { Err(ApiError::invalid(errors)) }
}

/// Checks against the provider's catalogue, answering unknown values with close matches.
async fn check_catalogue(
    state: &AppState,
    name: &str,
    provider: &dyn Provider,
    instance_type: &str,
    region: &str,
    image: &str,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let types = state.catalog.instance_types(name, provider).await?;
    let regions = state.catalog.regions(name, provider).await?;
    let known_type = types.iter().find(|t| t.id == instance_type);
    if known_type.is_none() {
        errors.push(unknown("type", "instance type", instance_type, types.iter().map(|t| t.id.as_str())));
    }
    if !regions.iter().any(|r| r.id == region) {
        errors.push(unknown("region", "region", region, regions.iter().map(|r| r.id.as_str())));
    } else if let Some(t) = known_type
        && !t.offered_in(region)
    {
        // What is offered here, by the same rule.
        let here = types.iter().filter(|t| t.offered_in(region)).take(5).map(|t| t.id.clone()).collect();
        errors.push(
            FieldError::new("type", format!("{instance_type:?} is not offered in {region}"))
                .with_suggestions(here),
        );
    }
    let mut images = state.catalog.images(name, provider).await?;
    let matches =
        |list: &[nephele_core::Image]| list.iter().any(|i| i.id == image || i.slug.as_deref() == Some(image));
    if !matches(&images) && image.parse::<u64>().is_ok() {
        // A private image made since the catalogue was loaded.
        state.catalog.forget_images(name).await;
        images = state.catalog.images(name, provider).await?;
    }
    if !matches(&images) {
        errors.push(unknown("image_id", "image", image, images.iter().filter_map(|i| i.slug.as_deref())));
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::invalid(errors)) }
}

/// A mutating request, as it is recorded.
pub(super) struct Submitted<'a> {
    pub operation_id: OperationId,
    pub provider: &'a str,
    /// What the operation will do.
    pub request: OperationRequest,
    /// The HTTP request, for its idempotency fingerprint.
    pub method: &'a str,
    pub path: String,
    pub body: &'a Value,
}

/// Records the operation, runs its first step here, and answers; replays instead when the
/// request's Idempotency-Key was seen before.
pub(super) async fn run_operation(
    state: &Arc<AppState>,
    principal: &Principal,
    headers: &HeaderMap,
    submitted: Submitted<'_>,
    respond: impl FnOnce(ops::StepOutcome) -> StoredReply,
) -> Result<Response, ApiError> {
    let key = idempotency::key_from(headers)?;
    let operation_id = submitted.operation_id;
    let op = NewOperation {
        id: operation_id,
        provider: submitted.provider,
        request: &submitted.request,
        principal: &principal.id,
        lease_owner: &state.operations.lease_owner,
        lease_ms: state.operations.lease_ms,
        at: time::OffsetDateTime::now_utc(),
    };
    // What the row holds once written: the first step works from it, without reading it back.
    let recorded = op.recorded();
    let keyed = Keyed {
        kind: idempotency::KeyKind::Operation,
        method: submitted.method,
        path: &submitted.path,
        body: submitted.body,
    };
    let begun = idempotency::begin(state, &principal.id, key.as_ref(), keyed, Some(op)).await?;
    if let Begin::Replay(reply) = begun {
        return Ok(idempotency::replayed(reply));
    }
    // The operation is on record, leased to this process: from here on, whatever happens to
    // the process, a worker carries it on once the lease runs out. The first step runs here,
    // unless this key already has its share of steps under way: then it waits its turn with the
    // worker, and the caller hears 202 with the pending operation at once.
    let outcome = match state.operations.key_gate.try_enter(&principal.id) {
        Some(_pass) => ops::advance(&state.engine, &recorded, &state.operations.lease_owner, true).await?,
        None => {
            state.store.release_lease(&recorded.id, &state.operations.lease_owner).await?;
            ops::StepOutcome { state: Some(OperationState::Pending), ..Default::default() }
        }
    };
    // A failure ends the operation, and the caller hears why (the provider's reason, or ours).
    let mut reply = match (outcome.state, &outcome.failure) {
        (Some(OperationState::Failed), Some(failure)) => idempotency::problem(&ApiError::from(failure)),
        _ => respond(outcome),
    };
    reply.operation_id = Some(recorded.id);
    Ok(idempotency::finish(state, &principal.id, key.as_ref(), reply).await)
}

#[utoipa::path(post, path = "/api/v1/providers/{provider}/instances", tag = "instances",
    params(("provider" = String, Path, description = "A configured provider's name"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^([!#-~][!-~]{0,254}|\"[!#-\\[\\]-~]{1,255}\")$", description = "Makes a retried request answer what the first did: 1-255 visible ASCII characters, bare or as a structured-field string in double quotes")),
    request_body = CreateBody,
    responses((status = 202, description = "Being created: follow the operation", body = Created,
        headers(("Location" = String, description = "The (first) instance")))))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let provider = super::provider(&state, &name)?;
    let (names, count) = check_locally(&body, provider.info().max_instances_per_create)?;
    let region = super::region_or_default(body.region.as_deref(), provider.as_ref())?;
    check_catalogue(&state, &name, provider.as_ref(), &body.instance_type, &region, &body.image_id).await?;

    let request = CreateInstances {
        operation_id: OperationId::new(),
        names,
        instance_type: body.instance_type,
        region,
        image: body.image_id,
        ssh_keys: body
            .ssh_keys
            .into_iter()
            .map(|k| match k {
                StringOrNumber::Number(n) => n.to_string(),
                StringOrNumber::Text(t) => t,
            })
            .collect(),
        tags: body.tags,
        user_data: body.user_data,
        backups: body.backups,
        ipv6: body.ipv6,
        monitoring: body.monitoring,
        vpc_uuid: None,
    };
    let operation_id = request.operation_id;
    // Budgets that block are asked before anything is recorded or sent.
    let check = nephele_engine::budgets::CreateCheck {
        account: &name,
        provider: provider.as_ref(),
        creating: nephele_engine::budgets::Creating::Instances {
            instance_type: &request.instance_type,
            region: &request.region,
            tags: &request.tags,
            count,
            backups: request.backups,
        },
        operation_id: operation_id.to_string(),
        override_reason: None,
        principal: &principal.id,
    };
    let verdict = match super::budgets::guard_create(&state, &principal, &headers, check).await {
        Ok(verdict) => verdict,
        Err(refusal) => return Ok(refusal),
    };
    tracing::info!(provider = %name, %operation_id, count, "creating instances");
    let submitted = Submitted {
        operation_id,
        provider: &name,
        request: OperationRequest::Create(request),
        method: "POST",
        path: format!("/api/v1/providers/{name}/instances"),
        body: &raw,
    };
    let op_id = operation_id.to_string();
    let view_name = name.clone();
    let view_type = super::provider_type(&state, &name);
    let answered = run_operation(&state, &principal, &headers, submitted, move |outcome| {
        let views: Vec<InstanceView> =
            outcome.instances.into_iter().map(|i| InstanceView::new(&view_name, &view_type, i)).collect();
        let location = views.first().map(|v| v.links.this.clone());
        let operation = OperationRef::new(&op_id, outcome.state.unwrap_or(OperationState::Pending));
        let body = match <[InstanceView; 1]>::try_from(views) {
            Ok([instance]) if count == 1 => {
                Created::One(Box::new(CreatedInstance { instance, operation_id: op_id, operation }))
            }
            // Several instances, or a first step that must be retried: the operation says more.
            Ok(one) => {
                Created::Many(CreatedInstances { instances: one.into(), operation_id: op_id, operation })
            }
            Err(views) => {
                Created::Many(CreatedInstances { instances: views, operation_id: op_id, operation })
            }
        };
        StoredReply { location, ..idempotency::reply(StatusCode::ACCEPTED, &body) }
    })
    .await;
    verdict.settle(&state, answered).await
}

/// One instance, read from the provider now.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/instances/{id}", tag = "instances",
    params(("provider" = String, Path, description = "A configured provider's name"),
        ("id" = String, Path, description = "The instance's id at the provider")),
    responses((status = 200, description = "The instance", body = InstanceView)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<InstanceView>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let id = InstanceId(id);
    // A live read: what it finds (or does not) is written into the inventory too.
    let instance = match provider.get_instance(&id).await {
        Ok(instance) => instance,
        Err(e @ nephele_core::ProviderError::NotFound { .. }) => {
            state.inventory.remove(&name, &id);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    state.inventory.upsert(&name, std::slice::from_ref(&instance));
    Ok(Json(InstanceView::new(&name, &super::provider_type(&state, &name), instance)))
}

/// `?with_volumes=&with_snapshots=&with_reserved_ips=`: resources (comma-separated ids) deleted
/// together with the instance, in one operation (DigitalOcean's selective destroy; elsewhere one
/// after the other). Anything not named stays, and keeps costing.
#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Volumes to delete with it (comma-separated ids).
    with_volumes: Option<String>,
    /// Snapshots to delete with it (comma-separated ids).
    with_snapshots: Option<String>,
    /// Reserved IPs to release with it (comma-separated ids).
    with_reserved_ips: Option<String>,
}

impl DeleteQuery {
    fn associated(&self) -> Result<nephele_core::AssociatedResources, ApiError> {
        let ids = |field: &str, raw: &Option<String>| -> Result<Vec<nephele_core::ResourceId>, ApiError> {
            let Some(raw) = raw else { return Ok(Vec::new()) };
            let ids: Vec<_> = raw
                .split(',')
                .map(|id| nephele_core::ResourceId::parse(id.trim()))
                .collect::<Result<_, _>>()
                .map_err(|message| ApiError::invalid_field(field.to_owned(), message))?;
            if ids.len() > 50 {
                return Err(ApiError::invalid_field(field.to_owned(), "must name at most 50 resources"));
            }
            Ok(ids)
        };
        Ok(nephele_core::AssociatedResources {
            volumes: ids("with_volumes", &self.with_volumes)?,
            snapshots: ids("with_snapshots", &self.with_snapshots)?,
            reserved_ips: ids("with_reserved_ips", &self.with_reserved_ips)?,
        })
    }
}

#[utoipa::path(delete, path = "/api/v1/providers/{provider}/instances/{id}", tag = "instances",
    params(("provider" = String, Path, description = "A configured provider's name"),
        ("id" = String, Path, description = "The instance's id at the provider"), DeleteQuery,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^([!#-~][!-~]{0,254}|\"[!#-\\[\\]-~]{1,255}\")$", description = "Makes a retried request answer what the first did: 1-255 visible ASCII characters, bare or as a structured-field string in double quotes")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 202, description = "Being deleted: follow the operation", body = Accepted)))]
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    super::provider(&state, &name)?;
    let instance_id = InstanceId::parse(&id).map_err(|message| ApiError::invalid_field("id", message))?;
    let associated = query.associated()?;
    let operation_id = OperationId::new();
    tracing::info!(provider = %name, %operation_id, instance_id = %id, "deleting instance");
    // The resources named are part of the request: a replay with other ones is another request.
    let body = if associated.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(&associated).unwrap_or(Value::Null)
    };
    let submitted = Submitted {
        operation_id,
        provider: &name,
        request: OperationRequest::Delete { instance_id, associated },
        method: "DELETE",
        path: format!("/api/v1/providers/{name}/instances/{id}"),
        body: &body,
    };
    let op_id = operation_id.to_string();
    // (A failed delete is answered by `run_operation` with its reason: not found, a conflict,
    // the provider down...)
    run_operation(&state, &principal, &headers, submitted, move |outcome| {
        super::resources::deleted_reply(&op_id, outcome.state)
    })
    .await
}

/// A power action to start.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(rename = "type")]
    #[schema(value_type = PowerActionName)]
    kind: String,
}

/// The power actions (the document's name for them).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PowerActionName {
    PowerOn,
    PowerOff,
    Shutdown,
    Reboot,
    PowerCycle,
}

/// The statuses every provider's instances are given (the document's name for them).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    Provisioning,
    Running,
    Stopped,
    Archived,
    Unknown,
}

/// A provider's action on an instance.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActionDetail {
    pub id: String,
    /// The action's type (`power_off`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// `in_progress`, `completed` or `errored`.
    pub status: String,
    pub instance_id: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ActionLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub instance: Option<String>,
}

/// An action and where to follow it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActionView {
    pub action: ActionDetail,
    pub links: ActionLinks,
}

/// 202 to a power action: the provider's action once it has one, and the operation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActionAccepted {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<ActionLinks>,
    pub operation_id: String,
    pub operation: OperationRef,
}

fn action_view(name: &str, action: ProviderAction) -> ActionView {
    let status = match action.status {
        ActionStatus::InProgress => "in_progress",
        ActionStatus::Completed => "completed",
        ActionStatus::Errored => "errored",
    };
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
    ActionView {
        links: ActionLinks {
            this: format!("/api/v1/providers/{name}/actions/{}", action.id),
            instance: action.instance_id.as_ref().map(|i| format!("/api/v1/providers/{name}/instances/{i}")),
        },
        action: ActionDetail {
            id: action.id.0,
            kind: action.kind,
            status: status.to_owned(),
            instance_id: action.instance_id.map(|i| i.0),
            started_at: action.started_at.and_then(rfc3339),
            completed_at: action.completed_at.and_then(rfc3339),
        },
    }
}

#[utoipa::path(post, path = "/api/v1/providers/{provider}/instances/{id}/actions", tag = "instances",
    params(("provider" = String, Path, description = "A configured provider's name"),
        ("id" = String, Path, description = "The instance's id at the provider"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^([!#-~][!-~]{0,254}|\"[!#-\\[\\]-~]{1,255}\")$", description = "Makes a retried request answer what the first did: 1-255 visible ASCII characters, bare or as a structured-field string in double quotes")),
    request_body = ActionBody,
    responses((status = 202, description = "Started: follow the operation", body = ActionAccepted)))]
#[tracing::instrument(skip_all)]
pub async fn act(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<ActionBody>,
) -> Result<Response, ApiError> {
    super::provider(&state, &name)?;
    let instance_id = InstanceId::parse(&id).map_err(|message| ApiError::invalid_field("id", message))?;
    let action: PowerAction =
        body.kind.parse().map_err(|message: String| ApiError::invalid_field("type", message))?;
    let operation_id = OperationId::new();
    tracing::info!(provider = %name, %operation_id, instance_id = %id, action = action.as_str(), "power action");
    let submitted = Submitted {
        operation_id,
        provider: &name,
        request: OperationRequest::Power { instance_id, action },
        method: "POST",
        path: format!("/api/v1/providers/{name}/instances/{id}/actions"),
        body: &raw,
    };
    let op_id = operation_id.to_string();
    let view_name = name.clone();
    run_operation(&state, &principal, &headers, submitted, move |outcome| {
        let (action, links) = match outcome.action.map(|started| action_view(&view_name, started)) {
            Some(view) => (Some(view.action), Some(view.links)),
            None => (None, None),
        };
        let operation = OperationRef::new(&op_id, outcome.state.unwrap_or(OperationState::Pending));
        idempotency::reply(
            StatusCode::ACCEPTED,
            &ActionAccepted { action, links, operation_id: op_id, operation },
        )
    })
    .await
}

/// A provider's action, read now.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/actions/{action_id}", tag = "instances",
    params(("provider" = String, Path, description = "A configured provider's name"),
        ("action_id" = String, Path, description = "The action's id at the provider")),
    responses((status = 200, description = "The action", body = ActionView)))]
#[tracing::instrument(skip_all)]
pub async fn get_action(
    State(state): State<Arc<AppState>>,
    Path((name, action_id)): Path<(String, String)>,
) -> Result<Json<ActionView>, ApiError> {
    let provider = super::provider(&state, &name)?;
    let action = provider.get_action(&ActionId(action_id)).await?;
    Ok(Json(action_view(&name, action)))
}
