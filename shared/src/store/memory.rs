use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    ApiKeyRecord, DEFAULT_MAX_DOMAINS, DefaultChoice, DomainPage, DomainUpdate, NameHolder,
    PageQuery, PageStart, Quota, Recount, Reservation, Store, StoreError,
};
use crate::events::{EventFeed, LifecycleEvent, Removal, StreamedEvent};
use crate::model::{
    Claim, ClaimId, Counter, Domain, DomainId, DomainName, OrgId, StatusCounts, Timestamp, ZoneId,
};

/// The embedded store of the local server. One lock over everything makes every
/// operation atomic, which is what the DynamoDB transactions give the real table.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Tables>,
    /// Woken when an event enters the outbox.
    events_ready: tokio::sync::Notify,
    cursor_key: std::sync::OnceLock<[u8; 32]>,
}

#[derive(Default)]
struct Tables {
    /// Ordered by id, which is creation order.
    domains: BTreeMap<(OrgId, DomainId), Domain>,
    names: HashMap<String, NameHolder>,
    claims: HashMap<(OrgId, ClaimId), Claim>,
    defaults: HashMap<OrgId, DomainId>,
    keys: HashMap<String, ApiKeyRecord>,
    zones: BTreeMap<ZoneId, OrgId>,
    /// Domains held, by organization (kept with every insert and delete).
    counts: HashMap<OrgId, u64>,
    /// Domains by status, by organization (kept with every change of status too).
    status_counts: HashMap<OrgId, StatusCounts>,
    limits: HashMap<OrgId, u64>,
    /// Lifecycle events not yet delivered, by their position in this store's stream.
    outbox: BTreeMap<u64, LifecycleEvent>,
    /// The position the next event takes.
    next_position: u64,
}

