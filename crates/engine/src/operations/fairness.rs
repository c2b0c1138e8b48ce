//! Fair shares of the provider between API keys.
//!
//! Each key may have a few provider steps under way at once in this server
//! (`operations.max_in_flight_per_key`). A request whose key is at its share records its
//! operation and answers 202 at once; the worker takes due operations least-busy key first. So
//! one key submitting 200 creates keeps only a few requests in the provider's queue, and another
//! key's create is served after those few, not after the 200. (The client's rate budget paces
//! requests past a burst, so those few are never far ahead.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Steps under way per key.
pub struct KeyGate {
    max_per_key: usize,
    in_flight: Mutex<HashMap<String, usize>>,
}

/// One step's place; dropping it frees the place.
pub struct KeyPass {
    gate: Arc<KeyGate>,
    key: String,
}

impl KeyGate {
    pub fn new(max_per_key: usize) -> Self {
        Self { max_per_key: max_per_key.max(1), in_flight: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for one of `key`'s steps, or `None` when the key has its share under way.
    pub fn try_enter(self: &Arc<Self>, key: &str) -> Option<KeyPass> {
        let mut in_flight = self.lock();
        let count = in_flight.entry(key.to_owned()).or_default();
        if *count >= self.max_per_key {
            return None;
        }
        *count += 1;
        Some(KeyPass { gate: self.clone(), key: key.to_owned() })
    }

    /// The keys that have their whole share under way (to be left out of a search for work).
    pub fn full(&self) -> Vec<String> {
        self.lock().iter().filter(|(_, n)| **n >= self.max_per_key).map(|(k, _)| k.clone()).collect()
    }

    /// How many of `key`'s steps are under way.
    pub fn in_flight(&self, key: &str) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

impl Drop for KeyPass {
    fn drop(&mut self) {
        let mut in_flight = self.gate.lock();
        if let Some(count) = in_flight.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_share_and_no_more_and_others_are_unaffected() {
        let gate = Arc::new(KeyGate::new(2));
        let first = gate.try_enter("a").expect("one");
        let _second = gate.try_enter("a").expect("two");
        assert!(gate.try_enter("a").is_none(), "a third waits");
        assert!(gate.try_enter("b").is_some(), "another key is not held back");
        drop(first);
        assert_eq!(gate.in_flight("a"), 1);
        assert!(gate.try_enter("a").is_some(), "a freed place is taken again");
    }
}
