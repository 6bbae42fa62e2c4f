//! The table's stream as Lambda delivers it to `publish-events`.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use super::deliver_and_mark;
use crate::aws::EventSink;
use crate::model::Timestamp;
use crate::model::event::{LifecycleEvent, StreamedEvent};
use crate::store::Store;
use crate::store::schema::{EVENTS_PK_PREFIX, LEGACY_EVENTS_PK_PREFIX};

/// The outbox items a batch inserted, in stream order. Other records (domain items, the
/// outbox's own delivery marks and expiries) are not events and are passed over; an outbox
/// item that cannot be read is logged and passed over too, since no retry would ever read
/// it and it would hold up every event behind it.
pub fn outbox_records(event: &Event) -> Vec<StreamedEvent> {
    event.records.iter().filter_map(outbox_record).collect()
}

fn outbox_record(record: &EventRecord) -> Option<StreamedEvent> {
    if record.event_name != "INSERT" {
        return None;
    }
    // The image as DynamoDB JSON (`{"PK": {"S": "…"}, …}`).
    let image = serde_json::to_value(&record.change.new_image).ok()?;
    let text = |name: &str| image.get(name)?.get("S")?.as_str();
    let position = record.change.sequence_number.clone().unwrap_or_default();
    outbox_item(text("PK"), text("event"), position)
}

/// The event of an inserted item with partition key `pk` and attribute `event`, if the
/// item is in the outbox; `position` is the stream record's sequence number. Shared by
/// every reader of the stream.
pub fn outbox_item(
    pk: Option<&str>,
    event: Option<&str>,
    position: String,
) -> Option<StreamedEvent> {
    // Items written before events were kept per name are read too, so none is lost.
    let outbox =
        |pk: &str| pk.starts_with(EVENTS_PK_PREFIX) || pk.starts_with(LEGACY_EVENTS_PK_PREFIX);
    if !pk.is_some_and(outbox) {
        return None;
    }
    let parsed = event
        .ok_or_else(|| "no event attribute".to_owned())
        .and_then(|text| serde_json::from_str::<LifecycleEvent>(text).map_err(|e| e.to_string()));
    match parsed {
        Ok(event) => Some(StreamedEvent { position, event }),
        Err(error) => {
            tracing::error!(
                sequence_number = position,
                error,
                "an outbox item could not be read; it is not delivered"
            );
            None
        }
    }
}

/// One invocation of `publish-events`: delivers the batch's events, marks those delivered
/// so they expire, and names the first record to deliver again (with all after it) in the
/// partial-batch response.
pub async fn publish_batch(
    store: &dyn Store,
    sink: &dyn EventSink,
    event: &Event,
    now: Timestamp,
) -> DynamoDbEventResponse {
    let batch = outbox_records(event);
    let delivery = deliver_and_mark(&batch, sink, store, now).await;
    tracing::info!(
        records = event.records.len(),
        events = batch.len(),
        delivered = delivery.delivered.len(),
        retried = delivery.retry_from.map_or(0, |from| batch.len() - from),
        "events published"
    );
    let mut response = DynamoDbEventResponse::default();
    if let Some(from) = delivery.retry_from {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(batch[from].position.clone());
        response.batch_item_failures.push(failure);
    }
    response
}
