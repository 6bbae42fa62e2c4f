//! [`ListStore`] on the table: whole lists; pages straight from the table, or keys first
//! (from the table or the status index) and then the page's items by key; the cursor key.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::items::{corrupt, domain_key, opt_str, parse_domain, s};
use super::org_item::stored_counts;
use super::{DynamoStore, Item, classify, is_condition_failure};
use crate::model::{Domain, DomainId, OrgId, Status};
use crate::store::schema::{
    CONFIG_SK, CURSOR_KEY_PK, DOMAIN_SK_PREFIX, GSI2, GSI2_PK, ORG_SK, PK, SK, domain_sk, org_pk,
    status_list_key,
};
use crate::store::{DomainPage, ListStore, PageQuery, PageStart, StoreError, backoff};

#[async_trait]
impl ListStore for DynamoStore {
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
}

impl DynamoStore {
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
}
