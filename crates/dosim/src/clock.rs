//! The simulator's clock: the real UTC clock, or a simulated one that a test sets and moves.
//!
//! Everything dosim records or shows as a time of day reads this clock: creation times, action
//! times, lifetimes, usage, invoice periods and `generated_at`. Once set (`--clock`,
//! [`crate::SimConfig::clock`] or `PUT /_sim/clock`) the simulated clock stands still: it moves
//! only when it is set again or advanced, and never backwards, so that a test can make a month
//! happen in a second and compute its bill by hand.
//!
//! What stays on real time: how long a boot, power action or image import takes (`--boot-ms`,
//! measured with [`std::time::Instant`]) and the rate-limit windows with their
//! `ratelimit-reset`. Under a simulated clock a transition still takes its real milliseconds, but
//! no simulated time passes during it: the change lands at the simulated instant it was asked for
//! ([`Clock::landing`]). This module must never read the wall clock for anything else, nor let
//! the simulated time go back: usage already accrued would change.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

/// How far the simulated clock may run ahead of the real one: a century. Invoices are made per
/// month from the account's first, so this keeps every listing bounded (1,200 months at most).
pub const MAX_AHEAD: time::Duration = time::Duration::days(36_525);

/// Why the clock refused a move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockError {
    /// The time asked for is before the clock's reading: usage already shown would change.
    Backwards { now: OffsetDateTime, asked: OffsetDateTime },
    /// The time asked for is more than [`MAX_AHEAD`] past the real clock.
    TooFar,
}

impl std::fmt::Display for ClockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Backwards { now, asked } => write!(
                f,
                "the clock never goes backwards: it reads {}, {} is earlier",
                crate::render::timestamp(*now),
                crate::render::timestamp(*asked)
            ),
            Self::TooFar => f.write_str("the clock may run at most 100 years ahead of the real one"),
        }
    }
}

impl std::error::Error for ClockError {}

/// The clock every account of a simulator reads.
#[derive(Debug, Default)]
pub struct Clock {
    /// The simulated time, when one is set; `None` reads the real UTC clock.
    simulated: Mutex<Option<OffsetDateTime>>,
}

impl Clock {
    /// The real UTC clock, or a simulated one standing at `start`.
    pub fn new(start: Option<OffsetDateTime>) -> Self {
        Self { simulated: Mutex::new(start.map(|t| t.to_offset(time::UtcOffset::UTC))) }
    }

    fn simulated(&self) -> std::sync::MutexGuard<'_, Option<OffsetDateTime>> {
        // A plain value behind the lock: a panic elsewhere cannot leave it half-written.
        self.simulated.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time now, in UTC.
    pub fn now(&self) -> OffsetDateTime {
        self.simulated().unwrap_or_else(OffsetDateTime::now_utc)
    }

    pub fn is_simulated(&self) -> bool {
        self.simulated().is_some()
    }

    /// When a change that takes `takes` of real time lands: that much later on the real clock,
    /// at once on a simulated one (which does not move during a transition).
    pub fn landing(&self, takes: Duration) -> OffsetDateTime {
        match *self.simulated() {
            Some(now) => now,
            None => OffsetDateTime::now_utc() + takes,
        }
    }

    /// How long a transition of `takes` real time lasts as this clock tells it.
    pub fn span(&self, takes: Duration) -> Duration {
        if self.is_simulated() { Duration::ZERO } else { takes }
    }

    /// Sets the simulated time to `to` (from then on the clock stands still there).
    pub fn set(&self, to: OffsetDateTime) -> Result<OffsetDateTime, ClockError> {
        let to = to.to_offset(time::UtcOffset::UTC);
        let mut simulated = self.simulated();
        let now = simulated.unwrap_or_else(OffsetDateTime::now_utc);
        if to < now {
            return Err(ClockError::Backwards { now, asked: to });
        }
        if to - OffsetDateTime::now_utc() > MAX_AHEAD {
            return Err(ClockError::TooFar);
        }
        *simulated = Some(to);
        Ok(to)
    }

    /// Moves the clock `seconds` forward from its reading (setting it if it was real).
    pub fn advance(&self, seconds: u64) -> Result<OffsetDateTime, ClockError> {
        let mut simulated = self.simulated();
        let now = simulated.unwrap_or_else(OffsetDateTime::now_utc);
        let step = i64::try_from(seconds).map(time::Duration::seconds).map_err(|_| ClockError::TooFar)?;
        let to = now.checked_add(step).ok_or(ClockError::TooFar)?;
        if to - OffsetDateTime::now_utc() > MAX_AHEAD {
            return Err(ClockError::TooFar);
        }
        *simulated = Some(to);
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_simulated_clock_stands_still_until_moved_and_never_goes_back() {
        let clock = Clock::new(Some(datetime!(2026-03-01 00:00 UTC)));
        assert_eq!(clock.now(), datetime!(2026-03-01 00:00 UTC));
        assert_eq!(clock.landing(Duration::from_secs(5)), datetime!(2026-03-01 00:00 UTC));
        assert_eq!(clock.advance(90), Ok(datetime!(2026-03-01 00:01:30 UTC)));
        assert!(matches!(clock.set(datetime!(2026-03-01 00:01 UTC)), Err(ClockError::Backwards { .. })));
        assert_eq!(clock.now(), datetime!(2026-03-01 00:01:30 UTC), "a refused move changes nothing");
        assert_eq!(clock.set(datetime!(2026-04-01 00:00 UTC)), Ok(datetime!(2026-04-01 00:00 UTC)));
    }

    #[test]
    fn the_real_clock_lands_changes_after_their_transition() {
        let clock = Clock::new(None);
        let before = OffsetDateTime::now_utc();
        assert!(clock.landing(Duration::from_secs(60)) >= before + time::Duration::seconds(60));
        assert!(!clock.is_simulated());
        assert!(clock.set(before - time::Duration::hours(1)).is_err(), "before the real time is backwards");
        assert_eq!(clock.advance(u64::MAX), Err(ClockError::TooFar));
        assert_eq!(clock.advance(200 * 366 * 86_400), Err(ClockError::TooFar));
    }
}
