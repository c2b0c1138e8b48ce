//! `Aws`: EC2 behind the `Provider` trait, across the configured regions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::Engine;
use futures_util::future::join_all;
use nephele_core::error::UpstreamDetail;
use nephele_core::{
    ActionId, ActionStarted, ActionStatus, BillingPolicy, CreateInstances, CreateResource, Image, Instance,
    InstanceFilter, InstanceId, InstanceStatus, InstanceType, OperationId, PowerAction, Provider,
    ProviderAction, ProviderError, ProviderInfo, Region, Resource, ResourceAction, ResourceId, ResourceKind,
    ResourcePrice, VpcMember,
};
use serde::de::IgnoredAny;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::client::{Ec2Client, Params};
use crate::mapping::{self, OPERATION_TAG_PREFIX, Shape};
use crate::prices::{self, PRICES};
use crate::settings::ClientSettings;
use crate::wire;

/// EC2 answers at most 1,000 instances a page (`MaxResults` 5..1000).
const PAGE_SIZE: &str = "1000";
/// Most instances one create may make (one `RunInstances` each, for their own `Name` tags).
const MAX_NAMES_PER_CREATE: usize = 100;
/// Most images the catalogue keeps: `amazon` alone owns tens of thousands.
const MAX_IMAGES: usize = 5000;

pub struct Aws {
    pub(crate) client: Ec2Client,
    /// vCPUs, memory and disk by type (instances do not carry memory), read for the types
    /// instances use as they are met: the whole list is slow to get (seconds on moto).
    shapes: tokio::sync::Mutex<BTreeMap<String, Shape>>,
    /// The region each instance was last seen in: ids do not say.
    homes: Mutex<HashMap<String, String>>,
    /// What the resource kinds remember between calls (the region of each resource seen, the
    /// zones of each region, the account's id).
    pub(crate) resources: crate::resources::Memory,
}

fn invalid(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidInput {
        field: Some(field.to_owned()),
        message: message.into(),
        detail: Default::default(),
    }
}

fn not_found(id: &InstanceId) -> ProviderError {
    ProviderError::NotFound { message: format!("instance {id} not found"), detail: UpstreamDetail::default() }
}

/// `Filter.N.Name` / `Filter.N.Value.M` parameters.
pub(crate) fn push_filter(params: &mut Params, name: &str, values: &[&str]) {
    let n = params.iter().filter(|(k, _)| k.ends_with(".Name") && k.starts_with("Filter.")).count() + 1;
    params.push((format!("Filter.{n}.Name"), name.to_owned()));
    for (m, value) in values.iter().enumerate() {
        params.push((format!("Filter.{n}.Value.{}", m + 1), (*value).to_owned()));
    }
}

