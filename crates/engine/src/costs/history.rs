//! Cost history: what every resource has cost, accrued from its lifetime in the inventory by the
//! estimator's rules ([`nephele_core::accrual`]) and recorded in hourly buckets, so that
//! `GET /api/v1/costs/history` answers from the store and never by replaying the world.
//!
//! Each recording of an account covers the span from its watermark (how far it is recorded) to
//! now, on the engine's [`crate::clock::Clock`]: every resource in the inventory accrues its
//! pieces (cut at each hour) at its price and policy, unless it is not billed (deleted, or
//! stopped on a cloud that bills only running compute). A resource seen for the first time
//! accrues also the part of this month before the last recording, from its `created_at`, marked
//! `estimated` (Nephele did not see it then). An instance with backups on accrues their share of
//! each piece with it (DigitalOcean shows only that backups are on: they are counted at the
//! plan a create gets by default, daily; see [`nephele_core::cost::BackupPlan::of_features`]). A resource that has left the inventory accrues to
//! the recording that notices (a delete made through Nephele is noticed at once; one made
//! elsewhere at the inventory's next refresh).
//!
//! The watermark moves by compare-and-set in the transaction that adds the buckets, so replicas
//! sharing a database never count one span twice. Recording never calls a cloud beyond the
//! billing policy of a type (in process for built-in providers; cached per type and month).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use nephele_core::accrual::{hourly_pieces, seconds_between};
use nephele_core::cost::month_start;
use nephele_core::{BillingPolicy, Instance, InstanceStatus, InstanceType, Provider, ProviderError};
use rust_decimal::Decimal;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::Engine;
use crate::store::StoreError;
use crate::store::spend::{Bucket, BucketKey, CostResource, Recording};

/// Resources accrued between two yields to the runtime.
pub const YIELD_EVERY: usize = 256;

/// `costs:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostsConfig {
    /// Seconds between two recordings of the cost history when nothing changed (a change in
    /// the inventory is recorded within a fraction of a second).
    #[serde(default = "default_record_interval")]
    pub record_interval_secs: u64,
    /// Days of cost history kept; older hours are deleted.
    #[serde(default = "default_retention_days")]
    pub history_retention_days: u64,
    /// A set clock (RFC 3339) for cost history and budgets, standing still until moved (tests
    /// and demos against a simulator on a set clock). Absent: the real UTC clock.
    #[serde(default)]
    pub clock: Option<String>,
}

fn default_record_interval() -> u64 {
    60
}

fn default_retention_days() -> u64 {
    400
}

impl Default for CostsConfig {
    fn default() -> Self {
        Self {
            record_interval_secs: default_record_interval(),
            history_retention_days: default_retention_days(),
            clock: None,
        }
    }
}

impl CostsConfig {
    /// The key at fault and why, if any.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.record_interval_secs == 0 {
            return Err(("costs.record_interval_secs", "must be at least 1".to_owned()));
        }
        if self.history_retention_days == 0 {
            return Err(("costs.history_retention_days", "must be at least 1".to_owned()));
        }
        if let Some(clock) = &self.clock {
            parse_clock(clock).map_err(|m| ("costs.clock", m))?;
        }
        Ok(())
    }
}

/// A set clock's starting time.
pub fn parse_clock(raw: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|_| "must be an RFC 3339 time such as 2026-03-01T00:00:00Z".to_owned())
}

/// Why a recording did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// An account's resources as the store holds them after the recording that wrote `.0`.
type Known = (i64, HashMap<String, CostResource>);

/// The recorder's memory between recordings: the last instances it saw of each account (to
/// accrue those that leave), and the billing policies it asked for.
#[derive(Default)]
pub struct RecorderMemory {
    last_seen: Mutex<HashMap<String, std::sync::Arc<Vec<Instance>>>>,
    /// What the store holds of each account's resources, as of the watermark this recorder wrote.
    known: Mutex<HashMap<String, Known>>,
    policies: Mutex<HashMap<(String, String, i64), BillingPolicy>>,
}

/// How one resource is billed now.
pub enum Rate {
    Billed(std::sync::Arc<InstanceType>),
    Free,
    NoPrice,
}

/// Milliseconds since the epoch.
pub fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The instant `ms` milliseconds after the epoch.
pub fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The tags of a resource as a bucket stores them: sorted, as a JSON array.
pub fn tags_key(tags: &[String]) -> String {
    let mut sorted = tags.to_vec();
    sorted.sort();
    sorted.dedup();
    serde_json::to_string(&sorted).unwrap_or_else(|_| "[]".to_owned())
}

