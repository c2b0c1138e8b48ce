//! Keys verified once, not per request: a bounded map from the digest of a presented key (never
//! the key itself) to the principal it stood for when the database was last asked.
//!
//! - Only keys that checked out are kept, so a flood of random keys cannot grow it; it holds at
//!   most `capacity` entries and forgets the oldest first.
//! - A revocation empties it at once on the replica that made it, and on every other replica at
//!   its next look at the database's key revision (housekeeping reads it every second; see
//!   `auth.revocation_delay_secs`).
//! - A check that read the database before a revocation cannot put its answer back after it:
//!   each insert carries the generation it started in, and a stale one is dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::Principal;

type KeyDigest = [u8; 32];

struct Entries {
    by_digest: HashMap<KeyDigest, Principal>,
    order: VecDeque<KeyDigest>,
}

/// The verified keys of this process.
pub struct KeyCache {
    capacity: usize,
    entries: Mutex<Entries>,
    /// Goes up with every emptying; an insert from an older generation is dropped.
    generation: AtomicU64,
    /// The database's key revision last seen (see [`crate::store::Store::key_revision`]).
    seen_revision: AtomicU64,
}

/// A lookup's place in time, to be handed back with what it found.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    digest: KeyDigest,
    generation: u64,
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(Entries { by_digest: HashMap::new(), order: VecDeque::new() }),
            generation: AtomicU64::new(0),
            seen_revision: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The principal `presented` stood for, when it was verified and nothing was revoked since;
    /// otherwise a ticket to [`KeyCache::remember`] what the database says.
    pub fn lookup(&self, presented: &str) -> Result<Principal, Ticket> {
        let digest: KeyDigest = Sha256::digest(presented.as_bytes()).into();
        let generation = self.generation.load(Ordering::Acquire);
        match self.lock().by_digest.get(&digest) {
            Some(principal) => Ok(principal.clone()),
            None => Err(Ticket { digest, generation }),
        }
    }

    /// Keeps a key the database just verified, unless something was revoked since the lookup.
    pub fn remember(&self, ticket: Ticket, principal: &Principal) {
        let mut entries = self.lock();
        // Checked under the lock that `forget_all` takes too: no insert slips past an emptying.
        if self.generation.load(Ordering::Acquire) != ticket.generation {
            return;
        }
        if entries.by_digest.insert(ticket.digest, principal.clone()).is_none() {
            entries.order.push_back(ticket.digest);
        }
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_digest.remove(&oldest);
            }
        }
    }

    /// Forgets every key (a key was revoked).
    pub fn forget_all(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.by_digest.clear();
        entries.order.clear();
    }

    /// Forgets every key when the database's key revision moved since it was last seen (another
    /// replica revoked a key). Returns whether it did.
    pub fn follow_revision(&self, revision: u64) -> bool {
        let seen = self.seen_revision.swap(revision, Ordering::AcqRel);
        let moved = revision != seen;
        if moved {
            self.forget_all();
        }
        moved
    }

    /// Keys held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn principal(id: &str) -> Principal {
        Principal { id: id.to_owned(), role: Role::Viewer, providers: None }
    }

    #[test]
    fn a_verified_key_is_found_again_and_the_oldest_go_past_the_bound() {
        let cache = KeyCache::new(2);
        for key in ["nph_a_1", "nph_b_2", "nph_c_3"] {
            let ticket = cache.lookup(key).expect_err("not yet known");
            cache.remember(ticket, &principal(key));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.lookup("nph_a_1").is_err(), "the oldest went");
        assert_eq!(cache.lookup("nph_c_3").map(|p| p.id).ok(), Some("nph_c_3".to_owned()));
    }

    #[test]
    fn an_answer_read_before_a_revocation_is_not_kept_after_it() {
        let cache = KeyCache::new(10);
        let ticket = cache.lookup("nph_a_1").expect_err("unknown");
        cache.forget_all();
        cache.remember(ticket, &principal("a"));
        assert!(cache.lookup("nph_a_1").is_err(), "stale: the key may have been the one revoked");
    }

    #[test]
    fn another_replicas_revocation_empties_it_once() {
        let cache = KeyCache::new(10);
        let ticket = cache.lookup("nph_a_1").expect_err("unknown");
        cache.remember(ticket, &principal("a"));
        assert!(!cache.follow_revision(0), "nothing revoked yet");
        assert!(cache.follow_revision(1));
        assert!(cache.is_empty());
        assert!(!cache.follow_revision(1));
    }
}
