//! The engine's clock for what it records about money: the real UTC clock, or one that stands
//! still until it is set (tests, demos), so that cost history and budgets can be checked to the
//! cent against a simulator whose clock is set too, without sleeping.
//!
//! Only the spend code (cost history, budgets) reads this clock; leases, timeouts and the
//! inventory's ages keep real time. A set clock never goes backwards: history already recorded
//! would otherwise be recorded again.

use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use tokio::sync::watch;

/// The real clock, or a set one.
#[derive(Clone)]
pub struct Clock {
    set: Option<Arc<RwLock<OffsetDateTime>>>,
    /// Changes whenever a set clock moves: the recorder records at once.
    moved: watch::Sender<OffsetDateTime>,
}

impl Clock {
    /// The real UTC clock.
    pub fn system() -> Self {
        Self { set: None, moved: watch::Sender::new(OffsetDateTime::UNIX_EPOCH) }
    }

    /// A clock standing at `at` until [`Clock::set`] moves it.
    pub fn standing_at(at: OffsetDateTime) -> Self {
        Self { set: Some(Arc::new(RwLock::new(at))), moved: watch::Sender::new(at) }
    }

    pub fn now(&self) -> OffsetDateTime {
        match &self.set {
            None => OffsetDateTime::now_utc(),
            Some(at) => *at.read().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.is_some()
    }

    /// Moves a set clock to `to` (never backwards); the real clock cannot be set.
    pub fn set(&self, to: OffsetDateTime) -> Result<(), String> {
        let Some(at) = &self.set else { return Err("the real clock cannot be set".to_owned()) };
        {
            let mut at = at.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if to < *at {
                return Err(format!("the clock never goes backwards: it reads {}, {to} is earlier", *at));
            }
            *at = to;
        }
        self.moved.send_replace(to);
        Ok(())
    }

    /// Told whenever a set clock moves.
    pub fn watch(&self) -> watch::Receiver<OffsetDateTime> {
        self.moved.subscribe()
    }
}
