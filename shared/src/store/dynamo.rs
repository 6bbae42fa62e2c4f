use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
};

use super::schema::{
    CHECK_SHARDS, CONFIG_SK, CURSOR_KEY_PK, DOMAIN_SK_PREFIX, EXPIRES_AT, GSI1, GSI1_PK, GSI1_SK,
    GSI2, GSI2_PK, KEY_ID_SK, KEY_SK, NAME_SK, ORG_KEY_SK_PREFIX, ORG_SK, ORG_ZONE_SK_PREFIX, PK,
    SK, ZONE_SK, check_shard, claim_sk, domain_sk, event_sk, events_pk, key_id_pk, key_pk, name_pk,
    org_key_sk, org_pk, org_zone_sk, reservation_shard, reservation_shard_key, shard_key,
    status_list_key, zone_pk,
};
use super::{
    ApiKeyRecord, DEFAULT_MAX_DOMAINS, DefaultChoice, DomainPage, DomainUpdate, NameHolder,
    PageQuery, PageStart, Quota, Recount, Reservation, Store, StoreError, backoff, effects,
};
use crate::cloud::{self, CloudError};
use crate::events::{DELIVERED_KEPT_FOR, LifecycleEvent, Removal};
use crate::model::{
    Claim, ClaimId, Counter, Counters, Domain, DomainId, DomainName, DomainState, MailFrom, OrgId,
    Region, Status, StatusCounts, Timestamp, VerificationSetup, ZoneId,
};

type Item = HashMap<String, AttributeValue>;

/// The organization item's count of domains held, and its limit where an operator set one.
const DOMAIN_COUNT: &str = "domainCount";
const MAX_DOMAINS: &str = "maxDomains";
/// Moves with every change of the organization's counts (see [`DynamoStore::org_update`]).
const COUNTS_VERSION: &str = "countsVersion";

/// The organization item's counter of domains in `status`.
fn status_count_attribute(status: Status) -> &'static str {
    match status {
        Status::Pending => "pendingCount",
        Status::Active => "activeCount",
        Status::Suspended => "suspendedCount",
        Status::Failed => "failedCount",
    }
}

/// Room for one more domain: under the organization's own limit, or the default one.
const QUOTA_FREE: &str = "((attribute_not_exists(#max) AND (attribute_not_exists(#count) \
     OR #count < :limit)) OR (attribute_exists(#max) AND (attribute_not_exists(#count) \
     OR #count < #max)))";

