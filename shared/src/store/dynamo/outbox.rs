//! [`OutboxStore`] on the table: a domain's event items (written by the transactions that
//! make them), marked to expire once delivered.

use async_trait::async_trait;

use super::items::{corrupt, n, opt_json, s};
use super::{DynamoStore, classify, conflict_unless_met};
use crate::model::event::{DELIVERED_KEPT_FOR, LifecycleEvent};
use crate::model::{DomainName, Timestamp};
use crate::store::schema::{
    EVENT_SK_PREFIX, EVENTS_PK_PREFIX, EXPIRES_AT, LEGACY_EVENTS_PK_PREFIX, PK, SK, event_sk,
    events_pk, legacy_event_sk, legacy_events_pk,
};
use crate::store::{OutboxStore, StoreError, StuckEvents};

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn mark_delivered(
        &self,
        events: &[LifecycleEvent],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let expires = at.plus(DELIVERED_KEPT_FOR).datetime().unix_timestamp();
        let marks = events.iter().map(|event| {
            let mark = |pk: String, sk: String| {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key(PK, s(pk))
                    .key(SK, s(sk))
                    .update_expression("SET #expires = :expires")
                    // Never recreate an item the TTL already removed.
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#expires", EXPIRES_AT)
                    .expression_attribute_values(":expires", n(expires))
            };
            let current = mark(
                events_pk(&event.detail.domain),
                event_sk(&event.detail.domain_id, event.sequence),
            );
            let legacy = mark(
                legacy_events_pk(&event.detail.domain_id),
                legacy_event_sk(event.sequence),
            );
            async move {
                match conflict_unless_met(current.send().await) {
                    // Written before events were kept per name, perhaps.
                    Err(StoreError::Conflict) => conflict_unless_met(legacy.send().await),
                    other => other,
                }
            }
        });
        for result in futures::future::join_all(marks).await {
            match result {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    async fn undelivered_events(
        &self,
        name: &DomainName,
    ) -> Result<Vec<LifecycleEvent>, StoreError> {
        self.items_under(events_pk(name.as_str()), EVENT_SK_PREFIX)
            .await?
            .iter()
            .filter(|item| !item.contains_key(EXPIRES_AT))
            .map(|item| {
                opt_json(item, "event").and_then(|event| event.ok_or_else(|| corrupt("event")))
            })
            .collect()
    }

    async fn stuck_events(&self, before: Timestamp) -> Result<StuckEvents, StoreError> {
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(
                "(begins_with(#pk, :outbox) OR begins_with(#pk, :legacy)) \
                 AND attribute_not_exists(#expires)",
            )
            .projection_expression("#event")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#event", "event")
            .expression_attribute_values(":outbox", s(EVENTS_PK_PREFIX))
            .expression_attribute_values(":legacy", s(LEGACY_EVENTS_PK_PREFIX));
        let mut events: Vec<LifecycleEvent> = Vec::new();
        let mut start = None;
        loop {
            let page = scan
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in page.items() {
                events.extend(opt_json::<LifecycleEvent>(item, "event")?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(StuckEvents::of(&events, before));
            }
        }
    }
}
