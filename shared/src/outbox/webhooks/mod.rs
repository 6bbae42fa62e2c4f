//! Delivery to organizations' webhook endpoints, the Standard Webhooks way: each event
//! fanned out to the endpoints that want it, signed by every secret that signs, at least
//! once, retried on the schedule ([`crate::model::webhook::RETRY_SCHEDULE`]) until
//! delivered or spent, every attempt in the endpoint's log, and an endpoint failing for
//! [`DISABLE_AFTER`] disabled.
//!
//! The same code runs in the delivering function (events from a queue, due retries on a
//! schedule) and in the local server (events from its publisher, due retries every
//! second).

mod outbound;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::json;

pub use outbound::{MAX_RESPONSE_BYTES, NameRefusal, Outbound, Sent, TIMEOUT};

use crate::aws::{EventSink, KeySealer, SealContext};
use crate::clock::Clock;
use crate::fair_queue::FairQueue;
use crate::metrics;
use crate::model::event::{LifecycleEvent, SOURCE};
use crate::model::webhook::{
    Attempt, DISABLE_AFTER, DISABLED_EVENT, Outcome, PendingDelivery, Webhook, WebhookEvent,
    WebhookStatus, next_attempt,
};
use crate::model::{OrgId, Timestamp, WebhookId};
use crate::store::{ATTEMPTS, Store, StoreError};

/// Due deliveries taken per run.
pub const DUE_PER_RUN: usize = 100;
/// Attempts one run makes at once.
pub const DUE_AT_ONCE: usize = 10;
/// Of those, at most this share (in percent, at least one) for one organization while
/// another's wait.
pub const DUE_ORG_SHARE_PERCENT: usize = 30;
/// How long a taken delivery is hidden from other runs: well past one attempt's
/// [`TIMEOUT`], so it is attempted twice only when its taker died.
pub const DELIVERY_LEASE: time::Duration = time::Duration::minutes(2);
/// No attempt is started with less than this left before the invocation's deadline: one
/// attempt's [`TIMEOUT`], and the writes that record it.
const LEASE_MARGIN: Duration = Duration::from_secs(15);

impl WebhookEvent {
    /// A lifecycle event as its webhooks carry it: `data` is the event's `detail`.
    pub fn of(event: &LifecycleEvent) -> Self {
        Self {
            id: event.detail.event_id.clone(),
            event_type: event.detail_type.as_str().to_owned(),
            org_id: event.detail.org_id.clone(),
            occurred_at: event.detail.occurred_at,
            data: serde_json::to_value(&event.detail).expect("details serialize"),
        }
    }

    /// A lifecycle event as the bus delivers it to a queue (EventBridge's envelope);
    /// `None` for anything else.
    pub fn from_bus(text: &str) -> Option<Self> {
        let envelope: serde_json::Value = serde_json::from_str(text).ok()?;
        if envelope.get("source")?.as_str()? != SOURCE {
            return None;
        }
        let detail = envelope.get("detail")?;
        Some(Self {
            id: detail.get("eventId")?.as_str()?.to_owned(),
            event_type: envelope.get("detail-type")?.as_str()?.to_owned(),
            org_id: OrgId::parse(detail.get("orgId")?.as_str()?)?,
            occurred_at: Timestamp::parse(detail.get("occurredAt")?.as_str()?).ok()?,
            data: detail.clone(),
        })
    }

    /// The Standard Webhooks payload: `{type, timestamp, data}`.
    pub fn body(&self) -> String {
        json!({
            "type": self.event_type,
            "timestamp": self.occurred_at,
            "data": self.data,
        })
        .to_string()
    }
}

/// Logs the address and reason behind a refused host name, which the endpoint's owner is
/// not shown (see [`NameRefusal`]): for operators, and for an owner who asks them why.
pub(crate) fn log_refused_name(org: &OrgId, webhook: Option<&WebhookId>, detail: &str) {
    tracing::warn!(
        org_id = %org,
        webhook_id = webhook.map(tracing::field::display),
        detail,
        "a webhook host name resolves to a refused address"
    );
}

/// What delivering needs: the outbound client and the sealer of the endpoints' secrets.
#[derive(Clone)]
pub struct Deliverer {
    outbound: Outbound,
    sealer: Arc<dyn KeySealer>,
}