/// Transactions lost to a concurrent writer are re-read and retried this many times
/// before the caller is told to retry later.
const ATTEMPTS: usize = 5;

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

    async fn default_of(&self, org: &OrgId) -> Result<Option<String>, StoreError> {
        let item = self.get_item(org_pk(org), ORG_SK).await?;
        Ok(item.as_ref().and_then(|i| opt_str(i, "defaultDomainId")))
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

    /// Up to `limit` due entries of one index partition, as (due time, org, id).
    async fn due_in_shard(
        &self,
        shard: u32,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, OrgId, DomainId)>, StoreError> {
        let mut due = Vec::new();
        let query = self.index_until(shard_key(shard), "<=", now);
        self.pages(query, |page| {
            for item in page {
                let key = |name: &str| opt_str(item, name).unwrap_or_default();
                let org = key(PK).strip_prefix("ORG#").and_then(OrgId::parse);
                let id = key(SK)
                    .strip_prefix(DOMAIN_SK_PREFIX)
                    .and_then(DomainId::parse);
                if let (Some(org), Some(id)) = (org, id) {
                    due.push((key(GSI1_SK), org, id));
                }
            }
            Ok(due.len() >= limit)
        })
        .await?;
        Ok(due)
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
            (PK.into(), s(events_pk(&event.detail.domain_id))),
            (SK.into(), s(event_sk(event.sequence))),
            ("event".into(), json(event)),
            ("createdAt".into(), s(event.detail.occurred_at.to_string())),
        ]);
        self.put(item, "attribute_not_exists(#pk)")
    }

    /// The one update of an organization's item a transaction makes (a transaction touches
    /// an item once): its default, its count of domains held (within the quota when it
    /// grows) and its status counters, which move together with the changes they count.
    fn org_update(
        &self,
        org: &OrgId,
        default: DefaultChange<'_>,
        held: i64,
        moves: &[(Status, i64)],
    ) -> TransactWriteItem {
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut adds = Vec::new();
        let mut conditions = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut name = |placeholder: &str, attribute: &str| {
            names.insert(placeholder.to_owned(), attribute.to_owned());
        };
        let id = match default {
            DefaultChange::Keep => None,
            DefaultChange::Set(id) => {
                sets.push("#default = :id");
                Some(id)
            }
            DefaultChange::SetIfNone(id) => {
                sets.push("#default = :id");
                conditions.push("attribute_not_exists(#default)");
                Some(id)
            }
            DefaultChange::Clear(id) => {
                removes.push("#default");
                conditions.push("#default = :id");
                Some(id)
            }
            DefaultChange::NotTo(id) => {
                conditions.push("(attribute_not_exists(#default) OR #default <> :id)");
                Some(id)
            }
        };
        if let Some(id) = id {
            name("#default", "defaultDomainId");
            values.insert(":id".to_owned(), s(id.as_str()));
        }
        if held != 0 {
            name("#count", DOMAIN_COUNT);
            adds.push("#count :held".to_owned());
            values.insert(":held".to_owned(), n(held));
        }
        if held > 0 {
            name("#max", MAX_DOMAINS);
            conditions.push(QUOTA_FREE);
            values.insert(":limit".to_owned(), n(DEFAULT_MAX_DOMAINS));
        }
        for (status, delta) in moves {
            let placeholder = format!("#{}", status.as_str());
            let value = format!(":{}", status.as_str());
            name(&placeholder, status_count_attribute(*status));
            adds.push(format!("{placeholder} {value}"));
            values.insert(value, n(delta));
        }
        if held != 0 || !moves.is_empty() {
            // Every change of the counts moves their version, so a recount can tell that
            // nothing changed while it read the domains.
            name("#countsVersion", COUNTS_VERSION);
            adds.push("#countsVersion :one".to_owned());
            values.insert(":one".to_owned(), n(1));
        }
        let mut expression = String::new();
        if !sets.is_empty() {
            expression.push_str(&format!("SET {} ", sets.join(", ")));
        }
        if !removes.is_empty() {
            expression.push_str(&format!("REMOVE {} ", removes.join(", ")));
        }
        if !adds.is_empty() {
            expression.push_str(&format!("ADD {}", adds.join(", ")));
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(org_pk(org)))
            .key(SK, s(ORG_SK))
            .update_expression(expression.trim_end())
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        if !conditions.is_empty() {
            update = update.condition_expression(conditions.join(" AND "));
        }
        let update = update.build().expect("table, key and expression set");
        TransactWriteItem::builder().update(update).build()
    }

    /// The organization item, which holds its default, its counts and its limit.
    async fn org_item(&self, org: &OrgId) -> Result<Item, StoreError> {
        Ok(self
            .get_item(org_pk(org), ORG_SK)
            .await?
            .unwrap_or_default())
    }

    /// A query of the organization's domains, newest first, starting after `after` where
    /// given: by status, keys from the status index; else from the table, whole items or
    /// (`keys_only`) a projection of their keys.
    fn list_query(
        &self,
        org: &OrgId,
        status: Option<Status>,
        keys_only: bool,
        after: Option<&DomainId>,
    ) -> QueryFluentBuilder {
        let mut start = after.map(|id| domain_key(org, id));
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .expression_attribute_names("#sk", SK);
        let query = match status {
            Some(status) => {
                let partition = status_list_key(org, status);
                if let Some(start) = &mut start {
                    start.insert(GSI2_PK.to_owned(), s(&partition));
                }
                query
                    .index_name(GSI2)
                    .key_condition_expression("#key = :key")
                    .expression_attribute_names("#key", GSI2_PK)
                    .expression_attribute_values(":key", s(partition))
                    // The index holds keys only; named here so both paths read one shape.
                    .projection_expression("#sk")
            }
            None => {
                let query = query
                    .key_condition_expression("#key = :key AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#key", PK)
                    .expression_attribute_values(":key", s(org_pk(org)))
                    .expression_attribute_values(":prefix", s(DOMAIN_SK_PREFIX))
                    .consistent_read(true);
                if keys_only {
                    query.projection_expression("#sk")
                } else {
                    query
                }
            }
        };
        query.set_exclusive_start_key(start)
    }

    /// Reads `query` until it has given `wanted` items or ended, asking each page for no
    /// more than are still wanted.
    async fn first_items(
        &self,
        query: QueryFluentBuilder,
        wanted: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(wanted.min(1_000));
        let mut start = query.get_exclusive_start_key().clone();
        while items.len() < wanted {
            let page = query
                .clone()
                .limit(i32::try_from(wanted - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            self.count_reads(page.scanned_count().max(0) as u64);
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.truncate(wanted);
        Ok(items)
    }

    /// The organization's domains of `ids`, read consistently, in the order of `ids`;
    /// those gone since their keys were read are left out.
    async fn domains_by_id(&self, org: &OrgId, ids: &[DomainId]) -> Result<Vec<Item>, StoreError> {
        let mut found: HashMap<String, Item> = HashMap::with_capacity(ids.len());
        let keys: Vec<Item> = ids.iter().map(|id| domain_key(org, id)).collect();
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .ok();
        let mut attempt = 0;
        while let Some(request) = pending.take().filter(|r| !r.keys().is_empty()) {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(classify)?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            self.count_reads(items.len() as u64);
            for item in items {
                if let Some(sk) = opt_str(&item, SK) {
                    found.insert(sk, item);
                }
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            if pending.is_some() {
                // Unprocessed keys mean throttling: wait before asking again.
                backoff(attempt).await;
                attempt += 1;
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(&domain_sk(id)))
            .collect())
    }

    fn count_reads(&self, items: u64) {
        self.reads.fetch_add(items, Ordering::Relaxed);
    }

    /// How many items (whole, or index keys) this store has read, for benchmarks.
    pub fn items_read(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// What a transaction does to an organization's default.
#[derive(Clone, Copy)]
enum DefaultChange<'a> {
    Keep,
    Set(&'a DomainId),
    /// Only if the organization has none.
    SetIfNone(&'a DomainId),
    /// It is this domain, and stops being one.
    Clear(&'a DomainId),
    /// Guards against a concurrent switch to this domain (which is going away).
    NotTo(&'a DomainId),
}

impl<'a> DefaultChange<'a> {
    /// A domain leaving its organization: its default goes with it.
    fn leaving(domain: &'a Domain) -> Self {
        if domain.is_default {
            DefaultChange::Clear(&domain.id)
        } else {
            DefaultChange::NotTo(&domain.id)
        }
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn insert_domain(
        &self,
        domain: &Domain,
        default: DefaultChoice,
    ) -> Result<Domain, StoreError> {
        let name = name_item(&domain.name, &domain.org_id, &domain.id);
        let created = LifecycleEvent::created(domain);
        for attempt in 0..ATTEMPTS {
            let make_default = match default {
                DefaultChoice::Always => true,
                DefaultChoice::Never => false,
                DefaultChoice::IfNone => self.default_of(&domain.org_id).await?.is_none(),
            };
            let only_if_none = default == DefaultChoice::IfNone;
            let items = vec![
                self.put_name(name.clone(), &domain.id),
                self.put(domain_item(domain), "attribute_not_exists(#pk)"),
                self.org_update(
                    &domain.org_id,
                    match (make_default, only_if_none) {
                        (false, _) => DefaultChange::Keep,
                        (true, true) => DefaultChange::SetIfNone(&domain.id),
                        (true, false) => DefaultChange::Set(&domain.id),
                    },
                    1,
                    &[(domain.state.status, 1)],
                ),
                self.put_event(&created),
            ];
            let mut stored = domain.clone();
            stored.is_default = make_default;
            match self.transact(items).await {
                Ok(()) => return Ok(stored),
                Err(StoreError::Conflict) => {
                    let owner = self.get_item(name_pk(&domain.name), NAME_SK).await?;
                    let ours = owner
                        .as_ref()
                        .and_then(|i| opt_str(i, "domainId"))
                        .is_none_or(|owner| owner == domain.id.as_str());
                    if !ours {
                        return Err(StoreError::NameTaken(domain.name.to_string()));
                    }
                    // Our own write landed and only its answer was lost...
                    if let Some(stored) = self.get_domain(&domain.org_id, &domain.id).await? {
                        return Ok(stored);
                    }
                    // ...or the organization is at its limit...
                    self.quota(&domain.org_id).await?.room()?;
                    // ...or the organization's default changed under us: decide again.
                    backoff(attempt).await;
                }
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn reserve_name(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(reservation_item(reservation)))
            .condition_expression(NAME_FREE)
            .set_expression_attribute_names(Some(name_free_names()))
            .set_expression_attribute_values(Some(name_free_values(&reservation.domain_id)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => {
                Err(StoreError::NameTaken(reservation.name.to_string()))
            }
            Err(err) => Err(classify(err)),
        }
    }

    async fn name_holder(&self, name: &DomainName) -> Result<Option<NameHolder>, StoreError> {
        self.get_item(name_pk(name), NAME_SK)
            .await?
            .map(|item| parse_holder(name, &item))
            .transpose()
    }

    async fn retime_reservation(
        &self,
        reservation: &Reservation,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(name_pk(&reservation.name)))
            .key(SK, s(NAME_SK))
            .update_expression("SET #until = :until, #due = :until")
            .condition_expression("#domainId = :id AND #until = :read")
            .expression_attribute_names("#until", PROVISIONAL_UNTIL)
            .expression_attribute_names("#due", GSI1_SK)
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_values(":until", s(until.to_string()))
            .expression_attribute_values(":read", s(reservation.until.to_string()))
            .expression_attribute_values(":id", s(reservation.domain_id.as_str()))
            .send()
            .await;
        conflict_unless_met(result)
    }

    async fn expired_reservations(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, StoreError> {
        let mut names = Vec::new();
        for shard in 0..CHECK_SHARDS {
            let page = self
                .index_until(reservation_shard_key(shard), "<", now)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1))
                .send()
                .await
                .map_err(classify)?;
            names.extend(page.items().iter().filter_map(|item| {
                let pk = opt_str(item, PK)?;
                DomainName::from_stored(pk.strip_prefix("NAME#")?)
            }));
        }
        names.truncate(limit);
        Ok(names)
    }

    async fn release_name(&self, name: &DomainName, id: &DomainId) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(name_pk(name)))
            .key(SK, s(NAME_SK))
            // Only a reservation of ours: never the name of a registered domain.
            .condition_expression("#domainId = :id AND attribute_exists(#until)")
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_names("#until", PROVISIONAL_UNTIL)
            .expression_attribute_values(":id", s(id.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(classify(err)),
        }
    }

    async fn begin_delete(
        &self,
        org: &OrgId,
        id: &DomainId,
        at: Timestamp,
    ) -> Result<Domain, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(org_pk(org)))
            .key(SK, s(domain_sk(id)))
            .update_expression("SET #deleting = if_not_exists(#deleting, :at)")
            .condition_expression("attribute_exists(#pk) AND #inboxes = :zero")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#deleting", "deletingSince")
            .expression_attribute_names("#inboxes", Counter::Inbox.attribute())
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => self.get_domain(org, id).await?.ok_or(StoreError::NotFound),
            Err(err) if is_condition_failure(&err) => match self.get_domain(org, id).await? {
                None => Err(StoreError::NotFound),
                Some(domain) => Err(StoreError::InUse(domain.counters.inbox_count)),
            },
            Err(err) => Err(classify(err)),
        }
    }

    async fn get_domain(&self, org: &OrgId, id: &DomainId) -> Result<Option<Domain>, StoreError> {
        let sk = domain_sk(id);
        let (item, default) =
            tokio::try_join!(self.get_item(org_pk(org), &sk), self.default_of(org))?;
        item.map(|item| {
            let mut domain = parse_domain(&item)?;
            domain.is_default = default.as_deref() == Some(domain.id.as_str());
            Ok(domain)
        })
        .transpose()
    }

    async fn list_domains(&self, org: &OrgId) -> Result<Vec<Domain>, StoreError> {
        // One partition holds the organization item and all its domains, so a single
        // consistent query sees the default and the domains at the same moment.
        let mut domains = Vec::new();
        let mut default = None;
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(org_pk(org)))
            .scan_index_forward(false)
            .consistent_read(true);
        self.pages(query, |page| {
            for item in page {
                match item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) {
                    Some(sk) if sk.starts_with(DOMAIN_SK_PREFIX) => {
                        domains.push(parse_domain(item)?)
                    }
                    Some(ORG_SK) => default = opt_str(item, "defaultDomainId"),
                    _ => {}
                }
            }
            Ok(false)
        })
        .await?;
        for domain in &mut domains {
            domain.is_default = default.as_deref() == Some(domain.id.as_str());
        }
        Ok(domains)
    }

    async fn list_page(&self, org: &OrgId, query: &PageQuery) -> Result<DomainPage, StoreError> {
        let wanted = query.limit + 1;
        let (skip, after) = match &query.start {
            PageStart::Offset(skip) => (*skip, None),
            PageStart::After(id) => (0, Some(id)),
        };
        let whole = query.status.is_none() && skip == 0;
        let page = async {
            if whole {
                // The plain first page, or a cursor's: whole items, straight from the table.
                let mut items = self
                    .first_items(self.list_query(org, None, false, after), wanted)
                    .await?;
                let more = items.len() > query.limit;
                items.truncate(query.limit);
                return Ok::<_, StoreError>((items, more));
            }
            // Keys first (skipping `skip` of them), then the page's items by key.
            let keys = self
                .first_items(
                    self.list_query(org, query.status, true, after),
                    skip.saturating_add(wanted),
                )
                .await?;
            let ids: Vec<DomainId> = keys
                .iter()
                .skip(skip)
                .filter_map(|key| {
                    opt_str(key, SK)?
                        .strip_prefix(DOMAIN_SK_PREFIX)
                        .and_then(DomainId::parse)
                })
                .collect();
            let mut items = self
                .domains_by_id(org, &ids[..ids.len().min(query.limit)])
                .await?;
            // The index may lag a change by a moment: keep only what still matches.
            items.retain(|item| {
                query.status.is_none_or(|status| {
                    opt_str(item, "status").as_deref() == Some(status.as_str())
                })
            });
            Ok((items, ids.len() > query.limit))
        };
        let ((items, more), org_item) = tokio::try_join!(page, self.org_item(org))?;
        self.count_reads(1);
        let default = opt_str(&org_item, "defaultDomainId");
        let domains = items
            .iter()
            .map(|item| {
                let mut domain = parse_domain(item)?;
                domain.is_default = default.as_deref() == Some(domain.id.as_str());
                Ok(domain)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(DomainPage {
            domains,
            more,
            counts: stored_counts(&org_item).0,
        })
    }

    async fn recount(&self, org: &OrgId, repair: bool) -> Result<Recount, StoreError> {
        for attempt in 0..ATTEMPTS {
            let before = self.org_item(org).await?;
            let items = self.items_under(org_pk(org), DOMAIN_SK_PREFIX).await?;
            let domains = items
                .iter()
                .map(parse_domain)
                .collect::<Result<Vec<_>, _>>()?;
            let (stored, negative) = stored_counts(&before);
            let stored_held = opt_num(&before, DOMAIN_COUNT).unwrap_or(0);
            let unindexed: Vec<(&Item, &Domain)> = items
                .iter()
                .zip(&domains)
                .filter(|(item, domain)| {
                    opt_str(item, GSI2_PK).as_deref()
                        != Some(status_list_key(org, domain.state.status).as_str())
                })
                .collect();
            let mut recount = Recount {
                stored,
                stored_held: stored_held.max(0) as u64,
                negative: negative || stored_held < 0,
                counted: StatusCounts::of(domains.iter().map(|d| d.state.status)),
                unindexed: unindexed.len(),
                repaired: false,
            };
            if !repair || !recount.drifted() {
                return Ok(recount);
            }
            for (_, domain) in &unindexed {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key(PK, s(org_pk(org)))
                    .key(SK, s(domain_sk(&domain.id)))
                    .update_expression("SET #index = :index")
                    .condition_expression("#version = :version")
                    .expression_attribute_names("#index", GSI2_PK)
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(
                        ":index",
                        s(status_list_key(org, domain.state.status)),
                    )
                    .expression_attribute_values(":version", n(domain.version))
                    .send()
                    .await;
                // A domain changed since it was read has its keys written by that change.
                conflict_unless_met(result).or_else(|e| match e {
                    StoreError::Conflict => Ok(()),
                    other => Err(other),
                })?;
            }
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(org_pk(org)))
                .key(SK, s(ORG_SK))
                .expression_attribute_names("#count", DOMAIN_COUNT)
                .expression_attribute_names("#countsVersion", COUNTS_VERSION)
                .expression_attribute_values(":held", n(recount.counted.total()))
                .expression_attribute_values(":one", n(1));
            let mut sets = vec!["#count = :held".to_owned()];
            for status in Status::ALL {
                let (name, value) = (format!("#{status}"), format!(":{status}"));
                sets.push(format!("{name} = {value}"));
                update = update
                    .expression_attribute_names(&name, status_count_attribute(status))
                    .expression_attribute_values(&value, n(recount.counted.get(status)));
            }
            // Written only if no change of the counts landed since they were read before
            // the domains: the count is then exactly what the counters must say.
            update = match opt_num(&before, COUNTS_VERSION) {
                Some(version) => update
                    .condition_expression("#countsVersion = :version")
                    .expression_attribute_values(":version", n(version)),
                None => update.condition_expression("attribute_not_exists(#countsVersion)"),
            };
            let result = update
                .update_expression(format!("SET {} ADD #countsVersion :one", sets.join(", ")))
                .send()
                .await;
            match conflict_unless_met(result) {
                Ok(()) => {
                    recount.repaired = true;
                    return Ok(recount);
                }
                Err(StoreError::Conflict) => backoff(attempt).await,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn organizations(&self) -> Result<Vec<OrgId>, StoreError> {
        let mut orgs = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :org")
                .projection_expression("#pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":org", s(ORG_SK))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            orgs.extend(
                page.items()
                    .iter()
                    .filter_map(|item| OrgId::parse(opt_str(item, PK)?.strip_prefix("ORG#")?)),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        orgs.sort();
        Ok(orgs)
    }

    async fn cursor_key(&self) -> Result<[u8; 32], StoreError> {
        let stored = |item: &Item| {
            item.get("key")
                .and_then(|v| v.as_b().ok())
                .and_then(|b| <[u8; 32]>::try_from(b.as_ref()).ok())
                .ok_or_else(|| corrupt("key"))
        };
        if let Some(item) = self.get_item(CURSOR_KEY_PK.to_owned(), CONFIG_SK).await? {
            return stored(&item);
        }
        let key = crate::crypto::random_bytes::<32>();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(CURSOR_KEY_PK))
            .item(SK, s(CONFIG_SK))
            .item("key", AttributeValue::B(key.to_vec().into()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(key),
            // Another process made it first: theirs is the key.
            Err(err) if is_condition_failure(&err) => self
                .get_item(CURSOR_KEY_PK.to_owned(), CONFIG_SK)
                .await?
                .as_ref()
                .map(stored)
                .unwrap_or_else(|| Err(corrupt("key"))),
            Err(err) => Err(classify(err)),
        }
    }

    async fn update_domain(
        &self,
        current: &Domain,
        update: &DomainUpdate,
    ) -> Result<Domain, StoreError> {
        let (org, id) = (&current.org_id, &current.id);
        let mut next = current.clone();
        next.updated_at = update.at;
        next.version += 1;
        if let Some(state) = &update.state {
            next.state = state.clone();
        }
        if let Some(setup) = &update.setup {
            next.setup = setup.clone();
        }

        let mut sets = vec![
            "#updatedAt = :updatedAt".to_owned(),
            "#version = :next".to_owned(),
        ];
        let mut removes = Vec::new();
        let mut names = HashMap::from([
            ("#updatedAt".to_owned(), "updatedAt".to_owned()),
            ("#version".to_owned(), "version".to_owned()),
        ]);
        let mut values = HashMap::from([
            (":updatedAt".to_owned(), s(update.at.to_string())),
            (":next".to_owned(), n(next.version)),
            (":expected".to_owned(), n(current.version)),
        ]);
        let mut rewritten = Vec::new();
        if update.state.is_some() {
            rewritten.extend(state_attributes(&next));
        }
        if update.setup.is_some() {
            rewritten.extend(dkim_attributes(&next.setup));
        }
        for (attribute, value) in rewritten {
            let name = format!("#{attribute}");
            names.insert(name.clone(), attribute.to_owned());
            match value {
                Some(value) => {
                    let placeholder = format!(":{attribute}");
                    sets.push(format!("{name} = {placeholder}"));
                    values.insert(placeholder, value);
                }
                None => removes.push(name),
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let domain_update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(org_pk(org)))
            .key(SK, s(domain_sk(id)))
            .update_expression(expression)
            .condition_expression("#version = :expected")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .expect("table, key and expression set");
        let mut items = vec![TransactWriteItem::builder().update(domain_update).build()];
        if let Some(event) = LifecycleEvent::of_change(current, &next) {
            items.push(self.put_event(&event));
        }
        let default = match update.default {
            Some(true) => {
                next.is_default = true;
                DefaultChange::Set(id)
            }
            Some(false) if current.is_default => {
                next.is_default = false;
                DefaultChange::Clear(id)
            }
            _ => DefaultChange::Keep,
        };
        let (from, to) = (current.state.status, next.state.status);
        let moves = if from == to {
            vec![]
        } else {
            vec![(from, -1), (to, 1)]
        };
        if !matches!(default, DefaultChange::Keep) || !moves.is_empty() {
            items.push(self.org_update(org, default, 0, &moves));
        }
        match self.transact(items).await {
            Ok(()) => Ok(next),
            Err(StoreError::Conflict) => match self.get_domain(org, id).await? {
                None => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::Conflict),
            },
            Err(other) => Err(other),
        }
    }

    async fn delete_domain(
        &self,
        org: &OrgId,
        id: &DomainId,
        at: Timestamp,
    ) -> Result<Domain, StoreError> {
        for attempt in 0..ATTEMPTS {
            let current = self
                .get_domain(org, id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if current.counters.inbox_count > 0 {
                return Err(StoreError::InUse(current.counters.inbox_count));
            }
            let delete_domain = Delete::builder()
                .table_name(&self.table)
                .key(PK, s(org_pk(org)))
                .key(SK, s(domain_sk(id)))
                // Inbox creation adds to this counter; whichever lands first wins.
                .condition_expression("#inboxes = :zero")
                .expression_attribute_names("#inboxes", Counter::Inbox.attribute())
                .expression_attribute_values(":zero", n(0))
                .build()
                .expect("table, key and condition set");
            let delete_claim = Delete::builder()
                .table_name(&self.table)
                .key(PK, s(name_pk(&current.name)))
                .key(SK, s(NAME_SK))
                .condition_expression("#domainId = :id")
                .expression_attribute_names("#domainId", "domainId")
                .expression_attribute_values(":id", s(id.as_str()))
                .build()
                .expect("table, key and condition set");
            let items = vec![
                TransactWriteItem::builder().delete(delete_domain).build(),
                TransactWriteItem::builder().delete(delete_claim).build(),
                self.org_update(
                    org,
                    DefaultChange::leaving(&current),
                    -1,
                    &[(current.state.status, -1)],
                ),
                // Its sequence follows the last change's: a change landing meanwhile takes
                // it first, and this transaction is decided again on the new state.
                self.put_event(&LifecycleEvent::deleted(&current, Removal::Requested, at)),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(current),
                Err(StoreError::Conflict) => backoff(attempt).await,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn add_to_counter(
        &self,
        org: &OrgId,
        id: &DomainId,
        counter: Counter,
        delta: i64,
    ) -> Result<i64, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(org_pk(org)))
            .key(SK, s(domain_sk(id)))
            .update_expression("ADD #counter :delta")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#counter", counter.attribute())
            .expression_attribute_values(":delta", n(delta))
            .return_values(ReturnValue::UpdatedNew);
        request = if delta < 0 {
            request
                .condition_expression("attribute_exists(#pk) AND #counter >= :floor")
                .expression_attribute_values(":floor", n(-delta))
        } else if counter == Counter::Inbox {
            request
                .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#deleting)")
                .expression_attribute_names("#deleting", "deletingSince")
        } else {
            request.condition_expression("attribute_exists(#pk)")
        };
        match request.send().await {
            Ok(out) => out
                .attributes
                .as_ref()
                .and_then(|item| opt_num(item, counter.attribute()))
                .ok_or_else(|| StoreError::Internal("counter missing from update answer".into())),
            Err(err) if is_condition_failure(&err) => {
                match self.get_item(org_pk(org), &domain_sk(id)).await? {
                    None => Err(StoreError::NotFound),
                    // Being deleted: as good as gone for a new inbox.
                    Some(item) if delta > 0 && item.contains_key("deletingSince") => {
                        Err(StoreError::NotFound)
                    }
                    Some(_) => Err(StoreError::Conflict),
                }
            }
            Err(err) => Err(classify(err)),
        }
    }

    async fn due_domains(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(OrgId, DomainId)>, StoreError> {
        let shards = (0..CHECK_SHARDS).map(|shard| self.due_in_shard(shard, now, limit));
        let mut due: Vec<(String, OrgId, DomainId)> = futures::future::try_join_all(shards)
            .await?
            .into_iter()
            .flatten()
            .collect();
        due.sort();
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, org, id)| (org, id))
            .collect())
    }

    async fn assign_zone(
        &self,
        zone: &ZoneId,
        org: &OrgId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let assignment = Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (PK.into(), s(zone_pk(zone))),
                (SK.into(), s(ZONE_SK)),
                ("orgId".into(), s(org.as_str())),
                ("assignedAt".into(), s(at.to_string())),
            ])))
            .condition_expression("attribute_not_exists(#pk) OR #org = :org")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#org", "orgId")
            .expression_attribute_values(":org", s(org.as_str()))
            .build()
            .expect("table and item set");
        let listed = Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (PK.into(), s(org_pk(org))),
                (SK.into(), s(org_zone_sk(zone))),
                ("assignedAt".into(), s(at.to_string())),
            ])))
            .build()
            .expect("table and item set");
        self.transact(vec![
            TransactWriteItem::builder().put(assignment).build(),
            TransactWriteItem::builder().put(listed).build(),
        ])
        .await
    }

    async fn unassign_zone(&self, zone: &ZoneId) -> Result<OrgId, StoreError> {
        let item = self
            .get_item(zone_pk(zone), ZONE_SK)
            .await?
            .ok_or(StoreError::NotFound)?;
        let org = parse_with(&item, "orgId", OrgId::parse)?;
        let assignment = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(zone_pk(zone)))
            .key(SK, s(ZONE_SK))
            .condition_expression("#org = :org")
            .expression_attribute_names("#org", "orgId")
            .expression_attribute_values(":org", s(org.as_str()))
            .build()
            .expect("table and key set");
        let listed = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(org_pk(&org)))
            .key(SK, s(org_zone_sk(zone)))
            .build()
            .expect("table and key set");
        self.transact(vec![
            TransactWriteItem::builder().delete(assignment).build(),
            TransactWriteItem::builder().delete(listed).build(),
        ])
        .await?;
        Ok(org)
    }

    async fn zone_owner(&self, zone: &ZoneId) -> Result<Option<OrgId>, StoreError> {
        self.get_item(zone_pk(zone), ZONE_SK)
            .await?
            .map(|item| parse_with(&item, "orgId", OrgId::parse))
            .transpose()
    }

    async fn zones_of(&self, org: &OrgId) -> Result<Vec<ZoneId>, StoreError> {
        let items = self.items_under(org_pk(org), ORG_ZONE_SK_PREFIX).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                opt_str(item, SK)?
                    .strip_prefix(ORG_ZONE_SK_PREFIX)
                    .and_then(ZoneId::parse)
            })
            .collect())
    }

    async fn quota(&self, org: &OrgId) -> Result<Quota, StoreError> {
        let item = self.get_item(org_pk(org), ORG_SK).await?;
        let number = |name: &str| item.as_ref().and_then(|i| opt_num(i, name));
        Ok(Quota {
            // A count below zero (domains deleted that were never counted) is none.
            used: number(DOMAIN_COUNT).map_or(0, |n| n.max(0) as u64),
            max: number(MAX_DOMAINS).map_or(DEFAULT_MAX_DOMAINS, |n| n.max(0) as u64),
        })
    }

    async fn set_quota(&self, org: &OrgId, max: u64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(org_pk(org)))
            .key(SK, s(ORG_SK))
            .update_expression("SET #max = :max")
            .expression_attribute_names("#max", MAX_DOMAINS)
            .expression_attribute_values(":max", n(max))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn put_claim(&self, claim: &Claim) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim_item(claim)))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get_claim(&self, org: &OrgId, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
        self.get_item(org_pk(org), &claim_sk(id))
            .await?
            .map(|item| parse_claim(&item))
            .transpose()
    }

    async fn complete_claim(
        &self,
        claim: &Claim,
        domain: &DomainId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(org_pk(&claim.org_id)))
            .key(SK, s(claim_sk(&claim.id)))
            .update_expression("SET #domainId = :domain, #completedAt = :at")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#domainId)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_names("#completedAt", "completedAt")
            .expression_attribute_values(":domain", s(domain.as_str()))
            .expression_attribute_values(":at", s(at.to_string()))
            .send()
            .await;
        conflict_unless_met(result)
    }

    async fn transfer_name(
        &self,
        holder: &Domain,
        reservation: &Reservation,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let delete_holder = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(org_pk(&holder.org_id)))
            .key(SK, s(domain_sk(&holder.id)))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", n(holder.version))
            .build()
            .expect("table, key and condition set");
        let take_name = Put::builder()
            .table_name(&self.table)
            .set_item(Some(reservation_item(reservation)))
            .condition_expression("#domainId = :holder AND attribute_not_exists(#until)")
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_names("#until", PROVISIONAL_UNTIL)
            .expression_attribute_values(":holder", s(holder.id.as_str()))
            .build()
            .expect("table, item and condition set");
        self.transact(vec![
            TransactWriteItem::builder().delete(delete_holder).build(),
            TransactWriteItem::builder().put(take_name).build(),
            self.org_update(
                &holder.org_id,
                DefaultChange::leaving(holder),
                -1,
                &[(holder.state.status, -1)],
            ),
            self.put_event(&LifecycleEvent::deleted(holder, Removal::Claimed, at)),
        ])
        .await
    }

    async fn mark_delivered(
        &self,
        events: &[LifecycleEvent],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let expires = at.plus(DELIVERED_KEPT_FOR).datetime().unix_timestamp();
        let marks = events.iter().map(|event| {
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(events_pk(&event.detail.domain_id)))
                .key(SK, s(event_sk(event.sequence)))
                .update_expression("SET #expires = :expires")
                // Never recreate an item the TTL already removed.
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#expires", EXPIRES_AT)
                .expression_attribute_values(":expires", n(expires));
            async move { conflict_unless_met(request.send().await) }
        });
        for result in futures::future::join_all(marks).await {
            match result {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    async fn undelivered_events(&self, id: &DomainId) -> Result<Vec<LifecycleEvent>, StoreError> {
        self.items_under(events_pk(id), "EVENT#")
            .await?
            .iter()
            .filter(|item| !item.contains_key(EXPIRES_AT))
            .map(|item| {
                opt_json(item, "event").and_then(|event| event.ok_or_else(|| corrupt("event")))
            })
            .collect()
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut item: Item = HashMap::from([
            (PK.into(), s(key_pk(&key.key_hash))),
            (SK.into(), s(KEY_SK)),
            ("keyId".into(), s(&key.id)),
            ("orgId".into(), s(key.org_id.as_str())),
            ("createdAt".into(), s(key.created_at.to_string())),
        ]);
        let mut listed: Item = HashMap::from([
            (PK.into(), s(org_pk(&key.org_id))),
            (SK.into(), s(org_key_sk(&key.id))),
            ("createdAt".into(), s(key.created_at.to_string())),
        ]);
        if let Some(at) = key.revoked_at {
            item.insert("revokedAt".into(), s(at.to_string()));
            listed.insert("revokedAt".into(), s(at.to_string()));
        }
        let by_id: Item = HashMap::from([
            (PK.into(), s(key_id_pk(&key.id))),
            (SK.into(), s(KEY_ID_SK)),
            ("keyHash".into(), s(&key.key_hash)),
        ]);
        let unconditional = |item: Item| {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .expect("table and item set");
            TransactWriteItem::builder().put(put).build()
        };
        // The key itself only if new: a key is never taken over by another organization.
        self.transact(vec![
            self.put(item, "attribute_not_exists(#pk)"),
            unconditional(by_id),
            unconditional(listed),
        ])
        .await
    }

    async fn get_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(item) = self.get_item(key_pk(key_hash), KEY_SK).await? else {
            return Ok(None);
        };
        Ok(Some(ApiKeyRecord {
            id: opt_str(&item, "keyId").unwrap_or_default(),
            key_hash: key_hash.to_owned(),
            org_id: parse_with(&item, "orgId", OrgId::parse)?,
            created_at: parse_with(&item, "createdAt", |t| Timestamp::parse(t).ok())?,
            revoked_at: opt_time(&item, "revokedAt")?,
        }))
    }

    async fn revoke_api_key(&self, key_hash: &str, at: Timestamp) -> Result<(), StoreError> {
        let key = self
            .get_api_key(key_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        let revoke = |pk: String, sk: String| {
            let update = Update::builder()
                .table_name(&self.table)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .update_expression("SET #revokedAt = if_not_exists(#revokedAt, :at)")
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#revokedAt", "revokedAt")
                .expression_attribute_values(":at", s(at.to_string()))
                .build()
                .expect("table, key and expression set");
            TransactWriteItem::builder().update(update).build()
        };
        let mut items = vec![revoke(key_pk(key_hash), KEY_SK.to_owned())];
        // Keys made before ids existed have no listing to mark.
        if !key.id.is_empty() {
            items.push(revoke(org_pk(&key.org_id), org_key_sk(&key.id)));
        }
        self.transact(items).await
    }

    async fn api_key_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        let item = self.get_item(key_id_pk(id), KEY_ID_SK).await?;
        Ok(item.and_then(|i| opt_str(&i, "keyHash")))
    }

    async fn api_keys_of(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys = Vec::new();
        for item in self.items_under(org_pk(org), ORG_KEY_SK_PREFIX).await? {
            let Some(id) = opt_str(&item, SK)
                .and_then(|sk| sk.strip_prefix(ORG_KEY_SK_PREFIX).map(str::to_owned))
            else {
                continue;
            };
            keys.push(ApiKeyRecord {
                id,
                key_hash: String::new(),
                org_id: org.clone(),
                created_at: parse_with(&item, "createdAt", |t| Timestamp::parse(t).ok())?,
                revoked_at: opt_time(&item, "revokedAt")?,
            });
        }
        Ok(keys)
    }
}

