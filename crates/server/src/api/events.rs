//! `/api/v1/events`: what happened, oldest first, as a list (paged by cursor) and as a stream
//! (Server-Sent Events, resumable with `Last-Event-ID`).
//!
//! Events are CloudEvents 1.0 JSON ([`nephele_engine::events`]). A key limited to some accounts
//! sees only their events; the server's own (API keys, webhooks) are for admin keys that are not
//! limited, who alone may list keys and webhooks. A cursor is an event
//! id; the outbox numbers events without holes in commit order, so reading on from a cursor
//! gives every later event exactly once, and a cursor whose successors were purged
//! (`events.retention_days`) is refused with 410 `event_cursor_expired` rather than skipping.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::{Extension, Json};
use futures_util::Stream;
use nephele_engine::events::{self, Event, Reader};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::query::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;

/// The most events one page holds.
const MAX_LIMIT: i64 = 1000;
/// Events the stream reads from the database at a time.
const STREAM_BATCH: i64 = 500;

/// An event, as CloudEvents 1.0 structured JSON.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// Always `1.0`.
    pub specversion: String,
    /// Sortable; also the `webhook-id` of its deliveries and the stream's `id:`.
    pub id: String,
    /// `nephele.<kind>.<change>`: see the README's list of event types.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The account, or `nephele` for the server's own events.
    pub source: String,
    /// The resource: `operations/<id>`, `instances/<id>`, `keys/<id>`, `webhooks/<id>`.
    pub subject: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The resource as the API shows it (a create's `user_data` redacted).
    pub data: serde_json::Value,
}

impl From<Event> for EventView {
    fn from(event: Event) -> Self {
        Self {
            specversion: "1.0".to_owned(),
            id: event.id,
            event_type: event.event_type,
            source: event.source,
            subject: event.subject,
            time: event.time,
            datacontenttype: "application/json".to_owned(),
            data: event.data,
        }
    }
}

/// A page of events, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
    /// The cursor to read on from (the last event's id); absent when the page is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `?after=&type=&account=&limit=` on the event list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events after this one (an event id, as `next` or the stream's `id:` gives it).
    #[param(pattern = "^evt_[0-7][0-9a-f]{23}$")]
    after: Option<String>,
    /// Only events of this type (`nephele.instance.deleted`): `nephele.<kind>.<change>`.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^nephele\\.[a-z0-9_]{1,64}\\.[a-z0-9_]{1,64}$")]
    event_type: Option<String>,
    /// Only events of this account (1-64 characters).
    #[param(min_length = 1, max_length = 64)]
    account: Option<String>,
    /// At most this many (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// `?after=&type=&account=` on the stream.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this event (`Last-Event-ID` wins when both are given); without either, the
    /// stream starts with the next event written.
    #[param(pattern = "^evt_[0-7][0-9a-f]{23}$")]
    after: Option<String>,
    /// Only events of this type: `nephele.<kind>.<change>`.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^nephele\\.[a-z0-9_]{1,64}\\.[a-z0-9_]{1,64}$")]
    event_type: Option<String>,
    /// Only events of this account (1-64 characters).
    #[param(min_length = 1, max_length = 64)]
    account: Option<String>,
}

/// What `principal` may read: its accounts' events, and the server's own (API keys, webhooks)
/// only for an admin key not limited to some accounts, as only such a key lists them.
fn reader(principal: &Principal) -> Reader<'_> {
    Reader {
        scope: principal.scope(),
        server_events: principal.role == crate::auth::Role::Admin && principal.scope().is_none(),
    }
}

fn cursor(field: &str, text: &str) -> Result<i64, ApiError> {
    events::parse_cursor(text).ok_or_else(|| ApiError::invalid_field(field, "is not an event id (evt_...)"))
}

fn check_filters(event_type: Option<&str>, account: Option<&str>) -> Result<(), ApiError> {
    if event_type.is_some_and(|t| events::EventType::parse(t).is_none()) {
        return Err(ApiError::invalid_field("type", "must be an event type, nephele.<kind>.<change>"));
    }
    if account.is_some_and(|a| a.is_empty() || a.chars().count() > 64) {
        return Err(ApiError::invalid_field("account", "must be an account name"));
    }
    Ok(())
}

/// Events the key may see, oldest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses(
        (status = 200, description = "Events, oldest first", body = EventList),
        (status = 410, description = "Events after `after` were purged (`event_cursor_expired`)", body = super::error::Problem,
            content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<Json<EventList>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be a number from 1 to 1000"));
    }
    check_filters(query.event_type.as_deref(), query.account.as_deref())?;
    let after = query.after.as_deref().map(|a| cursor("after", a)).transpose()?;
    let reader = reader(&principal);
    let page = events::read(
        &state.engine,
        reader,
        after,
        query.event_type.as_deref(),
        query.account.as_deref(),
        limit,
    )
    .await?;
    let next = page.last().map(|e| e.id.clone());
    Ok(Json(EventList { events: page.into_iter().map(EventView::from).collect(), next }))
}