impl Deliverer {
    pub fn new(outbound: Outbound, sealer: Arc<dyn KeySealer>) -> Self {
        Self { outbound, sealer }
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The same deliverer sending through `outbound` (one that trusts a private CA, say).
    pub fn with_outbound(self, outbound: Outbound) -> Self {
        Self { outbound, ..self }
    }

    pub fn sealer(&self) -> &dyn KeySealer {
        self.sealer.as_ref()
    }

    /// Sends `event` to each of its organization's endpoints that wants it, once; a failed
    /// attempt is scheduled again. `Err` only when the store failed, so the caller hands
    /// the event back to be delivered again (some endpoints may then get it twice, with
    /// the same `webhook-id`).
    pub async fn fan_out(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        event: &WebhookEvent,
    ) -> Result<Vec<Attempt>, StoreError> {
        let made = self.fan_out_to(store, clock, event).await?;
        Ok(made.into_iter().map(|(_, attempt)| attempt).collect())
    }

    /// [`Deliverer::fan_out`], each attempt with the endpoint it went to.
    async fn fan_out_to(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        event: &WebhookEvent,
    ) -> Result<Vec<(WebhookId, Attempt)>, StoreError> {
        let endpoints = store.list_webhooks(&event.org_id).await?;
        let wanted: Vec<&Webhook> = endpoints
            .iter()
            .filter(|w| w.wants(&event.event_type))
            .collect();
        let attempts = futures::future::join_all(wanted.iter().map(|webhook| async move {
            let attempt = self.attempt(store, clock, webhook, event, 1).await?;
            Ok((webhook.id.clone(), attempt))
        }))
        .await;
        attempts.into_iter().collect()
    }

    /// Makes the attempts due now, each once across workers, [`DUE_AT_ONCE`] at a time
    /// with organizations in turn (none holds more than [`DUE_ORG_SHARE_PERCENT`] of them
    /// while another's wait, so one tenant's slow endpoints cannot hold everyone's retries);
    /// none is started that could not finish before `deadline`. Returns how many were
    /// made. `Err` only when the due deliveries could not be read; a delivery whose
    /// attempt could not be recorded comes back when its lease runs out.
    pub async fn deliver_due(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        deadline: Option<Instant>,
    ) -> Result<usize, StoreError> {
        let due = store.due_deliveries(clock.now(), DUE_PER_RUN).await?;
        let mut queue = FairQueue::new(
            due.into_iter().map(|d| (d.event.org_id.clone(), d)),
            DUE_AT_ONCE,
            DUE_ORG_SHARE_PERCENT,
        );
        let mut running = FuturesUnordered::new();
        let mut made = 0;
        loop {
            while running.len() < DUE_AT_ONCE {
                if deadline.is_some_and(|d| Instant::now() + LEASE_MARGIN >= d) {
                    break;
                }
                let Some((org, delivery)) = queue.next() else {
                    break;
                };
                running.push(async move { (org, self.retry(store, clock, delivery).await) });
            }
            let Some((org, result)) = running.next().await else {
                break;
            };
            queue.done(&org);
            match result {
                Ok(true) => made += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(org = %org, error = %error, "a due webhook delivery failed; it comes back when its lease ends")
                }
            }
        }
        Ok(made)
    }

    /// One due delivery: leased, attempted, then rescheduled (by [`Deliverer::attempt`])
    /// or dropped. `false` when another worker had it, or it is no longer wanted.
    async fn retry(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        delivery: PendingDelivery,
    ) -> Result<bool, StoreError> {
        let lease = clock.now().plus(DELIVERY_LEASE);
        if !store.take_delivery(&delivery, lease).await? {
            return Ok(false);
        }
        let drop = || store.drop_delivery(&delivery.webhook_id, &delivery.event.id);
        let webhook = store
            .get_webhook(&delivery.event.org_id, &delivery.webhook_id)
            .await?;
        // Deleted or disabled since: what was waiting is dropped, as the owner asked (or
        // as the endpoint's failures decided).
        let Some(webhook) = webhook.filter(|w| w.status == WebhookStatus::Enabled) else {
            drop().await?;
            return Ok(false);
        };
        let attempt = self
            .attempt(store, clock, &webhook, &delivery.event, delivery.attempt)
            .await?;
        // Delivered, or the schedule spent: nothing more to make (otherwise the next
        // attempt has replaced the leased one).
        let spent = next_attempt(delivery.attempt, attempt.attempted_at).is_none();
        if attempt.outcome == Outcome::Delivered || spent {
            drop().await?;
        }
        Ok(true)
    }