/// Throttling, server faults and network trouble (after the SDK's own retries) are
/// "try again later"; anything else is a bug or a misconfiguration.
fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match cloud::classify("DynamoDB", err) {
        CloudError::Unavailable(detail) => StoreError::Unavailable(detail),
        other => StoreError::Internal(other.to_string()),
    }
}

/// A name is free for a domain when nobody holds it or the domain itself does. A
/// reservation that ran out is not free: its effects are undone first.
const NAME_FREE: &str = "attribute_not_exists(#pk) OR #domainId = :id";

/// Set on a name's item while it is only reserved.
const PROVISIONAL_UNTIL: &str = "provisionalUntil";

fn name_free_names() -> HashMap<String, String> {
    HashMap::from([
        ("#pk".into(), PK.into()),
        ("#domainId".into(), "domainId".into()),
    ])
}

fn name_free_values(id: &DomainId) -> Item {
    HashMap::from([(":id".into(), s(id.as_str()))])
}

fn name_item(name: &DomainName, org: &OrgId, id: &DomainId) -> Item {
    HashMap::from([
        (PK.into(), s(name_pk(name))),
        (SK.into(), s(NAME_SK)),
        ("orgId".into(), s(org.as_str())),
        ("domainId".into(), s(id.as_str())),
    ])
}

