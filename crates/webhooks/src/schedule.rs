//! When to try a failed delivery again: exponential backoff with jitter, capped per attempt,
//! for a bounded total span (3 days by default), or a fixed list of delays.
//!
//! A pure function of the attempt number, the time since the first attempt and a jitter sample
//! the caller draws (so tests can pin it): no clock, no randomness, no I/O here. Jitter matters
//! because deliveries fail together (an endpoint goes down) and would otherwise come back
//! together.

use std::time::Duration;

/// The shortest delay ever returned: a zero draw must not turn into a busy loop.
pub const MIN_DELAY: Duration = Duration::from_secs(1);

/// The longest single delay a schedule may be configured with.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The longest total span a schedule may be configured with.
pub const MAX_TOTAL_SPAN: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How a delay is spread (AWS Architecture Blog, "Exponential Backoff And Jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// The delay itself: deterministic, for tests and fixed lists.
    None,
    /// Uniform in `0..=delay`: spreads best, but may retry almost at once.
    Full,
    /// Uniform in `delay/2..=delay`: spread, with a floor of half the delay.
    Equal,
}

/// Why a schedule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("the base delay must be at least {} s", MIN_DELAY.as_secs())]
    BaseTooShort,
    #[error("the cap must be at least the base delay")]
    CapBelowBase,
    #[error("no single delay may exceed {} days", MAX_DELAY.as_secs() / 86_400)]
    DelayTooLong,
    #[error("the total span must be longer than zero and at most {} days", MAX_TOTAL_SPAN.as_secs() / 86_400)]
    TotalOutOfRange,
    #[error("a list of delays has at least one entry")]
    EmptyList,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// `base * 2^(attempt-1)`, at most `cap`, while the span lasts.
    Exponential { base: Duration, cap: Duration, total: Duration },
    /// The n-th delay after the n-th failed attempt; none after the last.
    Listed(Vec<Duration>),
}

/// When the next attempt of a failing delivery is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    shape: Shape,
    jitter: Jitter,
}

impl Default for RetrySchedule {
    /// 10 s, doubling, at most 4 h apart, equal jitter, for 3 days: about 30 attempts.
    fn default() -> Self {
        Self {
            shape: Shape::Exponential {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(4 * 60 * 60),
                total: Duration::from_secs(3 * 24 * 60 * 60),
            },
            jitter: Jitter::Equal,
        }
    }
}

impl RetrySchedule {
    /// Delays of `base * 2^(attempt-1)`, each at most `cap`, jittered, until `total` has passed
    /// since the first attempt.
    pub fn exponential(
        base: Duration,
        cap: Duration,
        total: Duration,
        jitter: Jitter,
    ) -> Result<Self, ScheduleError> {
        if base < MIN_DELAY {
            return Err(ScheduleError::BaseTooShort);
        }
        if cap < base {
            return Err(ScheduleError::CapBelowBase);
        }
        if cap > MAX_DELAY {
            return Err(ScheduleError::DelayTooLong);
        }
        if total.is_zero() || total > MAX_TOTAL_SPAN {
            return Err(ScheduleError::TotalOutOfRange);
        }
        Ok(Self { shape: Shape::Exponential { base, cap, total }, jitter })
    }

