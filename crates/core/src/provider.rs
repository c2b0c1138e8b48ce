//! The interface every cloud implements.
//!
//! The server only ever talks to clouds through `dyn Provider`. Arguments and results are plain
//! serialisable values, so an implementation can run in another process: a plugin, reached
//! through `nephele-plugin-protocol`, implements this same trait on the host's side.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use time::OffsetDateTime;

use crate::catalog::{Image, InstanceType, Region};
use crate::cost::BillingPolicy;
use crate::error::ProviderError;
use crate::instance::{CreateInstances, Instance, InstanceFilter, InstanceId, PowerAction};
use crate::operation::{ActionId, OperationId, ProviderAction};
use crate::pricing::ResourcePrice;
use crate::resource::{
    ActionStarted, AssociatedResources, CreateResource, Resource, ResourceAction, ResourceId, ResourceKind,
    VpcMember,
};

/// What a provider says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Stable name used in URLs (`digitalocean`).
    pub name: String,
    /// Human name (`DigitalOcean`).
    pub display_name: String,
    /// Version of the provider implementation.
    pub version: String,
    /// Region used for creates that name none.
    pub default_region: Option<String>,
    /// What this provider can do (`instances`, `power_actions`, `images`, ...).
    pub capabilities: Vec<String>,
    /// Most instances one create may make (DigitalOcean's multi-create takes 10).
    #[serde(default = "one")]
    pub max_instances_per_create: u32,
}

fn one() -> u32 {
    1
}