    /// One attempt of `event` to `webhook`, numbered `number`: sent, logged, counted, and
    /// on failure scheduled again (or given up, the endpoint disabled if it has failed for
    /// three days).
    pub async fn attempt(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        webhook: &Webhook,
        event: &WebhookEvent,
        number: u32,
    ) -> Result<Attempt, StoreError> {
        let mut attempt = self.send(webhook, event, number, clock.now()).await;
        let now = attempt.attempted_at;
        if attempt.outcome != Outcome::Delivered {
            attempt.next_attempt_at = next_attempt(number, now);
            if let Some(due_at) = attempt.next_attempt_at {
                let pending = PendingDelivery {
                    webhook_id: webhook.id.clone(),
                    event: event.clone(),
                    attempt: number + 1,
                    due_at,
                };
                // Not kept: a retry further along already waits (this was a repeated
                // fan-out), and the log must not promise one more.
                if !store.schedule_delivery(&pending).await? {
                    attempt.next_attempt_at = None;
                }
            }
        }
        store.record_attempt(&webhook.id, &attempt).await?;
        metrics::count(&metrics::WEBHOOK_DELIVERIES, &[attempt.outcome.as_str()]);
        tracing::info!(
            webhook_id = %webhook.id,
            event_id = event.id,
            attempt = number,
            outcome = attempt.outcome.as_str(),
            status = attempt.response_status,
            "webhook attempt"
        );
        self.note_result(store, clock, webhook, &attempt).await?;
        Ok(attempt)
    }

    /// One attempt of `event` to `webhook`, made and judged, nothing written: what
    /// `POST /:id/test` answers with.
    pub async fn send(
        &self,
        webhook: &Webhook,
        event: &WebhookEvent,
        number: u32,
        now: Timestamp,
    ) -> Attempt {
        let body = event.body();
        let timestamp = now.datetime().unix_timestamp();
        let (sent, elapsed) = match self.secrets(webhook, now).await {
            Ok(secrets) => {
                let headers = [
                    ("webhook-id", event.id.clone()),
                    ("webhook-timestamp", timestamp.to_string()),
                    (
                        "webhook-signature",
                        signature::signature_header(
                            secrets.iter().map(Vec::as_slice),
                            &event.id,
                            timestamp,
                            &body,
                        ),
                    ),
                ];
                self.outbound.post(&webhook.url, &headers, body).await
            }
            // Not the endpoint's fault: counted as unreachable and retried like it.
            Err(why) => (Sent::Unreachable(why), std::time::Duration::ZERO),
        };
        let (outcome, response_status, error) = match sent {
            Sent::Answered(status) if (200..300).contains(&status) => {
                (Outcome::Delivered, Some(status), None)
            }
            Sent::Answered(status) => (
                Outcome::Failed,
                Some(status),
                Some(format!("the endpoint answered {status}")),
            ),
            Sent::Unreachable(why) => (Outcome::Unreachable, None, Some(why)),
            Sent::Refused { shown, detail } => {
                if let Some(detail) = detail {
                    log_refused_name(&webhook.org_id, Some(&webhook.id), &detail);
                }
                (Outcome::Refused, None, Some(shown))
            }
        };
        Attempt {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            attempt: number,
            outcome,
            response_status,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            attempted_at: now,
            next_attempt_at: None,
            error,
        }
    }

    /// The secrets that sign at `now`, opened.
    async fn secrets(&self, webhook: &Webhook, now: Timestamp) -> Result<Vec<Vec<u8>>, String> {
        let context = SealContext::Webhook {
            webhook_id: &webhook.id,
        };
        let mut opened = Vec::new();
        for secret in webhook.signing_secrets(now) {
            let bytes = self
                .sealer
                .open(&secret.sealed, context)
                .await
                .map_err(|error| {
                    tracing::error!(webhook_id = %webhook.id, error = %error, "a webhook secret does not open");
                    "the signing secret could not be opened".to_owned()
                })?;
            opened.push(bytes);
        }
        Ok(opened)
    }

