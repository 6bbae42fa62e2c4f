//! [`WebhookStore`] on the table: an organization's endpoints beside their count in one
//! partition, each endpoint's attempts under a TTL, and due deliveries in the sweep's
//! sparse index under partitions of their own.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::items::{json, n, opt_num, opt_str, s};
use super::{DynamoStore, Item, classify, condition_met, conflict_unless_met};
use crate::fair_queue::in_turns;
use crate::model::webhook::{ATTEMPTS_KEPT_FOR, Attempt, PendingDelivery, Webhook};
use crate::model::{OrgId, Timestamp, WebhookId};
use crate::store::schema::{
    CHECK_SHARDS, EXPIRES_AT, GSI1, GSI1_PK, GSI1_SK, PK, SK, WEBHOOK_COUNT_SK, WEBHOOK_DUE_SK,
    WEBHOOK_SK_PREFIX, webhook_due_pk, webhook_due_shard, webhook_due_shard_key, webhook_log_pk,
    webhook_of_due_pk, webhook_sk, webhooks_pk,
};
use crate::store::{ATTEMPTS, StoreError, WaitingDeliveries, WebhookStore, backoff};

/// Due keys read per index shard to choose a run's deliveries from.
const DUE_WINDOW: usize = 1000;

const HELD: &str = "held";
/// A due delivery's attempt number, beside its JSON: what a schedule write is judged by.
const DUE_ATTEMPT: &str = "attempt";

/// A delivery waiting for its attempt, found through the sparse index by its due time.
fn due_item(delivery: &PendingDelivery) -> Item {
    HashMap::from([
        (
            PK.into(),
            s(webhook_due_pk(&delivery.webhook_id, &delivery.event.id)),
        ),
        (SK.into(), s(WEBHOOK_DUE_SK)),
        ("delivery".into(), json(delivery)),
        (GSI1_PK.into(), s(webhook_due_shard(&delivery.webhook_id))),
        (GSI1_SK.into(), s(delivery.due_at.to_string())),
        (DUE_ATTEMPT.into(), n(u64::from(delivery.attempt))),
    ])
}

fn webhook_item(webhook: &Webhook) -> Item {
    HashMap::from([
        (PK.into(), s(webhooks_pk(&webhook.org_id))),
        (SK.into(), s(webhook_sk(&webhook.id))),
        ("webhook".into(), json(webhook)),
        ("version".into(), n(webhook.version)),
    ])
}

fn parse<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| StoreError::Internal(format!("stored item has a malformed '{name}'")))
}

impl DynamoStore {
    /// A conflicting write to `webhook` read again: `NotFound` if it was deleted.
    async fn conflict_or_gone(
        &self,
        webhook: &Webhook,
        result: Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match result {
            Err(StoreError::Conflict)
                if self
                    .get_webhook(&webhook.org_id, &webhook.id)
                    .await?
                    .is_none() =>
            {
                Err(StoreError::NotFound)
            }
            other => other,
        }
    }

