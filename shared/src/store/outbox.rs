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
}
