//! DigitalOcean's per-token rate limits: sliding windows of one minute and one hour.
//!
//! Every request a token makes counts against both windows for exactly 60 s and 3,600 s from
//! when it was made (DigitalOcean's "each request has its own timer"). Refused requests do not
//! count. `GET /v2/account/keys` has its own extra limit of 10 per minute.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The configured limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_minute: usize,
    pub per_hour: usize,
    /// The special limit on listing SSH keys.
    pub ssh_keys_per_minute: usize,
    /// The length of the "minute" window: 60 s, shorter only in tests that would otherwise wait.
    pub minute: Duration,
    /// The length of the "hour" window: 3,600 s.
    pub hour: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_minute: 250,
            per_hour: 5000,
            ssh_keys_per_minute: 10,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
        }
    }
}

/// What goes in the `ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: usize,
    pub remaining: usize,
    /// Epoch seconds at which the oldest counted request expires.
    pub reset: u64,
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed(RateHeaders),
    /// Over a limit; `retry_after` is set for the per-minute (burst) limits only.
    Refused {
        headers: RateHeaders,
        retry_after: Option<u64>,
    },
}

#[derive(Default)]
struct Windows {
    minute: VecDeque<Instant>,
    hour: VecDeque<Instant>,
    ssh_keys_minute: VecDeque<Instant>,
}

fn prune(window: &mut VecDeque<Instant>, span: Duration, now: Instant) {
    while window.front().is_some_and(|t| now.duration_since(*t) >= span) {
        window.pop_front();
    }
}

fn seconds_until_free(window: &VecDeque<Instant>, span: Duration, now: Instant) -> u64 {
    let wait =
        window.front().map(|oldest| (*oldest + span).saturating_duration_since(now)).unwrap_or_default();
    // Round up: telling a client to retry a moment too early would earn it another 429.
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The headers for a token no account knows, without counting a request (for 401s).
pub fn headers_for_unknown(limits: Limits) -> RateHeaders {
    RateHeaders { limit: limits.per_hour, remaining: limits.per_hour, reset: epoch_secs(SystemTime::now()) }
}

/// Rate-limit windows for every token of one account.
pub struct RateLimiter {
    limits: Limits,
    tokens: HashMap<String, Windows>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        Self { limits, tokens: HashMap::new() }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Forgets every request counted so far.
    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    /// Counts one request by `token` if the limits allow it.
    pub fn check(&mut self, token: &str, lists_ssh_keys: bool, now: Instant) -> Verdict {
        let limits = self.limits;
        let windows = self.tokens.entry(token.to_owned()).or_default();
        prune(&mut windows.minute, limits.minute, now);
        prune(&mut windows.hour, limits.hour, now);
        prune(&mut windows.ssh_keys_minute, limits.minute, now);

        let burst_exhausted = windows.minute.len() >= limits.per_minute
            || (lists_ssh_keys && windows.ssh_keys_minute.len() >= limits.ssh_keys_per_minute);
        let hour_exhausted = windows.hour.len() >= limits.per_hour;
        if hour_exhausted || burst_exhausted {
            let retry_after = if hour_exhausted {
                None
            } else if windows.minute.len() >= limits.per_minute {
                Some(seconds_until_free(&windows.minute, limits.minute, now))
            } else {
                Some(seconds_until_free(&windows.ssh_keys_minute, limits.minute, now))
            };
            let headers = Self::headers(limits, windows, now, true);
            return Verdict::Refused { headers, retry_after };
        }
        windows.minute.push_back(now);
        windows.hour.push_back(now);
        if lists_ssh_keys {
            windows.ssh_keys_minute.push_back(now);
        }
        let headers = Self::headers(limits, windows, now, windows.minute.len() >= limits.per_minute);
        Verdict::Allowed(headers)
    }

    fn headers(limits: Limits, windows: &Windows, now: Instant, burst_exhausted: bool) -> RateHeaders {
        // DigitalOcean reports the hourly budget, but shows 0 while the burst limit is hit.
        let remaining = if burst_exhausted { 0 } else { limits.per_hour.saturating_sub(windows.hour.len()) };
        let until_reset = windows
            .hour
            .front()
            .map(|oldest| (*oldest + limits.hour).saturating_duration_since(now))
            .unwrap_or_default();
        RateHeaders { limit: limits.per_hour, remaining, reset: epoch_secs(SystemTime::now() + until_reset) }
    }
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: usize, per_hour: usize) -> RateLimiter {
        RateLimiter::new(Limits { per_minute, per_hour, ssh_keys_per_minute: 2, ..Limits::default() })
    }

    #[test]
    fn the_request_after_the_minute_limit_is_refused_with_retry_after() {
        let mut rl = limiter(3, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(matches!(rl.check("t", false, t0), Verdict::Allowed(_)));
        }
        match rl.check("t", false, t0 + Duration::from_millis(500)) {
            Verdict::Refused { retry_after: Some(s), headers } => {
                assert_eq!(s, 60);
                assert_eq!(headers.remaining, 0);
            }
            other => panic!("expected a burst refusal, got {other:?}"),
        }
        // The window slides: 60 s after the first requests, they no longer count.
        assert!(matches!(rl.check("t", false, t0 + Duration::from_secs(60)), Verdict::Allowed(_)));
    }

    #[test]
    fn the_hour_limit_refuses_without_retry_after() {
        let mut rl = limiter(1000, 2);
        let t0 = Instant::now();
        rl.check("t", false, t0);
        rl.check("t", false, t0);
        assert!(matches!(rl.check("t", false, t0), Verdict::Refused { retry_after: None, .. }));
    }

    #[test]
    fn tokens_have_separate_windows_and_remaining_counts_down() {
        let mut rl = limiter(10, 100);
        let t0 = Instant::now();
        let Verdict::Allowed(first) = rl.check("a", false, t0) else { panic!("allowed") };
        let Verdict::Allowed(second) = rl.check("a", false, t0) else { panic!("allowed") };
        let Verdict::Allowed(other) = rl.check("b", false, t0) else { panic!("allowed") };
        assert_eq!((first.remaining, second.remaining, other.remaining), (99, 98, 99));
    }

    #[test]
    fn listing_ssh_keys_has_its_own_limit() {
        let mut rl = limiter(100, 100);
        let t0 = Instant::now();
        rl.check("t", true, t0);
        rl.check("t", true, t0);
        assert!(matches!(rl.check("t", true, t0), Verdict::Refused { retry_after: Some(_), .. }));
        assert!(matches!(rl.check("t", false, t0), Verdict::Allowed(_)));
    }
}
