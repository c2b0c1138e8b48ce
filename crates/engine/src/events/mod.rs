//! Events: facts about the past, written in the same transaction as the change they report
//! (the outbox), listed and streamed by the API, and delivered to webhooks at least once.
//!
//! An event has the attributes of CloudEvents 1.0: `id` (sortable: the outbox's sequence number
//! in fixed-width hex, then a random tail), `type` (`nephele.<kind>.<change>`), `source` (the
//! account, or `nephele` for the server's own facts such as API keys), `subject` (the resource:
//! `operations/<id>`, `instances/<id>`, ...), `time` and `data` (the resource as the API shows
//! it, secrets redacted). Anything in the engine emits through one generic shape, [`NewEvent`]
//! (a kind, a change, an account, a subject and data): inside a store transaction where the
//! change itself is in the database, or with [`emit`] where it is not.
//!
//! - [`views`]: the API's JSON for operations, instances and keys, as events carry it.
//! - [`inventory`]: a refresh's list compared with the last one recorded: appeared, status
//!   changed, deleted (for any kind of resource).
//! - [`webhooks`]: making, changing and rotating webhooks.
//! - [`deliverer`]: the background work that delivers events to webhooks.

pub mod deliverer;
pub mod inventory;
pub mod views;
pub mod webhooks;

use serde_json::{Value, json};

use crate::Engine;
use crate::failure::Failure;
use crate::store::{EventQuery, StoreError};

/// The `source` of events that belong to no account (API keys, webhooks).
pub const SERVER_SOURCE: &str = "nephele";

/// Every event type Nephele emits, with what it means (the README and the API document list
/// them from here).
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("nephele.operation.accepted", "an operation (create, delete, power action) was recorded"),
    (
        "nephele.operation.step",
        "an operation moved on (the provider accepted it) or an attempt failed and will be retried",
    ),
    ("nephele.operation.succeeded", "an operation ended well"),
    ("nephele.operation.failed", "an operation ended in failure (`error` says why)"),
    (
        "nephele.instance.appeared",
        "a refresh found an instance that was not there before (made through Nephele or not)",
    ),
    ("nephele.instance.status_changed", "a refresh found an instance in another status"),
    ("nephele.instance.deleted", "a refresh no longer found an instance"),
    (
        "nephele.<kind>.appeared",
        "a refresh found a volume, snapshot, ssh_key, firewall, reserved_ip or vpc not there before",
    ),
    (
        "nephele.<kind>.status_changed",
        "a refresh found a volume attached or detached (or in another state), a reserved IP assigned or unassigned",
    ),
    ("nephele.<kind>.deleted", "a refresh no longer found a resource of that kind (`data` is its last view)"),
    (
        "nephele.account.added",
        "an account was added at runtime (never with its credentials, only their fingerprint)",
    ),
    ("nephele.account.updated", "a runtime account's credentials or settings were changed"),
    ("nephele.account.removed", "a runtime account was removed"),
    (
        "nephele.account.unreadable",
        "a runtime account's stored credentials do not open (once per transition; `reason` says why)",
    ),
    ("nephele.api_key.created", "an API key was made (never with its secret)"),
    ("nephele.api_key.revoked", "an API key was revoked"),
    ("nephele.webhook.disabled", "a webhook was disabled because its endpoint answered 410 Gone"),
    ("nephele.webhook.test", "a test event sent to one webhook on request"),
    (
        "nephele.budget.threshold_crossed",
        "a budget's threshold was crossed (once per period), with the budget's figures",
    ),
    ("nephele.budget.threshold_recovered", "a budget's threshold in alarm came back under its level"),
];

/// An event type: `nephele.<kind>.<change>`, lower-case letters, digits and underscores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventType(String);

impl EventType {
    /// The type of a `change` to a `kind` of thing (`instance`, `deleted`).
    pub fn new(kind: &str, change: &str) -> Self {
        Self(format!("nephele.{kind}.{change}"))
    }