/// EC2 instance ids: `i-` and 8 or 17 hex digits.
pub(crate) fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-")
        .is_some_and(|hex| (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Aws {
    pub fn new(settings: ClientSettings) -> Result<Self, ProviderError> {
        Ok(Self {
            client: Ec2Client::new(settings)?,
            shapes: tokio::sync::Mutex::new(BTreeMap::new()),
            homes: Mutex::new(HashMap::new()),
            resources: crate::resources::Memory::default(),
        })
    }

    pub(crate) fn settings(&self) -> &ClientSettings {
        &self.client.settings
    }

    fn remember(&self, instances: &[Instance]) {
        let mut homes = self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for i in instances {
            homes.insert(i.id.0.clone(), i.region.clone());
        }
    }

    fn home(&self, id: &InstanceId) -> Option<String> {
        self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id.0).cloned()
    }

    /// The shapes of `types`, asking EC2 for those not yet known (100 a call). A failure leaves
    /// them unknown: instances are still listed, without their memory, and asked for again.
    async fn shapes_of(&self, types: BTreeSet<String>, deadline: Instant) -> BTreeMap<String, Shape> {
        let mut known = self.shapes.lock().await;
        let missing: Vec<&String> = types.iter().filter(|t| !known.contains_key(*t)).collect();
        for chunk in missing.chunks(100) {
            let params: Params = chunk
                .iter()
                .enumerate()
                .map(|(n, t)| (format!("InstanceType.{}", n + 1), (*t).clone()))
                .collect();
            let region = self.settings().default_region.clone();
            match self
                .client
                .call::<wire::DescribeInstanceTypes>(&region, "DescribeInstanceTypes", &params, deadline)
                .await
            {
                Ok(answer) => {
                    for t in answer.instance_type_set.items {
                        known.insert(t.instance_type.clone(), shape(&t));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "instance types unavailable: instances listed without their memory")
                }
            }
        }
        types.into_iter().filter_map(|t| known.get(&t).map(|s| (t, *s))).collect()
    }

    /// EC2's instances (with the region each was seen in) as Nephele's.
    async fn to_instances(&self, raw: Vec<(String, wire::Instance)>, deadline: Instant) -> Vec<Instance> {
        let types = raw.iter().map(|(_, i)| i.instance_type.clone()).collect();
        let shapes = self.shapes_of(types, deadline).await;
        raw.iter().map(|(region, i)| mapping::instance(i, region, &shapes)).collect()
    }

    async fn describe_types(&self, deadline: Instant) -> Result<Vec<wire::InstanceTypeInfo>, ProviderError> {
        let region = self.settings().default_region.clone();
        let query =
            Query { action: "DescribeInstanceTypes", page_size: Some("100"), what: "instance type list" };
        self.pages::<wire::DescribeInstanceTypes>(&region, query, &Params::new(), usize::MAX, deadline).await
    }

    async fn offerings(&self, region: &str, deadline: Instant) -> Result<Vec<String>, ProviderError> {
        let params: Params = vec![("LocationType".into(), "region".into())];
        let query = Query {
            action: "DescribeInstanceTypeOfferings",
            page_size: Some("1000"),
            what: "instance type offerings",
        };
        let offered = self
            .pages::<wire::DescribeInstanceTypeOfferings>(region, query, &params, usize::MAX, deadline)
            .await?;
        Ok(offered.into_iter().map(|o| o.instance_type).collect())
    }

    /// Every item of a paged `Describe*` call (`NextToken`), up to `limit` of them. A token that
    /// repeats, or more than `max_list_pages` pages, is an answer that never ends.
    pub(crate) async fn pages<P: wire::Page>(
        &self,
        region: &str,
        query: Query,
        params: &Params,
        limit: usize,
        deadline: Instant,
    ) -> Result<Vec<P::Item>, ProviderError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..self.settings().max_list_pages {
            let mut page_params = params.clone();
            if let Some(size) = query.page_size {
                page_params.push(("MaxResults".into(), size.into()));
            }
            if let Some(t) = &token {
                page_params.push(("NextToken".into(), t.clone()));
            }
            let page: P = self.client.call(region, query.action, &page_params, deadline).await?;
            let (mut got, next) = page.split();
            items.append(&mut got);
            if items.len() >= limit {
                items.truncate(limit);
                return Ok(items);
            }
            match next.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                Some(_) => return Err(endless(query.what)),
                None => return Ok(items),
            }
        }
        Err(endless(query.what))
    }

    /// Every instance of one region that passes `filters`, all pages.
    pub(crate) async fn list_region(
        &self,
        region: &str,
        filters: &Params,
        deadline: Instant,
    ) -> Result<Vec<(String, wire::Instance)>, ProviderError> {
        // EC2 refuses MaxResults next to InstanceId (a look-up is one page anyway).
        let lookup = filters.iter().any(|(k, _)| k.starts_with("InstanceId."));
        let query = Query {
            action: "DescribeInstances",
            page_size: (!lookup).then_some(PAGE_SIZE),
            what: "instance list",
        };
        let instances =
            self.pages::<wire::DescribeInstances>(region, query, filters, usize::MAX, deadline).await?;
        Ok(instances.into_iter().map(|i| (region.to_owned(), i)).collect())
    }

    /// `list_region` over several regions at once; each instance once.
    async fn list_regions(
        &self,
        regions: &[String],
        filters: &Params,
    ) -> Result<Vec<Instance>, ProviderError> {
        let deadline = self.client.deadline();
        let lists = join_all(regions.iter().map(|r| self.list_region(r, filters, deadline))).await;
        let mut unique = BTreeMap::new();
        for list in lists {
            for (region, instance) in list? {
                unique.insert(instance.instance_id.clone(), (region, instance));
            }
        }
        let instances = self.to_instances(unique.into_values().collect(), deadline).await;
        self.remember(&instances);
        Ok(instances)
    }

    /// Finds an instance: in the region it was last seen in, else in every region.
    async fn find(&self, id: &InstanceId) -> Result<Instance, ProviderError> {
        let (region, raw) = self.find_raw(id).await?;
        let mut list = self.to_instances(vec![(region, raw)], self.client.deadline()).await;
        let instance = list.pop().ok_or_else(|| not_found(id))?;
        self.remember(std::slice::from_ref(&instance));
        Ok(instance)
    }

    /// An instance as EC2 describes it, with its region: in the region it was last seen in,
    /// else in every region.
    pub(crate) async fn find_raw(&self, id: &InstanceId) -> Result<(String, wire::Instance), ProviderError> {
        if !is_instance_id(&id.0) {
            return Err(not_found(id));
        }
        let params: Params = vec![("InstanceId.1".into(), id.0.clone())];
        let regions = match self.home(id) {
            Some(home) => vec![home],
            None => self.settings().regions.clone(),
        };
        let deadline = self.client.deadline();
        let lookups = join_all(regions.iter().map(|r| self.list_region(r, &params, deadline))).await;
        for found in lookups {
            match found {
                Ok(list) => {
                    if let Some(found) = list.into_iter().find(|(_, i)| i.instance_id == id.0) {
                        self.homes
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(id.0.clone(), found.0.clone());
                        return Ok(found);
                    }
                }
                Err(ProviderError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(not_found(id))
    }

    fn run_params(
        &self,
        request: &CreateInstances,
        name: &str,
        index: usize,
    ) -> Result<Params, ProviderError> {
        let mut params: Params = vec![
            ("ImageId".into(), request.image.clone()),
            ("InstanceType".into(), request.instance_type.clone()),
            ("MinCount".into(), "1".into()),
            ("MaxCount".into(), "1".into()),
            // EC2 makes one reservation per token; moto ignores it, so the tag below is what
            // Nephele relies on.
            ("ClientToken".into(), format!("{}-{index}", request.operation_id)),
            ("TagSpecification.1.ResourceType".into(), "instance".into()),
            ("TagSpecification.1.Tag.1.Key".into(), "Name".into()),
            ("TagSpecification.1.Tag.1.Value".into(), name.to_owned()),
            (
                "TagSpecification.1.Tag.2.Key".into(),
                format!("{OPERATION_TAG_PREFIX}{}", request.operation_id),
            ),
            ("TagSpecification.1.Tag.2.Value".into(), String::new()),
        ];
        for (n, tag) in request.tags.iter().enumerate() {
            let (key, value) = mapping::tag_pair(tag);
            params.push((format!("TagSpecification.1.Tag.{}.Key", n + 3), key.to_owned()));
            params.push((format!("TagSpecification.1.Tag.{}.Value", n + 3), value.to_owned()));
        }
        match request.ssh_keys.as_slice() {
            [] => {}
            [key] => params.push(("KeyName".into(), key.clone())),
            _ => return Err(invalid("ssh_keys", "EC2 takes one key pair per instance")),
        }
        if let Some(data) = &request.user_data {
            params.push(("UserData".into(), base64::engine::general_purpose::STANDARD.encode(data)));
        }
        if request.monitoring {
            params.push(("Monitoring.Enabled".into(), "true".into()));
        }
        if let Some(subnet) = &request.vpc_uuid {
            params.push(("SubnetId".into(), subnet.clone()));
        }
        Ok(params)
    }

    fn check_create(&self, request: &CreateInstances) -> Result<(), ProviderError> {
        if !self.settings().regions.contains(&request.region) {
            return Err(invalid(
                "region",
                format!(
                    "{} is not one of this provider's regions ({})",
                    request.region,
                    self.settings().regions.join(", ")
                ),
            ));
        }
        if request.names.is_empty() || request.names.len() > MAX_NAMES_PER_CREATE {
            return Err(invalid("names", format!("1 to {MAX_NAMES_PER_CREATE} instances per create")));
        }
        if request.ssh_keys.len() > 1 {
            return Err(invalid("ssh_keys", "EC2 takes one key pair per instance"));
        }
        if request.backups {
            return Err(invalid("backups", "EC2 has no instance backup plan; use EBS snapshots"));
        }
        if request.ipv6 {
            return Err(invalid(
                "ipv6",
                "IPv6 addresses come from the subnet on EC2; not supported by this provider yet",
            ));
        }
        Ok(())
    }
}

/// One paged `Describe*` call: its action, page size (`MaxResults`, where EC2 allows it) and
/// what it lists, for errors.
#[derive(Clone, Copy)]
pub(crate) struct Query {
    pub action: &'static str,
    pub page_size: Option<&'static str>,
    pub what: &'static str,
}

fn shape(t: &wire::InstanceTypeInfo) -> Shape {
    Shape {
        vcpus: t.v_cpu_info.as_ref().map(|v| v.default_v_cpus).unwrap_or(0),
        memory_mib: t.memory_info.as_ref().map(|m| m.size_in_mi_b).unwrap_or(0),
        disk_gib: t.instance_storage_info.as_ref().and_then(|s| s.total_size_in_g_b).unwrap_or(0),
    }
}

fn endless(what: &str) -> ProviderError {
    ProviderError::InvalidResponse {
        message: format!("the {what} does not end (a page token repeats, or too many pages)"),
        detail: UpstreamDetail::default(),
    }
}

/// A power action's id: EC2 keeps no record of one, so the id carries what is needed to follow
/// it (`region/instance/action/started-unix-ms`).
fn action_id(region: &str, id: &InstanceId, action: PowerAction, started: OffsetDateTime) -> ActionId {
    let millis = started.unix_timestamp_nanos() / 1_000_000;
    ActionId(format!("{region}/{id}/{}/{millis}", action.as_str()))
}

fn parse_action_id(id: &ActionId) -> Option<(String, InstanceId, PowerAction, OffsetDateTime)> {
    let mut parts = id.0.split('/');
    let region = parts.next()?.to_owned();
    let instance = InstanceId(parts.next()?.to_owned());
    let action: PowerAction = parts.next()?.parse().ok()?;
    let millis: i128 = parts.next()?.parse().ok()?;
    let started = OffsetDateTime::from_unix_timestamp_nanos(millis.checked_mul(1_000_000)?).ok()?;
    if parts.next().is_some() || !is_instance_id(&instance.0) {
        return None;
    }
    Some((region, instance, action, started))
}

/// Where an action stands, from the instance's state.
fn progress(action: PowerAction, instance: &Instance) -> ActionStatus {
    match (instance.status, action.resulting_status()) {
        (InstanceStatus::Archived, _) => ActionStatus::Errored,
        (now, wanted) if now == wanted && instance.provider_status != "stopping" => ActionStatus::Completed,
        _ => ActionStatus::InProgress,
    }
}

#[async_trait]
impl Provider for Aws {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "aws".to_owned(),
            display_name: "Amazon EC2".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            default_region: Some(self.settings().default_region.clone()),
            capabilities: ["instances", "power_actions", "regions", "instance_types", "images", "tags"]
                .into_iter()
                .chain(ResourceKind::ALL.map(ResourceKind::capability))
                .map(str::to_owned)
                .collect(),
            // One RunInstances a name, each tagged: a create of 50 is 50 calls.
            max_instances_per_create: 50,
        }
    }

    async fn ping(&self) -> Result<(), ProviderError> {
        let region = self.settings().default_region.clone();
        let params: Params = vec![("RegionName.1".into(), region.clone())];
        self.client
            .call::<wire::DescribeRegions>(&region, "DescribeRegions", &params, self.client.deadline())
            .await?;
        Ok(())
    }

    fn counters(&self) -> BTreeMap<&'static str, u64> {
        self.client.counters()
    }

    async fn billing_policy(
        &self,
        _: &InstanceType,
        _: OffsetDateTime,
    ) -> Result<BillingPolicy, ProviderError> {
        Ok(prices::billing_policy())
    }

    async fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<Instance>, ProviderError> {
        let regions: Vec<String> = match &filter.region {
            Some(r) if self.settings().regions.contains(r) => vec![r.clone()],
            Some(_) => return Ok(Vec::new()),
            None => self.settings().regions.clone(),
        };
        let mut filters = Params::new();
        if let Some(status) = filter.status {
            let states = mapping::states(status);
            if states.is_empty() {
                return Ok(Vec::new());
            }
            push_filter(&mut filters, "instance-state-name", states);
        }
        if let Some(name) = &filter.name {
            push_filter(&mut filters, "tag:Name", &[name]);
        }
        if let Some(tag) = &filter.tag {
            match mapping::tag_pair(tag) {
                (key, "") => push_filter(&mut filters, "tag-key", &[key]),
                (key, value) => push_filter(&mut filters, &format!("tag:{key}"), &[value]),
            }
        }
        let mut instances = self.list_regions(&regions, &filters).await?;
        // EC2 filtered already; this keeps the answer to Nephele's meaning of the filter.
        instances.retain(|i| filter.matches(i));
        Ok(instances)
    }

    async fn get_instance(&self, id: &InstanceId) -> Result<Instance, ProviderError> {
        self.find(id).await
    }

    async fn create_instances(&self, request: &CreateInstances) -> Result<Vec<Instance>, ProviderError> {
        self.check_create(request)?;
        // A key given by its fingerprint is sent as its name (EC2's `KeyName`).
        let resolved;
        let request = if request.ssh_keys.is_empty() {
            request
        } else {
            let mut with_names = request.clone();
            with_names.ssh_keys = self.key_names(&request.region, &request.ssh_keys).await?;
            resolved = with_names;
            &resolved
        };
        // What an earlier attempt with this operation id already made is not made again.
        let mut made = self.find_instances_by_operation(request.operation_id).await?;
        let deadline = self.client.deadline();
        for (index, name) in request.names.iter().enumerate() {
            if made.iter().any(|i| i.name == name.as_str()) {
                continue;
            }
            let params = self.run_params(request, name.as_str(), index)?;
            let answer: wire::RunInstances =
                self.client.call(&request.region, "RunInstances", &params, deadline).await?;
            let raw = answer.instances_set.items.into_iter().map(|i| (request.region.clone(), i)).collect();
            let new = self.to_instances(raw, deadline).await;
            self.remember(&new);
            made.extend(new);
        }
        let order =
            |i: &Instance| request.names.iter().position(|n| n.as_str() == i.name).unwrap_or(usize::MAX);
        made.sort_by_key(order);
        Ok(made)
    }

    async fn find_instances_by_operation(
        &self,
        operation_id: OperationId,
    ) -> Result<Vec<Instance>, ProviderError> {
        let mut filters = Params::new();
        push_filter(&mut filters, "tag-key", &[&format!("{OPERATION_TAG_PREFIX}{operation_id}")]);
        let regions = self.settings().regions.clone();
        let mut found = self.list_regions(&regions, &filters).await?;
        // A terminated instance was made all the same, but is not the one to report when a
        // live one carries the name.
        found.sort_by_key(|i| i.status == InstanceStatus::Archived);
        let mut seen = std::collections::HashSet::new();
        found.retain(|i| seen.insert(i.name.clone()));
        Ok(found)
    }

    async fn delete_instance(&self, id: &InstanceId, _: OperationId) -> Result<(), ProviderError> {
        let instance = self.find(id).await?;
        if instance.provider_status == "terminated" {
            return Ok(());
        }
        let params: Params = vec![("InstanceId.1".into(), id.0.clone())];
        self.client
            .call::<IgnoredAny>(&instance.region, "TerminateInstances", &params, self.client.deadline())
            .await?;
        Ok(())
    }

    async fn power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        _: OperationId,
    ) -> Result<ProviderAction, ProviderError> {
        let instance = self.find(id).await?;
        let (call, extra): (&str, Option<(&str, &str)>) = match action {
            PowerAction::PowerOn => ("StartInstances", None),
            PowerAction::PowerOff => ("StopInstances", Some(("Force", "true"))),
            PowerAction::Shutdown => ("StopInstances", None),
            // EC2 has no hard reset: a power cycle is a reboot.
            PowerAction::Reboot | PowerAction::PowerCycle => ("RebootInstances", None),
        };
        let mut params: Params = vec![("InstanceId.1".into(), id.0.clone())];
        if let Some((key, value)) = extra {
            params.push((key.into(), value.into()));
        }
        let started = OffsetDateTime::now_utc();
        let deadline = self.client.deadline();
        // The answers (state changes, or `<return>true</return>`) say nothing the next read
        // does not.
        self.client.call::<IgnoredAny>(&instance.region, call, &params, deadline).await?;
        let status =
            if call == "RebootInstances" { ActionStatus::Completed } else { ActionStatus::InProgress };
        Ok(ProviderAction {
            id: action_id(&instance.region, id, action, started),
            kind: action.as_str().to_owned(),
            status,
            instance_id: Some(id.clone()),
            started_at: Some(started),
            completed_at: (status == ActionStatus::Completed).then_some(started),
        })
    }

    /// EC2 keeps no record of actions: an instance already in (or on its way to) the state the
    /// action leads to is taken as the action done, so a start or stop is not sent twice. A
    /// reboot leaves no trace, and is answered `None` (sent again).
    async fn find_power_action(
        &self,
        id: &InstanceId,
        action: PowerAction,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderAction>, ProviderError> {
        if matches!(action, PowerAction::Reboot | PowerAction::PowerCycle) {
            return Ok(None);
        }
        let instance = self.find(id).await?;
        let heading = match action {
            PowerAction::PowerOn => matches!(instance.provider_status.as_str(), "pending" | "running"),
            _ => matches!(instance.provider_status.as_str(), "stopping" | "stopped"),
        };
        Ok(heading.then(|| {
            let status = progress(action, &instance);
            ProviderAction {
                id: action_id(&instance.region, id, action, since),
                kind: action.as_str().to_owned(),
                status,
                instance_id: Some(id.clone()),
                started_at: Some(since),
                completed_at: None,
            }
        }))
    }

    async fn get_action(&self, id: &ActionId) -> Result<ProviderAction, ProviderError> {
        let Some((_, instance_id, action, started)) = parse_action_id(id) else {
            return Err(ProviderError::NotFound {
                message: format!("action {id} not found"),
                detail: Default::default(),
            });
        };
        let instance = self.find(&instance_id).await?;
        let status = progress(action, &instance);
        Ok(ProviderAction {
            id: id.clone(),
            kind: action.as_str().to_owned(),
            status,
            instance_id: Some(instance_id),
            started_at: Some(started),
            completed_at: (status == ActionStatus::Completed).then(OffsetDateTime::now_utc),
        })
    }

    async fn list_regions(&self) -> Result<Vec<Region>, ProviderError> {
        let deadline = self.client.deadline();
        let home = self.settings().default_region.clone();
        let answer: wire::DescribeRegions =
            self.client.call(&home, "DescribeRegions", &Params::new(), deadline).await?;
        let configured = &self.settings().regions;
        let offered = join_all(configured.iter().map(|r| self.offerings(r, deadline))).await;
        let mut offerings = BTreeMap::new();
        for (region, types) in configured.iter().zip(offered) {
            let mut types = types?;
            types.sort();
            offerings.insert(region.clone(), types);
        }
        let mut regions: Vec<Region> = answer
            .region_info
            .items
            .into_iter()
            .map(|r| {
                let instance_types = offerings.get(&r.region_name).cloned().unwrap_or_default();
                let opted_out = r.opt_in_status.as_deref() == Some("not-opted-in");
                Region {
                    name: mapping::region_name(&r.region_name),
                    // A region this provider is not configured for cannot be used through it.
                    available: configured.contains(&r.region_name) && !opted_out,
                    features: Vec::new(),
                    instance_types,
                    id: r.region_name,
                }
            })
            .collect();
        regions.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(regions)
    }

    async fn list_instance_types(&self) -> Result<Vec<InstanceType>, ProviderError> {
        let deadline = self.client.deadline();
        let configured = &self.settings().regions;
        let described = self.describe_types(deadline).await?;
        let offered = join_all(configured.iter().map(|r| self.offerings(r, deadline))).await;
        let mut regions_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (region, types) in configured.iter().zip(offered) {
            for t in types? {
                regions_of.entry(t).or_default().push(region.clone());
            }
        }
        let home = &self.settings().default_region;
        let mut types: Vec<InstanceType> = described
            .into_iter()
            .map(|t| {
                let prices = PRICES.regional(&t.instance_type)?;
                let here = prices.get(home).copied();
                let gpus = t
                    .gpu_info
                    .as_ref()
                    .map(|g| g.gpus.items.iter().filter_map(|g| g.count).sum())
                    .unwrap_or(0);
                Ok(InstanceType {
                    description: if t.current_generation == Some(false) {
                        "Previous generation"
                    } else {
                        "Current generation"
                    }
                    .to_owned(),
                    vcpus: shape(&t).vcpus,
                    memory_mib: shape(&t).memory_mib,
                    disk_gib: shape(&t).disk_gib,
                    transfer_tib: Default::default(),
                    price_hourly: here.map(|p| p.hourly).unwrap_or_default(),
                    price_monthly: here.map(|p| p.monthly).unwrap_or_default(),
                    currency: "USD".to_owned(),
                    regions: regions_of.get(&t.instance_type).cloned().unwrap_or_default(),
                    available: regions_of.contains_key(&t.instance_type),
                    gpus,
                    regional_prices: Some(prices),
                    id: t.instance_type,
                })
            })
            .collect::<Result<_, ProviderError>>()?;
        types.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(types)
    }

    async fn list_resources(&self, kind: ResourceKind) -> Result<Vec<Resource>, ProviderError> {
        self.list_resources_of(kind).await
    }

    async fn get_resource(&self, kind: ResourceKind, id: &ResourceId) -> Result<Resource, ProviderError> {
        self.get_resource_of(kind, id).await
    }

    /// Exactly once by the tag `nephele-req-<operation id>` on what a create makes (key pairs:
    /// by name and tag); see `resources`.
    async fn create_resource(&self, request: &CreateResource) -> Result<Resource, ProviderError> {
        self.create_resource_of(request).await
    }

    async fn delete_resource(
        &self,
        kind: ResourceKind,
        id: &ResourceId,
        _: OperationId,
    ) -> Result<(), ProviderError> {
        self.delete_resource_of(kind, id).await
    }

    async fn resource_action(
        &self,
        action: &ResourceAction,
        _: OperationId,
    ) -> Result<ActionStarted, ProviderError> {
        self.act_on_resource(action).await
    }

    async fn vpc_members(&self, vpc_id: &ResourceId) -> Result<Vec<VpcMember>, ProviderError> {
        self.vpc_members_of(vpc_id).await
    }

    async fn resource_prices(&self) -> Result<Vec<ResourcePrice>, ProviderError> {
        prices::resource_prices()
    }

    async fn list_images(&self) -> Result<Vec<Image>, ProviderError> {
        let deadline = self.client.deadline();
        let home = self.settings().default_region.clone();
        let mut params: Params = vec![("Owner.1".into(), "self".into())];
        for (n, owner) in self.settings().image_owners.iter().enumerate() {
            params.push((format!("Owner.{}", n + 2), owner.clone()));
        }
        push_filter(&mut params, "state", &["available"]);
        let query = Query { action: "DescribeImages", page_size: Some("1000"), what: "image list" };
        let found =
            self.pages::<wire::DescribeImages>(&home, query, &params, MAX_IMAGES + 1, deadline).await?;
        if found.len() > MAX_IMAGES {
            tracing::warn!(kept = MAX_IMAGES, "more images than the catalogue keeps; the rest are left out");
        }
        Ok(found
            .into_iter()
            .take(MAX_IMAGES)
            .map(|i| Image {
                slug: None,
                name: i.name.clone().unwrap_or_else(|| i.image_id.clone()),
                distribution: i.platform_details.unwrap_or_else(|| "Linux/UNIX".to_owned()),
                public: i.is_public.unwrap_or(false),
                kind: i.image_type.unwrap_or_else(|| "machine".to_owned()),
                regions: vec![home.clone()],
                min_disk_gib: None,
                status: i.image_state.unwrap_or_else(|| "available".to_owned()),
                id: i.image_id,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_ids_round_trip() {
        let started = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time");
        let id =
            action_id("eu-west-1", &InstanceId("i-0123456789abcdef0".into()), PowerAction::PowerOff, started);
        let (region, instance, action, at) = parse_action_id(&id).expect("parses");
        assert_eq!(
            (region.as_str(), instance.0.as_str(), action, at),
            ("eu-west-1", "i-0123456789abcdef0", PowerAction::PowerOff, started)
        );
        assert!(parse_action_id(&ActionId("eu-west-1/i-1/power_off".into())).is_none());
        let huge = format!("eu-west-1/i-0123456789abcdef0/power_off/{}", i128::MAX);
        assert!(parse_action_id(&ActionId(huge)).is_none(), "a time past the calendar is no action");
    }

    #[test]
    fn filters_are_numbered() {
        let mut params = Params::new();
        push_filter(&mut params, "instance-state-name", &["stopping", "stopped"]);
        push_filter(&mut params, "tag:Name", &["web"]);
        assert_eq!(params[0], ("Filter.1.Name".into(), "instance-state-name".into()));
        assert_eq!(params[2], ("Filter.1.Value.2".into(), "stopped".into()));
        assert_eq!(params[3], ("Filter.2.Name".into(), "tag:Name".into()));
    }
}