/// A cloud, as Nephele uses it.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn info(&self) -> ProviderInfo;

    /// Confirms the provider answers, with these credentials.
    async fn ping(&self) -> Result<(), ProviderError>;

    /// Tells the provider that `replicas` processes share its credentials (and so its rate
    /// limit): it keeps its own budget to its share. Providers without a client-side budget
    /// ignore it.
    fn share_rate_limit(&self, _replicas: u32) {}

    /// Requests a minute this process may send (its share, when replicas share the limit), if
    /// the provider keeps a client-side budget: the inventory keeps its background refreshes to
    /// a part of it.
    fn rate_limit_per_minute(&self) -> Option<u32> {
        None
    }

    /// Lists of `kind` a minute this process may send (its share), when the cloud limits that
    /// list on its own, beyond [`Provider::rate_limit_per_minute`] (DigitalOcean: SSH keys, 10
    /// a minute): the inventory lists the kind within a part of it. None by default.
    fn list_limit_per_minute(&self, _kind: ResourceKind) -> Option<u32> {
        None
    }

    /// Levels that go up and down (what is left of the rate budget...), named in snake case, for
    /// the server's metrics. None by default.
    fn gauges(&self) -> BTreeMap<&'static str, i64> {
        BTreeMap::new()
    }

    /// Running counters about the provider's traffic (requests, retries, rate-limit waits...),
    /// named in snake case, for the server's metrics. None by default.
    fn counters(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::new()
    }

    /// Brings `counters` up to date where that takes a call (a provider in another process
    /// answers `counters` from its last reading). Nothing to do by default.
    async fn refresh_counters(&self) {}

    /// How `instance_type` is billed for usage in the calendar month (UTC) that contains `at`.
    /// The answer may depend on the month, never on the moment within it.
    async fn billing_policy(
        &self,
        instance_type: &InstanceType,
        at: OffsetDateTime,
    ) -> Result<BillingPolicy, ProviderError>;

    /// What the cloud says it has billed this month so far (its balance and invoice preview),
    /// when it says; `None` for a cloud (or plugin) that does not: its costs are estimates only.
    async fn cloud_bill(&self) -> Result<Option<crate::bill::CloudBill>, ProviderError> {
        Ok(None)
    }

    /// Every instance that passes `filter`, across all pages.
    async fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<Instance>, ProviderError>;

    async fn get_instance(&self, id: &InstanceId) -> Result<Instance, ProviderError>;

    /// Creates the instances named in `request`, exactly once each even when the call is
    /// retried with the same `operation_id`. Answers as soon as the provider has accepted them.
    async fn create_instances(&self, request: &CreateInstances) -> Result<Vec<Instance>, ProviderError>;

    /// Instances made by an earlier `create_instances` with this operation id (crash recovery).
    async fn find_instances_by_operation(
        &self,
        operation_id: OperationId,
    ) -> Result<Vec<Instance>, ProviderError>;

    async fn delete_instance(&self, id: &InstanceId, operation_id: OperationId) -> Result<(), ProviderError>;

    /// Starts a power action and returns the action to follow.
    async fn power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        operation_id: OperationId,
    ) -> Result<ProviderAction, ProviderError>;

    /// The `action` on instance `id` that started at or after `since`, if there is one: how a
    /// power action whose first attempt had no clear answer is found instead of being sent
    /// again (power actions carry no tag, so the instance's recent actions are the record).
    async fn find_power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderAction>, ProviderError>;

    async fn get_action(&self, id: &ActionId) -> Result<ProviderAction, ProviderError>;

    async fn list_regions(&self) -> Result<Vec<Region>, ProviderError>;

    async fn list_instance_types(&self) -> Result<Vec<InstanceType>, ProviderError>;

    async fn list_images(&self) -> Result<Vec<Image>, ProviderError>;

    // Resources beyond instances (see [`crate::resource`]). Each kind is a capability: a provider
    // lists the ones it supports in `ProviderInfo::capabilities` (by `ResourceKind::capability`)
    // and keeps these defaults, which refuse, for the others.

    /// Every resource of `kind`, across all pages and regions.
    async fn list_resources(&self, kind: ResourceKind) -> Result<Vec<Resource>, ProviderError> {
        Err(ProviderError::not_supported(kind.capability()))
    }

    async fn get_resource(&self, kind: ResourceKind, _id: &ResourceId) -> Result<Resource, ProviderError> {
        Err(ProviderError::not_supported(kind.capability()))
    }

    /// Creates one resource, exactly once for its operation id: what an earlier call with the
    /// same id made is adopted where the cloud keeps a record of it (a tag, or a name it holds
    /// unique). Where it keeps none, the provider's documentation says so.
    async fn create_resource(&self, request: &CreateResource) -> Result<Resource, ProviderError> {
        Err(ProviderError::not_supported(request.kind().capability()))
    }

    /// Deletes one resource; `NotFound` when it does not exist.
    async fn delete_resource(
        &self,
        kind: ResourceKind,
        _id: &ResourceId,
        _operation_id: OperationId,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::not_supported(kind.capability()))
    }

    /// Starts `action`. The caller checks [`ResourceAction::is_done`] against the resource before
    /// calling again after a lost answer, so this need not be idempotent itself.
    async fn resource_action(
        &self,
        action: &ResourceAction,
        _operation_id: OperationId,
    ) -> Result<ActionStarted, ProviderError> {
        Err(ProviderError::not_supported(action.target().0.capability()))
    }

    /// What is inside a VPC.
    async fn vpc_members(&self, _vpc_id: &ResourceId) -> Result<Vec<VpcMember>, ProviderError> {
        Err(ProviderError::not_supported(ResourceKind::Vpc.capability()))
    }

    /// Deletes an instance together with `associated` resources in one call, where the cloud
    /// offers that (DigitalOcean's selective destroy). The default refuses, and the caller then
    /// deletes them one after the other.
    async fn delete_instance_with(
        &self,
        _id: &InstanceId,
        _associated: &AssociatedResources,
        _operation_id: OperationId,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::not_supported("delete_with_associated_resources"))
    }

    /// What resources cost, with where each figure comes from. None by default.
    async fn resource_prices(&self) -> Result<Vec<ResourcePrice>, ProviderError> {
        Ok(Vec::new())
    }
}
