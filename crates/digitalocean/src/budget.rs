//! The client's own picture of DigitalOcean's rate limits, so it waits *before* a 429.
//!
//! DigitalOcean counts every request of a token for one minute (250 allowed) and one hour (5,000
//! allowed), each request on its own timer. The budget keeps the send times of this client's
//! requests in the same two sliding windows and makes a request wait until both have room. When
//! DigitalOcean does answer 429 (another client sharing the token, or a smaller limit), the
//! budget is blocked until the time it names.
//!
//! An endpoint DigitalOcean limits on its own (`GET /v2/account/keys`: 10 a minute) has a
//! budget of its own too, on top of this one (see `transport`): a 429 from it holds that
//! endpoint only.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nephele_core::error::UpstreamDetail;
use nephele_core::{ProviderError, RetryAfter};

use crate::metrics::ClientMetrics;

/// The limits the budget mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    pub per_minute: usize,
    pub per_hour: usize,
    /// Window lengths: 60 s and 3,600 s against DigitalOcean; tests shorten both sides at once.
    pub minute: Duration,
    pub hour: Duration,
    /// Extra time a request is counted for: DigitalOcean starts its timer when the request
    /// arrives, a little after we sent it, so a slot freed "exactly" on our clock may not be free
    /// yet on theirs.
    pub margin: Duration,
    /// Requests that may go at once; past them requests are paced evenly (a minute divided by
    /// `per_minute`). Without pacing, one caller could spend a whole minute's budget in a burst
    /// and make everyone after it wait for the window to roll; with it, a newcomer's request is
    /// never more than a few intervals behind the ones already queued.
    pub burst: usize,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            per_minute: 250,
            per_hour: 5000,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
            margin: Duration::from_secs(1),
            burst: 60,
        }
    }
}

#[derive(Default)]
struct Windows {
    minute: VecDeque<Instant>,
    hour: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// Pacing (GCRA): when the next request would be due at the even rate.
    due: Option<Instant>,
}

/// Sliding-window budget shared by every request of one client.
pub struct RateBudget {
    config: BudgetConfig,
    windows: Mutex<Windows>,
    /// Processes sharing the token: each keeps to 1/n of the limits.
    sharers: AtomicU32,
}

/// A slot booked for a request that is still waiting for it; dropped before [`Booking::keep`],
/// it hands the slot back.
struct Booking<'a> {
    budget: &'a RateBudget,
    at: Option<Instant>,
}

impl Booking<'_> {
    fn keep(mut self) {
        self.at = None;
    }
}

impl Drop for Booking<'_> {
    fn drop(&mut self) {
        if let Some(at) = self.at.take() {
            self.budget.release(at);
        }
    }
}

/// How long until a window holding `sent` (oldest first) has room for one more of `limit`.
fn wait_for_room(sent: &VecDeque<Instant>, limit: usize, span: Duration, now: Instant) -> Duration {
    if limit == 0 {
        return span;
    }
    if sent.len() < limit {
        return Duration::ZERO;
    }
    // The request whose expiry brings the count below the limit.
    let freeing = sent[sent.len() - limit];
    (freeing + span).saturating_duration_since(now)
}

impl RateBudget {
    pub fn new(config: BudgetConfig) -> Self {
        Self { config, windows: Mutex::new(Windows::default()), sharers: AtomicU32::new(1) }
    }

    /// `n` processes share the token from now on: this one keeps to 1/n of each window (at
    /// least one request per window).
    pub fn share(&self, n: u32) {
        let previous = self.sharers.swap(n.max(1), Ordering::Relaxed);
        if previous != n.max(1) {
            tracing::info!(
                replicas = n,
                per_minute = self.config.per_minute / n.max(1) as usize,
                "sharing the DigitalOcean rate limit"
            );
        }
    }

    /// Requests a minute this process may send: the limit, divided between its sharers.
    pub fn per_minute_share(&self) -> usize {
        (self.config.per_minute / self.sharers.load(Ordering::Relaxed).max(1) as usize).max(1)
    }

    /// Requests this process may still send now in the minute and the hour windows (slots
    /// booked by waiting requests count as spent).
    pub fn remaining(&self) -> (usize, usize) {
        let now = Instant::now();
        let w = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sharers = self.sharers.load(Ordering::Relaxed).max(1) as usize;
        let (minute, hour) = (self.config.minute + self.config.margin, self.config.hour + self.config.margin);
        let live = |window: &VecDeque<Instant>, span: Duration| {
            window.iter().filter(|t| now.saturating_duration_since(**t) < span).count()
        };
        (
            ((self.config.per_minute / sharers).max(1)).saturating_sub(live(&w.minute, minute)),
            ((self.config.per_hour / sharers).max(1)).saturating_sub(live(&w.hour, hour)),
        )
    }

