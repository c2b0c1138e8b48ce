//! The waste report: what costs money and serves nothing, across every account the caller may
//! use, read from the inventory's copies (never from a cloud while a copy exists).
//!
//! What counts as waste, by kind:
//! - a volume attached to nothing (both clouds bill a volume whether or not it is attached);
//! - a reserved IP (an Elastic IP on EC2) assigned to nothing;
//! - a snapshot whose source (the volume or instance it was taken of) is gone, or whose source
//!   volume is itself attached to nothing (what a deleted server left behind: its idle volume and
//!   that volume's snapshots together);
//! - an instance powered off on a cloud that still bills it (DigitalOcean bills a stopped
//!   droplet; EC2 does not bill a stopped instance's compute).
//!
//! Each item carries its account, its age, and what it costs a month as it stands; the totals
//! are per currency, never added across currencies.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use nephele_core::pricing::{self, HOURS_PER_MONTH};
use nephele_core::{ErrorCode, InstanceStatus, Resource, ResourceKind, SnapshotSourceKind};
use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::Engine;
use crate::costs::{Billed, billed, resource_assumptions};
use crate::failure::ProviderIssue;
use crate::inventory::{Freshness, Snapshot};

/// What kind of thing is wasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WasteKind {
    Volume,
    Snapshot,
    ReservedIp,
    Instance,
}

impl WasteKind {
    pub const ALL: [Self; 4] = [Self::Volume, Self::Snapshot, Self::ReservedIp, Self::Instance];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::Snapshot => "snapshot",
            Self::ReservedIp => "reserved_ip",
            Self::Instance => "instance",
        }
    }
}

impl fmt::Display for WasteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WasteKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("must be one of volume, snapshot, reserved_ip or instance, got {s:?}"))
    }
}

/// One thing that costs money and serves nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct WasteItem {
    pub account: String,
    pub kind: WasteKind,
    pub id: String,
    pub name: String,
    pub region: Option<String>,
    /// Why it counts as waste, in words.
    pub reason: String,
    pub created_at: Option<OffsetDateTime>,
    /// Seconds since it was created, when the cloud says when.
    pub age_secs: Option<i64>,
    /// What it costs a month as it stands.
    pub monthly: Decimal,
    pub currency: String,
}

/// The report: items (most expensive first), totals per currency, what could not be read.
#[derive(Debug, Default)]
pub struct WasteReport {
    pub items: Vec<WasteItem>,
    pub totals: BTreeMap<String, Decimal>,
    pub issues: Vec<ProviderIssue>,
    pub assumptions: Vec<String>,
}

/// Which items a report keeps.
#[derive(Debug, Clone, Default)]
pub struct WasteFilter {
    pub account: Option<String>,
    pub kind: Option<WasteKind>,
}

/// The waste of every account `may_use` admits (and `filter` keeps), at `now`.
pub async fn report(
    engine: &Engine,
    may_use: impl Fn(&str) -> bool,
    filter: &WasteFilter,
    now: OffsetDateTime,
) -> WasteReport {
    let mut report = WasteReport::default();
    let accounts = engine
        .providers
        .all()
        .filter(|(name, _)| may_use(name))
        .filter(|(name, _)| filter.account.as_deref().is_none_or(|a| a == name.as_str()));
    for (name, provider) in accounts {
        let name = &name;
        let snapshot = match engine.inventory.snapshot(name, Freshness::Cached).await {
            Ok(snapshot) => snapshot,
            Err(e) => {
                report.issues.push(ProviderIssue::from_read(name, &e));
                continue;
            }
        };
        if let Some(e) = &snapshot.error {
            report.issues.push(ProviderIssue::from_read(name, e));
        }
        let mut items = idle_resources(name, &snapshot, now, &mut report);
        if filter.kind.is_none_or(|k| k == WasteKind::Instance) {
            items.extend(
                stopped_but_billed(engine, name, provider.as_ref(), &snapshot, now, &mut report).await,
            );
        }
        report.items.extend(items.into_iter().filter(|i| filter.kind.is_none_or(|k| k == i.kind)));
    }
    report.items.sort_by(|a, b| {
        b.monthly
            .cmp(&a.monthly)
            .then_with(|| (&a.account, &a.kind, &a.id).cmp(&(&b.account, &b.kind, &b.id)))
    });
    for item in &report.items {
        let total = report.totals.entry(item.currency.clone()).or_default();
        *total = total.saturating_add(item.monthly);
    }
    report
}

