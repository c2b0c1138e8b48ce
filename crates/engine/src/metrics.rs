//! `/metrics` in the Prometheus/OpenMetrics text format, written by `prometheus-client`.
//!
//! What is counted as it happens lives in families kept between scrapes: HTTP requests by route
//! template, method and status with a latency histogram (app state), and every provider call by
//! operation and outcome with its latency ([`ProviderCallMetrics`], in the provider registry).
//! The rest is read at each scrape into a fresh registry: each provider's own counters and
//! gauges (a plugin answers over its socket), the inventory's size, age, hits and misses, the
//! run-rate, operations by state, failed authentication. A removed account's series go with it:
//! its call families are forgotten ([`ProviderCallMetrics::forget`]) and the rest is read only
//! for the accounts served now.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use nephele_core::{Instance, InstanceType, Provider};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::Engine;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    provider: String,
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    provider: String,
    /// The `Provider` method (`list_instances`, `create_instances`, ...).
    operation: String,
    /// `ok`, or the failure's code (`not_found`, `rate_limited`, `unavailable`, ...).
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallRoute {
    provider: String,
    operation: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The (operation, outcome) label pairs made for each provider.
type MadeSeries = HashMap<String, HashSet<(String, String)>>;

/// Every call Nephele makes to a provider, in process or through a plugin: counted by
/// operation and outcome, timed by operation (retries and rate-limit waits included).
#[derive(Clone)]
pub struct ProviderCallMetrics {
    calls: Family<Call, Counter>,
    latency: Family<CallRoute, Histogram, fn() -> Histogram>,
    /// Every label set made so far, by provider (a family cannot be walked), so a removed
    /// account's series can be taken out.
    made: std::sync::Arc<std::sync::Mutex<MadeSeries>>,
}

impl Default for ProviderCallMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            made: Default::default(),
        }
    }
}

impl ProviderCallMetrics {
    pub fn observe(&self, provider: &str, operation: &str, outcome: &str, took: Duration) {
        {
            let mut made = self.made.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            made.entry(provider.to_owned()).or_default().insert((operation.to_owned(), outcome.to_owned()));
        }
        self.calls
            .get_or_create(&Call {
                provider: provider.to_owned(),
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&CallRoute { provider: provider.to_owned(), operation: operation.to_owned() })
            .observe(took.as_secs_f64());
    }

    /// Takes every series of `provider` out (its account was removed): `/metrics` no longer
    /// shows them.
    pub fn forget(&self, provider: &str) {
        let seen = self.made.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(provider);
        for (operation, outcome) in seen.unwrap_or_default() {
            self.calls.remove(&Call { provider: provider.to_owned(), operation: operation.clone(), outcome });
            self.latency.remove(&CallRoute { provider: provider.to_owned(), operation });
        }
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "nephele_upstream_calls",
            "Calls to providers, by operation and outcome",
            self.calls.clone(),
        );
        registry.register(
            "nephele_upstream_call_duration_seconds",
            "Time a provider call took, retries and rate-limit waits included",
            self.latency.clone(),
        );
    }
}

/// The hourly run-rate of `instances`, counted as `GET /api/v1/costs` counts it (one rule,
/// [`crate::costs::billed`]); an instance that cannot be priced adds nothing. `None` when
/// the sum is too large to compute (prices out of any real range): no figure rather than a panic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

/// Webhook deliveries: attempts by outcome and retries (this server's), the queue and the age of
/// its oldest entry (every server's, from the database).
async fn register_deliveries(state: &Engine, registry: &mut Registry) {
    use std::sync::atomic::Ordering;
    let metrics = &state.webhooks.metrics;
    let attempts = Family::<OutcomeLabel, Counter>::default();
    for (outcome, n) in metrics.outcomes() {
        attempts.get_or_create(&OutcomeLabel { outcome: outcome.to_owned() }).inc_by(n);
    }
    registry.register(
        "nephele_webhook_attempts",
        "Webhook delivery attempts by this server, by outcome (delivered, gone, retry_after, failed, refused)",
        attempts,
    );
    let deliveries = Family::<OutcomeLabel, Counter>::default();
    for (outcome, counter) in
        [("delivered", &metrics.delivered), ("retried", &metrics.retried), ("failed", &metrics.failed)]
    {
        deliveries
            .get_or_create(&OutcomeLabel { outcome: outcome.to_owned() })
            .inc_by(counter.load(Ordering::Relaxed));
    }
    registry.register(
        "nephele_webhook_deliveries",
        "Webhook delivery attempts by this server, by what became of the delivery: delivered, retried (to be tried again) or failed (given up)",
        deliveries,
    );
    match state.store.delivery_stats().await {
        Ok(stats) => {
            let depth = Gauge::<i64>::default();
            depth.set(stats.pending);
            registry.register(
                "nephele_webhook_queue_depth",
                "Deliveries not yet delivered nor given up",
                depth,
            );
            let oldest = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            let age_ms = stats.oldest_pending_ms.map_or(0, |at| (crate::store::now_ms() - at).max(0));
            oldest.set(age_ms as f64 / 1000.0);
            registry.register(
                "nephele_webhook_oldest_undelivered_age_seconds",
                "Age of the oldest event not yet delivered to a webhook (0 when none waits)",
                oldest,
            );
        }
        Err(e) => tracing::warn!(error = %e, "deliveries could not be counted for /metrics"),
    }
}

async fn hourly_run_rate(
    provider: &dyn Provider,
    instances: &[Instance],
    types: &[InstanceType],
) -> Option<Decimal> {
    use crate::costs::{Billed, billed};
    let now = time::OffsetDateTime::now_utc();
    let mut total = Decimal::ZERO;
    for instance in instances {
        if let Ok(Billed::At(price)) = billed(provider, instance, types, now).await {
            total = total.checked_add(price.price_hourly)?;
        }
    }
    Some(total)
}

