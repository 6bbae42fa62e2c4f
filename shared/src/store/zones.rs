//! Zones: which organization may have records written into which hosted zone.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{OrgId, Timestamp, ZoneId};

#[async_trait]
pub trait ZoneStore: Send + Sync {
    /// Lets `org` have records written into hosted zone `zone` (`autoConfigureDns`).
    /// Assigning a zone to the organization that has it is a no-op; `Conflict` if another
    /// organization has it (unassign it first).
    async fn assign_zone(
        &self,
        zone: &ZoneId,
        org: &OrgId,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Takes the zone away from whichever organization has it and returns that
    /// organization; `NotFound` if it is assigned to none. Records already written stay
    /// (each domain's delete still removes its own).
    async fn unassign_zone(&self, zone: &ZoneId) -> Result<OrgId, StoreError>;

    /// The organization the zone is assigned to, if any.
    async fn zone_owner(&self, zone: &ZoneId) -> Result<Option<OrgId>, StoreError>;

    /// The zones assigned to `org`, sorted.
    async fn zones_of(&self, org: &OrgId) -> Result<Vec<ZoneId>, StoreError>;
}
