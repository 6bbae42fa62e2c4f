//! Claims: an organization proving it owns a name another organization holds but never
//! verified; a claim is stored pending, then completed by the registration it makes.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{Claim, ClaimId, DomainId, OrgId, Timestamp};

#[async_trait]
pub trait ClaimStore: Send + Sync {
    async fn put_claim(&self, claim: &Claim) -> Result<(), StoreError>;

    async fn get_claim(&self, org: &OrgId, id: &ClaimId) -> Result<Option<Claim>, StoreError>;

    /// Marks a pending claim completed by the registration of `domain`; `Conflict` if it is
    /// not pending.
    async fn complete_claim(
        &self,
        claim: &Claim,
        domain: &DomainId,
        at: Timestamp,
    ) -> Result<(), StoreError>;
}
