//! How many audit rows one caller's refused and failed requests may write.
//!
//! A request that changed nothing (refused for its role or scope, or failed: a bad path, a bad
//! body, an unknown provider) is still worth recording, but a caller can send them as fast as the
//! server answers. So each principal (an API key, or everyone at once when the API runs open)
//! writes at most `per_window` such entries per window as they happen; past that, its requests
//! are counted, by status and outcome, and written as one entry each when the window ends (with
//! `count`, path `*`), as failed authentication already is ([`super::failures`]).
//!
//! Entries of requests that succeeded are always written: each stands for a change that is
//! itself stored (an operation, a key) and bounded where it is made.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::AuditEntry;

/// What a summary entry keeps of the requests it stands for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Kind {
    role: Option<String>,
    status: u16,
    outcome: String,
}

/// One principal's window.
struct Spent {
    since: Instant,
    written: u64,
    /// Requests past the allowance, not yet written.
    over: BTreeMap<Kind, u64>,
}

/// The budgets of every principal, shared by every request.
pub struct AuditBudget {
    window: Duration,
    per_window: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    spent: HashMap<String, Spent>,
    /// Summaries of windows that ended while their principal was still sending.
    ready: Vec<AuditEntry>,
}

/// Whether an entry is to be written now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Write,
    /// Counted; it will be written in its principal's summary when the window ends.
    Counted,
}

impl AuditBudget {
    pub fn new(window: Duration, per_window: u64) -> Self {
        Self { window, per_window, state: Mutex::new(State::default()) }
    }

    /// Whether `entry` (of a request that changed nothing) is written now or counted.
    pub fn admit(&self, entry: &AuditEntry, now: Instant) -> Admission {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let State { spent, ready } = &mut *state;
        let window = self.window;
        let mine = spent.entry(entry.principal.clone()).or_insert_with(|| Spent {
            since: now,
            written: 0,
            over: BTreeMap::new(),
        });
        if now.duration_since(mine.since) >= window {
            ready.extend(summaries(&entry.principal, std::mem::take(&mut mine.over)));
            mine.since = now;
            mine.written = 0;
        }
        if mine.written < self.per_window {
            mine.written += 1;
            return Admission::Write;
        }
        let kind = Kind { role: entry.role.clone(), status: entry.status, outcome: entry.outcome.clone() };
        *mine.over.entry(kind).or_default() += 1;
        Admission::Counted
    }

    /// The summaries due: every window that has ended, and those set aside since the last call.
    pub fn drain_ended(&self, now: Instant) -> Vec<AuditEntry> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let State { spent, ready } = &mut *state;
        let mut due = std::mem::take(ready);
        spent.retain(|principal, mine| {
            if now.duration_since(mine.since) < self.window {
                return true;
            }
            due.extend(summaries(principal, std::mem::take(&mut mine.over)));
            false
        });
        due
    }
}

fn summaries(principal: &str, over: BTreeMap<Kind, u64>) -> impl Iterator<Item = AuditEntry> + '_ {
    over.into_iter().map(move |(kind, count)| AuditEntry {
        principal: principal.to_owned(),
        role: kind.role,
        method: "*".to_owned(),
        path: "*".to_owned(),
        count,
        ..AuditEntry::new(kind.status, &kind.outcome)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(principal: &str, status: u16) -> AuditEntry {
        AuditEntry { principal: principal.to_owned(), ..AuditEntry::new(status, "denied") }
    }

    #[test]
    fn past_its_allowance_a_key_is_counted_and_summarised_when_the_window_ends() {
        let budget = AuditBudget::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        let admitted: Vec<_> = (0..10).map(|_| budget.admit(&refused("k1", 403), t0)).collect();
        assert_eq!(admitted.iter().filter(|a| **a == Admission::Write).count(), 3);
        budget.admit(&refused("k1", 404), t0);
        // Another key has its own allowance.
        assert_eq!(budget.admit(&refused("k2", 403), t0), Admission::Write);
        assert!(budget.drain_ended(t0 + Duration::from_secs(59)).is_empty());
        let mut due = budget.drain_ended(t0 + Duration::from_secs(60));
        due.sort_by_key(|e| (e.principal.clone(), e.status));
        let seen: Vec<_> =
            due.iter().map(|e| (e.principal.as_str(), e.status, e.count, e.path.as_str())).collect();
        assert_eq!(seen, vec![("k1", 403, 7, "*"), ("k1", 404, 1, "*")]);
    }

    #[test]
    fn a_request_after_the_window_sets_the_last_windows_summary_aside() {
        let budget = AuditBudget::new(Duration::from_secs(60), 1);
        let t0 = Instant::now();
        budget.admit(&refused("k1", 403), t0);
        budget.admit(&refused("k1", 403), t0);
        assert_eq!(budget.admit(&refused("k1", 403), t0 + Duration::from_secs(61)), Admission::Write);
        let due = budget.drain_ended(t0 + Duration::from_secs(62));
        assert_eq!(due.iter().map(|e| e.count).collect::<Vec<_>>(), vec![1]);
    }
}
