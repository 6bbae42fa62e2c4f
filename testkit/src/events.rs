//! Where tests see what EventBridge delivered: a bus of its own in moto, a rule matching
//! every lifecycle event, and an SQS queue as the rule's target.

use std::time::Duration;

use aws_sdk_eventbridge::types::Target;
use domains::aws::EventBridgeSink;
use domains::model::event::SOURCE;
use serde_json::Value;

use crate::moto;

pub struct DeliveredEvents {
    pub bus: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl DeliveredEvents {
    /// A fresh bus, rule and queue in moto.
    pub async fn new() -> Self {
        let config = moto().sdk_config();
        let (events, sqs) = (
            aws_sdk_eventbridge::Client::new(&config),
            aws_sdk_sqs::Client::new(&config),
        );
        let name = format!("domains-{}", ulid::Ulid::new().to_string().to_lowercase());
        events
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .expect("moto creates the bus");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("moto creates the queue")
            .queue_url
            .expect("a queue URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("moto describes the queue")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("a queue ARN");
        events
            .put_rule()
            .name(&name)
            .event_bus_name(&name)
            .event_pattern(serde_json::json!({ "source": [SOURCE] }).to_string())
            .send()
            .await
            .expect("moto creates the rule");
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(&name)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target fully described"),
            )
            .send()
            .await
            .expect("moto adds the target");
        Self {
            bus: name,
            queue_url,
            sqs,
        }
    }

    /// A sink that puts onto this bus.
    pub fn sink(&self) -> EventBridgeSink {
        EventBridgeSink::new(&moto().sdk_config(), &self.bus)
    }

    /// Events the queue received (each EventBridge's whole event), read until `count`
    /// arrived or `within` passed, whichever is first.
    pub async fn received(&self, count: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::new();
        while events.len() < count && tokio::time::Instant::now() < deadline {
            let page = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("moto answers ReceiveMessage");
            for message in page.messages() {
                let body = message.body().unwrap_or_default();
                events.push(serde_json::from_str(body).expect("an event is JSON"));
                if let Some(handle) = message.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("moto deletes the message");
                }
            }
        }
        events
    }
}
