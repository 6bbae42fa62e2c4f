//! The outbox: lifecycle events written with the changes they report, marked once
//! delivered, and read in stream order by hosts that read the stream themselves.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{DomainName, LifecycleEvent, StreamedEvent, Timestamp};

/// A source of outbox items in stream order, for hosts that read the stream themselves
/// (the local server); Lambda hands the function its batches instead.
#[async_trait]
pub trait EventFeed: Send {
    /// The next items, waiting until there is at least one.
    async fn next_batch(&mut self) -> Result<Vec<StreamedEvent>, String>;
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Marks outbox items delivered: they expire [`crate::model::event::DELIVERED_KEPT_FOR`]
    /// after `at`. Items already gone are skipped.
    async fn mark_delivered(
        &self,
        events: &[LifecycleEvent],
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The events of domain name `name` (of every domain that held it) not yet delivered:
    /// each domain's in the order they happened, domains in the order they were made.
    async fn undelivered_events(
        &self,
        name: &DomainName,
    ) -> Result<Vec<LifecycleEvent>, StoreError>;

    /// The events written before `before` and still not delivered, across every name: how
    /// many, and when the oldest happened. For operators (`domainctl status`): on DynamoDB
    /// it reads the whole table.
    async fn stuck_events(&self, before: Timestamp) -> Result<StuckEvents, StoreError>;
}

/// What [`OutboxStore::stuck_events`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StuckEvents {
    pub count: usize,
    pub oldest: Option<Timestamp>,
}

impl StuckEvents {
    fn add(mut self, occurred_at: Timestamp) -> Self {
        self.count += 1;
        self.oldest = Some(self.oldest.map_or(occurred_at, |t| t.min(occurred_at)));
        self
    }

    /// The summary of `events`, those that happened before `before`.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a LifecycleEvent>, before: Timestamp) -> Self {
        events
            .into_iter()
            .map(|event| event.detail.occurred_at)
            .filter(|at| *at < before)
            .fold(Self::default(), Self::add)
    }
}