    /// A type as a caller writes it (a filter, a webhook's list), if it has the right form.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let word = |w: &str| {
            !w.is_empty()
                && w.len() <= 64
                && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("nephele"), Some(kind), Some(change), None) if word(kind) && word(change) => {
                Some(Self(text.to_owned()))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: EventType,
    /// The account, or [`SERVER_SOURCE`].
    pub source: String,
    pub subject: String,
    /// The resource as the API shows it, secrets redacted.
    pub data: Value,
    /// Delivered only to this webhook, whatever it subscribes to (a test event).
    pub only_webhook: Option<String>,
}

impl NewEvent {
    /// A `change` to the `kind` of thing named by `subject`, in `source`.
    pub fn new(kind: &str, change: &str, source: &str, subject: impl Into<String>, data: Value) -> Self {
        Self {
            event_type: EventType::new(kind, change),
            source: source.to_owned(),
            subject: subject.into(),
            data,
            only_webhook: None,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its place in the outbox: gapless, in commit order.
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub source: String,
    pub subject: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub data: Value,
}

impl Event {
    /// The event as CloudEvents 1.0 structured JSON: what the list, the stream and webhooks send.
    pub fn to_json(&self) -> Value {
        json!({
            "specversion": "1.0",
            "id": self.id,
            "type": self.event_type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": "application/json",
            "data": self.data,
        })
    }
}

/// The id of the event numbered `seq`: `evt_`, 16 hex digits of `seq`, 8 random hex digits.
/// Sorting ids as text sorts events in order; the tail keeps ids unique across databases.
pub fn event_id(seq: i64) -> String {
    format!("evt_{seq:016x}{:08x}", fastrand::u32(..))
}

/// The `seq` an event id (a cursor) names, if it is one of ours.
pub fn parse_cursor(id: &str) -> Option<i64> {
    let hex = id.strip_prefix("evt_")?;
    if hex.len() != 24 || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    i64::from_str_radix(&hex[..16], 16).ok().filter(|seq| *seq >= 0)
}

/// Appends `events` in a transaction of their own and wakes this process's streams and
/// deliverer. For facts that are not a database change of their own (a budget crossing a
/// threshold, an account found unreadable): where the change is in the database, write its
/// events in its transaction instead.
pub async fn emit(engine: &Engine, events: &[NewEvent]) -> Result<(), StoreError> {
    engine.store.append_events(events).await?;
    Ok(())
}

/// Who reads events: the accounts they may see (`None`: all), and whether they see the
/// server's own events (API keys, webhooks: what only admins may list).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub scope: Option<&'a [String]>,
    pub server_events: bool,
}

/// The events after `after` (a cursor: an event id, or `None` for the oldest kept), oldest first.
///
/// A cursor older than the retention (events after it were purged) is refused with
/// `event_cursor_expired`: the reader would otherwise miss events without knowing.
pub async fn read(
    engine: &Engine,
    reader: Reader<'_>,
    after: Option<i64>,
    event_type: Option<&str>,
    account: Option<&str>,
    limit: i64,
) -> Result<Vec<Event>, Failure> {
    let cursor = after.unwrap_or(0);
    let query = EventQuery {
        after: cursor,
        event_type,
        account,
        scope: reader.scope,
        server_events: reader.server_events,
        limit,
    };
    let events = engine.store.list_events(&query).await?;
    // Sequence numbers have no holes: the next event after the cursor is cursor + 1, unless it
    // was purged. (Checked after the read: a purge racing it can only make us refuse.)
    if after.is_some() {
        let bounds = engine.store.event_bounds().await?;
        if cursor < bounds.purged_through {
            return Err(Failure::new(
                nephele_core::ErrorCode::EventCursorExpired,
                format!(
                    "events after this cursor were purged (events are kept {} days, events.retention_days); list from the oldest kept, without a cursor",
                    engine.config.events.retention_days
                ),
            ));
        }
        if cursor > bounds.last_seq {
            return Err(Failure::invalid_field("after", "names no event written here"));
        }
    }
    Ok(events)
}