/// A reservation: the name's item with its deadline and effects, in the index the sweep
/// reads to find registrations that died.
fn reservation_item(reservation: &Reservation) -> Item {
    let mut item = name_item(&reservation.name, &reservation.org, &reservation.domain_id);
    let until = reservation.until.to_string();
    item.insert(PROVISIONAL_UNTIL.into(), s(until.clone()));
    item.insert(
        "leftovers".into(),
        s(effects::encode(&reservation.leftovers)),
    );
    item.insert("effects".into(), s(effects::encode(&reservation.effects)));
    item.insert(GSI1_PK.into(), s(reservation_shard(&reservation.name)));
    item.insert(GSI1_SK.into(), s(until));
    item
}

fn parse_holder(name: &DomainName, item: &Item) -> Result<NameHolder, StoreError> {
    let org = parse_with(item, "orgId", OrgId::parse)?;
    let id = parse_with(item, "domainId", DomainId::parse)?;
    let Some(until) = opt_time(item, PROVISIONAL_UNTIL)? else {
        return Ok(NameHolder::Domain { org, id });
    };
    let effects_of = |attribute: &str| {
        effects::decode(&opt_str(item, attribute).unwrap_or_default())
            .ok_or_else(|| corrupt(attribute))
    };
    Ok(NameHolder::Reservation(Reservation {
        name: name.clone(),
        org,
        domain_id: id,
        until,
        leftovers: effects_of("leftovers")?,
        effects: effects_of("effects")?,
    }))
}