impl RecorderMemory {
    /// The policy `provider` bills `price` by in the month starting at `month`.
    pub async fn policy(
        &self,
        account: &str,
        provider: &dyn Provider,
        price: &InstanceType,
        month: OffsetDateTime,
    ) -> Result<BillingPolicy, ProviderError> {
        let key = (account.to_owned(), price.id.clone(), ms(month));
        if let Some(policy) =
            self.policies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key)
        {
            return Ok(policy.clone());
        }
        let policy = provider.billing_policy(price, month).await?;
        let mut policies = self.policies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if policies.len() > 10_000 {
            policies.clear();
        }
        policies.insert(key, policy.clone());
        Ok(policy)
    }
}

/// Records `account`'s history up to `now`. Returns whether this recorder moved the watermark
/// (false: another replica recorded the span first, or the inventory has no copy yet).
pub async fn record_account(
    engine: &Engine,
    memory: &RecorderMemory,
    account: &str,
    provider: &dyn Provider,
    now: OffsetDateTime,
) -> Result<bool, RecordError> {
    let Some(snapshot) = engine.inventory.peek(account) else { return Ok(false) };
    let types = match engine.catalog.last_instance_types(account) {
        Some(types) => types,
        None => {
            let budget = engine.inventory.read_budget();
            match tokio::time::timeout(budget, engine.catalog.instance_types(account, provider)).await {
                Ok(types) => types?,
                Err(_) => return Ok(false),
            }
        }
    };
    let watermark = engine.store.cost_watermark(account).await?;
    let since = watermark.map(at_ms);
    if since.is_some_and(|w| w > now) {
        return Ok(false);
    }
    // What this recorder wrote last is what the store holds, unless another replica recorded
    // since (the watermark says): then it is read again.
    let remembered = memory
        .known
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(account)
        .filter(|(written, _)| Some(*written) == watermark);
    let mut known: HashMap<String, CostResource> = match remembered {
        Some((_, known)) => known,
        None => engine
            .store
            .cost_resources(account)
            .await?
            .into_iter()
            .filter(|r| r.kind == "instance")
            .map(|r| (r.resource_id.clone(), r))
            .collect(),
    };
    let provider_name = provider.info().name;
    let mut buckets: BTreeMap<(i64, usize, bool), Decimal> = BTreeMap::new();
    let mut groups: HashMap<(String, String, String, String), usize> = HashMap::new();
    let mut group_list: Vec<(String, String, String, String)> = Vec::new();
    let mut upserts = Vec::new();
    let this_month = month_start(now);

    // The inventory's copy is sorted by id: looked up in place, never copied.
    let current = snapshot.instances.clone();
    let holds = |list: &[Instance], id: &str| list.binary_search_by(|i| i.id.0.as_str().cmp(id)).is_ok();
    let previous = memory
        .last_seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(account)
        .cloned()
        .unwrap_or_default();
    let mut removals = Vec::new();
    // Gone since the last recording: accrued to now, at what was last seen of them.
    let mut accrue: Vec<(&Instance, bool)> = current.iter().map(|i| (i, true)).collect();
    for instance in previous.iter() {
        if !holds(&current, &instance.id.0) && known.contains_key(&instance.id.0) {
            accrue.push((instance, false));
        }
    }
    for id in known.keys().filter(|id| !holds(&current, id)) {
        removals.push(("instance".to_owned(), id.clone()));
    }
    let mut prices: HashMap<(&str, &str), Option<std::sync::Arc<InstanceType>>> = HashMap::new();

    for (n, (instance, present)) in accrue.into_iter().enumerate() {
        // A large fleet is long arithmetic: let the rest of the runtime (requests) run between.
        if n % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
        let id = instance.id.0.clone();
        let created = instance.created_at.to_offset(time::UtcOffset::UTC);
        let price_key = (instance.instance_type.as_str(), instance.region.as_str());
        let price = match prices.get(&price_key) {
            Some(known) => known.clone(),
            None => {
                let found = types.iter().find(|t| t.id == instance.instance_type);
                let priced = found.and_then(|t| t.priced_in(&instance.region)).map(std::sync::Arc::new);
                prices.insert(price_key, priced.clone());
                priced
            }
        };
        let rate = rate_of(provider, instance, price, now, memory, account).await?;
        let stored = known.get(&id);
        let mut resource = stored.cloned().unwrap_or_else(|| CostResource {
            account: account.to_owned(),
            kind: "instance".to_owned(),
            resource_id: id.clone(),
            created_ms: ms(created),
            first_seen_ms: ms(now),
            month_ms: ms(this_month),
            free_seconds: 0,
        });
        let mut spans: Vec<(OffsetDateTime, OffsetDateTime, bool)> = Vec::new();
        match (stored, since) {
            (Some(_), Some(w)) => spans.push((w.max(created), now, false)),
            (Some(_), None) => {}
            (None, _) if !present => {}
            (None, None) => spans.push((created.max(this_month), now, true)),
            (None, Some(w)) => {
                if created < w {
                    spans.push((created.max(this_month), w, true));
                }
                spans.push((w.max(created), now, false));
            }
        }
        let before = resource.clone();
        // The bucket attributes of this instance, interned once (not per hour).
        let group = match &rate {
            Rate::Billed(price) => {
                let attributes = (
                    instance.region.clone(),
                    instance.instance_type.clone(),
                    tags_key(&instance.tags),
                    price.currency.clone(),
                );
                let next = group_list.len();
                let index = *groups.entry(attributes.clone()).or_insert(next);
                if index == next {
                    group_list.push(attributes);
                }
                index
            }
            _ => usize::MAX,
        };
        let backups = nephele_core::cost::BackupPlan::of_features(&instance.features);
        let mut month_policy: Option<(i64, BillingPolicy)> = None;
        for (from, until, estimated) in spans {
            for (a, b) in hourly_pieces(from, until) {
                let month = month_start(a);
                if resource.month_ms != ms(month) {
                    resource.month_ms = ms(month);
                    resource.free_seconds = 0;
                }
                let length = seconds_between(a, b);
                match &rate {
                    Rate::Billed(price) => {
                        if month_policy.as_ref().is_none_or(|(m, _)| *m != ms(month)) {
                            month_policy =
                                Some((ms(month), memory.policy(account, provider, price, month).await?));
                        }
                        let Some((_, policy)) = &month_policy else { continue };
                        let in_month_since = created.max(month);
                        let already = seconds_between(in_month_since, a)
                            .saturating_sub(u64::try_from(resource.free_seconds).unwrap_or(0));
                        let compute = nephele_core::accrual::piece(
                            policy,
                            price.price_hourly,
                            price.price_monthly,
                            month_start(created) == month,
                            already,
                            length,
                        )
                        .map_err(ProviderError::from)?;
                        // Backups, as a share of the same piece (DigitalOcean's basic plans).
                        let amount = nephele_core::accrual::with_backups(compute, policy, backups)
                            .map_err(ProviderError::from)?;
                        let entry = buckets
                            .entry((ms(nephele_core::accrual::hour_start(a)), group, estimated))
                            .or_default();
                        *entry = entry.checked_add(amount).unwrap_or(*entry);
                    }
                    Rate::Free => {
                        resource.free_seconds =
                            resource.free_seconds.saturating_add(i64::try_from(length).unwrap_or(i64::MAX));
                    }
                    Rate::NoPrice => {}
                }
            }
        }
        if present && (stored.is_none() || resource != before) {
            upserts.push(resource);
        }
    }
    let recording = Recording {
        account: account.to_owned(),
        expected: watermark,
        until: ms(now),
        upserts,
        removals,
        buckets: buckets
            .into_iter()
            .filter(|(_, amount)| !amount.is_zero())
            .filter_map(|((hour_ms, group, estimated), amount)| {
                let (region, rtype, tags, currency) = group_list.get(group)?.clone();
                Some(Bucket {
                    key: BucketKey {
                        hour_ms,
                        account: account.to_owned(),
                        provider: provider_name.clone(),
                        kind: "instance".to_owned(),
                        region,
                        rtype,
                        tags,
                        currency,
                        estimated,
                    },
                    amount,
                })
            })
            .collect(),
    };
    let recorded = engine.store.record_costs(&recording).await?;
    if recorded {
        for (_, id) in &recording.removals {
            known.remove(id);
        }
        for resource in recording.upserts {
            known.insert(resource.resource_id.clone(), resource);
        }
        memory
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account.to_owned(), (recording.until, known));
        memory
            .last_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account.to_owned(), current);
    }
    Ok(recorded)
}

