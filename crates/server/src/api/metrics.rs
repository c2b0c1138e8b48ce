//! What the HTTP layer counts for `/metrics`: requests by route template, method and status,
//! with a latency histogram. The rest of the document is the engine's
//! (`nephele_engine::metrics::render`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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

type LatencyFamily = Family<Route, Histogram, fn() -> Histogram>;

/// What is counted as requests are served.
pub struct HttpMetrics {
    pub registry: Registry,
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
