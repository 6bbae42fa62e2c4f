//! Webhook endpoints: an organization's few endpoints (at most [`MAX_WEBHOOKS`]), each
//! endpoint's deliveries log, and the deliveries waiting for a retry, found by when they
//! are due.
//!
//! [`MAX_WEBHOOKS`]: crate::model::webhook::MAX_WEBHOOKS

use async_trait::async_trait;

use super::StoreError;
use crate::model::webhook::{Attempt, PendingDelivery, Webhook};
use crate::model::{OrgId, Timestamp, WebhookId};

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds `webhook`; `QuotaExceeded(max)` if its organization holds `max` already (also
    /// against concurrent creates).
    async fn create_webhook(&self, webhook: &Webhook, max: u64) -> Result<(), StoreError>;

    async fn get_webhook(&self, org: &OrgId, id: &WebhookId)
    -> Result<Option<Webhook>, StoreError>;

    /// The organization's endpoints, oldest first.
    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError>;

    /// Writes `webhook` over the version before its own (`webhook.version - 1`):
    /// `Conflict` if another write came between, `NotFound` if it was deleted.
    async fn replace_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;

    /// [`WebhookStore::replace_webhook`], with `scheduled` kept in the same write (at most
    /// 99): a change and the deliveries it causes happen together or not at all.
    async fn replace_webhook_scheduling(
        &self,
        webhook: &Webhook,
        scheduled: &[PendingDelivery],
    ) -> Result<(), StoreError>;

    /// Removes the endpoint and what waits for it; `NotFound` if there is none.
    async fn delete_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<(), StoreError>;

    /// Adds an attempt to the endpoint's log.
    async fn record_attempt(&self, id: &WebhookId, attempt: &Attempt) -> Result<(), StoreError>;

    /// The endpoint's newest attempts, newest first, at most `limit`.
    async fn recent_attempts(
        &self,
        id: &WebhookId,
        limit: usize,
    ) -> Result<Vec<Attempt>, StoreError>;

    /// Keeps `delivery` until it is due: one per endpoint and event, a later attempt
    /// replacing an earlier one; one no further along than what is kept (a repeated
    /// fan-out of the event) changes nothing, so a redelivered event never sets an
    /// endpoint's retries back to the start. `true` when `delivery` was kept.
    async fn schedule_delivery(&self, delivery: &PendingDelivery) -> Result<bool, StoreError>;

    /// Deliveries due at `now`, at most `limit`: endpoints in turns, each one's most
    /// overdue first, so one endpoint's backlog cannot keep the others' retries waiting.
    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError>;

    /// Takes `delivery` for the caller to attempt: it stays scheduled, due again at
    /// `until`, so a worker that dies mid-attempt loses nothing (the attempt is made again
    /// after `until`); the caller then schedules the next attempt or drops it. `false` if
    /// another worker took it first (or it was replaced), so each due attempt is made once
    /// while its taker lives.
    async fn take_delivery(
        &self,
        delivery: &PendingDelivery,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Removes the delivery of `event_id` to `webhook` from the schedule: delivered, given
    /// up, or no longer wanted.
    async fn drop_delivery(&self, webhook: &WebhookId, event_id: &str) -> Result<(), StoreError>;

    /// The deliveries waiting for a retry, due or not: at most `limit` counted, the
    /// endpoints those are for, and when the earliest of all is due. For operators
    /// (`domainctl status`): on DynamoDB it reads index keys only, at most `limit` of them
    /// and one more per index shard.
    async fn waiting_deliveries(&self, limit: usize) -> Result<WaitingDeliveries, StoreError>;
}

/// What [`WebhookStore::waiting_deliveries`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingDeliveries {
    /// Deliveries counted (at most the limit asked for: beyond it, "at least").
    pub count: usize,
    /// The distinct endpoints the counted deliveries are for: endpoints failing now.
    pub endpoints: usize,
    /// When the earliest waiting delivery is (or was) due.
    pub earliest_due: Option<Timestamp>,
}