    /// The given delays, one after each failed attempt, jittered; none after the last.
    pub fn listed(delays: Vec<Duration>, jitter: Jitter) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::EmptyList);
        }
        if delays.iter().any(|d| *d > MAX_DELAY) {
            return Err(ScheduleError::DelayTooLong);
        }
        Ok(Self { shape: Shape::Listed(delays), jitter })
    }

    /// The longest time from the first attempt to the last.
    pub fn total_span(&self) -> Duration {
        match &self.shape {
            Shape::Exponential { total, .. } => *total,
            Shape::Listed(delays) => delays.iter().map(|d| (*d).max(MIN_DELAY)).sum(),
        }
    }

    /// The delay before the next attempt, after attempt number `failed_attempt` (1 for the
    /// first) failed `since_first_attempt` after the first attempt began; `None` when the
    /// delivery should be given up.
    ///
    /// `jitter_sample` is a uniform draw from `0.0..=1.0` (values outside, and NaN, are pulled
    /// in). For an exponential schedule the last attempt falls at the end of the span, so an
    /// endpoint that is down for just under `total` still gets the message.
    pub fn delay_after(
        &self,
        failed_attempt: u32,
        since_first_attempt: Duration,
        jitter_sample: f64,
    ) -> Option<Duration> {
        let ceiling = match &self.shape {
            Shape::Exponential { base, cap, .. } => {
                let doublings = failed_attempt.saturating_sub(1).min(31);
                base.saturating_mul(1u32 << doublings).min(*cap)
            }
            Shape::Listed(delays) => *delays.get(usize::try_from(failed_attempt.checked_sub(1)?).ok()?)?,
        };
        let delay = self.jittered(ceiling, jitter_sample).max(MIN_DELAY);
        match &self.shape {
            Shape::Exponential { total, .. } => {
                let remaining = total.checked_sub(since_first_attempt).filter(|r| !r.is_zero())?;
                Some(delay.min(remaining))
            }
            Shape::Listed(_) => Some(delay),
        }
    }

    fn jittered(&self, ceiling: Duration, sample: f64) -> Duration {
        // Pulled into 0..=1 so the multiplication below can neither go negative nor grow
        // `ceiling` (at most MAX_DELAY, far from overflow).
        let sample = if sample.is_nan() { 0.0 } else { sample.clamp(0.0, 1.0) };
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(sample),
            Jitter::Equal => ceiling / 2 + (ceiling - ceiling / 2).mul_f64(sample),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86_400);

    /// Runs a delivery that always fails, attempts taking no time, with `sample` for every
    /// jitter draw: the delays, and when the last attempt began.
    fn run(schedule: &RetrySchedule, sample: impl Fn(u32) -> f64) -> (Vec<Duration>, Duration) {
        let mut elapsed = Duration::ZERO;
        let mut delays = Vec::new();
        let mut attempt = 1;
        while let Some(delay) = schedule.delay_after(attempt, elapsed, sample(attempt)) {
            delays.push(delay);
            elapsed += delay;
            attempt += 1;
            assert!(attempt < 1_000_000, "the schedule never ends");
        }
        (delays, elapsed)
    }

    #[test]
    fn the_default_doubles_from_10_s_to_a_4_h_cap_and_ends_at_3_days() {
        let exact = RetrySchedule::exponential(10 * SECOND, 4 * HOUR, 3 * DAY, Jitter::None).expect("valid");
        let (delays, last) = run(&exact, |_| 0.5);
        assert_eq!(&delays[..4], &[10 * SECOND, 20 * SECOND, 40 * SECOND, 80 * SECOND]);
        assert_eq!(delays[11], 4 * HOUR, "2^11 * 10 s is past the cap");
        assert!(delays.iter().all(|d| *d <= 4 * HOUR));
        assert_eq!(last, 3 * DAY, "the last attempt falls at the end of the span");

        let default = RetrySchedule::default();
        assert_eq!(default.total_span(), 3 * DAY);
        let (delays, last) = run(&default, |_| 0.5);
        assert_eq!(last, 3 * DAY);
        assert!((25..=40).contains(&delays.len()), "{} attempts", delays.len() + 1);
    }

    #[test]
    fn every_jittered_delay_stays_within_its_bounds() {
        for jitter in [Jitter::Full, Jitter::Equal] {
            let schedule = RetrySchedule::exponential(10 * SECOND, 4 * HOUR, 3 * DAY, jitter).expect("valid");
            for attempt in 1..60 {
                let ceiling = (10 * SECOND).saturating_mul(1 << (attempt - 1).min(31)).min(4 * HOUR);
                let floor = match jitter {
                    Jitter::Equal => ceiling / 2,
                    _ => MIN_DELAY,
                };
                for sample in [0.0, 1e-9, 0.25, 0.5, 0.999_999, 1.0] {
                    let delay =
                        schedule.delay_after(attempt, Duration::ZERO, sample).expect("within the span");
                    assert!(
                        delay >= floor && delay <= ceiling,
                        "{jitter:?} attempt {attempt} sample {sample}: {delay:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_delivery_is_given_up_once_the_span_has_passed_whatever_the_draws() {
        for jitter in [Jitter::Full, Jitter::Equal, Jitter::None] {
            let schedule = RetrySchedule::exponential(10 * SECOND, 4 * HOUR, 3 * DAY, jitter).expect("valid");
            let (_, last) = run(&schedule, |n| f64::from(n % 7) / 6.0);
            assert_eq!(last, 3 * DAY, "{jitter:?}");
            assert_eq!(schedule.delay_after(5, 3 * DAY, 0.5), None);
            assert_eq!(schedule.delay_after(5, 4 * DAY, 0.5), None);
            // A minute before the end, the next attempt is that minute away, not 4 hours.
            assert_eq!(schedule.delay_after(40, 3 * DAY - 60 * SECOND, 1.0), Some(60 * SECOND));
        }
    }

    #[test]
    fn odd_jitter_samples_are_pulled_into_range_instead_of_panicking() {
        let schedule =
            RetrySchedule::exponential(10 * SECOND, 4 * HOUR, 3 * DAY, Jitter::Full).expect("valid");
        assert_eq!(schedule.delay_after(3, Duration::ZERO, f64::NAN), Some(MIN_DELAY));
        assert_eq!(schedule.delay_after(3, Duration::ZERO, -4.0), Some(MIN_DELAY));
        assert_eq!(schedule.delay_after(3, Duration::ZERO, 7.0), Some(40 * SECOND));
        assert_eq!(schedule.delay_after(u32::MAX, Duration::ZERO, f64::INFINITY), Some(4 * HOUR));
        assert_eq!(
            schedule.delay_after(0, Duration::ZERO, 1.0),
            Some(10 * SECOND),
            "attempt 0 reads as the first"
        );
    }

    #[test]
    fn a_listed_schedule_uses_each_delay_once_then_gives_up() {
        let list = vec![5 * SECOND, 5 * 60 * SECOND, 30 * 60 * SECOND, 2 * HOUR, Duration::ZERO];
        let schedule = RetrySchedule::listed(list.clone(), Jitter::None).expect("valid");
        let (delays, _) = run(&schedule, |_| 0.5);
        assert_eq!(delays, vec![5 * SECOND, 5 * 60 * SECOND, 30 * 60 * SECOND, 2 * HOUR, MIN_DELAY]);
        assert_eq!(schedule.total_span(), delays.iter().sum::<Duration>());
        assert_eq!(schedule.delay_after(0, Duration::ZERO, 0.5), None, "attempts count from 1");

        let equal = RetrySchedule::listed(list, Jitter::Equal).expect("valid");
        let delay = equal.delay_after(4, Duration::ZERO, 0.0).expect("fourth delay");
        assert_eq!(delay, HOUR);
    }

    #[test]
    fn unusable_schedules_are_refused() {
        use ScheduleError::*;
        let exp = |base, cap, total| RetrySchedule::exponential(base, cap, total, Jitter::Full).map(|_| ());
        assert_eq!(exp(Duration::ZERO, HOUR, DAY), Err(BaseTooShort));
        assert_eq!(exp(HOUR, SECOND, DAY), Err(CapBelowBase));
        assert_eq!(exp(SECOND, 8 * DAY, 9 * DAY), Err(DelayTooLong));
        assert_eq!(exp(SECOND, HOUR, Duration::ZERO), Err(TotalOutOfRange));
        assert_eq!(exp(SECOND, HOUR, 31 * DAY), Err(TotalOutOfRange));
        assert_eq!(RetrySchedule::listed(vec![], Jitter::None), Err(EmptyList));
        assert_eq!(RetrySchedule::listed(vec![8 * DAY], Jitter::None), Err(DelayTooLong));
    }
}
