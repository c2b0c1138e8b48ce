//! Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").

use std::time::Duration;

/// Delay before retry `n`: a uniform draw from `0..=min(cap, base * 2^n)`.
///
/// Full jitter spreads the retries of many clients that failed together, which is exactly when
/// they would otherwise come back together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        self.base.saturating_mul(factor).min(self.cap)
    }

    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry).as_millis() as u64;
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap_and_stay_within_the_ceiling() {
        let backoff = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(2) };
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(10), Duration::from_secs(2));
        for retry in 0..8 {
            for _ in 0..50 {
                assert!(backoff.delay(retry) <= backoff.ceiling(retry));
            }
        }
    }
}
