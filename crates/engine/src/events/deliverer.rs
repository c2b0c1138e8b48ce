//! The deliverer: claims due deliveries and makes one attempt at each, many at a time.
//!
//! - **At least once, across replicas and crashes.** A delivery row is written with its event
//!   (same transaction), claimed with a lease as operations are (the UPDATE re-checks the lease,
//!   so two replicas cannot both win), and marked delivered only after a 2xx. A server that dies
//!   mid-attempt leaves the lease to run out (`webhooks.lease_secs`); then another takes it and
//!   sends again, with the same `webhook-id` (the event id), so the receiver can drop the copy.
//! - **A slow or failing endpoint does not delay the others.** Each endpoint has at most
//!   `webhooks.max_in_flight_per_endpoint` attempts under way in one server, out of
//!   `webhooks.concurrency`; candidates of a busy endpoint are passed over, and failures wait
//!   out their backoff without holding a slot.
//! - **Outcomes.** 2xx: delivered. 410: the webhook is disabled (and a `nephele.webhook.disabled`
//!   event says so), the delivery failed. 429/503 with `Retry-After`: tried again after it
//!   (clamped), within the schedule's span. Anything else: the retry schedule (backoff with
//!   jitter, 3 days by default), then failed.
//!
//! Events written by this process wake it at once; those of other replicas are found by polling
//! every `events.poll_interval_ms`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nephele_webhooks::{MessageId, Outcome, Url};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::{NewEvent, SERVER_SOURCE};
use crate::Engine;
use crate::store::{AttemptRecord, DeliveryRecord, DeliveryState, StoreError, now_ms};

/// Attempts counted as they end, for `/metrics` (this process's).
#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    pub delivered: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Deliveries given up (schedule spent, 410, or nothing to send).
    pub failed: AtomicU64,
    /// Attempts by outcome label (`delivered`, `gone`, `retry_after`, `failed`, `refused`), and
    /// `unsigned` for deliveries whose secret did not open (nothing sent).
    pub by_outcome: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl DeliveryMetrics {
    fn count(&self, outcome: &'static str) {
        *self
            .by_outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(outcome)
            .or_default() += 1;
    }

    /// Attempts by outcome so far.
    pub fn outcomes(&self) -> Vec<(&'static str, u64)> {
        self.by_outcome
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

/// Deliveries claimed at most per statement.
const BATCH: usize = 64;

/// Starts the deliverer; it runs until `stopping` turns true.
pub fn spawn(engine: Arc<Engine>, mut stopping: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Secrets stored in plain before they were sealed at rest are sealed first (when this
        // server has a master key); they sign either way.
        if let Err(e) = super::webhooks::seal_plain_secrets(&engine).await {
            tracing::error!(error = %e.detail, "cannot seal the webhooks' signing secrets stored in plain; they keep signing as they are");
        }
        let settings = &engine.webhooks;
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let idle = Duration::from_millis(engine.config.events.poll_interval_ms);
        let mut written = engine.store.watch_events();
        let mut attempts = tokio::task::JoinSet::new();
        loop {
            // Wait for room for one attempt, then claim as many as there is room for.
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = stopping.wait_for(|stop| *stop) => break,
            };
            written.borrow_and_update();
            let room = (slots.available_permits() + 1).min(BATCH);
            let busy = settings.endpoint_gate.full();
            let claimed = engine
                .store
                .claim_deliveries(&settings.owner, settings.lease_ms, i64::try_from(room).unwrap_or(1), &busy)
                .await;
            let mut first = Some(first);
            let pause = match claimed {
                Ok(claimed) if claimed.is_empty() => Some(idle),
                Ok(claimed) => {
                    for delivery in claimed {
                        let permit = match first.take() {
                            Some(permit) => Some(permit),
                            None => slots.clone().try_acquire_owned().ok(),
                        };
                        let (Some(permit), Some(pass)) =
                            (permit, settings.endpoint_gate.try_enter(&delivery.webhook_id))
                        else {
                            // This endpoint (or this server) is full: hand the delivery back.
                            if let Err(e) = engine.store.release_delivery(&delivery.id, &settings.owner).await
                            {
                                tracing::warn!(error = %e, "cannot hand a delivery back; its lease runs out on its own");
                            }
                            continue;
                        };
                        let engine = engine.clone();
                        attempts.spawn(async move {
                            if let Err(e) = attempt(&engine, &delivery).await {
                                tracing::error!(delivery_id = %delivery.id, error = %e, "cannot record a delivery attempt");
                            }
                            drop((pass, permit));
                        });
                    }
                    None
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim due deliveries");
                    Some(idle * 4)
                }
            };
            drop(first);
            while attempts.try_join_next().is_some() {}
            if let Some(pause) = pause {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = written.changed() => {}
                    _ = stopping.wait_for(|stop| *stop) => break,
                }
            }
        }
        attempts.shutdown().await;
    })
}

