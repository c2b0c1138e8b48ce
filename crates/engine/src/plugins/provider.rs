//! [`PluginProvider`]: a plugin, seen through the `Provider` trait.
//!
//! Every call has a deadline. Answers are read with `convert`'s checks and bounded (every string
//! and list by `limits`, pages of at most 1,000, lists of at most [`MAX_LIST_INSTANCES`] and
//! [`MAX_LIST_BYTES`]), so a plugin is trusted no more than a cloud. While the plugin is down,
//! calls answer `Unavailable` at once (503 with Retry-After). A read whose connection broke under
//! it (the plugin died) is tried once more on the restarted plugin; a change is not: the
//! operations engine resumes it by operation id, which is what makes it safe. A failure the
//! plugin answered itself, with or without the failure trailer, is its answer: never waited on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nephele_core::cost::month_start;
use nephele_core::pricing::ResourcePrice;
use nephele_core::{
    ActionId, BillingPolicy, CreateInstances, Image, Instance, InstanceFilter, InstanceId, InstanceType,
    OperationId, PowerAction, Provider, ProviderAction, ProviderError, ProviderInfo, Region,
};
use nephele_core::{
    ActionStarted, AssociatedResources, CreateResource, Resource, ResourceAction, ResourceId, ResourceKind,
    VpcMember,
};
use nephele_plugin_protocol::failure::{self, FAILURE_TRAILER};
use nephele_plugin_protocol::{MAX_INSTANCES_PER_PAGE, convert, documents, limits, wire};
use time::OffsetDateTime;
use tokio::sync::watch;
use tonic::{Code, Status};

use super::process::PluginSpec;
use super::supervisor::{Command, Link, Supervisor};

/// Time one call may take, the plugin's own retries and waits included.
const CALL_DEADLINE: Duration = Duration::from_secs(120);
/// How long a read whose plugin died waits for the restarted one before answering 503.
const RESTART_WAIT: Duration = Duration::from_secs(5);
/// Most instances one list may hold.
pub const MAX_LIST_INSTANCES: usize = 500_000;
/// Most bytes (as sent) one list may hold: 500,000 instances of 512 bytes.
pub const MAX_LIST_BYTES: usize = 256 * 1024 * 1024;
/// Billing policies remembered (by type and month); a full cache starts again.
const MAX_CACHED_POLICIES: usize = 4096;
/// Distinct counter and gauge names taken from one plugin (each provider has its own).
const MAX_COUNTER_NAMES: usize = 64;

type Client = super::process::Client;

/// A provider served by a plugin process.
pub struct PluginProvider {
    name: String,
    supervisor: Supervisor,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    policies: Mutex<HashMap<(String, i64), BillingPolicy>>,
    counters: Mutex<BTreeMap<&'static str, u64>>,
    /// The plugin's gauges as of its last `GetCounters` answer.
    gauges: Mutex<BTreeMap<&'static str, i64>>,
    /// The counter and gauge names this plugin has been allowed, at most [`MAX_COUNTER_NAMES`]:
    /// one plugin's names never crowd out another's.
    counter_names: Mutex<BTreeSet<&'static str>>,
    calls: AtomicU64,
    failed_calls: AtomicU64,
    /// The limit the running process answered when told its share.
    shared_limit: Arc<Mutex<Option<SharedLimit>>>,
}

/// What one process (by generation) answered to `ShareRateLimit`.
#[derive(Clone, Copy)]
struct SharedLimit {
    generation: u64,
    per_minute: Option<u32>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// May be sent again when the connection broke under it.
    Read,
    /// Never sent twice by this layer.
    Change,
}

impl PluginProvider {
    /// Starts the plugin and waits for the first start to succeed or fail. A failed start still
    /// gives a provider: it answers `Unavailable` with the reason, and the supervisor keeps
    /// trying unless the failure is permanent.
    pub async fn start(spec: PluginSpec) -> Arc<Self> {
        let name = spec.name.clone();
        let (supervisor, task) = Supervisor::spawn(spec);
        let provider = Arc::new(Self {
            name,
            supervisor,
            task: Mutex::new(Some(task)),
            policies: Mutex::new(HashMap::new()),
            counters: Mutex::new(BTreeMap::new()),
            gauges: Mutex::new(BTreeMap::new()),
            counter_names: Mutex::new(BTreeSet::new()),
            calls: AtomicU64::new(0),
            failed_calls: AtomicU64::new(0),
            shared_limit: Arc::new(Mutex::new(None)),
        });
        if matches!(provider.settled().await, Link::Up(_)) {
            provider.update_counters().await;
        }
        provider
    }

