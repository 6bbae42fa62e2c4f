//! [`OrgStore`] in memory: counts, limits and the recount.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::{OrgId, StatusCounts};
use crate::store::{OrgStore, Quota, Recount, StoreError};

#[async_trait]
impl OrgStore for MemoryStore {
    async fn quota(&self, org: &OrgId) -> Result<Quota, StoreError> {
        Ok(self.tables().quota(org))
    }

    async fn set_quota(&self, org: &OrgId, max: u64) -> Result<(), StoreError> {
        self.tables().limits.insert(org.clone(), max);
        Ok(())
    }

    async fn recount(&self, org: &OrgId, repair: bool) -> Result<Recount, StoreError> {
        let mut t = self.tables();
        let counted = StatusCounts::of(t.org_domains(org, None).map(|d| d.state.status));
        let mut recount = Recount {
            stored: t.status_counts.get(org).copied().unwrap_or_default(),
            stored_held: t.counts.get(org).copied().unwrap_or(0),
            negative: false,
            counted,
            unindexed: 0,
            repaired: false,
        };
        if repair && recount.drifted() {
            t.status_counts.insert(org.clone(), counted);
            t.counts.insert(org.clone(), counted.total());
            recount.repaired = true;
        }
        Ok(recount)
    }

    async fn organizations(&self) -> Result<Vec<OrgId>, StoreError> {
        let t = self.tables();
        let mut orgs: Vec<OrgId> = t.counts.keys().cloned().collect();
        orgs.sort();
        Ok(orgs)
    }
}
