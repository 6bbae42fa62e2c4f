//! [`OutboxStore`] in memory: events in stream order until delivered, and the feed that
//! reads them as a table's stream would be read.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::event::{LifecycleEvent, StreamedEvent};
use crate::model::{DomainName, Timestamp};
use crate::store::{EventFeed, OutboxStore, StoreError, StuckEvents};

impl MemoryStore {
    /// Reads the outbox in order, as a table's stream would be read: events written from
    /// now on (and those not yet delivered), each once per feed.
    pub fn feed(self: &std::sync::Arc<Self>) -> Box<dyn EventFeed> {
        Box::new(MemoryFeed {
            store: self.clone(),
            after: None,
        })
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn mark_delivered(
        &self,
        events: &[LifecycleEvent],
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        // Nothing here outlives the process, so delivered events go at once.
        let mut t = self.tables();
        t.outbox.retain(|_, kept| {
            !events
                .iter()
                .any(|e| e.detail.event_id == kept.detail.event_id)
        });
        Ok(())
    }

    async fn undelivered_events(
        &self,
        name: &DomainName,
    ) -> Result<Vec<LifecycleEvent>, StoreError> {
        // In stream order, which is the order they happened.
        let t = self.tables();
        Ok(t.outbox
            .values()
            .filter(|e| e.detail.domain == name.as_str())
            .cloned()
            .collect())
    }

    async fn stuck_events(&self, before: Timestamp) -> Result<StuckEvents, StoreError> {
        Ok(StuckEvents::of(self.tables().outbox.values(), before))
    }
}

struct MemoryFeed {
    store: std::sync::Arc<MemoryStore>,
    /// The position of the last event handed out.
    after: Option<u64>,
}

#[async_trait]
impl EventFeed for MemoryFeed {
    async fn next_batch(&mut self) -> Result<Vec<StreamedEvent>, String> {
        loop {
            let batch: Vec<StreamedEvent> = {
                let t = self.store.tables();
                let from = self.after.map_or(0, |p| p + 1);
                t.outbox
                    .range(from..)
                    .take(100)
                    .map(|(position, event)| StreamedEvent {
                        position: position.to_string(),
                        event: event.clone(),
                    })
                    .collect()
            };
            if let Some(last) = batch.last() {
                self.after = last.position.parse().ok();
                return Ok(batch);
            }
            // A permit left by an event written since the read above ends this at once.
            self.store.events_ready.notified().await;
        }
    }
}