/// The whole text of `/metrics`: `first` (the HTTP layer's own families), then the engine's.
pub async fn render(state: &Engine, first: &Registry) -> String {
    // Plugins' counters are read over their sockets first (a second at most for all of them).
    let refreshes =
        state.providers.all().map(|(_, provider)| async move { provider.refresh_counters().await });
    let _ = tokio::time::timeout(Duration::from_secs(1), futures_util::future::join_all(refreshes)).await;

    let mut now = Registry::default();
    let failed = Counter::<u64>::default();
    failed.inc_by(state.guards.failed_authentication.total());
    now.register("nephele_failed_authentications", "Requests refused for their credentials", failed);

    let mut counters: std::collections::BTreeMap<&'static str, Family<ProviderLabel, Counter>> =
        Default::default();
    let mut gauges: std::collections::BTreeMap<&'static str, Family<ProviderLabel, Gauge>> =
        Default::default();
    let instances = Family::<ProviderLabel, Gauge>::default();
    let age = Family::<ProviderLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let run_rate = Family::<ProviderLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let (hits, misses) =
        (Family::<ProviderLabel, Counter>::default(), Family::<ProviderLabel, Counter>::default());
    let (failed_refreshes, refresher_restarts) =
        (Family::<ProviderLabel, Counter>::default(), Family::<ProviderLabel, Counter>::default());
    for (name, provider) in state.providers.all() {
        let name = &name;
        let label = ProviderLabel { provider: name.clone() };
        for (counter, value) in provider.counters() {
            counters.entry(counter).or_default().get_or_create(&label).inc_by(value);
        }
        for (gauge, value) in provider.gauges() {
            gauges.entry(gauge).or_default().get_or_create(&label).set(value);
        }
        let counts = state.inventory.counts(name);
        hits.get_or_create(&label).inc_by(counts.hits);
        misses.get_or_create(&label).inc_by(counts.misses);
        failed_refreshes.get_or_create(&label).inc_by(counts.failed_refreshes);
        refresher_restarts.get_or_create(&label).inc_by(counts.refresher_restarts);
        if let Some(snapshot) = state.inventory.peek(name) {
            instances.get_or_create(&label).set(snapshot.instances.len() as i64);
            age.get_or_create(&label).set(snapshot.age().as_secs_f64());
            if let Some(types) = state.catalog.last_instance_types(name) {
                match hourly_run_rate(provider.as_ref(), &snapshot.instances, &types).await {
                    Some(hourly) => {
                        run_rate.get_or_create(&label).set(hourly.to_f64().unwrap_or(f64::NAN));
                    }
                    None => tracing::warn!(
                        provider = %name,
                        "the run-rate is too large to compute (prices out of range); left out of /metrics"
                    ),
                }
            }
        }
    }
    for (counter, family) in counters {
        now.register(format!("nephele_provider_{counter}"), format!("The provider's {counter}"), family);
    }
    for (gauge, family) in gauges {
        now.register(format!("nephele_provider_{gauge}"), format!("The provider's {gauge}"), family);
    }
    state.providers.call_metrics().register(&mut now);
    now.register("nephele_inventory_instances", "Instances in the inventory's copy", instances);
    now.register("nephele_inventory_hits", "Instance lists answered from memory", hits);
    now.register("nephele_inventory_misses", "Instance lists that waited for the provider", misses);
    now.register(
        "nephele_inventory_failed_refreshes",
        "Inventory refreshes that failed (a provider that panicked included)",
        failed_refreshes,
    );
    now.register(
        "nephele_inventory_refresher_restarts",
        "Times an inventory refresher died and was started again",
        refresher_restarts,
    );
    now.register(
        "nephele_run_rate_hourly_dollars",
        "What the provider's instances cost per hour at list price (as GET /api/v1/costs counts them)",
        run_rate,
    );
    let operations = Family::<OperationLabels, Gauge>::default();
    match state.store.count_operations().await {
        Ok(counts) => {
            // A removed account's operations stay as history, and out of the metrics.
            let served: HashSet<String> = state.providers.names().into_iter().collect();
            for (provider, kind, state, n) in counts.into_iter().filter(|(p, ..)| served.contains(p)) {
                operations.get_or_create(&OperationLabels { provider, kind, state }).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "operations could not be counted for /metrics"),
    }
    now.register("nephele_operations", "Operations kept, by provider, kind and state", operations);
    now.register("nephele_inventory_age_seconds", "Time since the provider was last read", age);
    register_deliveries(state, &mut now).await;
    let evaluations = Counter::<u64>::default();
    evaluations.inc_by(state.spend.evaluations.load(std::sync::atomic::Ordering::Relaxed));
    now.register(
        "nephele_budget_evaluations",
        "Rounds of budget evaluation (every budget at once)",
        evaluations,
    );
    let last_evaluation = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    let micros = state.spend.last_evaluation_micros.load(std::sync::atomic::Ordering::Relaxed);
    last_evaluation.set(micros as f64 / 1e6);
    now.register(
        "nephele_budget_last_evaluation_seconds",
        "How long the last round of budget evaluation took",
        last_evaluation,
    );

    let mut text = String::new();
    let _ = encode(&mut text, first);
    // Each encoding ends with `# EOF`; the document has one, at its end.
    let mut text = text.trim_end().trim_end_matches("# EOF").to_owned();
    let mut rest = String::new();
    let _ = encode(&mut rest, &now);
    let _ = write!(text, "{rest}");
    text
}
