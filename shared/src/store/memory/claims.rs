//! [`ClaimStore`] in memory.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::{Claim, ClaimId, DomainId, OrgId, Timestamp};
use crate::store::{ClaimStore, StoreError};

#[async_trait]
impl ClaimStore for MemoryStore {
    async fn put_claim(&self, claim: &Claim) -> Result<(), StoreError> {
        let key = (claim.org_id.clone(), claim.id.clone());
        self.tables().claims.insert(key, claim.clone());
        Ok(())
    }

    async fn get_claim(&self, org: &OrgId, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
        Ok(self
            .tables()
            .claims
            .get(&(org.clone(), id.clone()))
            .cloned())
    }

    async fn complete_claim(
        &self,
        claim: &Claim,
        domain: &DomainId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        let key = (claim.org_id.clone(), claim.id.clone());
        match t.claims.get_mut(&key) {
            Some(stored) if stored.domain_id.is_none() => {
                stored.domain_id = Some(domain.clone());
                stored.completed_at = Some(at);
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }
}
