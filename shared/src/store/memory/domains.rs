//! [`DomainStore`] in memory: a domain's changes with its name, its organization's counts
//! and its lifecycle event, under one lock.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::event::{LifecycleEvent, Removal};
use crate::model::{Counter, Domain, DomainId, OrgId, Timestamp};
use crate::store::{DefaultChoice, DomainStore, DomainUpdate, NameHolder, Reservation, StoreError};

#[async_trait]
impl DomainStore for MemoryStore {
    async fn insert_domain(
        &self,
        domain: &Domain,
        default: DefaultChoice,
    ) -> Result<Domain, StoreError> {
        let mut t = self.tables();
        self.insert_locked(&mut t, domain, default)
    }
    async fn insert_reserved(
        &self,
        domain: &Domain,
        default: DefaultChoice,
        reservation: &Reservation,
    ) -> Result<Domain, StoreError> {
        let mut t = self.tables();
        let still_ours = match t.names.get(domain.name.as_str()) {
            Some(NameHolder::Reservation(held)) => {
                held.domain_id == reservation.domain_id && held.until == reservation.until
            }
            // Our own insert that landed already is answered as it was.
            Some(NameHolder::Domain { id, .. }) => id == &domain.id,
            None => false,
        };
        if !still_ours {
            return Err(StoreError::Conflict);
        }
        self.insert_locked(&mut t, domain, default)
    }

    async fn get_domain(&self, org: &OrgId, id: &DomainId) -> Result<Option<Domain>, StoreError> {
        let t = self.tables();
        Ok(t.domains
            .get(&(org.clone(), id.clone()))
            .map(|d| t.resolved(d)))
    }

    async fn update_domain(
        &self,
        current: &Domain,
        update: &DomainUpdate,
    ) -> Result<Domain, StoreError> {
        let mut t = self.tables();
        let (org, id) = (&current.org_id, &current.id);
        let key = (org.clone(), id.clone());
        let stored = t.domains.get(&key).ok_or(StoreError::NotFound)?;
        if stored.version != current.version {
            return Err(StoreError::Conflict);
        }
        let mut next = stored.clone();
        if let Some(state) = &update.state {
            next.state = state.clone();
        }
        if let Some(setup) = &update.setup {
            next.setup = setup.clone();
        }
        next.updated_at = update.at;
        next.version += 1;
        match update.default {
            Some(true) => {
                t.defaults.insert(org.clone(), id.clone());
            }
            Some(false) if t.defaults.get(org) == Some(id) => {
                t.defaults.remove(org);
            }
            _ => {}
        }
        if let Some(event) = LifecycleEvent::of_change(current, &next) {
            self.emit(&mut t, event);
        }
        if current.state.status != next.state.status {
            t.count_status(org, current.state.status, -1);
            t.count_status(org, next.state.status, 1);
        }
        let resolved = t.resolved(&next);
        t.domains.insert(key, next);
        Ok(resolved)
    }

    async fn begin_delete(
        &self,
        org: &OrgId,
        id: &DomainId,
        at: Timestamp,
    ) -> Result<Domain, StoreError> {
        let mut t = self.tables();
        let domain = t
            .domains
            .get_mut(&(org.clone(), id.clone()))
            .ok_or(StoreError::NotFound)?;
        if domain.counters.inbox_count > 0 {
            return Err(StoreError::InUse(domain.counters.inbox_count));
        }
        domain.deleting_since.get_or_insert(at);
        let domain = domain.clone();
        Ok(t.resolved(&domain))
    }

    async fn delete_domain(
        &self,
        org: &OrgId,
        id: &DomainId,
        at: Timestamp,
    ) -> Result<Domain, StoreError> {
        let mut t = self.tables();
        let key = (org.clone(), id.clone());
        let current = t.domains.get(&key).ok_or(StoreError::NotFound)?;
        if current.counters.inbox_count > 0 {
            return Err(StoreError::InUse(current.counters.inbox_count));
        }
        let resolved = t.resolved(current);
        t.remove_domain(&resolved);
        self.emit(
            &mut t,
            LifecycleEvent::deleted(&resolved, Removal::Requested, at),
        );
        Ok(resolved)
    }

    async fn add_to_counter(
        &self,
        org: &OrgId,
        id: &DomainId,
        counter: Counter,
        delta: i64,
    ) -> Result<i64, StoreError> {
        let mut t = self.tables();
        let domain = t
            .domains
            .get_mut(&(org.clone(), id.clone()))
            .ok_or(StoreError::NotFound)?;
        if counter == Counter::Inbox && delta > 0 && domain.deleting_since.is_some() {
            return Err(StoreError::NotFound);
        }
        let value = domain.counters.get_mut(counter);
        let next = value
            .checked_add(delta)
            .filter(|n| *n >= 0)
            .ok_or(StoreError::Conflict)?;
        *value = next;
        Ok(next)
    }

    async fn due_domains(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(OrgId, DomainId)>, StoreError> {
        let t = self.tables();
        let mut due: Vec<(Timestamp, &(OrgId, DomainId))> = t
            .domains
            .iter()
            .filter_map(|(key, d)| {
                d.state
                    .next_check_at
                    .filter(|at| *at <= now)
                    .map(|at| (at, key))
            })
            .collect();
        due.sort();
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, key)| key.clone())
            .collect())
    }

    async fn oldest_due(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let t = self.tables();
        Ok(t.domains
            .values()
            .filter_map(|d| d.state.next_check_at.filter(|at| *at <= now))
            .min())
    }
}

impl MemoryStore {
    fn insert_locked(
        &self,
        t: &mut super::Tables,
        domain: &Domain,
        default: DefaultChoice,
    ) -> Result<Domain, StoreError> {
        let name = domain.name.as_str();
        if t.names
            .get(name)
            .is_some_and(|h| h.domain_id() != &domain.id)
        {
            return Err(StoreError::NameTaken(name.to_owned()));
        }
        let key = (domain.org_id.clone(), domain.id.clone());
        if let Some(stored) = t.domains.get(&key) {
            return Ok(t.resolved(stored));
        }
        t.quota(&domain.org_id).room()?;
        *t.counts.entry(domain.org_id.clone()).or_default() += 1;
        t.count_status(&domain.org_id, domain.state.status, 1);
        t.names.insert(
            name.to_owned(),
            NameHolder::Domain {
                org: domain.org_id.clone(),
                id: domain.id.clone(),
            },
        );
        t.domains.insert(key, domain.clone());
        self.emit(t, LifecycleEvent::created(domain));
        let make_default = match default {
            DefaultChoice::Always => true,
            DefaultChoice::IfNone => !t.defaults.contains_key(&domain.org_id),
            DefaultChoice::Never => false,
        };
        if make_default {
            t.defaults.insert(domain.org_id.clone(), domain.id.clone());
        }
        Ok(t.resolved(domain))
    }
}