    /// Keeps the endpoint's run of failures: cleared by a delivery, begun by a first
    /// failure, and once it has lasted [`DISABLE_AFTER`] the endpoint is disabled and its
    /// organization's other endpoints hear of it.
    async fn note_result(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        webhook: &Webhook,
        attempt: &Attempt,
    ) -> Result<(), StoreError> {
        let delivered = attempt.outcome == Outcome::Delivered;
        let mut current = webhook.clone();
        for _ in 0..ATTEMPTS {
            let since = current.failing_since;
            let mut next = current.clone();
            match (delivered, since) {
                (true, None) => return Ok(()),
                (true, Some(_)) => next.failing_since = None,
                (false, None) => next.failing_since = Some(attempt.attempted_at),
                (false, Some(since)) if attempt.attempted_at >= since.plus(DISABLE_AFTER) => {
                    if next.status == WebhookStatus::Disabled {
                        return Ok(());
                    }
                    next.status = WebhookStatus::Disabled;
                    next.disabled_reason = Some(format!(
                        "every delivery failed from {since} to {}",
                        attempt.attempted_at
                    ));
                }
                (false, Some(_)) => return Ok(()),
            }
            next.version += 1;
            next.updated_at = attempt.attempted_at;
            // Disabled now: announced in the same write, so it is never done unannounced.
            let disabling =
                next.status == WebhookStatus::Disabled && current.status == WebhookStatus::Enabled;
            let written = if disabling {
                let announce = self.announcements(store, clock, &next).await?;
                store.replace_webhook_scheduling(&next, &announce).await
            } else {
                store.replace_webhook(&next).await
            };
            match written {
                Ok(()) => {
                    if disabling {
                        tracing::warn!(
                            webhook_id = %next.id,
                            org_id = %next.org_id,
                            "webhook endpoint disabled after failing for three days"
                        );
                    }
                    return Ok(());
                }
                Err(StoreError::NotFound) => return Ok(()),
                Err(StoreError::Conflict) => {
                    match store.get_webhook(&webhook.org_id, &webhook.id).await? {
                        Some(fresh) => current = fresh,
                        None => return Ok(()),
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Conflict)
    }

    /// `webhook.disabled` for the organization's other endpoints that want it, as
    /// deliveries due at once (each then leased, attempted and retried like any other).
    async fn announcements(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        webhook: &Webhook,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let now = clock.now();
        let event = WebhookEvent {
            id: format!("evt_{}", ulid::Ulid::new()),
            event_type: DISABLED_EVENT.to_owned(),
            org_id: webhook.org_id.clone(),
            occurred_at: now,
            data: json!({
                "webhookId": webhook.id,
                "url": webhook.url,
                "failingSince": webhook.failing_since,
                "reason": webhook.disabled_reason,
            }),
        };
        Ok(store
            .list_webhooks(&webhook.org_id)
            .await?
            .into_iter()
            .filter(|w| w.id != webhook.id && w.wants(DISABLED_EVENT))
            .map(|other| PendingDelivery {
                webhook_id: other.id,
                event: event.clone(),
                attempt: 1,
                due_at: now,
            })
            .collect())
    }
}

/// The local server's sink: events go to `inner` (the bus, or standard output) as they
/// would deployed, and each one `inner` accepted is fanned out to its webhooks, as the
/// bus's rule hands it to the delivering function's queue.
pub struct FanOut {
    pub inner: Arc<dyn EventSink>,
    pub deliverer: Deliverer,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl EventSink for FanOut {
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>> {
        let answers = self.inner.put(events).await;
        for (event, answer) in events.iter().zip(&answers) {
            if answer.is_err() {
                continue;
            }
            let event = WebhookEvent::of(event);
            let (deliverer, store, clock) = (
                self.deliverer.clone(),
                self.store.clone(),
                self.clock.clone(),
            );
            // Apart from the publisher, so a slow endpoint never holds lifecycle events up.
            tokio::spawn(async move {
                if let Err(error) = deliverer
                    .fan_out(store.as_ref(), clock.as_ref(), &event)
                    .await
                {
                    tracing::warn!(event_id = event.id, error = %error, "webhook fan-out failed");
                }
            });
        }
        answers
    }
}

/// How often the local server looks for due retries.
const DUE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Makes due retries until the process ends: the local server's schedule.
pub async fn deliver_due_forever(
    deliverer: Deliverer,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) {
    let mut timer = tokio::time::interval(DUE_EVERY);
    loop {
        timer.tick().await;
        if let Err(error) = deliverer
            .deliver_due(store.as_ref(), clock.as_ref(), None)
            .await
        {
            tracing::warn!(error = %error, "due webhook deliveries could not be read");
        }
    }
}

/// What the delivering function is given: a batch from its queue (lifecycle events as
/// the bus delivers them), or its schedule's tick (due retries).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Queue {
        #[serde(rename = "Records")]
        records: Vec<QueueRecord>,
    },
    Schedule(serde_json::Value),
}

/// One message of an SQS batch: its id (to name it for redelivery) and body.
#[derive(Debug, serde::Deserialize)]
pub struct QueueRecord {
    #[serde(rename = "messageId")]
    pub message_id: String,
    #[serde(default)]
    pub body: String,
}

/// The delivering function's work for one invocation. A queue batch: each event fanned
/// out (the batch's events at once, so one slow endpoint delays none of the others); a
/// message whose event could not be fanned out (the store failed) is named in
/// `batchItemFailures` for SQS to deliver again; one that is not a lifecycle event is
/// dropped with a log line (it would never become one). When an attempt failed, its first
/// retry (5 s) is made here rather than left to the schedule (every minute). A schedule's
/// tick: the retries due now, and how late those left are; `Err` when they could not be
/// read, so the invocation fails and the deliverer's error alarm says so. Nothing is
/// started that could not finish before `deadline`.
pub async fn handle_invocation(
    deliverer: &Deliverer,
    store: &dyn Store,
    clock: &dyn Clock,
    invocation: Invocation,
    deadline: Option<Instant>,
) -> Result<serde_json::Value, StoreError> {
    match invocation {
        Invocation::Queue { records } => {
            let fanned = futures::future::join_all(records.iter().map(|record| async move {
                let Some(event) = WebhookEvent::from_bus(&record.body) else {
                    tracing::warn!(
                        message_id = record.message_id,
                        "queue message is not a lifecycle event; dropped"
                    );
                    return Ok(Vec::new());
                };
                match deliverer.fan_out_to(store, clock, &event).await {
                    // The failed attempts' first retries, as they were scheduled.
                    Ok(attempts) => Ok(attempts
                        .into_iter()
                        .filter_map(|(webhook_id, attempt)| {
                            Some(PendingDelivery {
                                webhook_id,
                                event: event.clone(),
                                attempt: attempt.attempt + 1,
                                due_at: attempt.next_attempt_at?,
                            })
                        })
                        .collect()),
                    Err(error) => {
                        tracing::warn!(event_id = event.id, error = %error, "fan-out failed; the message comes again");
                        Err(json!({ "itemIdentifier": record.message_id }))
                    }
                }
            }))
            .await;
            let mut retries = Vec::new();
            let mut failures = Vec::new();
            for result in fanned {
                match result {
                    Ok(pending) => retries.extend(pending),
                    Err(failure) => failures.push(failure),
                }
            }
            // This batch's own first retries (5 s), made here rather than left to the
            // schedule's next minute; anyone else's wait for the schedule.
            let time_left =
                deadline.is_none_or(|d| Instant::now() + FIRST_RETRY_IN_PROCESS + LEASE_MARGIN < d);
            if !retries.is_empty() && time_left {
                tokio::time::sleep(FIRST_RETRY_IN_PROCESS).await;
                let retried = futures::future::join_all(
                    retries
                        .into_iter()
                        .map(|pending| deliverer.retry(store, clock, pending)),
                )
                .await;
                for error in retried.into_iter().filter_map(Result::err) {
                    tracing::warn!(error = %error, "a first retry failed; the schedule makes it when its lease ends");
                }
            }
            Ok(json!({ "batchItemFailures": failures }))
        }
        Invocation::Schedule(_) => {
            let made = deliverer.deliver_due(store, clock, deadline).await?;
            record_retry_age(store, clock).await;
            Ok(json!({ "attempts": made }))
        }
    }
}

/// How late the retries left after a tick are (what the late-retries alarm watches).
async fn record_retry_age(store: &dyn Store, clock: &dyn Clock) {
    match store.waiting_deliveries(1).await {
        Ok(waiting) => {
            let now = clock.now();
            let late = waiting.earliest_due.map_or(0.0, |due| {
                (now.datetime() - due.datetime()).as_seconds_f64().max(0.0)
            });
            metrics::record(&metrics::WEBHOOK_RETRY_AGE, &[], late);
        }
        Err(error) => tracing::warn!(error = %error, "waiting webhook retries could not be read"),
    }
}

/// The wait before the first retry, made in the invocation that failed (the schedule's
/// minute would make it late).
const FIRST_RETRY_IN_PROCESS: std::time::Duration = std::time::Duration::from_secs(5);
