//! Fault injection: errors, dropped connections, latency and spurious 429s, settable at run time.
//!
//! Injected 5xx answers are sent *before* the request is processed (as a failing load balancer
//! would), while a dropped connection happens *after* processing: the work is done but the
//! answer is lost, which is the ambiguous case clients must survive without duplicating work.

use serde::{Deserialize, Serialize};

/// The fault settings, as read and written through `GET|PUT /_sim/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fraction of requests answered 500, 502 or 503 without being processed.
    pub error_rate: f64,
    /// Fraction of requests processed whose connection is then closed without an answer.
    pub drop_rate: f64,
    /// Milliseconds added to every response.
    pub latency_ms: u64,
    /// Fraction of requests delayed by a further `slow_ms`.
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Fraction of requests answered 429 (with `retry-after: 1`) regardless of the limits.
    pub rate_limit_rate: f64,
}

impl Faults {
    /// Checks every rate is a fraction.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("slow_rate", self.slow_rate),
            ("rate_limit_rate", self.rate_limit_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        Ok(())
    }
}

/// True with probability `rate`.
pub fn happens(rate: f64) -> bool {
    rate > 0.0 && fastrand::f64() < rate
}
