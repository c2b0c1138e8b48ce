//! [`DigitalOcean`]: the `Provider` implementation.

use std::sync::Arc;

use async_trait::async_trait;
use nephele_core::{
    ActionId, ActionStarted, AssociatedResources, CreateInstances, CreateResource, Image, Instance,
    InstanceFilter, InstanceId, InstanceType, OperationId, PowerAction, Provider, ProviderAction,
    ProviderError, ProviderInfo, Region, Resource, ResourceAction, ResourceId, ResourceKind, ResourcePrice,
    VpcMember,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::config::ClientConfig;
use crate::mapping;
use crate::metrics::ClientMetrics;
use crate::pagination::{self, Convert, Keyed, ListLimits, ListOf, PER_PAGE, PageHints};
use crate::transport::{Retry, Transport};
use crate::validate;
use crate::wire;

/// How far DigitalOcean's clock may be from ours when matching an action's `started_at` (its
/// timestamps also have whole seconds only).
const CLOCK_SKEW: time::Duration = time::Duration::seconds(5);

/// The tag that marks every droplet made for one Nephele operation.
pub fn operation_tag(operation_id: OperationId) -> String {
    format!("nephele-req-{operation_id}")
}

/// A DigitalOcean account, reached through its API v2.
pub struct DigitalOcean {
    pub(crate) transport: Transport,
    default_region: Option<String>,
    list_limits: ListLimits,
    page_hints: PageHints,
    pub(crate) max_attempts: u32,
}

/// Droplet ids are positive integers: anything else names no droplet, and costs no call.
fn droplet_id(id: &InstanceId) -> Result<u64, ProviderError> {
    id.0.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ProviderError::not_found(format!("no droplet has the id {:?}", id.0)))
}

impl DigitalOcean {
    pub fn new(config: ClientConfig) -> Result<Self, ProviderError> {
        Ok(Self {
            transport: Transport::new(&config)?,
            default_region: config.default_region,
            list_limits: ListLimits {
                concurrency: config.list_concurrency.max(1),
                max_pages: config.max_list_pages.max(1),
            },
            page_hints: PageHints::default(),
            max_attempts: config.max_attempts.max(1),
        })
    }

    /// The client's counters (requests, retries, rate-limit waits, adopted droplets).
    pub fn metrics(&self) -> Arc<ClientMetrics> {
        self.transport.metrics.clone()
    }

    /// The account behind the token (also a cheap "can we reach DigitalOcean?" check).
    pub async fn account(&self) -> Result<wire::Account, ProviderError> {
        let reply = self.transport.send(Method::GET, "/v2/account", None, Retry::Idempotent).await?;
        Ok(reply.decode::<wire::AccountOne>("account")?.account)
    }

    /// Every item of a paginated list, converted page by page (see [`crate::pagination`]).
    pub(crate) async fn list_all<W, T>(
        &self,
        list: ListOf<'_>,
        convert: Convert<W, T>,
    ) -> Result<Vec<T>, ProviderError>
    where
        W: DeserializeOwned + Send + 'static,
        T: Keyed + Send + 'static,
    {
        pagination::list_all(
            &self.transport,
            &self.transport.metrics,
            &self.page_hints,
            self.list_limits,
            list,
            convert,
        )
        .await
    }

    /// Sends a power action once and reads its answer.
    async fn post_action(&self, droplet: u64, action: PowerAction) -> Result<ProviderAction, ProviderError> {
        let body = json!({ "type": action.as_str() });
        let reply = self
            .transport
            .send(Method::POST, &format!("/v2/droplets/{droplet}/actions"), Some(&body), Retry::Once)
            .await?;
        Ok(mapping::action(reply.decode::<wire::ActionOne>("action")?.action))
    }

    async fn list_droplets(&self, filters: &[(&str, &str)]) -> Result<Vec<Instance>, ProviderError> {
        let list = ListOf { path: "/v2/droplets", filters, what: "droplet list" };
        let instances = self.list_all(list, mapping::instance).await?;
        // A droplet can move between pages while they are read; each is reported once.
        let mut seen = std::collections::HashSet::with_capacity(instances.len());
        Ok(instances.into_iter().filter(|i| seen.insert(i.id.clone())).collect())
    }