    /// Waits until the current start has succeeded or failed.
    async fn settled(&self) -> Link {
        let mut link = self.supervisor.link.clone();
        let settled = link.wait_for(|l| !matches!(l, Link::Starting { .. })).await;
        settled.map(|l| l.clone()).unwrap_or(Link::Stopped)
    }

    /// Restarts the plugin with `spec` (new program or settings) and answers what it says it
    /// is, or why it did not start.
    pub async fn restart(&self, spec: PluginSpec) -> Result<ProviderInfo, String> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        if self.supervisor.commands.send(Command::Restart(spec, reply)).await.is_err() {
            return Err("the plugin's supervisor has stopped".to_owned());
        }
        // The supervisor answers with the outcome of the start this asked for (or drops the
        // sender when it is stopped, or another restart is asked for first).
        match outcome.await {
            Ok(Link::Up(up)) => Ok(up.info.clone()),
            Ok(Link::Down { reason, .. }) => Err(reason),
            Ok(Link::Starting { .. } | Link::Stopped) | Err(_) => {
                Err("the plugin was stopped or restarted again".to_owned())
            }
        }
    }

    /// Stops the plugin for good: stdin closed, 5 s to exit, then killed; its socket removed.
    pub async fn stop(&self) {
        let _ = self.supervisor.commands.send(Command::Stop).await;
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Why the plugin cannot be used now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match &*self.supervisor.link.borrow() {
            Link::Up(_) => None,
            Link::Starting { after } => Some(starting(after.as_deref())),
            Link::Down { reason, permanent, restarts_in } => {
                Some(self.down(reason, *permanent, *restarts_in))
            }
            Link::Stopped => Some("the plugin was stopped".to_owned()),
        }
    }

    fn down(&self, reason: &str, permanent: bool, restarts_in: Option<Duration>) -> String {
        match (permanent, restarts_in) {
            (true, _) => format!(
                "{reason}; not retried until providers.{} is fixed and POST /api/v1/providers/{}/initialize is called",
                self.name, self.name
            ),
            (false, Some(after)) => format!("{reason} (next start in {} ms)", after.as_millis()),
            (false, None) => reason.to_owned(),
        }
    }

    fn unavailable(&self, message: String) -> ProviderError {
        ProviderError::Unavailable {
            message: format!("plugin {}: {message}", self.name),
            detail: Default::default(),
        }
    }

    fn client(&self) -> Result<(Client, u64), ProviderError> {
        match &*self.supervisor.link.borrow() {
            Link::Up(up) => Ok((up.client.clone(), up.generation)),
            Link::Starting { after } => Err(self.unavailable(starting(after.as_deref()))),
            Link::Down { reason, permanent, restarts_in } => {
                Err(self.unavailable(self.down(reason, *permanent, *restarts_in)))
            }
            Link::Stopped => Err(self.unavailable("was stopped".to_owned())),
        }
    }

    /// A client of a plugin newer than `generation`, waiting up to [`RESTART_WAIT`] for it.
    async fn restarted(&self, generation: u64) -> Option<Client> {
        let mut link: watch::Receiver<Link> = self.supervisor.link.clone();
        let newer = tokio::time::timeout(
            RESTART_WAIT,
            link.wait_for(|l| matches!(l, Link::Up(up) if up.generation > generation)),
        )
        .await
        .ok()?
        .ok()?;
        match &*newer {
            Link::Up(up) => Some(up.client.clone()),
            _ => None,
        }
    }

    async fn call<T, F, Fut>(&self, kind: Kind, send: F) -> Result<T, ProviderError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (client, generation) = self.client()?;
        let first = self.deadline(send(client)).await;
        let answer = match first {
            Err(status) if kind == Kind::Read && is_broken_link(&status) => {
                match self.restarted(generation).await {
                    Some(client) => self.deadline(send(client)).await,
                    None => Err(status),
                }
            }
            other => other,
        };
        answer.map_err(|status| {
            self.failed_calls.fetch_add(1, Ordering::Relaxed);
            if is_broken_link(&status) {
                self.unavailable(format!("the connection to the plugin failed ({})", status.message()))
            } else {
                failure::from_status(&status, &self.name)
            }
        })
    }

    async fn deadline<T>(&self, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        tokio::time::timeout(CALL_DEADLINE, call).await.unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!("no answer within {} s", CALL_DEADLINE.as_secs())))
        })
    }

    /// Brings the plugin's counters up to date (`counters()` cannot wait for them): after each
    /// readiness check and each list, so the inventory can tell what a refresh cost.
    async fn update_counters(&self) {
        let Ok(answer) = self
            .call(Kind::Read, |mut c| async move { c.get_counters(wire::GetCountersRequest {}).await })
            .await
        else {
            return;
        };
        let answer = answer.into_inner();
        let Ok(mut names) = self.counter_names.lock() else { return };
        if let Ok(mut counters) = self.counters.lock() {
            for (name, value) in answer.values {
                if let Some(name) = counter_name(&mut names, &name) {
                    counters.insert(name, value);
                }
            }
        }
        if let Ok(mut gauges) = self.gauges.lock() {
            for (name, value) in answer.gauges {
                if let Some(name) = counter_name(&mut names, &name) {
                    gauges.insert(name, value);
                }
            }
        }
    }

    fn unusable(&self, e: convert::Malformed) -> ProviderError {
        e.into_invalid_response(&self.name)
    }
}

