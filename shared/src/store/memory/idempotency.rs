//! [`IdempotencyStore`] in memory: records by organization and key hash, with the same
//! lease and expiry rules as the table; expired records are swept out as the map grows, so
//! a caller sending fresh keys cannot grow it past what the last 24 hours hold.

use async_trait::async_trait;

use super::{IdempotencyEntry, MemoryStore};
use crate::model::Timestamp;
use crate::store::{IdempotencySlot, IdempotencyStore, Kept, KeptResponse, Lease, StoreError};

/// The fewest records kept before expired ones are swept out.
const SWEEP_FLOOR: usize = 1024;

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin_idempotent(
        &self,
        slot: &IdempotencySlot,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<Option<Kept>, StoreError> {
        let mut t = self.tables();
        if let Some(entry) = t.idempotency.get(slot).filter(|e| e.until > now) {
            return Ok(Some(match &entry.response {
                Some(response) => Kept::Done {
                    fingerprint: entry.fingerprint.clone(),
                    response: response.clone(),
                },
                None => Kept::Running {
                    fingerprint: entry.fingerprint.clone(),
                    until: entry.until,
                },
            }));
        }
        if t.idempotency.len() >= t.idempotency_sweep_at {
            t.idempotency.retain(|_, entry| entry.until > now);
            t.idempotency_sweep_at = (t.idempotency.len() * 2).max(SWEEP_FLOOR);
        }
        t.idempotency.insert(
            slot.clone(),
            IdempotencyEntry {
                fingerprint: lease.fingerprint.clone(),
                token: lease.token.clone(),
                until: lease.until,
                response: None,
            },
        );
        Ok(None)
    }

    async fn finish_idempotent(
        &self,
        slot: &IdempotencySlot,
        token: &str,
        response: &KeptResponse,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        let entry = t
            .idempotency
            .get_mut(slot)
            .filter(|e| e.token == token && e.response.is_none())
            .ok_or(StoreError::Conflict)?;
        entry.response = Some(response.clone());
        entry.until = until;
        Ok(())
    }

    async fn release_idempotent(
        &self,
        slot: &IdempotencySlot,
        token: &str,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        if t.idempotency
            .get(slot)
            .is_some_and(|e| e.token == token && e.response.is_none())
        {
            t.idempotency.remove(slot);
        }
        Ok(())
    }
}
