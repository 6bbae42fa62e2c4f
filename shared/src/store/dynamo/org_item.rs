//! The organization item (`ORG#<orgId>`, `ORG`): its attributes (default, count of
//! domains held, limit, status counters) and the one update of it a transaction makes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::items::{n, opt_num, opt_str, s};
use super::{DynamoStore, Item};
use crate::model::{Domain, DomainId, OrgId, Status, StatusCounts};
use crate::store::schema::{ORG_SK, PK, SK, org_pk};
use crate::store::{DEFAULT_MAX_DOMAINS, StoreError};

/// The organization item's count of domains held, and its limit where an operator set one.
pub(super) const DOMAIN_COUNT: &str = "domainCount";
pub(super) const MAX_DOMAINS: &str = "maxDomains";
/// Moves with every change of the organization's counts (see [`DynamoStore::org_update`]).
pub(super) const COUNTS_VERSION: &str = "countsVersion";

/// The organization item's counter of domains in `status`.
pub(super) fn status_count_attribute(status: Status) -> &'static str {
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

/// What a transaction does to an organization's default.
#[derive(Clone, Copy)]
pub(super) enum DefaultChange<'a> {
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
    pub(super) fn leaving(domain: &'a Domain) -> Self {
        if domain.is_default {
            DefaultChange::Clear(&domain.id)
        } else {
            DefaultChange::NotTo(&domain.id)
        }
    }
}

impl DynamoStore {
    pub(super) async fn default_of(&self, org: &OrgId) -> Result<Option<String>, StoreError> {
        let item = self.get_item(org_pk(org), ORG_SK).await?;
        Ok(item.as_ref().and_then(|i| opt_str(i, "defaultDomainId")))
    }

    /// The one update of an organization's item a transaction makes (a transaction touches
    /// an item once): its default, its count of domains held (within the quota when it
    /// grows) and its status counters, which move together with the changes they count.
    pub(super) fn org_update(
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
    pub(super) async fn org_item(&self, org: &OrgId) -> Result<Item, StoreError> {
        Ok(self
            .get_item(org_pk(org), ORG_SK)
            .await?
            .unwrap_or_default())
    }
}

/// The organization item's status counters, and whether any was below zero (a change
/// counted out of a status it was never counted into: drift for a recount to repair).
pub(super) fn stored_counts(item: &Item) -> (StatusCounts, bool) {
    let mut counts = StatusCounts::default();
    let mut negative = false;
    for status in Status::ALL {
        let value = opt_num(item, status_count_attribute(status)).unwrap_or(0);
        negative |= value < 0;
        *counts.get_mut(status) = value.max(0) as u64;
    }
    (counts, negative)
}