/// Why a starting plugin cannot be used yet, with why the start before failed.
fn starting(after: Option<&str>) -> String {
    match after {
        Some(reason) => format!("the plugin is starting again; the last start failed: {reason}"),
        None => "the plugin is starting".to_owned(),
    }
}

/// A failure of the connection, not an answer of the plugin's: made by the transport on this
/// side (a status with a source error; one the plugin sent is read from its trailers and has
/// none), without a failure trailer, with a code the transport makes when the other end is gone.
/// Only such a failure is worth waiting for a restarted plugin: a plugin that answers INTERNAL
/// itself is not restarting, and once cost every read that wait (5 s).
fn is_broken_link(status: &Status) -> bool {
    std::error::Error::source(status).is_some()
        && status.metadata().get_bin(FAILURE_TRAILER).is_none()
        && matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal)
}

/// A counter name a plugin sent, as the `&'static str` the trait wants: snake case, at most 64
/// bytes, and among the first [`MAX_COUNTER_NAMES`] distinct names of *this* plugin (`allowed`).
fn counter_name(allowed: &mut BTreeSet<&'static str>, name: &str) -> Option<&'static str> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    if let Some(known) = allowed.get(name) {
        return Some(known);
    }
    if allowed.len() >= MAX_COUNTER_NAMES {
        return None;
    }
    let name = interned(name)?;
    allowed.insert(name);
    Some(name)
}

/// `name` as a `&'static str`, each distinct name leaked once for the whole process. What is
/// leaked is bounded: names are at most 64 bytes, and each provider admits at most
/// [`MAX_COUNTER_NAMES`] of them for good.
fn interned(name: &str) -> Option<&'static str> {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().ok()?;
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(known) = names.get(name) {
        return Some(known);
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}

#[async_trait]
impl Provider for PluginProvider {
    fn info(&self) -> ProviderInfo {
        match &*self.supervisor.link.borrow() {
            Link::Up(up) => up.info.clone(),
            _ => ProviderInfo {
                name: self.name.clone(),
                display_name: self.name.clone(),
                version: "unknown".to_owned(),
                default_region: None,
                capabilities: Vec::new(),
                max_instances_per_create: 1,
            },
        }
    }

    async fn ping(&self) -> Result<(), ProviderError> {
        self.call(Kind::Read, |mut c| async move { c.ping(wire::PingRequest {}).await }).await?;
        self.update_counters().await;
        Ok(())
    }

