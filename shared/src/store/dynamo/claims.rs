//! [`ClaimStore`] on the table: a claim's item, kept a while after it expires.

use async_trait::async_trait;

use super::items::{claim_item, parse_claim, s};
use super::{DynamoStore, classify, conflict_unless_met};
use crate::model::{Claim, ClaimId, DomainId, OrgId, Timestamp};
use crate::store::schema::{PK, SK, claim_sk, org_pk};
use crate::store::{ClaimStore, StoreError};

#[async_trait]
impl ClaimStore for DynamoStore {
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
}
