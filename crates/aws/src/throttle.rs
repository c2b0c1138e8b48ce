//! The client's own token buckets, one per class of action, as EC2 keeps them (per account and
//! region, per action): calls wait for a token here rather than be refused there.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// EC2 throttles reads and changes in separate buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionClass {
    /// `Describe*`: retried freely.
    Describe,
    /// Everything that changes something: never repeated blindly.
    Mutate,
}

impl ActionClass {
    pub fn of(action: &str) -> Self {
        if action.starts_with("Describe") { Self::Describe } else { Self::Mutate }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
pub struct Bucket {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        // EC2's buckets hold five seconds' worth of refill (100 at 20/s for reads).
        let burst = per_second * 5.0;
        Self { per_second, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes a token, waiting for it when the bucket is empty. Gives up (taking nothing) when
    /// the wait would end after `deadline`, answering how long it would have been.
    pub async fn take(&self, deadline: Instant) -> Result<Duration, Duration> {
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let (tokens, last) = *state;
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.burst);
            let wait = if tokens >= 1.0 { 0.0 } else { (1.0 - tokens) / self.per_second };
            let wait = Duration::from_secs_f64(wait);
            if now + wait > deadline {
                *state = (tokens, now);
                return Err(wait);
            }
            // Reserved now, so callers that come later queue behind this one.
            *state = (tokens - 1.0, now);
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_empty_bucket_paces_calls_at_its_rate() {
        let bucket = Bucket::new(2);
        let deadline = Instant::now() + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(bucket.take(deadline).await, Ok(Duration::ZERO), "the burst goes at once");
        }
        let waited = bucket.take(deadline).await.expect("within the deadline");
        assert!(waited >= Duration::from_millis(499) && waited <= Duration::from_millis(501), "{waited:?}");
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(bucket.take(soon).await.is_err(), "a wait past the deadline is refused");
    }

    #[test]
    fn actions_are_classed_by_name() {
        assert_eq!(ActionClass::of("DescribeInstances"), ActionClass::Describe);
        assert_eq!(ActionClass::of("RunInstances"), ActionClass::Mutate);
    }
}
