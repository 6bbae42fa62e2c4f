//! [`ZoneStore`] in memory: each zone's organization.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::{OrgId, Timestamp, ZoneId};
use crate::store::{StoreError, ZoneStore};

#[async_trait]
impl ZoneStore for MemoryStore {
    async fn assign_zone(
        &self,
        zone: &ZoneId,
        org: &OrgId,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        match tables.zones.get(zone) {
            Some(owner) if owner != org => Err(StoreError::Conflict),
            _ => {
                tables.zones.insert(zone.clone(), org.clone());
                Ok(())
            }
        }
    }

    async fn unassign_zone(&self, zone: &ZoneId) -> Result<OrgId, StoreError> {
        self.tables().zones.remove(zone).ok_or(StoreError::NotFound)
    }

    async fn zone_owner(&self, zone: &ZoneId) -> Result<Option<OrgId>, StoreError> {
        Ok(self.tables().zones.get(zone).cloned())
    }

    async fn zones_of(&self, org: &OrgId) -> Result<Vec<ZoneId>, StoreError> {
        Ok(self
            .tables()
            .zones
            .iter()
            .filter(|(_, owner)| *owner == org)
            .map(|(zone, _)| zone.clone())
            .collect())
    }
}
