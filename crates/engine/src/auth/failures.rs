//! Failed authentication, counted without letting anonymous callers write unbounded rows.
//!
//! Every failure is counted (`/metrics`). The audit log gets at most one entry per source
//! address and window (a minute): the first failure is written at once, and the failures that
//! followed it in the window are written as one entry with their count when the window ends.
//! At most `max_sources` addresses are tracked at a time; failures from any more are pooled
//! under one "other sources" entry, so even a flood from many addresses writes a bounded number
//! of rows per minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One source's failures in its current window.
struct Tally {
    since: Instant,
    /// Failures after the first, not yet written.
    unwritten: u64,
}

/// A source address, or `None` for the pool of sources past the tracking limit.
pub type Source = Option<IpAddr>;

/// The sampler, shared by every request.
pub struct FailedAuthentication {
    window: Duration,
    max_sources: usize,
    tallies: Mutex<HashMap<Source, Tally>>,
    total: AtomicU64,
}

impl FailedAuthentication {
    pub fn new(window: Duration, max_sources: usize) -> Self {
        Self { window, max_sources, tallies: Mutex::new(HashMap::new()), total: AtomicU64::new(0) }
    }

    /// Every failure counted since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts one failure from `address`. `Some((source, n))` when an audit entry standing for
    /// `n` requests is to be written now: the first failure of a window, together with what was
    /// left unwritten of the source's previous window.
    pub fn record(&self, address: IpAddr, now: Instant) -> Option<(Source, u64)> {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut tallies = self.tallies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let source = if tallies.contains_key(&Some(address)) || tallies.len() < self.max_sources {
            Some(address)
        } else {
            None
        };
        match tallies.get_mut(&source) {
            Some(tally) if now.duration_since(tally.since) < self.window => {
                tally.unwritten += 1;
                None
            }
            Some(tally) => {
                let carried = std::mem::take(&mut tally.unwritten);
                tally.since = now;
                Some((source, 1 + carried))
            }
            None => {
                tallies.insert(source, Tally { since: now, unwritten: 0 });
                Some((source, 1))
            }
        }
    }

    /// Forgets every window that has ended, returning the unwritten failures of each (to be
    /// written as one entry per source).
    pub fn drain_ended(&self, now: Instant) -> Vec<(Source, u64)> {
        let mut tallies = self.tallies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ended = Vec::new();
        tallies.retain(|source, tally| {
            if now.duration_since(tally.since) < self.window {
                return true;
            }
            if tally.unwritten > 0 {
                ended.push((*source, tally.unwritten));
            }
            false
        });
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_entry_per_source_and_window_with_the_count_of_the_rest() {
        let sampler = FailedAuthentication::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        assert_eq!(sampler.record(ip(1), t0), Some((Some(ip(1)), 1)));
        for _ in 0..999 {
            assert_eq!(sampler.record(ip(1), t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(sampler.total(), 1000);
        assert!(sampler.drain_ended(t0 + Duration::from_secs(30)).is_empty(), "the window is still open");
        assert_eq!(sampler.drain_ended(t0 + Duration::from_secs(61)), vec![(Some(ip(1)), 999)]);
        // A new window starts afresh.
        assert_eq!(sampler.record(ip(1), t0 + Duration::from_secs(62)), Some((Some(ip(1)), 1)));
    }

    #[test]
    fn a_failure_after_the_window_carries_what_was_left_unwritten() {
        let sampler = FailedAuthentication::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        sampler.record(ip(1), t0);
        sampler.record(ip(1), t0);
        sampler.record(ip(1), t0);
        assert_eq!(sampler.record(ip(1), t0 + Duration::from_secs(60)), Some((Some(ip(1)), 3)));
    }

    #[test]
    fn sources_past_the_limit_share_one_entry() {
        let sampler = FailedAuthentication::new(Duration::from_secs(60), 2);
        let t0 = Instant::now();
        let written: Vec<_> = (1..=50).filter_map(|n| sampler.record(ip(n), t0)).collect();
        assert_eq!(written, vec![(Some(ip(1)), 1), (Some(ip(2)), 1), (None, 1)]);
        assert_eq!(sampler.drain_ended(t0 + Duration::from_secs(60)), vec![(None, 47)]);
    }
}