/// Claims stay readable for a week after they expire, then the table's TTL removes them.
const CLAIM_KEPT: time::Duration = time::Duration::days(7);

fn claim_item(claim: &Claim) -> Item {
    let mut item: Item = HashMap::from([
        (PK.into(), s(org_pk(&claim.org_id))),
        (SK.into(), s(claim_sk(&claim.id))),
        ("claimId".into(), s(claim.id.as_str())),
        ("orgId".into(), s(claim.org_id.as_str())),
        ("domain".into(), s(claim.name.as_str())),
        ("region".into(), s(claim.region.as_str())),
        ("token".into(), s(claim.token.clone())),
        ("createdAt".into(), s(claim.created_at.to_string())),
        ("expiresAt".into(), s(claim.expires_at.to_string())),
        (
            EXPIRES_AT.into(),
            n(claim
                .expires_at
                .plus(CLAIM_KEPT)
                .datetime()
                .unix_timestamp()),
        ),
    ]);
    if let Some(id) = &claim.domain_id {
        item.insert("domainId".into(), s(id.as_str()));
    }
    if let Some(at) = claim.completed_at {
        item.insert("completedAt".into(), s(at.to_string()));
    }
    item
}

fn parse_claim(item: &Item) -> Result<Claim, StoreError> {
    Ok(Claim {
        id: parse_with(item, "claimId", ClaimId::parse)?,
        org_id: parse_with(item, "orgId", OrgId::parse)?,
        name: parse_with(item, "domain", DomainName::from_stored)?,
        region: parse_with(item, "region", Region::parse)?,
        token: opt_str(item, "token").ok_or_else(|| corrupt("token"))?,
        created_at: opt_time(item, "createdAt")?.ok_or_else(|| corrupt("createdAt"))?,
        expires_at: opt_time(item, "expiresAt")?.ok_or_else(|| corrupt("expiresAt"))?,
        domain_id: opt_str(item, "domainId")
            .map(|id| DomainId::parse(&id).ok_or_else(|| corrupt("domainId")))
            .transpose()?,
        completed_at: opt_time(item, "completedAt")?,
    })
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

fn is_condition_failure<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    cloud::has_code(err, &["ConditionalCheckFailedException"])
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

/// A domain's key in the table.
fn domain_key(org: &OrgId, id: &DomainId) -> Item {
    HashMap::from([
        (PK.to_owned(), s(org_pk(org))),
        (SK.to_owned(), s(domain_sk(id))),
    ])
}

/// A domain as the table stores it, with its index keys: for bulk loads (benchmarks,
/// imports), which write it with `BatchWriteItem` and then repair the organization's
/// counters with [`Store::recount`].
pub fn domain_item(domain: &Domain) -> Item {
    let mut item: Item = HashMap::from([
        (PK.into(), s(org_pk(&domain.org_id))),
        (SK.into(), s(domain_sk(&domain.id))),
        ("id".into(), s(domain.id.as_str())),
        ("orgId".into(), s(domain.org_id.as_str())),
        ("domain".into(), s(domain.name.as_str())),
        ("region".into(), s(domain.region.as_str())),
        ("ownershipToken".into(), s(&domain.setup.ownership_token)),
        ("createdAt".into(), s(domain.created_at.to_string())),
        ("updatedAt".into(), s(domain.updated_at.to_string())),
        ("version".into(), n(domain.version)),
    ]);
    for counter in [Counter::Inbox, Counter::Sent, Counter::Received] {
        item.insert(counter.attribute().into(), n(domain.counters.get(counter)));
    }
    if let Some(zone) = &domain.hosted_zone_id {
        item.insert("hostedZoneId".into(), s(zone));
    }
    if let Some(mail_from) = &domain.setup.mail_from {
        item.insert("mailFrom".into(), s(mail_from.as_str()));
    }
    for (attribute, value) in state_attributes(domain)
        .into_iter()
        .chain(dkim_attributes(&domain.setup))
    {
        if let Some(value) = value {
            item.insert(attribute.into(), value);
        }
    }
    item
}

/// The attributes a DKIM rotation rewrites; `None` means "remove".
fn dkim_attributes(setup: &VerificationSetup) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("dkimSelector", Some(s(&setup.dkim_selector))),
        ("dkimPublicKey", Some(s(&setup.dkim_public_key))),
        ("dkimNext", setup.dkim_next.as_ref().map(json)),
        ("dkimRetired", setup.dkim_retired.as_ref().map(json)),
    ]
}