    fn count_change(&self, org: &OrgId, delta: i64, max: Option<u64>) -> TransactWriteItem {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(webhooks_pk(org)))
            .key(SK, s(WEBHOOK_COUNT_SK))
            .update_expression("ADD #held :delta")
            .expression_attribute_names("#held", HELD)
            .expression_attribute_values(":delta", n(delta));
        if let Some(max) = max {
            update = update
                .condition_expression("attribute_not_exists(#held) OR #held < :max")
                .expression_attribute_values(":max", n(max));
        }
        TransactWriteItem::builder()
            .update(update.build().expect("table, key and expression set"))
            .build()
    }

    async fn webhooks_held(&self, org: &OrgId) -> Result<u64, StoreError> {
        let item = self.get_item(webhooks_pk(org), WEBHOOK_COUNT_SK).await?;
        Ok(item
            .and_then(|item| opt_num(&item, HELD))
            .map_or(0, |held| held.max(0) as u64))
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook(&self, webhook: &Webhook, max: u64) -> Result<(), StoreError> {
        for attempt in 0..ATTEMPTS {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(webhook_item(webhook)))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build()
                .expect("table and item set");
            let items = vec![
                self.count_change(&webhook.org_id, 1, Some(max)),
                TransactWriteItem::builder().put(put).build(),
            ];
            match self.transact(items).await {
                Err(StoreError::Conflict) => {
                    if self.webhooks_held(&webhook.org_id).await? >= max {
                        return Err(StoreError::QuotaExceeded(max));
                    }
                    backoff(attempt).await;
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    async fn get_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        self.get_item(webhooks_pk(org), &webhook_sk(id))
            .await?
            .map(|item| parse(&item, "webhook"))
            .transpose()
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError> {
        self.items_under(webhooks_pk(org), WEBHOOK_SK_PREFIX)
            .await?
            .iter()
            .map(|item| parse(item, "webhook"))
            .collect()
    }

    async fn replace_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(webhook_item(webhook)))
            .condition_expression("#version = :before")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":before", n(webhook.version.saturating_sub(1)))
            .send()
            .await;
        self.conflict_or_gone(webhook, conflict_unless_met(result))
            .await
    }

    async fn replace_webhook_scheduling(
        &self,
        webhook: &Webhook,
        scheduled: &[PendingDelivery],
    ) -> Result<(), StoreError> {
        let replace = Put::builder()
            .table_name(&self.table)
            .set_item(Some(webhook_item(webhook)))
            .condition_expression("#version = :before")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":before", n(webhook.version.saturating_sub(1)))
            .build()
            .expect("table and item set");
        let mut items = vec![TransactWriteItem::builder().put(replace).build()];
        for delivery in scheduled {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(due_item(delivery)))
                .build()
                .expect("table and item set");
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let result = self.transact(items).await;
        self.conflict_or_gone(webhook, result).await
    }

    async fn delete_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(webhooks_pk(org)))
            .key(SK, s(webhook_sk(id)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .expect("table and key set");
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.count_change(org, -1, None),
        ];
        match self.transact(items).await {
            // Its waiting deliveries stay until due, and are dropped then: the endpoint is
            // read before every attempt.
            Err(StoreError::Conflict) if self.get_webhook(org, id).await?.is_none() => {
                Err(StoreError::NotFound)
            }
            other => other,
        }
    }

    async fn record_attempt(&self, id: &WebhookId, attempt: &Attempt) -> Result<(), StoreError> {
        let at = attempt.attempted_at;
        let item = HashMap::from([
            (PK.into(), s(webhook_log_pk(id))),
            (
                SK.into(),
                s(format!(
                    "ATTEMPT#{:012}#{}",
                    at.datetime().unix_timestamp(),
                    ulid::Ulid::new()
                )),
            ),
            ("attempt".into(), json(attempt)),
            (
                EXPIRES_AT.into(),
                n(at.plus(ATTEMPTS_KEPT_FOR).datetime().unix_timestamp()),
            ),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn recent_attempts(
        &self,
        id: &WebhookId,
        limit: usize,
    ) -> Result<Vec<Attempt>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(webhook_log_pk(id)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.items()
            .iter()
            .map(|item| parse(item, "attempt"))
            .collect()
    }

    async fn schedule_delivery(&self, delivery: &PendingDelivery) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(due_item(delivery)))
            .condition_expression("attribute_not_exists(#attempt) OR #attempt < :attempt")
            .expression_attribute_names("#attempt", DUE_ATTEMPT)
            .expression_attribute_values(":attempt", n(u64::from(delivery.attempt)))
            .send()
            .await;
        // Not met: already further along, and a repeated fan-out does not set the
        // schedule back.
        condition_met(result)
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let mut keys: Vec<(String, String)> = Vec::new();
        for shard in 0..CHECK_SHARDS {
            // A wide window of keys (the index holds keys only: a thousand read for a few
            // units), so that endpoints behind a long backlog of one are seen and get turns.
            let query = self
                .index_until(webhook_due_shard_key(shard), "<=", now)
                .limit(i32::try_from(DUE_WINDOW.max(limit)).unwrap_or(i32::MAX));
            self.pages(query, |page| {
                for item in page {
                    if let (Some(pk), Some(at)) = (
                        item.get(PK).and_then(|v| v.as_s().ok()),
                        item.get(GSI1_SK).and_then(|v| v.as_s().ok()),
                    ) {
                        keys.push((at.clone(), pk.clone()));
                    }
                }
                Ok(true)
            })
            .await?;
        }
        keys.sort();
        // The partition key names the endpoint.
        let keys = in_turns(
            keys,
            |(_, pk)| webhook_of_due_pk(pk).map_or_else(|| pk.clone(), |id| id.to_string()),
            limit,
        );
        let mut due = Vec::with_capacity(keys.len());
        let mut read = 0;
        for (_, pk) in keys {
            // Keys only in the index, which lags: the item itself may have been taken (its
            // lease runs) or rescheduled since, so it is judged as it is now.
            let Some(item) = self.get_item(pk.clone(), WEBHOOK_DUE_SK).await? else {
                continue;
            };
            read += 1;
            match parse::<PendingDelivery>(&item, "delivery") {
                Ok(delivery) if delivery.due_at <= now => due.push(delivery),
                Ok(_) => {}
                // One unreadable item must not hold every other retry up.
                Err(error) => {
                    tracing::error!(pk, error = %error, "a due webhook delivery cannot be read; skipped")
                }
            }
        }
        self.count_reads(read);
        Ok(due)
    }

    async fn take_delivery(
        &self,
        delivery: &PendingDelivery,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let leased = PendingDelivery {
            due_at: until,
            ..delivery.clone()
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                PK,
                s(webhook_due_pk(&delivery.webhook_id, &delivery.event.id)),
            )
            .key(SK, s(WEBHOOK_DUE_SK))
            .condition_expression("#delivery = :delivery")
            .update_expression("SET #delivery = :leased, #due = :until")
            .expression_attribute_names("#delivery", "delivery")
            .expression_attribute_names("#due", GSI1_SK)
            .expression_attribute_values(":delivery", json(delivery))
            .expression_attribute_values(":leased", json(&leased))
            .expression_attribute_values(":until", s(until.to_string()))
            .send()
            .await;
        condition_met(result)
    }

    async fn drop_delivery(&self, webhook: &WebhookId, event_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(webhook_due_pk(webhook, event_id)))
            .key(SK, s(WEBHOOK_DUE_SK))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn waiting_deliveries(&self, limit: usize) -> Result<WaitingDeliveries, StoreError> {
        let mut count = 0;
        let mut endpoints = HashSet::new();
        let mut earliest: Option<Timestamp> = None;
        let mut read = 0;
        for shard in 0..CHECK_SHARDS {
            // Each shard is read earliest first, so its first key is its earliest: read even
            // once the count is full, which then takes one key per shard.
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#shard = :shard")
                .expression_attribute_names("#shard", GSI1_PK)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#at", GSI1_SK)
                .expression_attribute_values(":shard", s(webhook_due_shard_key(shard)))
                .projection_expression("#pk, #at")
                .limit(i32::try_from((limit - count).max(1)).unwrap_or(i32::MAX));
            self.pages(query, |page| {
                read += page.len();
                let first = page.first().and_then(|item| opt_str(item, GSI1_SK));
                if let Some(at) = first.and_then(|at| Timestamp::parse(&at).ok()) {
                    earliest = Some(earliest.map_or(at, |e| e.min(at)));
                }
                for item in page.iter().take(limit - count) {
                    count += 1;
                    if let Some(id) = opt_str(item, PK).and_then(|pk| webhook_of_due_pk(&pk)) {
                        endpoints.insert(id);
                    }
                }
                Ok(count >= limit)
            })
            .await?;
        }
        self.count_reads(read as u64);
        Ok(WaitingDeliveries {
            count,
            endpoints: endpoints.len(),
            earliest_due: earliest,
        })
    }
}
