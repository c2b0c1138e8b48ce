//! Counters a client keeps about itself, for logs, tests and the server's metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Live counters; read them with [`ClientMetrics::snapshot`].
#[derive(Debug, Default)]
pub struct ClientMetrics {
    requests_sent: AtomicU64,
    retries: AtomicU64,
    responses_429: AtomicU64,
    rate_limit_waits: AtomicU64,
    rate_limit_wait_ms: AtomicU64,
    ambiguous_creates: AtomicU64,
    adopted_instances: AtomicU64,
    adopted_resources: AtomicU64,
    ambiguous_actions: AtomicU64,
    adopted_actions: AtomicU64,
    oversized_responses: AtomicU64,
    lists_cut_short: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// HTTP requests sent to DigitalOcean.
    pub requests_sent: u64,
    /// Attempts after the first, for any reason.
    pub retries: u64,
    /// 429 answers received.
    pub responses_429: u64,
    /// Times a request waited for the rate budget, and for how long in all.
    pub rate_limit_waits: u64,
    pub rate_limit_wait_ms: u64,
    /// Creates (of droplets and of other resources) whose outcome was unknown (timeout,
    /// dropped connection, 5xx).
    pub ambiguous_creates: u64,
    /// Droplets found by their operation tag instead of being created again.
    pub adopted_instances: u64,
    /// Resources (volumes, keys, ...) found by their record instead of being created again.
    pub adopted_resources: u64,
    /// Power actions whose outcome was unknown, and those found among the droplet's actions
    /// instead of being sent again.
    pub ambiguous_actions: u64,
    pub adopted_actions: u64,
    /// Answers refused unread for being larger than `max_response_bytes`.
    pub oversized_responses: u64,
    /// Lists whose pagination was stopped: a link repeated, or a page added nothing new.
    pub lists_cut_short: u64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl ClientMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests_sent: self.requests_sent.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            responses_429: self.responses_429.load(Ordering::Relaxed),
            rate_limit_waits: self.rate_limit_waits.load(Ordering::Relaxed),
            rate_limit_wait_ms: self.rate_limit_wait_ms.load(Ordering::Relaxed),
            ambiguous_creates: self.ambiguous_creates.load(Ordering::Relaxed),
            adopted_instances: self.adopted_instances.load(Ordering::Relaxed),
            adopted_resources: self.adopted_resources.load(Ordering::Relaxed),
            ambiguous_actions: self.ambiguous_actions.load(Ordering::Relaxed),
            adopted_actions: self.adopted_actions.load(Ordering::Relaxed),
            oversized_responses: self.oversized_responses.load(Ordering::Relaxed),
            lists_cut_short: self.lists_cut_short.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn request_sent(&self) {
        bump(&self.requests_sent, 1);
    }

    pub(crate) fn retry(&self) {
        bump(&self.retries, 1);
    }

    pub(crate) fn response_429(&self) {
        bump(&self.responses_429, 1);
    }

    pub(crate) fn rate_limit_wait(&self, waited: Duration) {
        bump(&self.rate_limit_waits, 1);
        bump(&self.rate_limit_wait_ms, waited.as_millis() as u64);
    }

    pub(crate) fn ambiguous_create(&self) {
        bump(&self.ambiguous_creates, 1);
    }

    pub(crate) fn adopted(&self, count: usize) {
        bump(&self.adopted_instances, count as u64);
    }

    pub(crate) fn adopted_resource(&self) {
        bump(&self.adopted_resources, 1);
    }

    pub(crate) fn ambiguous_action(&self) {
        bump(&self.ambiguous_actions, 1);
    }

    pub(crate) fn adopted_action(&self) {
        bump(&self.adopted_actions, 1);
    }

    pub(crate) fn oversized_response(&self) {
        bump(&self.oversized_responses, 1);
    }

    pub(crate) fn list_cut_short(&self) {
        bump(&self.lists_cut_short, 1);
    }
}
