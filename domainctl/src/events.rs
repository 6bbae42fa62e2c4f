//! Lifecycle events on the local host: the table's stream read as `publish-events` would
//! be fed it, and the sink they go to.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use domains::aws::{EventBridgeSink, EventSink};
use domains::config;
use domains::model::event::StreamedEvent;
use domains::outbox::{LogSink, outbox_item};
use domains::store::EventFeed;

/// How often an idle stream is polled.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// EventBridge when an endpoint is configured for it (`AWS_ENDPOINT_URL` or
/// `AWS_ENDPOINT_URL_EVENTBRIDGE`), else one JSON line per event on standard output.
pub fn sink(aws: Option<&aws_config::SdkConfig>) -> (Arc<dyn EventSink>, String) {
    match aws.filter(|_| config::endpoints_set().eventbridge) {
        Some(aws) => {
            let bus = config::event_bus_from_env();
            let name = format!("EventBridge bus {bus}");
            (Arc::new(EventBridgeSink::new(aws, bus)), name)
        }
        None => (
            Arc::new(LogSink),
            "printed as JSON lines (set AWS_ENDPOINT_URL to send them to EventBridge)".into(),
        ),
    }
}

/// Where a new reader starts.
#[derive(Debug, Clone, Copy)]
pub enum From {
    /// Everything the stream still holds (24 hours).
    Oldest,
    /// What is written from now on.
    Now,
}

/// The outbox items of a DynamoDB table's stream, shard by shard, in each shard's order.
pub struct StreamFeed {
    client: Client,
    stream: String,
    from: From,
    iterators: HashMap<String, String>,
    /// Shards already opened (a closed shard is not opened again).
    opened: HashSet<String>,
    /// Polls since the shard list was read.
    polls: u32,
    /// The sequence number of the last record read from each shard.
    last_read: HashMap<String, String>,
}

impl StreamFeed {
    /// Opens the stream of `table` with the configuration `aws`. DynamoDB Local serves its
    /// streams where it serves its tables, so `AWS_ENDPOINT_URL_DYNAMODB` serves both
    /// unless `AWS_ENDPOINT_URL_DYNAMODB_STREAMS` says otherwise.
    pub async fn open(
        aws: &aws_config::SdkConfig,
        table: &str,
        from: From,
    ) -> Result<Self, String> {
        let described = aws_sdk_dynamodb::Client::new(aws)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| format!("cannot describe table {table}: {e}"))?;
        let stream = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| {
                format!("table {table} has no stream; create it with `domainctl table create`")
            })?
            .to_owned();
        let mut builder = aws_sdk_dynamodbstreams::config::Builder::from(aws);
        let set = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
        if set("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").is_none()
            && let Some(endpoint) = set("AWS_ENDPOINT_URL_DYNAMODB")
        {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(Self {
            client: Client::from_conf(builder.build()),
            stream,
            from,
            iterators: HashMap::new(),
            opened: HashSet::new(),
            polls: 0,
            last_read: HashMap::new(),
        })
    }

    /// Opens the shards not opened yet: those there at the start where `from` says, those
    /// that appear later from their beginning.
    async fn open_new_shards(&mut self) -> Result<(), String> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream)
            .send()
            .await
            .map_err(|e| format!("cannot describe the stream: {e}"))?;
        let first = self.opened.is_empty();
        let shards = described
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id().map(str::to_owned) else {
                continue;
            };
            if self.opened.contains(&id) {
                continue;
            }
            let latest = first && matches!(self.from, From::Now);
            if let Some(iterator) = self.open_shard(&id, latest).await? {
                self.iterators.insert(id.clone(), iterator);
            }
            self.opened.insert(id);
        }
        Ok(())
    }
}

impl StreamFeed {
    /// An iterator for `shard`: at its newest end (`latest`), or just after the last
    /// record read from it, or at its oldest record if none was.
    async fn open_shard(&self, shard: &str, latest: bool) -> Result<Option<String>, String> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream)
            .shard_id(shard);
        let request = match (latest, self.last_read.get(shard)) {
            (true, _) => request.shard_iterator_type(ShardIteratorType::Latest),
            (false, Some(sequence)) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            (false, None) => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let answer = request
            .send()
            .await
            .map_err(|e| format!("cannot open shard {shard}: {e}"))?;
        Ok(answer.shard_iterator)
    }
}

fn is_stale_iterator(
    error: &aws_sdk_dynamodbstreams::error::SdkError<
        aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError,
    >,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_expired_iterator_exception() || e.is_trimmed_data_access_exception())
}

fn text(image: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    image.get(name)?.as_s().ok().cloned()
}

fn streamed(record: &Record) -> Option<StreamedEvent> {
    if record.event_name() != Some(&OperationType::Insert) {
        return None;
    }
    let change = record.dynamodb()?;
    let image = change.new_image()?;
    let position = change.sequence_number().unwrap_or_default().to_owned();
    outbox_item(
        text(image, "PK").as_deref(),
        text(image, "event").as_deref(),
        position,
    )
}

#[async_trait]
impl EventFeed for StreamFeed {
    async fn next_batch(&mut self) -> Result<Vec<StreamedEvent>, String> {
        loop {
            if self.iterators.is_empty() || self.polls.is_multiple_of(50) {
                self.open_new_shards().await?;
            }
            self.polls = self.polls.wrapping_add(1);
            let mut batch = Vec::new();
            let mut shards: Vec<(String, String)> = self.iterators.drain().collect();
            while let Some((shard, iterator)) = shards.pop() {
                let answer = self
                    .client
                    .get_records()
                    .shard_iterator(&iterator)
                    .limit(100)
                    .send()
                    .await;
                let page = match answer {
                    Ok(page) => page,
                    // An iterator that went stale (expired, or taken on a shard still
                    // empty, which DynamoDB Local then calls trimmed): a fresh one from
                    // the last record read reads on without losing or repeating any.
                    Err(error) if is_stale_iterator(&error) => {
                        let fresh = self.open_shard(&shard, false).await;
                        match fresh {
                            Ok(Some(iterator)) => {
                                self.iterators.insert(shard, iterator);
                            }
                            Ok(None) => {}
                            Err(error) => {
                                self.iterators.insert(shard, iterator);
                                self.iterators.extend(shards);
                                return Err(error);
                            }
                        }
                        continue;
                    }
                    Err(error) => {
                        // Every shard keeps its place for the next attempt.
                        self.iterators.insert(shard.clone(), iterator);
                        self.iterators.extend(shards);
                        return Err(format!(
                            "cannot read shard {shard}: {}",
                            aws_sdk_dynamodbstreams::error::DisplayErrorContext(error)
                        ));
                    }
                };
                if let Some(sequence) = page
                    .records()
                    .last()
                    .and_then(|r| r.dynamodb())
                    .and_then(|change| change.sequence_number())
                {
                    self.last_read.insert(shard.clone(), sequence.to_owned());
                }
                batch.extend(page.records().iter().filter_map(streamed));
                // No next iterator: the shard is closed and read to its end.
                if let Some(next) = page.next_shard_iterator {
                    self.iterators.insert(shard, next);
                }
            }
            if !batch.is_empty() {
                return Ok(batch);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}
