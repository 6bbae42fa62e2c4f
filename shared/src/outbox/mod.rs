//! Delivery of lifecycle events: from the table's stream (or the in-memory store's feed)
//! to a sink (and, in [`webhooks`], to organizations' endpoints), at least once and, for each domain name, in the order they happened. Delivery
//! only: the events themselves are data ([`crate::model::event`]), written by the store.

mod stream;
#[cfg(test)]
mod tests;
pub mod webhooks;

use std::collections::{HashMap, HashSet, VecDeque};

use async_trait::async_trait;

pub use stream::{outbox_item, outbox_records, publish_batch};

use crate::aws::{EventSink, MAX_PER_PUT};
use crate::clock::Clock;
use crate::metrics;
use crate::model::DomainId;
use crate::model::event::{LifecycleEvent, SOURCE, StreamedEvent};
use crate::store::{EventFeed, Store};

/// What one delivery did.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Accepted by the sink.
    pub delivered: Vec<LifecycleEvent>,
    /// The first item of the batch that must be delivered again, with everything after it
    /// (some of which may be delivered twice; consumers dedupe on `eventId`).
    pub retry_from: Option<usize>,
}

/// Delivers `batch` to `sink`. An event of a domain name is put only once the one before it
/// was accepted, so one name's events reach the bus in order (a deleted domain's, then
/// those of whoever registers or claims the name next); a name whose event is refused
/// waits for the next attempt, and the others go on.
pub async fn deliver(batch: &[StreamedEvent], sink: &dyn EventSink) -> Delivery {
    // Each name's items, in order: its domains as the stream first shows them, each
    // domain's by its own sequence.
    let mut queues: Vec<(&str, VecDeque<usize>)> = Vec::new();
    let mut queue_of: HashMap<&str, usize> = HashMap::new();
    for (index, item) in batch.iter().enumerate() {
        let name = item.event.detail.domain.as_str();
        let at = *queue_of.entry(name).or_insert_with(|| {
            queues.push((name, VecDeque::new()));
            queues.len() - 1
        });
        queues[at].1.push_back(index);
    }
    for (_, queue) in &mut queues {
        let mut first_seen: HashMap<&DomainId, usize> = HashMap::new();
        for (rank, index) in queue.iter().enumerate() {
            first_seen
                .entry(&batch[*index].event.detail.domain_id)
                .or_insert(rank);
        }
        queue.make_contiguous().sort_by_key(|index| {
            let event = &batch[*index].event;
            (first_seen[&event.detail.domain_id], event.sequence)
        });
    }

    let mut delivery = Delivery::default();
    let mut refused: HashSet<usize> = HashSet::new();
    loop {
        // One round: the next event of every domain that may go on.
        let heads: Vec<(usize, usize)> = queues
            .iter()
            .enumerate()
            .filter(|(q, _)| !refused.contains(q))
            .filter_map(|(q, (_, queue))| queue.front().map(|index| (q, *index)))
            .collect();
        if heads.is_empty() {
            break;
        }
        let answers = futures::future::join_all(heads.chunks(MAX_PER_PUT).map(|chunk| {
            let events: Vec<&LifecycleEvent> = chunk
                .iter()
                .map(|(_, index)| &batch[*index].event)
                .collect();
            async move { sink.put(&events).await }
        }))
        .await;
        for ((q, index), answer) in heads.iter().zip(answers.into_iter().flatten()) {
            match answer {
                Ok(()) => {
                    metrics::count(&metrics::EVENTS_PUBLISHED, &[]);
                    queues[*q].1.pop_front();
                    delivery.delivered.push(batch[*index].event.clone());
                }
                Err(error) => {
                    metrics::count(&metrics::EVENTS_FAILED, &[]);
                    let event = &batch[*index].event;
                    tracing::warn!(
                        event_id = event.detail.event_id,
                        domain_id = %event.detail.domain_id,
                        error,
                        "event not accepted; it is delivered again with those after it"
                    );
                    refused.insert(*q);
                }
            }
        }
    }
    delivery.retry_from = queues
        .iter()
        .flat_map(|(_, queue)| queue.iter())
        .min()
        .copied();
    delivery
}

/// [`deliver`], then marks what was delivered so it expires. A failed mark is logged: the
/// items stay in the table without an expiry, and nothing is lost or sent twice by it.
pub async fn deliver_and_mark(
    batch: &[StreamedEvent],
    sink: &dyn EventSink,
    store: &dyn Store,
    now: crate::model::Timestamp,
) -> Delivery {
    let delivery = deliver(batch, sink).await;
    if let Err(error) = store.mark_delivered(&delivery.delivered, now).await {
        tracing::warn!(error = %error, "delivered events could not be marked");
    }
    delivery
}

/// Writes each event as one JSON line on standard output, in EventBridge's envelope: the
/// local server's sink when no EventBridge is configured.
pub struct LogSink;

#[async_trait]
impl EventSink for LogSink {
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>> {
        events
            .iter()
            .map(|event| {
                let line = serde_json::json!({
                    "source": SOURCE,
                    "detail-type": event.detail_type,
                    "time": event.detail.occurred_at,
                    "detail": event.detail,
                });
                println!("{line}");
                Ok(())
            })
            .collect()
    }
}

/// How long the local publisher waits before delivering refused events again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Delivers what `feed` yields to `sink` until the process ends, as `publish-events` does
/// from the table's stream: refused events, with everything after them, are delivered
/// again before anything newer, and delivered ones are marked so they expire.
pub async fn publish_forever(
    store: &dyn Store,
    clock: &dyn Clock,
    mut feed: Box<dyn EventFeed>,
    sink: &dyn EventSink,
) {
    let mut pending: Vec<StreamedEvent> = Vec::new();
    loop {
        if pending.is_empty() {
            match feed.next_batch().await {
                Ok(batch) => pending = batch,
                Err(error) => {
                    tracing::warn!(error, "the event feed could not be read; trying again");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
        }
        let delivery = deliver_and_mark(&pending, sink, store, clock.now()).await;
        match delivery.retry_from {
            None => pending.clear(),
            Some(from) => {
                pending.drain(..from);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}