/// How `instance` is billed now: at its type's price in its region, or not at all (archived,
/// or stopped where stopped compute is free), or at no known price.
async fn rate_of(
    provider: &dyn Provider,
    instance: &Instance,
    price: Option<std::sync::Arc<InstanceType>>,
    now: OffsetDateTime,
    memory: &RecorderMemory,
    account: &str,
) -> Result<Rate, ProviderError> {
    if instance.status == InstanceStatus::Archived {
        return Ok(Rate::Free);
    }
    let Some(price) = price else { return Ok(Rate::NoPrice) };
    if instance.status == InstanceStatus::Stopped
        && memory.policy(account, provider, &price, month_start(now)).await?.free_when_stopped
    {
        return Ok(Rate::Free);
    }
    Ok(Rate::Billed(price))
}

/// How history is cut in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hour,
    Day,
    Month,
}

impl Step {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The start of the period `t` is in.
    pub fn floor(self, t: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Hour => nephele_core::accrual::hour_start(t),
            Self::Day => t.to_offset(time::UtcOffset::UTC).replace_time(time::Time::MIDNIGHT),
            Self::Month => month_start(t),
        }
    }

    /// The start of the period after the one starting at `start`.
    pub fn next(self, start: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Hour => start + time::Duration::HOUR,
            Self::Day => start + time::Duration::DAY,
            Self::Month => {
                nephele_core::accrual::next_month_start(start).unwrap_or(start + time::Duration::DAY)
            }
        }
    }
}

