//! `/metrics` in the Prometheus/OpenMetrics text format, written by `prometheus-client`.
//!
//! Two registries: one for what is counted as it happens (HTTP requests by route template,
//! method and status, with a latency histogram), kept in the app state; and one made at each
//! scrape for what is read then (each provider's traffic counters, which a plugin answers over
//! its socket; the inventory's size and age; failed authentication).

use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    /// The route template (`/api/v1/providers/:provider/instances`), never the raw path: ids
    /// in paths would make a series per instance.
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
    method: String,
}

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

type LatencyFamily = Family<Route, Histogram, fn() -> Histogram>;

/// What is counted as requests are served.
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    latency: LatencyFamily,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Request, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register("nephele_http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "nephele_http_request_duration_seconds",
            "Time to answer a request",
            latency.clone(),
        );
        Self { registry, requests, latency }
    }
}

impl HttpMetrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, took: Duration) {
        // Any word is a method to HTTP: a caller must not be able to add series at will.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        let (route, method) = (route.to_owned(), method.to_owned());
        self.requests
            .get_or_create(&Request {
                route: route.clone(),
                method: method.clone(),
                status: status.to_string(),
            })
            .inc();
        self.latency.get_or_create(&Route { route, method }).observe(took.as_secs_f64());
    }
}

/// The whole text of `/metrics`.
pub async fn render(state: &AppState) -> String {
    // Plugins' counters are read over their sockets first (a second at most for all of them).
    let refreshes =
        state.providers.all().map(|(_, provider)| async move { provider.refresh_counters().await });
    let _ = tokio::time::timeout(Duration::from_secs(1), futures_util::future::join_all(refreshes)).await;

    let mut now = Registry::default();
    let failed = Counter::<u64>::default();
    failed.inc_by(state.failed_authentication.total());
    now.register("nephele_failed_authentications", "Requests refused for their credentials", failed);

    let mut counters: std::collections::BTreeMap<&'static str, Family<ProviderLabel, Counter>> =
        Default::default();
    let instances = Family::<ProviderLabel, Gauge>::default();
    let age = Family::<ProviderLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (name, provider) in state.providers.all() {
        let label = ProviderLabel { provider: name.clone() };
        for (counter, value) in provider.counters() {
            counters.entry(counter).or_default().get_or_create(&label).inc_by(value);
        }
        if let Some(snapshot) = state.inventory.peek(name) {
            instances.get_or_create(&label).set(snapshot.instances.len() as i64);
            age.get_or_create(&label).set(snapshot.age().as_secs_f64());
        }
    }
    for (counter, family) in counters {
        now.register(format!("nephele_provider_{counter}"), format!("The provider's {counter}"), family);
    }
    now.register("nephele_inventory_instances", "Instances in the inventory's copy", instances);
    let operations = Family::<OperationLabels, Gauge>::default();
    match state.store.count_operations().await {
        Ok(counts) => {
            for (provider, kind, state, n) in counts {
                operations.get_or_create(&OperationLabels { provider, kind, state }).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "operations could not be counted for /metrics"),
    }
    now.register("nephele_operations", "Operations kept, by provider, kind and state", operations);
    now.register("nephele_inventory_age_seconds", "Time since the provider was last read", age);

    let mut text = String::new();
    let _ = encode(&mut text, &state.http_metrics.registry);
    // Each encoding ends with `# EOF`; the document has one, at its end.
    let mut text = text.trim_end().trim_end_matches("# EOF").to_owned();
    let mut rest = String::new();
    let _ = encode(&mut rest, &now);
    let _ = write!(text, "{rest}");
    text
}
