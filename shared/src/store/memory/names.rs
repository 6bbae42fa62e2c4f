//! [`NameStore`] in memory: who holds each name, reservations included.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::event::{LifecycleEvent, Removal};
use crate::model::{Domain, DomainName, Timestamp};
use crate::store::{Effect, NameHolder, NameStore, Reservation, StoreError};

#[async_trait]
impl NameStore for MemoryStore {
    async fn reserve_name(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let mut t = self.tables();
        let name = reservation.name.as_str();
        if t.names
            .get(name)
            .is_some_and(|h| h.domain_id() != &reservation.domain_id)
        {
            return Err(StoreError::NameTaken(name.to_owned()));
        }
        t.names.insert(
            name.to_owned(),
            NameHolder::Reservation(reservation.clone()),
        );
        Ok(())
    }

    async fn name_holder(&self, name: &DomainName) -> Result<Option<NameHolder>, StoreError> {
        Ok(self.tables().names.get(name.as_str()).cloned())
    }

    async fn retime_reservation(
        &self,
        reservation: &Reservation,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        match t.names.get_mut(reservation.name.as_str()) {
            Some(NameHolder::Reservation(held))
                if held.domain_id == reservation.domain_id && held.until == reservation.until =>
            {
                held.until = until;
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn record_effects(
        &self,
        reservation: &Reservation,
        effects: &[Effect],
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        match t.names.get_mut(reservation.name.as_str()) {
            Some(NameHolder::Reservation(held))
                if held.domain_id == reservation.domain_id && held.until == reservation.until =>
            {
                held.effects = effects.to_vec();
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn expired_reservations(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, StoreError> {
        let t = self.tables();
        let mut expired: Vec<&Reservation> = t
            .names
            .values()
            .filter_map(|h| match h {
                NameHolder::Reservation(r) if r.until < now => Some(r),
                _ => None,
            })
            .collect();
        expired.sort_by_key(|r| r.until);
        Ok(expired
            .into_iter()
            .take(limit)
            .map(|r| r.name.clone())
            .collect())
    }

    async fn release_name(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let mut t = self.tables();
        let name = reservation.name.as_str();
        let held = matches!(
            t.names.get(name),
            Some(NameHolder::Reservation(r))
                if r.domain_id == reservation.domain_id && r.until == reservation.until
        );
        if held {
            t.names.remove(name);
        }
        Ok(())
    }

    async fn transfer_name(
        &self,
        holder: &Domain,
        reservation: &Reservation,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        let key = (holder.org_id.clone(), holder.id.clone());
        let unchanged = t
            .domains
            .get(&key)
            .is_some_and(|d| d.version == holder.version);
        let name_still_theirs = matches!(
            t.names.get(holder.name.as_str()),
            Some(NameHolder::Domain { id, .. }) if id == &holder.id
        );
        if !unchanged || !name_still_theirs {
            return Err(StoreError::Conflict);
        }
        t.remove_domain(holder);
        t.names.insert(
            reservation.name.to_string(),
            NameHolder::Reservation(reservation.clone()),
        );
        self.emit(
            &mut t,
            LifecycleEvent::deleted(holder, Removal::Claimed, at),
        );
        Ok(())
    }
}