/// What history is grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Account,
    Provider,
    Region,
    Type,
    Kind,
    Tag(String),
}

impl GroupBy {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "account" => Some(Self::Account),
            "provider" => Some(Self::Provider),
            "region" => Some(Self::Region),
            "type" => Some(Self::Type),
            "kind" => Some(Self::Kind),
            other => other
                .strip_prefix("tag:")
                .filter(|k| !k.is_empty() && nephele_core::instance::is_valid_tag(k))
                .map(|k| Self::Tag(k.to_owned())),
        }
    }

    /// The group a bucket falls in; `None` for a tag the resource does not carry.
    pub fn of(&self, key: &BucketKey) -> Option<String> {
        match self {
            Self::Account => Some(key.account.clone()),
            Self::Provider => Some(key.provider.clone()),
            Self::Region => Some(key.region.clone()),
            Self::Type => Some(key.rtype.clone()),
            Self::Kind => Some(key.kind.clone()),
            Self::Tag(wanted) => tag_value(&key.tags, wanted),
        }
    }
}

/// The value of tag `key` among `tags` (a JSON array of `key:value` or bare `key` tags): the
/// part after the first `:`, or the empty string for a bare tag; the first in sorted order.
pub fn tag_value(tags: &str, key: &str) -> Option<String> {
    let tags: Vec<String> = serde_json::from_str(tags).unwrap_or_default();
    tags.iter().find_map(|t| match t.split_once(':') {
        Some((k, v)) if k == key => Some(v.to_owned()),
        None if t == key => Some(String::new()),
        _ => None,
    })
}

/// One row of history: a period, a group and a currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// `None`: resources without the tag grouped by.
    pub group: Option<String>,
    pub currency: String,
    /// Exact.
    pub amount: Decimal,
    /// The part of `amount` that was inferred (spans before Nephele first saw a resource).
    pub estimated_amount: Decimal,
}

/// The most periods one answer may cover.
pub const MAX_PERIODS: usize = 10_000;

/// The history in `[from, to)` cut by `step`, grouped, from the store: one row per period,
/// group and currency that cost anything; `admit` says which accounts the caller may see.
pub async fn history(
    engine: &Engine,
    from: OffsetDateTime,
    to: OffsetDateTime,
    step: Step,
    group_by: &GroupBy,
    admit: impl Fn(&str) -> bool,
) -> Result<Vec<HistoryRow>, StoreError> {
    let buckets = engine.store.cost_buckets(ms(from), ms(to)).await?;
    let mut rows: BTreeMap<(i64, Option<String>, String), (Decimal, Decimal)> = BTreeMap::new();
    for bucket in buckets.iter().filter(|b| admit(&b.key.account)) {
        let start = step.floor(at_ms(bucket.key.hour_ms));
        let group = group_by.of(&bucket.key);
        let entry = rows.entry((ms(start), group, bucket.key.currency.clone())).or_default();
        entry.0 = entry.0.checked_add(bucket.amount).unwrap_or(entry.0);
        if bucket.key.estimated {
            entry.1 = entry.1.checked_add(bucket.amount).unwrap_or(entry.1);
        }
    }
    Ok(rows
        .into_iter()
        .map(|((start, group, currency), (amount, estimated_amount))| {
            let start = at_ms(start);
            HistoryRow { start, end: step.next(start), group, currency, amount, estimated_amount }
        })
        .collect())
}