/// The volumes, reserved IPs and snapshots of `snapshot` that serve nothing, priced.
fn idle_resources(
    account: &str,
    snapshot: &Snapshot,
    now: OffsetDateTime,
    report: &mut WasteReport,
) -> Vec<WasteItem> {
    let volumes: HashSet<&str> = snapshot
        .resources_of(ResourceKind::Volume)
        .map(|list| list.iter().map(|r| r.id().0.as_str()).collect())
        .unwrap_or_default();
    let idle_volumes: HashSet<&str> = snapshot
        .resources_of(ResourceKind::Volume)
        .map(|list| {
            list.iter()
                .filter(|r| matches!(r, Resource::Volume(v) if v.attached_to.is_empty()))
                .map(|r| r.id().0.as_str())
                .collect()
        })
        .unwrap_or_default();
    let volumes_known = snapshot.resources_of(ResourceKind::Volume).is_some();
    let instances: HashSet<&str> = snapshot.instances.iter().map(|i| i.id.0.as_str()).collect();
    let mut items = Vec::new();
    // Each price's assumptions are written once, not once per item.
    let mut said_for: Vec<*const nephele_core::pricing::ResourcePrice> = Vec::new();
    for resource in snapshot.resources.values().flat_map(|list| list.iter()) {
        let reason = match resource {
            Resource::Volume(v) if v.attached_to.is_empty() => "attached to no instance".to_owned(),
            Resource::ReservedIp(ip) if ip.assigned_to.is_none() => "assigned to no instance".to_owned(),
            Resource::Snapshot(s) => {
                let source = s.source_id.as_str();
                match s.source_kind {
                    SnapshotSourceKind::Volume if volumes_known && !volumes.contains(source) => {
                        format!("its source volume {source} is gone")
                    }
                    SnapshotSourceKind::Volume if idle_volumes.contains(source) => {
                        format!("its source volume {source} is attached to no instance")
                    }
                    SnapshotSourceKind::Instance if !instances.contains(source) => {
                        format!("its source instance {source} is gone")
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        let kind = match resource.kind() {
            ResourceKind::Volume => WasteKind::Volume,
            ResourceKind::ReservedIp => WasteKind::ReservedIp,
            _ => WasteKind::Snapshot,
        };
        let (monthly, currency) = match pricing::hourly_price(resource, &snapshot.resource_prices) {
            Ok(Some((hourly, price))) => {
                if !said_for.contains(&std::ptr::from_ref(price)) {
                    said_for.push(std::ptr::from_ref(price));
                    for said in resource_assumptions(price) {
                        if !report.assumptions.contains(&said) {
                            report.assumptions.push(said);
                        }
                    }
                }
                (hourly.saturating_mul(HOURS_PER_MONTH), price.currency.clone())
            }
            // Free where it stands (an EC2 cloud that bills nothing for it): not waste.
            Ok(None) => continue,
            Err(message) => {
                report.issues.push(ProviderIssue {
                    provider: account.to_owned(),
                    code: ErrorCode::NoPrice,
                    message,
                    instance: None,
                    upstream: None,
                });
                continue;
            }
        };
        if monthly.is_zero() {
            continue;
        }
        let created_at = resource.created_at();
        items.push(WasteItem {
            account: account.to_owned(),
            kind,
            id: resource.id().0.clone(),
            name: resource.name(),
            region: resource.region().map(str::to_owned),
            reason,
            created_at,
            age_secs: created_at.map(|at| (now - at).whole_seconds().max(0)),
            monthly: nephele_core::cost::to_cents(monthly),
            currency,
        });
    }
    items
}

/// Instances powered off on a cloud that bills them all the same.
async fn stopped_but_billed(
    engine: &Engine,
    account: &str,
    provider: &dyn nephele_core::Provider,
    snapshot: &Snapshot,
    now: OffsetDateTime,
    report: &mut WasteReport,
) -> Vec<WasteItem> {
    let stopped: Vec<_> = snapshot.instances.iter().filter(|i| i.status == InstanceStatus::Stopped).collect();
    if stopped.is_empty() {
        return Vec::new();
    }
    let types = match engine.catalog.instance_types(account, provider).await {
        Ok(types) => types,
        Err(e) => {
            report.issues.push(ProviderIssue::from_provider(account, &e));
            return Vec::new();
        }
    };
    let mut items = Vec::new();
    // One answer per type and region: a fleet of stopped droplets asks the rule once for each.
    let mut known: std::collections::HashMap<(&str, &str), Option<(Decimal, String)>> =
        std::collections::HashMap::new();
    for instance in stopped {
        let key = (instance.instance_type.as_str(), instance.region.as_str());
        let billed_at = match known.get(&key) {
            Some(known) => Ok(known.clone()),
            None => match billed(provider, instance, &types, now).await {
                Ok(Billed::At(price)) => Ok(Some((price.price_monthly, price.currency.clone()))),
                Ok(Billed::Free | Billed::NoPrice) => Ok(None),
                Err(e) => Err(e),
            },
        };
        let billed_at = match billed_at {
            Ok(billed_at) => {
                known.insert(key, billed_at.clone());
                billed_at
            }
            Err(e) => {
                report.issues.push(ProviderIssue::from_provider(account, &e));
                continue;
            }
        };
        let Some((monthly, currency)) = billed_at else { continue };
        items.push(WasteItem {
            account: account.to_owned(),
            kind: WasteKind::Instance,
            id: instance.id.0.clone(),
            name: instance.name.clone(),
            region: Some(instance.region.clone()),
            reason: "powered off, and billed all the same".to_owned(),
            created_at: Some(instance.created_at),
            age_secs: Some((now - instance.created_at).whole_seconds().max(0)),
            monthly: nephele_core::cost::to_cents(monthly),
            currency,
        });
    }
    items
}