    async fn post_create(
        &self,
        request: &CreateInstances,
        names: &[&str],
        tag: &str,
    ) -> Result<Vec<Instance>, ProviderError> {
        let image = match request.image.parse::<u64>() {
            Ok(id) => json!(id),
            Err(_) => json!(request.image),
        };
        let ssh_keys = request
            .ssh_keys
            .iter()
            .map(|k| k.parse::<u64>().map(|id| json!(id)).unwrap_or_else(|_| json!(k)))
            .collect();
        let mut tags: Vec<&str> = request.tags.iter().map(String::as_str).collect();
        tags.push(tag);
        let body = wire::CreateDroplets {
            name: (names.len() == 1).then(|| names[0]),
            names: (names.len() > 1).then(|| names.to_vec()),
            region: &request.region,
            size: &request.instance_type,
            image,
            ssh_keys,
            backups: request.backups,
            ipv6: request.ipv6,
            monitoring: request.monitoring,
            tags,
            user_data: request.user_data.as_deref(),
            vpc_uuid: request.vpc_uuid.as_deref(),
        };
        let body = serde_json::to_value(&body)
            .map_err(|e| ProviderError::unavailable(format!("cannot encode the create request: {e}")))?;
        let reply = self.transport.send(Method::POST, "/v2/droplets", Some(&body), Retry::Once).await?;
        let created: wire::DropletCreated = reply.decode("create answer")?;
        created.droplet.into_iter().chain(created.droplets).map(mapping::instance).collect()
    }
}