/// A value stored as one JSON string attribute.
fn json<T: serde::Serialize>(value: &T) -> AttributeValue {
    s(serde_json::to_string(value).expect("stored values serialize"))
}

/// The attributes a state change rewrites; `None` means "remove". A domain awaiting a
/// check carries the sweep index keys, any other does not (the index is sparse).
fn state_attributes(domain: &Domain) -> Vec<(&'static str, Option<AttributeValue>)> {
    let state = &domain.state;
    let time = |t: Option<Timestamp>| t.map(|t| s(t.to_string()));
    vec![
        ("status", Some(s(state.status.as_str()))),
        (
            GSI2_PK,
            Some(s(status_list_key(&domain.org_id, state.status))),
        ),
        ("verifiedAt", time(state.verified_at)),
        ("lastCheckedAt", time(state.last_checked_at)),
        ("pendingSince", time(state.pending_since)),
        ("nextCheckAt", time(state.next_check_at)),
        ("failedChecks", Some(n(state.failed_checks))),
        ("failureReason", state.failure_reason.clone().map(s)),
        ("degradedSince", time(state.degraded_since)),
        ("lastCheck", state.last_check.as_ref().map(json)),
        (
            GSI1_PK,
            state.next_check_at.map(|_| s(check_shard(&domain.id))),
        ),
        (GSI1_SK, time(state.next_check_at)),
    ]
}

