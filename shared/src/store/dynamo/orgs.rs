//! [`OrgStore`] on the table: the quota on the organization item, the recount that
//! checks its counters against its domains, and the scan for organizations.

use async_trait::async_trait;

use super::items::{n, opt_num, opt_str, parse_domain, s};
use super::org_item::{
    COUNTS_VERSION, DOMAIN_COUNT, MAX_DOMAINS, status_count_attribute, stored_counts,
};
use super::{DynamoStore, Item, classify, conflict_unless_met};
use crate::model::{Domain, OrgId, Status, StatusCounts};
use crate::store::schema::{
    DOMAIN_SK_PREFIX, GSI2_PK, ORG_SK, PK, SK, domain_sk, org_pk, status_list_key,
};
use crate::store::{ATTEMPTS, DEFAULT_MAX_DOMAINS, OrgStore, Quota, Recount, StoreError, backoff};

#[async_trait]
impl OrgStore for DynamoStore {
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
}