#[async_trait]
impl Provider for DigitalOcean {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "digitalocean".to_owned(),
            display_name: "DigitalOcean".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            default_region: self.default_region.clone(),
            capabilities: ["instances", "power_actions", "regions", "instance_types", "images", "tags"]
                .into_iter()
                .chain(crate::resources::CAPABILITIES)
                .map(str::to_owned)
                .collect(),
            max_instances_per_create: crate::validate::MAX_NAMES_PER_CREATE as u32,
        }
    }

    fn rate_limit_per_minute(&self) -> Option<u32> {
        u32::try_from(self.transport.per_minute_share()).ok()
    }

    fn share_rate_limit(&self, replicas: u32) {
        self.transport.share_rate_limit(replicas);
    }

    fn list_limit_per_minute(&self, kind: ResourceKind) -> Option<u32> {
        match kind {
            ResourceKind::SshKey => self
                .transport
                .endpoint_per_minute_share(&Method::GET, crate::resources::SSH_KEYS)
                .and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
    }

    fn gauges(&self) -> std::collections::BTreeMap<&'static str, i64> {
        let (minute, hour) = self.transport.budget_remaining();
        [
            ("rate_budget_remaining_minute", i64::try_from(minute).unwrap_or(i64::MAX)),
            ("rate_budget_remaining_hour", i64::try_from(hour).unwrap_or(i64::MAX)),
        ]
        .into_iter()
        .collect()
    }

    fn counters(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let m = self.transport.metrics.snapshot();
        [
            ("requests_sent", m.requests_sent),
            ("retries", m.retries),
            ("responses_429", m.responses_429),
            ("rate_limit_waits", m.rate_limit_waits),
            ("rate_limit_wait_ms", m.rate_limit_wait_ms),
            ("ambiguous_creates", m.ambiguous_creates),
            ("adopted_instances", m.adopted_instances),
            ("adopted_resources", m.adopted_resources),
            ("ambiguous_actions", m.ambiguous_actions),
            ("adopted_actions", m.adopted_actions),
            ("oversized_responses", m.oversized_responses),
            ("lists_cut_short", m.lists_cut_short),
        ]
        .into_iter()
        .collect()
    }

    async fn ping(&self) -> Result<(), ProviderError> {
        self.account().await.map(|_| ())
    }

    async fn billing_policy(
        &self,
        instance_type: &InstanceType,
        at: time::OffsetDateTime,
    ) -> Result<nephele_core::BillingPolicy, ProviderError> {
        Ok(crate::billing::policy(instance_type, at))
    }

    async fn cloud_bill(&self) -> Result<Option<nephele_core::bill::CloudBill>, ProviderError> {
        crate::bill::read(&self.transport).await.map(Some)
    }

    #[tracing::instrument(skip(self), fields(provider = "digitalocean"))]
    async fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<Instance>, ProviderError> {
        // DigitalOcean filters by tag or by name itself; region and status are filtered here.
        let mut server_side = Vec::new();
        if let Some(tag) = &filter.tag {
            server_side.push(("tag_name", tag.as_str()));
        } else if let Some(name) = &filter.name {
            server_side.push(("name", name.as_str()));
        }
        let all = self.list_droplets(&server_side).await?;
        Ok(all.into_iter().filter(|i| filter.matches(i)).collect())
    }

    #[tracing::instrument(skip(self), fields(provider = "digitalocean"))]
    async fn get_instance(&self, id: &InstanceId) -> Result<Instance, ProviderError> {
        let id = droplet_id(id)?;
        let reply =
            self.transport.send(Method::GET, &format!("/v2/droplets/{id}"), None, Retry::Idempotent).await?;
        mapping::instance(reply.decode::<wire::DropletOne>("droplet")?.droplet)
    }

    /// Creates each named droplet exactly once per operation id. Droplets carry the operation's
    /// tag; before creating, and after any failure that leaves the outcome unknown, the tag is
    /// looked up and what exists is adopted instead of being made again.
    #[tracing::instrument(skip(self, request), fields(provider = "digitalocean", operation_id = %request.operation_id, region = %request.region))]
    async fn create_instances(&self, request: &CreateInstances) -> Result<Vec<Instance>, ProviderError> {
        validate::create(request)?;
        let tag = operation_tag(request.operation_id);
        let mut made = self.find_instances_by_operation(request.operation_id).await?;
        if !made.is_empty() {
            self.transport.metrics.adopted(made.len());
        }
        for attempt in 1..=self.max_attempts {
            let missing: Vec<&str> = request
                .names
                .iter()
                .map(|n| n.as_str())
                .filter(|name| !made.iter().any(|i| i.name == *name))
                .collect();
            if missing.is_empty() {
                break;
            }
            match self.post_create(request, &missing, &tag).await {
                Ok(created) => made.extend(created),
                Err(error @ ProviderError::Unavailable { .. }) => {
                    // The create may or may not have happened: ask, never guess.
                    self.transport.metrics.ambiguous_create();
                    tracing::warn!(attempt, %error, %tag, "create outcome unknown; looking the operation tag up");
                    let found = self.find_instances_by_operation(request.operation_id).await?;
                    let adopted = found.iter().filter(|f| !made.iter().any(|m| m.id == f.id)).count();
                    self.transport.metrics.adopted(adopted);
                    made = found;
                    if attempt == self.max_attempts && made.len() < request.names.len() {
                        return Err(error);
                    }
                }
                Err(other) => return Err(other),
            }
        }
        // Answer in the order the names were asked for.
        let mut ordered = Vec::with_capacity(request.names.len());
        for name in &request.names {
            if let Some(index) = made.iter().position(|i| i.name == name.as_str()) {
                ordered.push(made.swap_remove(index));
            }
        }
        Ok(ordered)
    }

    async fn find_instances_by_operation(
        &self,
        operation_id: OperationId,
    ) -> Result<Vec<Instance>, ProviderError> {
        self.list_droplets(&[("tag_name", &operation_tag(operation_id))]).await
    }

    #[tracing::instrument(skip(self), fields(provider = "digitalocean"))]
    async fn delete_instance(&self, id: &InstanceId, operation_id: OperationId) -> Result<(), ProviderError> {
        let id = droplet_id(id)?;
        tracing::debug!(%operation_id, droplet_id = id, "deleting droplet");
        let reply = self
            .transport
            .send(Method::DELETE, &format!("/v2/droplets/{id}"), None, Retry::Idempotent)
            .await?;
        match reply.status {
            status if status.is_success() => Ok(()),
            // An earlier attempt whose answer was lost already deleted it.
            StatusCode::NOT_FOUND if reply.after_ambiguous_failure => Ok(()),
            _ => Err(crate::errors::from_reply(&reply)),
        }
    }

    /// Sends the action once. When the answer is lost (a dropped connection, a timeout, a 5xx
    /// after the request may have been acted on), the droplet's actions are looked up for one of
    /// this kind started since the request was sent, and that one is returned; only when none is
    /// found does the error go back (and the operations engine looks again before any resend).
    #[tracing::instrument(skip(self), fields(provider = "digitalocean"))]
    async fn power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        operation_id: OperationId,
    ) -> Result<ProviderAction, ProviderError> {
        let droplet = droplet_id(id)?;
        tracing::debug!(%operation_id, droplet_id = droplet, action = action.as_str(), "starting power action");
        let sent_at = time::OffsetDateTime::now_utc();
        match self.post_action(droplet, action).await {
            Err(error @ (ProviderError::Unavailable { .. } | ProviderError::InvalidResponse { .. })) => {
                self.transport.metrics.ambiguous_action();
                tracing::warn!(%error, %operation_id, "power action outcome unknown; looking at the droplet's actions");
                match self.find_power_action(id, action, sent_at).await? {
                    Some(found) => {
                        self.transport.metrics.adopted_action();
                        Ok(found)
                    }
                    None => Err(error),
                }
            }
            other => other,
        }
    }

    /// Reads the droplet's actions (the first page and, when there are more, the last, so the
    /// newest are seen whichever way DigitalOcean orders them) for the earliest `action` that
    /// started at or after `since`, allowing for clock skew.
    async fn find_power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        since: time::OffsetDateTime,
    ) -> Result<Option<ProviderAction>, ProviderError> {
        let droplet = droplet_id(id)?;
        let path = format!("/v2/droplets/{droplet}/actions");
        let page = |n: usize| {
            let path = pagination::with_query(
                &path,
                &[("page", &n.to_string()), ("per_page", &PER_PAGE.to_string())],
            );
            async move {
                let reply = self.transport.send(Method::GET, &path, None, Retry::Idempotent).await?;
                reply.decode::<wire::Paged<wire::Action>>("action list")
            }
        };
        let first = page(1).await?;
        let total = first.meta.as_ref().map(|m| m.total).unwrap_or(0);
        let mut actions = first.items;
        let last = usize::try_from(total.div_ceil(PER_PAGE as u64)).unwrap_or(1);
        if last > 1 {
            actions.extend(page(last).await?.items);
        }
        let earliest = since - CLOCK_SKEW;
        Ok(actions
            .into_iter()
            .map(mapping::action)
            .filter(|a| a.kind == action.as_str() && a.started_at.is_some_and(|at| at >= earliest))
            .min_by_key(|a| a.started_at))
    }

    async fn get_action(&self, id: &ActionId) -> Result<ProviderAction, ProviderError> {
        let id =
            id.0.parse::<u64>()
                .map_err(|_| ProviderError::not_found(format!("no action has the id {:?}", id.0)))?;
        let reply =
            self.transport.send(Method::GET, &format!("/v2/actions/{id}"), None, Retry::Idempotent).await?;
        Ok(mapping::action(reply.decode::<wire::ActionOne>("action")?.action))
    }

    async fn list_regions(&self) -> Result<Vec<Region>, ProviderError> {
        let list = ListOf { path: "/v2/regions", filters: &[], what: "region list" };
        self.list_all(list, |r: wire::Region| Ok(mapping::region(r))).await
    }

    async fn list_instance_types(&self) -> Result<Vec<InstanceType>, ProviderError> {
        let list = ListOf { path: "/v2/sizes", filters: &[], what: "size list" };
        self.list_all(list, mapping::instance_type).await
    }

    async fn list_images(&self) -> Result<Vec<Image>, ProviderError> {
        let list = ListOf { path: "/v2/images", filters: &[], what: "image list" };
        self.list_all(list, |i: wire::Image| Ok(mapping::image(i))).await
    }

    #[tracing::instrument(skip(self), fields(provider = "digitalocean"))]
    async fn list_resources(&self, kind: ResourceKind) -> Result<Vec<Resource>, ProviderError> {
        self.list_resources_of(kind).await
    }

    #[tracing::instrument(skip(self), fields(provider = "digitalocean"))]
    async fn get_resource(&self, kind: ResourceKind, id: &ResourceId) -> Result<Resource, ProviderError> {
        self.get_resource_of(kind, id).await
    }

    /// Exactly once per operation id, by the record DigitalOcean keeps for each kind (see
    /// [`crate::resources`], which says where it keeps none).
    #[tracing::instrument(skip(self, request), fields(provider = "digitalocean", kind = %request.kind(), operation_id = %request.operation_id()))]
    async fn create_resource(&self, request: &CreateResource) -> Result<Resource, ProviderError> {
        self.create_resource_once(request).await
    }

    #[tracing::instrument(skip(self), fields(provider = "digitalocean"))]
    async fn delete_resource(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
        operation_id: OperationId,
    ) -> Result<(), ProviderError> {
        tracing::debug!(%operation_id, %kind, id = %id, "deleting resource");
        self.delete_resource_of(kind, id).await
    }

    #[tracing::instrument(skip(self, action), fields(provider = "digitalocean", action = action.name()))]
    async fn resource_action(
        &self,
        action: &ResourceAction,
        operation_id: OperationId,
    ) -> Result<ActionStarted, ProviderError> {
        tracing::debug!(%operation_id, "starting resource action");
        self.act_on_resource(action).await
    }

    async fn vpc_members(&self, vpc_id: &ResourceId) -> Result<Vec<VpcMember>, ProviderError> {
        self.vpc_members_of(vpc_id).await
    }

    #[tracing::instrument(skip(self, associated), fields(provider = "digitalocean"))]
    async fn delete_instance_with(
        &self,
        id: &InstanceId,
        associated: &AssociatedResources,
        operation_id: OperationId,
    ) -> Result<(), ProviderError> {
        tracing::debug!(%operation_id, "deleting droplet with associated resources");
        self.destroy_with_associated(id, associated).await
    }

    async fn resource_prices(&self) -> Result<Vec<ResourcePrice>, ProviderError> {
        Ok(crate::prices::resource_prices())
    }
}