/// The organization item's status counters, and whether any was below zero (a change
/// counted out of a status it was never counted into: drift for a recount to repair).
fn stored_counts(item: &Item) -> (StatusCounts, bool) {
    let mut counts = StatusCounts::default();
    let mut negative = false;
    for status in Status::ALL {
        let value = opt_num(item, status_count_attribute(status)).unwrap_or(0);
        negative |= value < 0;
        *counts.get_mut(status) = value.max(0) as u64;
    }
    (counts, negative)
}

fn opt_str(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn opt_num(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn corrupt(name: &str) -> StoreError {
    StoreError::Internal(format!("stored item has a missing or malformed '{name}'"))
}

fn parse_with<T>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .and_then(|v| parse(v))
        .ok_or_else(|| corrupt(name))
}

fn opt_time(item: &Item, name: &str) -> Result<Option<Timestamp>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(_) => parse_with(item, name, |t| Timestamp::parse(t).ok()).map(Some),
    }
}

/// An optional attribute [`json`] wrote.
fn opt_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(_) => parse_with(item, name, |t| serde_json::from_str(t).ok()).map(Some),
    }
}

fn parse_domain(item: &Item) -> Result<Domain, StoreError> {
    let text = |name: &str| parse_with(item, name, |t| Some(t.to_owned()));
    let time = |name: &str| parse_with(item, name, |t| Timestamp::parse(t).ok());
    let count = |counter: Counter| opt_num(item, counter.attribute()).unwrap_or(0);
    Ok(Domain {
        id: parse_with(item, "id", DomainId::parse)?,
        org_id: parse_with(item, "orgId", OrgId::parse)?,
        name: parse_with(item, "domain", DomainName::from_stored)?,
        region: parse_with(item, "region", Region::parse)?,
        setup: VerificationSetup {
            ownership_token: text("ownershipToken")?,
            dkim_selector: text("dkimSelector")?,
            dkim_public_key: text("dkimPublicKey")?,
            mail_from: match item.get("mailFrom") {
                None => None,
                Some(_) => Some(parse_with(item, "mailFrom", |t| MailFrom::parse(t).ok())?),
            },
            dkim_next: opt_json(item, "dkimNext")?,
            dkim_retired: opt_json(item, "dkimRetired")?,
        },
        state: DomainState {
            status: parse_with(item, "status", |t| t.parse::<Status>().ok())?,
            verified_at: opt_time(item, "verifiedAt")?,
            last_checked_at: opt_time(item, "lastCheckedAt")?,
            pending_since: opt_time(item, "pendingSince")?,
            next_check_at: opt_time(item, "nextCheckAt")?,
            failed_checks: opt_num(item, "failedChecks")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            failure_reason: opt_str(item, "failureReason"),
            degraded_since: opt_time(item, "degradedSince")?,
            last_check: opt_json(item, "lastCheck")?,
        },
        counters: Counters {
            inbox_count: count(Counter::Inbox),
            sent_count: count(Counter::Sent),
            received_count: count(Counter::Received),
        },
        is_default: false,
        created_at: time("createdAt")?,
        updated_at: time("updatedAt")?,
        version: opt_num(item, "version")
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| corrupt("version"))?,
        hosted_zone_id: opt_str(item, "hostedZoneId"),
        deleting_since: opt_time(item, "deletingSince")?,
    })
}