impl NameHolder {
    /// The domain the name is held for.
    fn domain_id(&self) -> &DomainId {
        match self {
            NameHolder::Domain { id, .. } => id,
            NameHolder::Reservation(r) => &r.domain_id,
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the outbox in order, as a table's stream would be read: events written from
    /// now on (and those not yet delivered), each once per feed.
    pub fn feed(self: &std::sync::Arc<Self>) -> Box<dyn EventFeed> {
        Box::new(MemoryFeed {
            store: self.clone(),
            after: None,
        })
    }

    fn emit(&self, t: &mut Tables, event: LifecycleEvent) {
        let position = t.next_position;
        t.next_position += 1;
        t.outbox.insert(position, event);
        self.events_ready.notify_one();
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave a half-applied change: every
        // operation validates before it mutates.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Tables {
    fn quota(&self, org: &OrgId) -> Quota {
        Quota {
            used: self.counts.get(org).copied().unwrap_or(0),
            max: self.limits.get(org).copied().unwrap_or(DEFAULT_MAX_DOMAINS),
        }
    }

    /// Removes the domain, its name, its quota slot and its default.
    fn remove_domain(&mut self, domain: &Domain) {
        let org = &domain.org_id;
        self.domains.remove(&(org.clone(), domain.id.clone()));
        if let Some(count) = self.counts.get_mut(org) {
            *count = count.saturating_sub(1);
        }
        self.count_status(org, domain.state.status, -1);
        if self
            .names
            .get(domain.name.as_str())
            .is_some_and(|h| h.domain_id() == &domain.id)
        {
            self.names.remove(domain.name.as_str());
        }
        if self.defaults.get(org) == Some(&domain.id) {
            self.defaults.remove(org);
        }
    }

    fn count_status(&mut self, org: &OrgId, status: crate::model::Status, delta: i64) {
        let count = self
            .status_counts
            .entry(org.clone())
            .or_default()
            .get_mut(status);
        *count = count.saturating_add_signed(delta);
    }

    /// The organization's domains, newest first, from just after `after` where given.
    fn org_domains<'a>(
        &'a self,
        org: &OrgId,
        after: Option<&DomainId>,
    ) -> impl Iterator<Item = &'a Domain> + 'a {
        use std::ops::Bound;
        let first = DomainId::parse("dom_00000000000000000000000000").expect("the least ULID");
        let last = DomainId::parse("dom_7ZZZZZZZZZZZZZZZZZZZZZZZZZ").expect("the greatest ULID");
        let upper = match after {
            Some(id) => Bound::Excluded((org.clone(), id.clone())),
            None => Bound::Included((org.clone(), last)),
        };
        let org = org.clone();
        self.domains
            .range((Bound::Included((org.clone(), first)), upper))
            .rev()
            .map(|(_, domain)| domain)
            .take_while(move |domain| domain.org_id == org)
    }

    fn resolved(&self, domain: &Domain) -> Domain {
        let mut domain = domain.clone();
        domain.is_default = self.defaults.get(&domain.org_id) == Some(&domain.id);
        domain
    }
}

#[async_trait]
impl Store for MemoryStore {
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
            Some(NameHolder::Reservation(held)) if held == reservation => {
                held.until = until;
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

    async fn release_name(&self, name: &DomainName, id: &DomainId) -> Result<(), StoreError> {
        let mut t = self.tables();
        let held = matches!(
            t.names.get(name.as_str()),
            Some(NameHolder::Reservation(r)) if &r.domain_id == id
        );
        if held {
            t.names.remove(name.as_str());
        }
        Ok(())
    }

    async fn insert_domain(
        &self,
        domain: &Domain,
        default: DefaultChoice,
    ) -> Result<Domain, StoreError> {
        let mut t = self.tables();
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
        self.emit(&mut t, LifecycleEvent::created(domain));
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

    async fn get_domain(&self, org: &OrgId, id: &DomainId) -> Result<Option<Domain>, StoreError> {
        let t = self.tables();
        Ok(t.domains
            .get(&(org.clone(), id.clone()))
            .map(|d| t.resolved(d)))
    }

    async fn list_domains(&self, org: &OrgId) -> Result<Vec<Domain>, StoreError> {
        let t = self.tables();
        Ok(t.org_domains(org, None).map(|d| t.resolved(d)).collect())
    }

    async fn list_page(&self, org: &OrgId, query: &PageQuery) -> Result<DomainPage, StoreError> {
        let t = self.tables();
        let (skip, after) = match &query.start {
            PageStart::Offset(skip) => (*skip, None),
            PageStart::After(id) => (0, Some(id)),
        };
        let mut matching = t
            .org_domains(org, after)
            .filter(|d| query.status.is_none_or(|s| d.state.status == s))
            .skip(skip);
        let domains = matching
            .by_ref()
            .take(query.limit)
            .map(|d| t.resolved(d))
            .collect();
        Ok(DomainPage {
            domains,
            more: matching.next().is_some(),
            counts: t.status_counts.get(org).copied().unwrap_or_default(),
        })
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

    async fn cursor_key(&self) -> Result<[u8; 32], StoreError> {
        Ok(*self
            .cursor_key
            .get_or_init(crate::crypto::random_bytes::<32>))
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

    async fn quota(&self, org: &OrgId) -> Result<Quota, StoreError> {
        Ok(self.tables().quota(org))
    }

    async fn set_quota(&self, org: &OrgId, max: u64) -> Result<(), StoreError> {
        self.tables().limits.insert(org.clone(), max);
        Ok(())
    }

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

    async fn mark_delivered(
        &self,
        events: &[LifecycleEvent],
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        // Nothing here outlives the process, so delivered events go at once.
        let mut t = self.tables();
        t.outbox.retain(|_, kept| {
            !events
                .iter()
                .any(|e| e.detail.event_id == kept.detail.event_id)
        });
        Ok(())
    }

    async fn undelivered_events(&self, id: &DomainId) -> Result<Vec<LifecycleEvent>, StoreError> {
        let t = self.tables();
        let mut events: Vec<LifecycleEvent> = t
            .outbox
            .values()
            .filter(|e| &e.detail.domain_id == id)
            .cloned()
            .collect();
        events.sort_by_key(|e| e.sequence);
        Ok(events)
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut t = self.tables();
        if t.keys.contains_key(&key.key_hash) {
            return Err(StoreError::Conflict);
        }
        t.keys.insert(key.key_hash.clone(), key.clone());
        Ok(())
    }

    async fn get_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.tables().keys.get(key_hash).cloned())
    }

    async fn revoke_api_key(&self, key_hash: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut t = self.tables();
        let key = t.keys.get_mut(key_hash).ok_or(StoreError::NotFound)?;
        key.revoked_at.get_or_insert(at);
        Ok(())
    }

    async fn api_key_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tables()
            .keys
            .values()
            .find(|k| k.id == id)
            .map(|k| k.key_hash.clone()))
    }

    async fn api_keys_of(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys: Vec<ApiKeyRecord> = self
            .tables()
            .keys
            .values()
            .filter(|k| &k.org_id == org)
            .map(|k| ApiKeyRecord {
                key_hash: String::new(),
                ..k.clone()
            })
            .collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }
}

struct MemoryFeed {
    store: std::sync::Arc<MemoryStore>,
    /// The position of the last event handed out.
    after: Option<u64>,
}

#[async_trait]
impl EventFeed for MemoryFeed {
    async fn next_batch(&mut self) -> Result<Vec<StreamedEvent>, String> {
        loop {
            let batch: Vec<StreamedEvent> = {
                let t = self.store.tables();
                let from = self.after.map_or(0, |p| p + 1);
                t.outbox
                    .range(from..)
                    .take(100)
                    .map(|(position, event)| StreamedEvent {
                        position: position.to_string(),
                        event: event.clone(),
                    })
                    .collect()
            };
            if let Some(last) = batch.last() {
                self.after = last.position.parse().ok();
                return Ok(batch);
            }
            // A permit left by an event written since the read above ends this at once.
            self.store.events_ready.notified().await;
        }
    }
}