/// Where a stream stands.
struct Streaming {
    state: Arc<AppState>,
    scope: Option<Vec<String>>,
    server_events: bool,
    event_type: Option<String>,
    account: Option<String>,
    /// The last event sent (or the start).
    cursor: i64,
    ready: VecDeque<Event>,
    written: tokio::sync::watch::Receiver<u64>,
    /// The server stopping ends the stream (a client resumes elsewhere with `Last-Event-ID`).
    stopping: tokio::sync::watch::Receiver<bool>,
    ended: bool,
}

impl Streaming {
    /// The next frame: an event, or a final `error` frame when the stream cannot go on.
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Self)> {
        let poll = Duration::from_millis(self.state.config.events.poll_interval_ms);
        loop {
            if let Some(event) = self.ready.pop_front() {
                let frame = SseEvent::default()
                    .id(event.id.clone())
                    .event(event.event_type.clone())
                    .data(serde_json::to_string(&EventView::from(event)).unwrap_or_default());
                return Some((Ok(frame), self));
            }
            if self.ended || *self.stopping.borrow() {
                return None;
            }
            self.written.borrow_and_update();
            let reader = Reader { scope: self.scope.as_deref(), server_events: self.server_events };
            let read = events::read(
                &self.state.engine,
                reader,
                Some(self.cursor),
                self.event_type.as_deref(),
                self.account.as_deref(),
                STREAM_BATCH,
            )
            .await;
            match read {
                Ok(batch) if !batch.is_empty() => {
                    self.cursor = batch.last().map_or(self.cursor, |e| e.seq);
                    self.ready.extend(batch);
                }
                Ok(_) => {
                    tokio::select! {
                        () = tokio::time::sleep(poll) => {}
                        _ = self.written.changed() => {}
                        _ = self.stopping.changed() => {}
                    }
                }
                Err(failure) => {
                    self.ended = true;
                    let problem = ApiError(failure).problem_json();
                    let frame = SseEvent::default().event("error").data(problem.to_string());
                    return Some((Ok(frame), self));
                }
            }
        }
    }
}

/// One frame of the event stream, as a Server-Sent Events parser reads it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StreamFrame {
    /// The event as JSON text (an `EventView`); in a final `error` frame, a problem document.
    data: String,
    /// The event's type (`nephele.instance.deleted`), or `error`.
    event: String,
    /// The event's id, what `Last-Event-ID` resumes after (absent on an `error` frame).
    id: Option<String>,
}

/// Events as Server-Sent Events: `id:` (the event id), `event:` (its type) and `data:` (the
/// event's JSON) per event, and a `: heartbeat` comment every `events.heartbeat_secs` (15) while
/// nothing happens. Reconnect with `Last-Event-ID` to get every event after it, once, in order.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = "^evt_[0-7][0-9a-f]{23}$", description = "Resume after this event (an event id)")),
    responses(
        (status = 200, description = "An endless stream of events (text/event-stream), each frame as StreamFrame says", content_type = "text/event-stream", body = StreamFrame),
        (status = 410, description = "Events after the cursor were purged (`event_cursor_expired`)", body = super::error::Problem,
            content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn stream(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    check_filters(query.event_type.as_deref(), query.account.as_deref())?;
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(cursor("Last-Event-ID", value.to_str().unwrap_or_default())?),
        None => query.after.as_deref().map(|a| cursor("after", a)).transpose()?,
    };
    let reader = reader(&principal);
    let start = match resume {
        Some(seq) => {
            // Refused now, as a problem document, rather than after the stream has begun.
            events::read(
                &state.engine,
                reader,
                Some(seq),
                query.event_type.as_deref(),
                query.account.as_deref(),
                1,
            )
            .await?;
            seq
        }
        None => state.store.event_bounds().await?.last_seq,
    };
    let heartbeat = Duration::from_secs(state.config.events.heartbeat_secs);
    let streaming = Streaming {
        written: state.store.watch_events(),
        stopping: state.stopping.subscribe(),
        scope: principal.scope().map(<[String]>::to_vec),
        server_events: reader.server_events,
        event_type: query.event_type,
        account: query.account,
        cursor: start,
        ready: VecDeque::new(),
        ended: false,
        state,
    };
    let frames = futures_util::stream::unfold(streaming, Streaming::next);
    Ok(Sse::new(frames).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")))
}
