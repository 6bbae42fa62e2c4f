//! Amazon EventBridge as the sink of lifecycle events.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::EventSink;
use crate::model::event::{LifecycleEvent, SOURCE};

pub struct EventBridgeSink {
    client: Client,
    bus: String,
}

impl EventBridgeSink {
    pub fn new(config: &SdkConfig, bus: impl Into<String>) -> Self {
        Self {
            client: super::client!(
                aws_sdk_eventbridge,
                aws_sdk_eventbridge::config::Builder::from(config)
            ),
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>> {
        let entries = events.iter().map(|event| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus)
                .source(SOURCE)
                .detail_type(event.detail_type.as_str())
                .detail(serde_json::to_string(&event.detail).expect("details serialize"))
                .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                    event.detail.occurred_at.datetime().unix_timestamp(),
                ))
                .build()
        });
        let answer = self
            .client
            .put_events()
            .set_entries(Some(entries.collect()))
            .send()
            .await;
        match answer {
            // One result per entry, in order; an entry with an error code was not put.
            Ok(output) => {
                let results = output.entries();
                (0..events.len())
                    .map(|i| match results.get(i) {
                        Some(entry) if entry.error_code().is_none() => Ok(()),
                        Some(entry) => Err(format!(
                            "{}: {}",
                            entry.error_code().unwrap_or_default(),
                            entry.error_message().unwrap_or_default()
                        )),
                        None => Err("no result for this entry".to_owned()),
                    })
                    .collect()
            }
            Err(error) => {
                let error = format!(
                    "PutEvents failed: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(error)
                );
                events.iter().map(|_| Err(error.clone())).collect()
            }
        }
    }
}
