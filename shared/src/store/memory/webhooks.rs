//! [`WebhookStore`] in memory: endpoints by organization, each endpoint's last attempts,
//! and the deliveries waiting for a retry.

use std::collections::HashSet;

use async_trait::async_trait;

use super::MemoryStore;
use crate::fair_queue::in_turns;
use crate::model::webhook::{Attempt, KEPT_ATTEMPTS, PendingDelivery, Webhook};
use crate::model::{OrgId, Timestamp, WebhookId};
use crate::store::{StoreError, WaitingDeliveries, WebhookStore};

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_webhook(&self, webhook: &Webhook, max: u64) -> Result<(), StoreError> {
        let mut t = self.tables();
        let held = t
            .webhooks
            .keys()
            .filter(|(org, _)| org == &webhook.org_id)
            .count();
        if held as u64 >= max {
            return Err(StoreError::QuotaExceeded(max));
        }
        let key = (webhook.org_id.clone(), webhook.id.clone());
        if t.webhooks.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        t.webhooks.insert(key, webhook.clone());
        Ok(())
    }

    async fn get_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        Ok(self
            .tables()
            .webhooks
            .get(&(org.clone(), id.clone()))
            .cloned())
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError> {
        Ok(self
            .tables()
            .webhooks
            .iter()
            .filter(|((owner, _), _)| owner == org)
            .map(|(_, webhook)| webhook.clone())
            .collect())
    }

    async fn replace_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        self.replace_webhook_scheduling(webhook, &[]).await
    }

    async fn replace_webhook_scheduling(
        &self,
        webhook: &Webhook,
        scheduled: &[PendingDelivery],
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        let stored = t
            .webhooks
            .get_mut(&(webhook.org_id.clone(), webhook.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.version + 1 != webhook.version {
            return Err(StoreError::Conflict);
        }
        *stored = webhook.clone();
        for delivery in scheduled {
            let key = (delivery.webhook_id.clone(), delivery.event.id.clone());
            t.pending_deliveries.insert(key, delivery.clone());
        }
        Ok(())
    }

    async fn delete_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<(), StoreError> {
        let mut t = self.tables();
        t.webhooks
            .remove(&(org.clone(), id.clone()))
            .ok_or(StoreError::NotFound)?;
        t.attempts.remove(id);
        t.pending_deliveries.retain(|(webhook, _), _| webhook != id);
        Ok(())
    }

    async fn record_attempt(&self, id: &WebhookId, attempt: &Attempt) -> Result<(), StoreError> {
        let mut t = self.tables();
        let log = t.attempts.entry(id.clone()).or_default();
        log.push_front(attempt.clone());
        log.truncate(KEPT_ATTEMPTS);
        Ok(())
    }

    async fn recent_attempts(
        &self,
        id: &WebhookId,
        limit: usize,
    ) -> Result<Vec<Attempt>, StoreError> {
        Ok(self
            .tables()
            .attempts
            .get(id)
            .map(|log| log.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn schedule_delivery(&self, delivery: &PendingDelivery) -> Result<bool, StoreError> {
        let key = (delivery.webhook_id.clone(), delivery.event.id.clone());
        let mut t = self.tables();
        let further = t
            .pending_deliveries
            .get(&key)
            .is_some_and(|held| held.attempt >= delivery.attempt);
        if !further {
            t.pending_deliveries.insert(key, delivery.clone());
        }
        Ok(!further)
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let t = self.tables();
        let mut due: Vec<PendingDelivery> = t
            .pending_deliveries
            .values()
            .filter(|d| d.due_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|d| d.due_at);
        Ok(in_turns(due, |d| d.webhook_id.clone(), limit))
    }

    async fn take_delivery(
        &self,
        delivery: &PendingDelivery,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut t = self.tables();
        let key = (delivery.webhook_id.clone(), delivery.event.id.clone());
        match t.pending_deliveries.get_mut(&key) {
            Some(held) if held == delivery => {
                held.due_at = until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn drop_delivery(&self, webhook: &WebhookId, event_id: &str) -> Result<(), StoreError> {
        self.tables()
            .pending_deliveries
            .remove(&(webhook.clone(), event_id.to_owned()));
        Ok(())
    }

    async fn waiting_deliveries(&self, limit: usize) -> Result<WaitingDeliveries, StoreError> {
        let t = self.tables();
        let counted: Vec<&PendingDelivery> = t.pending_deliveries.values().take(limit).collect();
        let endpoints: HashSet<&WebhookId> = counted.iter().map(|d| &d.webhook_id).collect();
        Ok(WaitingDeliveries {
            count: counted.len(),
            endpoints: endpoints.len(),
            earliest_due: t.pending_deliveries.values().map(|d| d.due_at).min(),
        })
    }
}