    /// Takes a slot for one request, waiting (visibly) while the windows are full.
    ///
    /// A request that must wait reserves the first free slot before it sleeps, so waiters are
    /// served in order and each waits exactly once. A request dropped while it waits (its caller
    /// went away) gives the slot back. Fails with a rate-limited error, saying when to retry, if
    /// the wait would pass `deadline`. Answers how long it waited.
    ///
    /// Each wait is logged at debug only: a list paced page by page would otherwise write a
    /// line per page; its caller sums the waits and says so once (see `pagination`).
    pub async fn acquire(
        &self,
        deadline: Instant,
        metrics: &ClientMetrics,
    ) -> Result<Duration, ProviderError> {
        let now = Instant::now();
        let wait = self.reserve(now, deadline).map_err(|wait| ProviderError::RateLimited {
            retry_after: RetryAfter::from_now(wait),
            detail: UpstreamDetail::default(),
        })?;
        if !wait.is_zero() {
            // `reserve` booked `now + wait`, so it adds up.
            let booking = Booking { budget: self, at: now.checked_add(wait) };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                per_minute = self.config.per_minute,
                per_hour = self.config.per_hour,
                "waiting for DigitalOcean rate budget"
            );
            metrics.rate_limit_wait(wait);
            tokio::time::sleep(wait).await;
            booking.keep();
        }
        Ok(wait)
    }

    /// Takes a booked, unused slot off both windows.
    fn release(&self, at: Instant) {
        let mut guard = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = &mut *guard;
        for window in [&mut w.minute, &mut w.hour] {
            if let Some(index) = window.iter().rposition(|t| *t == at) {
                window.remove(index);
            }
        }
    }

    /// How long a request sent now would wait (for a 429's hold, pacing or room in either
    /// window), without booking anything: a caller that would rather not wait asks first.
    pub fn wait_now(&self) -> Duration {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.wait_at(&mut w, now).0
    }

    /// The wait for a request at `now` (expired sends are dropped from both windows first),
    /// with when the next request would be due at the even rate and the pacing interval.
    fn wait_at(&self, w: &mut Windows, now: Instant) -> (Duration, Instant, Duration) {
        let BudgetConfig { per_minute, per_hour, margin, .. } = self.config;
        let sharers = self.sharers.load(Ordering::Relaxed).max(1) as usize;
        let (per_minute, per_hour) = ((per_minute / sharers).max(1), (per_hour / sharers).max(1));
        let (minute, hour) = (self.config.minute + margin, self.config.hour + margin);
        while w.minute.front().is_some_and(|t| now.saturating_duration_since(*t) >= minute) {
            w.minute.pop_front();
        }
        while w.hour.front().is_some_and(|t| now.saturating_duration_since(*t) >= hour) {
            w.hour.pop_front();
        }
        let blocked = w.blocked_until.map(|t| t.saturating_duration_since(now)).unwrap_or_default();
        // Pacing: a request may run ahead of the even rate by at most `burst - 1` intervals.
        let interval = self.config.minute / u32::try_from(per_minute).unwrap_or(u32::MAX).max(1);
        let tolerance = interval * u32::try_from(self.config.burst.max(1) - 1).unwrap_or(u32::MAX);
        let due = w.due.unwrap_or(now).max(now);
        let paced = due.checked_sub(tolerance).map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        let wait = blocked
            .max(paced)
            .max(wait_for_room(&w.minute, per_minute, minute, now))
            .max(wait_for_room(&w.hour, per_hour, hour, now));
        (wait, due, interval)
    }

    /// Books the earliest send time both windows allow and says how long until it; refuses
    /// (with that wait) when it would fall after `deadline`.
    fn reserve(&self, now: Instant, deadline: Instant) -> Result<Duration, Duration> {
        let mut w = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (wait, due, interval) = self.wait_at(&mut w, now);
        // A wait no clock can add up to is past any deadline.
        let at = now.checked_add(wait).filter(|at| *at <= deadline).ok_or(wait)?;
        w.due = Some(due.max(at) + interval);
        // Booked times only grow, so both windows stay in order.
        w.minute.push_back(at);
        w.hour.push_back(at);
        Ok(wait)
    }

    #[cfg(test)]
    fn try_take(&self, now: Instant) -> Duration {
        self.reserve(now, now + Duration::from_secs(86_400)).unwrap_or_else(|wait| wait)
    }

    /// After a 429: nobody sends before `until`.
    pub fn block_until(&self, until: Instant) {
        let mut w = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        w.blocked_until = Some(w.blocked_until.map_or(until, |t| t.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_makes_the_request_over_the_limit_wait_until_the_oldest_expires() {
        let budget = RateBudget::new(BudgetConfig {
            per_minute: 3,
            per_hour: 100,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
            margin: Duration::ZERO,
            burst: 1000,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(budget.try_take(t0), Duration::ZERO);
        }
        assert_eq!(budget.try_take(t0 + Duration::from_secs(10)), Duration::from_secs(50));
        // That wait booked the slot at t0 + 60 s: the next request queues behind it.
        assert_eq!(budget.try_take(t0 + Duration::from_secs(10)), Duration::from_secs(50));
        assert_eq!(budget.try_take(t0 + Duration::from_secs(10)), Duration::from_secs(50));
        assert_eq!(budget.try_take(t0 + Duration::from_secs(10)), Duration::from_secs(110));
    }

    #[test]
    fn the_hour_window_binds_when_the_minute_window_does_not() {
        let budget = RateBudget::new(BudgetConfig {
            per_minute: 100,
            per_hour: 2,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
            margin: Duration::ZERO,
            burst: 1000,
        });
        let t0 = Instant::now();
        budget.try_take(t0);
        budget.try_take(t0);
        assert_eq!(budget.try_take(t0), Duration::from_secs(3600));
    }

    #[test]
    fn a_request_dropped_while_it_waits_gives_its_slot_back() {
        use futures_util::FutureExt;
        let budget = RateBudget::new(BudgetConfig {
            per_minute: 2,
            per_hour: 100,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
            margin: Duration::ZERO,
            burst: 1000,
        });
        let metrics = ClientMetrics::default();
        let far = Instant::now() + Duration::from_secs(3600);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let _guard = runtime.enter();
        for _ in 0..2 {
            assert_eq!(budget.acquire(far, &metrics).now_or_never(), Some(Ok(Duration::ZERO)));
        }
        // Ten callers queue for the next minute, then all give up.
        for _ in 0..10 {
            assert!(budget.acquire(far, &metrics).now_or_never().is_none(), "it must wait");
        }
        let (minute, hour) = {
            let w = budget.windows.lock().expect("lock");
            (w.minute.len(), w.hour.len())
        };
        assert_eq!((minute, hour), (2, 2), "the abandoned bookings were handed back");
        // So the next caller waits one window, not eleven.
        let wait = budget.try_take(Instant::now());
        assert!(wait <= Duration::from_secs(60), "{wait:?}");
    }

    #[test]
    fn past_the_burst_requests_are_paced_evenly() {
        let budget = RateBudget::new(BudgetConfig {
            per_minute: 60,
            per_hour: 10_000,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
            margin: Duration::ZERO,
            burst: 5,
        });
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(budget.try_take(t0), Duration::ZERO, "the burst goes at once");
        }
        assert_eq!(budget.try_take(t0), Duration::from_secs(1), "then one a second");
        assert_eq!(budget.try_take(t0), Duration::from_secs(2));
        // A pause refills the burst.
        assert_eq!(budget.try_take(t0 + Duration::from_secs(20)), Duration::ZERO);
    }

    #[test]
    fn replicas_sharing_the_token_each_keep_to_their_share() {
        let budget = RateBudget::new(BudgetConfig {
            per_minute: 10,
            per_hour: 1000,
            minute: Duration::from_secs(60),
            hour: Duration::from_secs(3600),
            margin: Duration::ZERO,
            burst: 1000,
        });
        budget.share(2);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(budget.try_take(t0), Duration::ZERO);
        }
        assert_eq!(budget.try_take(t0), Duration::from_secs(60), "half of 10 a minute");
    }

    #[test]
    fn a_429_blocks_everyone_until_its_time() {
        let budget = RateBudget::new(BudgetConfig::default());
        let t0 = Instant::now();
        budget.block_until(t0 + Duration::from_secs(5));
        assert_eq!(budget.try_take(t0), Duration::from_secs(5));
        assert_eq!(budget.try_take(t0 + Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(budget.try_take(t0 + Duration::from_secs(6)), Duration::ZERO);
    }
}
