//! The single-table DynamoDB store: [`DynamoStore`] and what its writes share. The table's
//! layout (key shapes, indexes, attribute names) is in [`super::schema`]; the items as the
//! table stores them, and their parsing, in `items.rs`; the organization item (default,
//! counts, limit) and the one update of it a transaction makes, in `org_item.rs`; one file
//! per aggregate holds that aggregate's trait implementation.
//!
//! Every change that spans items (a domain with its name claim, its organization's counts
//! and its lifecycle event) is one `TransactWriteItems` ([`DynamoStore::transact`]); a
//! cancelled transaction is `Conflict`, which the operation either reads again and decides
//! again (at most [`super::ATTEMPTS`] times) or hands to its caller. Every state change is
//! a conditional write, so a sweep never overwrites a concurrent PATCH: a condition that
//! did not hold is `Conflict` too ([`conflict_unless_met`]), or the error the operation
//! reads it as (`NameTaken`, `InUse`, `NotFound`).

mod claims;
mod domains;
mod idempotency;
mod items;
mod keys;
mod limits;
mod lists;
mod names;
mod org_item;
mod orgs;
mod outbox;
mod webhooks;
mod zones;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

pub use items::domain_item;
use items::{NAME_FREE, json, name_free_names, name_free_values, s};

use super::StoreError;
use super::schema::{GSI1, GSI1_PK, GSI1_SK, PK, SK, event_sk, events_pk};
use crate::aws::sdk_error::{self, CloudError};
use crate::model::{DomainId, LifecycleEvent, Timestamp};

type Item = HashMap<String, AttributeValue>;

/// The single-table DynamoDB store (layout in [`super::schema`]).
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    reads: Arc<AtomicU64>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            reads: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Runs one transaction; a cancellation (a condition failed, or a concurrent
    /// transaction touched an item) is `Conflict` for the caller to interpret.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            // One token per call: the SDK's own retry of a request whose answer was lost
            // is then a no-op instead of a failed condition.
            .client_request_token(ulid::Ulid::new().to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                Err(StoreError::Conflict)
            }
            Err(err) => Err(classify(err)),
        }
    }

    /// Runs `query` page by page, handing each page's items to `take`, until the last page
    /// or until `take` answers that it has enough.
    async fn pages(
        &self,
        query: QueryFluentBuilder,
        mut take: impl FnMut(&[Item]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let page = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            let enough = take(page.items())?;
            start = page.last_evaluated_key;
            if start.is_none() || enough {
                return Ok(());
            }
        }
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, consistently read.
    async fn items_under(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        let mut items = Vec::new();
        self.pages(query, |page| {
            items.extend(page.iter().cloned());
            Ok(false)
        })
        .await?;
        Ok(items)
    }

    /// A query of one partition of the sweep's index, for the entries whose time
    /// (`GSI1SK`) compares with `now` by `before` (`<` or `<=`), earliest first.
    fn index_until(
        &self,
        partition: String,
        before: &'static str,
        now: Timestamp,
    ) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression(format!("#shard = :shard AND #at {before} :now"))
            .expression_attribute_names("#shard", GSI1_PK)
            .expression_attribute_names("#at", GSI1_SK)
            .expression_attribute_values(":shard", s(partition))
            .expression_attribute_values(":now", s(now.to_string()))
    }

    /// The name of a registration: taken if free or already this domain's (reserved).
    fn put_name(&self, item: Item, id: &DomainId) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(NAME_FREE)
            .set_expression_attribute_names(Some(name_free_names()))
            .set_expression_attribute_values(Some(name_free_values(id)))
            .build()
            .expect("table and item set");
        TransactWriteItem::builder().put(put).build()
    }

    fn put(&self, item: Item, condition: &str) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#pk", PK)
            .build()
            .expect("table and item set");
        TransactWriteItem::builder().put(put).build()
    }

    /// The outbox item of `event`, written with the change it reports.
    fn put_event(&self, event: &LifecycleEvent) -> TransactWriteItem {
        let item = HashMap::from([
            (PK.into(), s(events_pk(&event.detail.domain))),
            (
                SK.into(),
                s(event_sk(&event.detail.domain_id, event.sequence)),
            ),
            ("event".into(), json(event)),
            ("createdAt".into(), s(event.detail.occurred_at.to_string())),
        ]);
        self.put(item, "attribute_not_exists(#pk)")
    }

    fn count_reads(&self, items: u64) {
        self.reads.fetch_add(items, Ordering::Relaxed);
    }

    /// How many items (whole, or index keys) this store has read, for benchmarks.
    pub fn items_read(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// Throttling, server faults and network trouble (after the SDK's own retries) are
/// "try again later"; anything else is a bug or a misconfiguration.
fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match sdk_error::classify("DynamoDB", err) {
        CloudError::Unavailable(detail) => StoreError::Unavailable(detail),
        other => StoreError::Internal(other.to_string()),
    }
}

/// A conditional write's outcome: a condition that did not hold is `Conflict`.
fn conflict_unless_met<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(err) if is_condition_failure(&err) => Err(StoreError::Conflict),
        Err(err) => Err(classify(err)),
    }
}

/// Whether a conditional write's condition held (`false`: nothing was written).
fn condition_met<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match conflict_unless_met(result) {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(other) => Err(other),
    }
}

fn is_condition_failure<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    sdk_error::has_code(err, &["ConditionalCheckFailedException"])
}