/// Gives back every delivery this process holds, due at once (a clean stop).
pub async fn hand_back(engine: &Engine) {
    if let Err(e) = engine.store.release_delivery_leases(&engine.webhooks.owner).await {
        tracing::warn!(error = %e, "cannot hand deliveries back; their leases run out on their own");
    }
}

/// What an attempt that could not be made records.
fn not_sent(reason: String) -> AttemptRecord {
    AttemptRecord {
        state: DeliveryState::Failed,
        next_attempt_ms: 0,
        attempted_ms: now_ms(),
        status: None,
        outcome: "failed".to_owned(),
        error: Some(reason),
        response: String::new(),
        response_truncated: false,
        disable_webhook: None,
    }
}

/// One attempt at `delivery` (claimed by this process), recorded.
async fn attempt(engine: &Engine, delivery: &DeliveryRecord) -> Result<(), StoreError> {
    let settings = &engine.webhooks;
    let owner = &settings.owner;
    let webhook = engine.store.get_webhook(&delivery.webhook_id).await?;
    let event = engine.store.get_event(delivery.event_seq).await?;
    let (Some(webhook), Some(event)) = (webhook, event) else {
        settings.metrics.failed.fetch_add(1, Ordering::Relaxed);
        let record = not_sent("the webhook or the event no longer exists".to_owned());
        engine.store.record_attempt(delivery, owner, &record, &[]).await?;
        return Ok(());
    };
    let keys = match super::webhooks::signing_keys(engine, &webhook) {
        Ok(keys) => keys,
        Err(reason) => {
            tracing::error!(delivery_id = %delivery.id, webhook_id = %webhook.id, reason = %reason, "a delivery cannot be signed; nothing is sent");
            settings.metrics.failed.fetch_add(1, Ordering::Relaxed);
            settings.metrics.count("unsigned");
            let record = not_sent(reason);
            engine.store.record_attempt(delivery, owner, &record, &[]).await?;
            return Ok(());
        }
    };
    let (Ok(url), Ok(id)) = (Url::parse(&webhook.url), MessageId::parse(event.id.clone())) else {
        settings.metrics.failed.fetch_add(1, Ordering::Relaxed);
        let record = not_sent("the webhook's URL or the event id is unreadable".to_owned());
        engine.store.record_attempt(delivery, owner, &record, &[]).await?;
        return Ok(());
    };
    let body = serde_json::to_vec(&event.to_json()).unwrap_or_default();
    let message = nephele_webhooks::Message { id, body: body.into() };
    let started_ms = now_ms();
    let sent = settings.sender.attempt(&url, &message, &keys).await;
    settings.metrics.count(sent.outcome.label());
    let first_ms = delivery.first_attempt_ms.unwrap_or(started_ms);
    let since_first = Duration::from_millis(u64::try_from(now_ms() - first_ms).unwrap_or(0));
    let failed_attempt = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
    let due_in = |delay: Duration| now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    let (state, next_attempt_ms, disable) = match &sent.outcome {
        Outcome::Delivered => (DeliveryState::Delivered, 0, None),
        Outcome::Gone => (
            DeliveryState::Failed,
            0,
            Some("the endpoint answered 410 Gone, which asks for it to be disabled".to_owned()),
        ),
        // As long as the receiver asks, within the schedule's span from the first attempt.
        Outcome::RetryAfter { delay, .. } if since_first + *delay <= settings.schedule.total_span() => {
            (DeliveryState::Pending, due_in(*delay), None)
        }
        Outcome::RetryAfter { .. } => (DeliveryState::Failed, 0, None),
        Outcome::Failed(_) | Outcome::Refused(_) => {
            match settings.schedule.delay_after(failed_attempt, since_first, fastrand::f64()) {
                Some(delay) => (DeliveryState::Pending, due_in(delay), None),
                None => (DeliveryState::Failed, 0, None),
            }
        }
    };
    match state {
        DeliveryState::Delivered => settings.metrics.delivered.fetch_add(1, Ordering::Relaxed),
        DeliveryState::Pending => settings.metrics.retried.fetch_add(1, Ordering::Relaxed),
        DeliveryState::Failed => settings.metrics.failed.fetch_add(1, Ordering::Relaxed),
    };
    let events = match &disable {
        Some(reason) => vec![NewEvent::new(
            "webhook",
            "disabled",
            SERVER_SOURCE,
            format!("webhooks/{}", webhook.id),
            serde_json::json!({ "id": webhook.id, "enabled": false, "disabled_reason": reason }),
        )],
        None => Vec::new(),
    };
    let record = AttemptRecord {
        state,
        next_attempt_ms,
        attempted_ms: started_ms,
        status: sent.status.map(i64::from),
        outcome: sent.outcome.label().to_owned(),
        error: sent.reason(),
        response: sent.response.text.clone(),
        response_truncated: sent.response.truncated,
        disable_webhook: disable,
    };
    if !engine.store.record_attempt(delivery, owner, &record, &events).await? {
        tracing::warn!(delivery_id = %delivery.id, "a delivery's lease ran out during its attempt; another server owns it now");
    }
    Ok(())
}