    fn share_rate_limit(&self, replicas: u32) {
        // Remembered for every later start; sent to the running process now.
        self.supervisor.replicas.store(replicas.max(1), Ordering::Relaxed);
        let Ok((mut client, generation)) = self.client() else { return };
        let shared = self.shared_limit.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Ok(answer) = client.share_rate_limit(wire::ShareRateLimitRequest { replicas }).await
                    && let Ok(mut shared) = shared.lock()
                {
                    *shared = Some(SharedLimit {
                        generation,
                        per_minute: answer.into_inner().rate_limit_per_minute,
                    });
                }
            });
        }
    }

    fn rate_limit_per_minute(&self) -> Option<u32> {
        let Link::Up(up) = &*self.supervisor.link.borrow() else { return None };
        match self.shared_limit.lock().ok().and_then(|s| *s) {
            Some(shared) if shared.generation == up.generation => shared.per_minute,
            _ => up.rate_limit_per_minute,
        }
    }

    async fn refresh_counters(&self) {
        self.update_counters().await;
    }

    fn gauges(&self) -> BTreeMap<&'static str, i64> {
        self.gauges.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn counters(&self) -> BTreeMap<&'static str, u64> {
        let mut counters = self.counters.lock().map(|c| c.clone()).unwrap_or_default();
        counters.insert("plugin_calls", self.calls.load(Ordering::Relaxed));
        counters.insert("plugin_failed_calls", self.failed_calls.load(Ordering::Relaxed));
        counters.insert("plugin_restarts", self.supervisor.restarts.load(Ordering::Relaxed));
        counters
            .insert("plugin_log_lines_dropped", self.supervisor.log_lines_dropped.load(Ordering::Relaxed));
        counters
    }

    async fn billing_policy(
        &self,
        instance_type: &InstanceType,
        at: OffsetDateTime,
    ) -> Result<BillingPolicy, ProviderError> {
        let key = (instance_type.id.clone(), month_start(at).unix_timestamp());
        if let Some(known) = self.policies.lock().ok().and_then(|p| p.get(&key).cloned()) {
            return Ok(known);
        }
        let request = wire::GetBillingPolicyRequest {
            instance_type: Some(convert::instance_type(instance_type)),
            at: Some(convert::timestamp(at)),
        };
        let answer = self
            .call(Kind::Read, |mut c| {
                let request = request.clone();
                async move { c.get_billing_policy(request).await }
            })
            .await?;
        let policy = convert::read_billing_policy(answer.into_inner()).map_err(|e| self.unusable(e))?;
        if let Ok(mut policies) = self.policies.lock() {
            if policies.len() >= MAX_CACHED_POLICIES {
                policies.clear();
            }
            policies.insert(key, policy.clone());
        }
        Ok(policy)
    }

    async fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<Instance>, ProviderError> {
        let request = wire::ListInstancesRequest { filter: Some(convert::filter(filter)) };
        let name = self.name.clone();
        // Each page is read as it arrives: an unusable one ends the call at once (the stream
        // is dropped, which cancels it), so a plugin's garbage never piles up here.
        let read = self.call(Kind::Read, |mut c| {
            let request = request.clone();
            let name = name.clone();
            async move {
                let mut stream = c.list_instances(request).await?.into_inner();
                let mut instances = Vec::new();
                let mut bytes = 0usize;
                while let Some(page) = stream.message().await? {
                    bytes += prost::Message::encoded_len(&page);
                    if bytes > MAX_LIST_BYTES {
                        return Err(Status::data_loss(format!(
                            "plugin {name} sent more than {} MiB of instances",
                            MAX_LIST_BYTES / (1024 * 1024)
                        )));
                    }
                    if page.instances.len() > MAX_INSTANCES_PER_PAGE {
                        return Err(Status::data_loss(format!(
                            "plugin {name} sent a page of {} instances (at most {MAX_INSTANCES_PER_PAGE})",
                            page.instances.len()
                        )));
                    }
                    if instances.len() + page.instances.len() > MAX_LIST_INSTANCES {
                        return Err(Status::data_loss(format!(
                            "plugin {name} sent more than {MAX_LIST_INSTANCES} instances"
                        )));
                    }
                    for instance in page.instances {
                        match convert::read_instance(instance) {
                            Ok(instance) => instances.push(instance),
                            Err(unusable) => return Ok(Err(unusable)),
                        }
                    }
                }
                Ok(Ok(instances))
            }
        })
        .await;
        self.update_counters().await;
        read?.map_err(|e| self.unusable(e))
    }

    async fn get_instance(&self, id: &InstanceId) -> Result<Instance, ProviderError> {
        let request = wire::GetInstanceRequest { id: id.0.clone() };
        let answer = self
            .call(Kind::Read, |mut c| {
                let request = request.clone();
                async move { c.get_instance(request).await }
            })
            .await?;
        convert::read_instance(answer.into_inner()).map_err(|e| self.unusable(e))
    }

    async fn create_instances(&self, request: &CreateInstances) -> Result<Vec<Instance>, ProviderError> {
        let request = convert::create(request);
        let answer = self
            .call(Kind::Change, |mut c| {
                let request = request.clone();
                async move { c.create_instances(request).await }
            })
            .await?;
        convert::read_instances(answer.into_inner().instances).map_err(|e| self.unusable(e))
    }

    async fn find_instances_by_operation(
        &self,
        operation_id: OperationId,
    ) -> Result<Vec<Instance>, ProviderError> {
        let request = wire::FindInstancesByOperationRequest { operation_id: operation_id.to_string() };
        let answer = self
            .call(Kind::Read, |mut c| {
                let request = request.clone();
                async move { c.find_instances_by_operation(request).await }
            })
            .await?;
        convert::read_instances(answer.into_inner().instances).map_err(|e| self.unusable(e))
    }

    async fn delete_instance(&self, id: &InstanceId, operation_id: OperationId) -> Result<(), ProviderError> {
        let request =
            wire::DeleteInstanceRequest { id: id.0.clone(), operation_id: operation_id.to_string() };
        self.call(Kind::Change, |mut c| {
            let request = request.clone();
            async move { c.delete_instance(request).await }
        })
        .await?;
        Ok(())
    }

    async fn power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        operation_id: OperationId,
    ) -> Result<ProviderAction, ProviderError> {
        let request = wire::PowerActionRequest {
            instance_id: id.0.clone(),
            action: convert::power_action(action) as i32,
            operation_id: operation_id.to_string(),
        };
        let answer = self
            .call(Kind::Change, |mut c| {
                let request = request.clone();
                async move { c.power_action(request).await }
            })
            .await?;
        convert::read_action(answer.into_inner()).map_err(|e| self.unusable(e))
    }

    async fn find_power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderAction>, ProviderError> {
        let request = wire::FindPowerActionRequest {
            instance_id: id.0.clone(),
            action: convert::power_action(action) as i32,
            since: Some(convert::timestamp(since)),
        };
        let answer = self
            .call(Kind::Read, |mut c| {
                let request = request.clone();
                async move { c.find_power_action(request).await }
            })
            .await?;
        answer.into_inner().action.map(|a| convert::read_action(a).map_err(|e| self.unusable(e))).transpose()
    }

    async fn get_action(&self, id: &ActionId) -> Result<ProviderAction, ProviderError> {
        let request = wire::GetActionRequest { id: id.0.clone() };
        let answer = self
            .call(Kind::Read, |mut c| {
                let request = request.clone();
                async move { c.get_action(request).await }
            })
            .await?;
        convert::read_action(answer.into_inner()).map_err(|e| self.unusable(e))
    }

    async fn list_regions(&self) -> Result<Vec<Region>, ProviderError> {
        let answer = self
            .call(Kind::Read, |mut c| async move { c.list_regions(wire::ListRegionsRequest {}).await })
            .await?;
        convert::read_regions(answer.into_inner().regions).map_err(|e| self.unusable(e))
    }

    async fn list_instance_types(&self) -> Result<Vec<InstanceType>, ProviderError> {
        let answer = self
            .call(Kind::Read, |mut c| async move {
                c.list_instance_types(wire::ListInstanceTypesRequest {}).await
            })
            .await?;
        convert::read_instance_types(answer.into_inner().instance_types).map_err(|e| self.unusable(e))
    }

    async fn list_images(&self) -> Result<Vec<Image>, ProviderError> {
        let answer = self
            .call(Kind::Read, |mut c| async move { c.list_images(wire::ListImagesRequest {}).await })
            .await?;
        convert::read_images(answer.into_inner().images).map_err(|e| self.unusable(e))
    }

    async fn list_resources(&self, kind: ResourceKind) -> Result<Vec<Resource>, ProviderError> {
        let request = wire::ListResourcesRequest { kind: kind.as_str().to_owned() };
        let name = self.name.clone();
        // As instances: each page checked as it arrives, the whole list bounded.
        let read = self.call(Kind::Read, |mut c| {
            let request = request.clone();
            let name = name.clone();
            async move {
                let mut stream = c.list_resources(request).await?.into_inner();
                let mut resources = Vec::new();
                let mut bytes = 0usize;
                while let Some(page) = stream.message().await? {
                    bytes += prost::Message::encoded_len(&page);
                    if bytes > MAX_LIST_BYTES
                        || page.resources.len() > limits::MAX_RESOURCES_PER_PAGE
                        || resources.len() + page.resources.len() > limits::MAX_LIST_RESOURCES
                    {
                        return Err(Status::data_loss(format!(
                            "plugin {name} sent more resources than the protocol allows (pages of {}, {} in all, {} MiB)",
                            limits::MAX_RESOURCES_PER_PAGE,
                            limits::MAX_LIST_RESOURCES,
                            MAX_LIST_BYTES / (1024 * 1024)
                        )));
                    }
                    match documents::read_resources(page.resources) {
                        Ok(read) => resources.extend(read),
                        Err(unusable) => return Ok(Err(unusable)),
                    }
                }
                Ok(Ok(resources))
            }
        })
        .await;
        self.update_counters().await;
        let resources = read?.map_err(|e| self.unusable(e))?;
        if let Some(other) = resources.iter().find(|r| r.kind() != kind) {
            return Err(self.unusable(convert::Malformed {
                field: "resources",
                message: format!("a {} in a list of {kind}", other.kind()),
            }));
        }
        Ok(resources)
    }

    async fn get_resource(&self, kind: ResourceKind, id: &ResourceId) -> Result<Resource, ProviderError> {
        let request = wire::ResourceRef { kind: kind.as_str().to_owned(), id: id.0.clone() };
        let answer = self
            .call(Kind::Read, |mut c| {
                let request = request.clone();
                async move { c.get_resource(request).await }
            })
            .await?;
        documents::read_resource(Some(answer.into_inner())).map_err(|e| self.unusable(e))
    }

    async fn create_resource(&self, request: &CreateResource) -> Result<Resource, ProviderError> {
        let request = documents::document(request);
        let answer = self
            .call(Kind::Change, |mut c| {
                let request = request.clone();
                async move { c.create_resource(request).await }
            })
            .await?;
        documents::read_resource(Some(answer.into_inner())).map_err(|e| self.unusable(e))
    }

    async fn delete_resource(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
        operation_id: OperationId,
    ) -> Result<(), ProviderError> {
        let request = wire::DeleteResourceRequest {
            kind: kind.as_str().to_owned(),
            id: id.0.clone(),
            operation_id: operation_id.to_string(),
        };
        self.call(Kind::Change, |mut c| {
            let request = request.clone();
            async move { c.delete_resource(request).await }
        })
        .await?;
        Ok(())
    }

    async fn resource_action(
        &self,
        action: &ResourceAction,
        operation_id: OperationId,
    ) -> Result<ActionStarted, ProviderError> {
        let request = wire::ResourceActionRequest {
            action: Some(documents::document(action)),
            operation_id: operation_id.to_string(),
        };
        let answer = self
            .call(Kind::Change, |mut c| {
                let request = request.clone();
                async move { c.resource_action(request).await }
            })
            .await?;
        let started: ActionStarted =
            documents::read(Some(answer.into_inner()), "action_started").map_err(|e| self.unusable(e))?;
        if let Some(resource) = &started.resource {
            documents::read_resource(Some(documents::document(resource))).map_err(|e| self.unusable(e))?;
        }
        Ok(started)
    }

    async fn vpc_members(&self, vpc_id: &ResourceId) -> Result<Vec<VpcMember>, ProviderError> {
        let request = wire::ResourceRef { kind: ResourceKind::Vpc.as_str().to_owned(), id: vpc_id.0.clone() };
        let answer = self
            .call(Kind::Read, |mut c| {
                let request = request.clone();
                async move { c.vpc_members(request).await }
            })
            .await?;
        let listed = answer.into_inner().documents;
        if listed.len() > limits::MAX_DOCUMENTS {
            return Err(self.unusable(convert::Malformed {
                field: "documents",
                message: format!("holds more than {} members", limits::MAX_DOCUMENTS),
            }));
        }
        listed.into_iter().map(|d| documents::read(Some(d), "member").map_err(|e| self.unusable(e))).collect()
    }

    async fn delete_instance_with(
        &self,
        id: &InstanceId,
        associated: &AssociatedResources,
        operation_id: OperationId,
    ) -> Result<(), ProviderError> {
        let request = wire::DeleteInstanceWithRequest {
            id: id.0.clone(),
            associated: Some(documents::document(associated)),
            operation_id: operation_id.to_string(),
        };
        self.call(Kind::Change, |mut c| {
            let request = request.clone();
            async move { c.delete_instance_with(request).await }
        })
        .await?;
        Ok(())
    }

    async fn resource_prices(&self) -> Result<Vec<ResourcePrice>, ProviderError> {
        let answer = self
            .call(Kind::Read, |mut c| async move {
                c.get_resource_prices(wire::GetResourcePricesRequest {}).await
            })
            .await?;
        documents::read_prices(answer.into_inner().documents).map_err(|e| self.unusable(e))
    }
}
