//! [`DomainStore`] on the table: a domain's writes, each with its name claim, its
//! organization's counts and its lifecycle event in one transaction; the sweep's index.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, TransactWriteItem, Update};

use super::items::{
    PROVISIONAL_UNTIL, dkim_attributes, domain_item, n, name_item, opt_num, opt_str, parse_domain,
    s, state_attributes,
};
use super::org_item::DefaultChange;
use super::{DynamoStore, classify, is_condition_failure};
use crate::model::event::{LifecycleEvent, Removal};
use crate::model::{Counter, Domain, DomainId, OrgId, Timestamp};
use crate::store::schema::{
    CHECK_SHARDS, DOMAIN_SK_PREFIX, GSI1_SK, NAME_SK, PK, SK, domain_sk, name_pk, org_pk, shard_key,
};
use crate::store::{
    ATTEMPTS, DefaultChoice, DomainStore, DomainUpdate, OrgStore, Reservation, StoreError, backoff,
};

#[async_trait]
impl DomainStore for DynamoStore {
    async fn insert_domain(
        &self,
        domain: &Domain,
        default: DefaultChoice,
    ) -> Result<Domain, StoreError> {
        self.insert_held(domain, default, None).await
    }

    async fn insert_reserved(
        &self,
        domain: &Domain,
        default: DefaultChoice,
        reservation: &Reservation,
    ) -> Result<Domain, StoreError> {
        self.insert_held(domain, default, Some(reservation)).await
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

    async fn oldest_due(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let firsts = (0..CHECK_SHARDS).map(|shard| async move {
            let page = self
                .index_until(shard_key(shard), "<=", now)
                .limit(1)
                .projection_expression("#at")
                .send()
                .await
                .map_err(classify)?;
            Ok::<_, StoreError>(
                page.items()
                    .first()
                    .and_then(|item| opt_str(item, GSI1_SK))
                    .and_then(|at| Timestamp::parse(&at).ok()),
            )
        });
        let firsts = futures::future::try_join_all(firsts).await?;
        Ok(firsts.into_iter().flatten().min())
    }
}

impl DynamoStore {
    /// Inserts `domain`, taking its name free or from its own reservation (`held`, exactly
    /// as read, where the registration holds one).
    async fn insert_held(
        &self,
        domain: &Domain,
        default: DefaultChoice,
        held: Option<&Reservation>,
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
                match held {
                    None => self.put_name(name.clone(), &domain.id),
                    Some(held) => self.put_reserved_name(name.clone(), held),
                },
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
                    // Taken over (to be undone) since this registration reserved it.
                    if let (Some(held), Some(owner)) = (held, &owner)
                        && let Some(until) = opt_str(owner, PROVISIONAL_UNTIL)
                        && until != held.until.to_string()
                    {
                        return Err(StoreError::Conflict);
                    }
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

    /// The name's item put for good, only over `held` as it was read.
    fn put_reserved_name(&self, item: super::Item, held: &Reservation) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#domainId = :id AND #until = :until")
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_names("#until", PROVISIONAL_UNTIL)
            .expression_attribute_values(":id", s(held.domain_id.as_str()))
            .expression_attribute_values(":until", s(held.until.to_string()))
            .build()
            .expect("table, item and condition set");
        TransactWriteItem::builder().put(put).build()
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
}
