use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    ApiKeyRecord, DEFAULT_MAX_DOMAINS, DefaultChoice, DomainUpdate, Quota, Store, StoreError,
};
use crate::model::{Counter, Domain, DomainId, DomainName, OrgId, Timestamp, ZoneId};

/// The embedded store of the local server. One lock over everything makes every
/// operation atomic, which is what the DynamoDB transactions give the real table.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    /// Ordered by id, which is creation order.
    domains: BTreeMap<(OrgId, DomainId), Domain>,
    names: HashMap<String, Claim>,
    defaults: HashMap<OrgId, DomainId>,
    keys: HashMap<String, ApiKeyRecord>,
    zones: BTreeMap<ZoneId, OrgId>,
    /// Domains held, by organization (kept with every insert and delete).
    counts: HashMap<OrgId, u64>,
    limits: HashMap<OrgId, u64>,
}

/// Who holds a name; `until` is set while it is only a reservation.
#[derive(Clone)]
struct Claim {
    id: DomainId,
    until: Option<Timestamp>,
}

impl Claim {
    /// Whether domain `id` may take the name at `now`.
    fn yields_to(&self, id: &DomainId, now: Timestamp) -> bool {
        &self.id == id || self.until.is_some_and(|until| until < now)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
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

    fn resolved(&self, domain: &Domain) -> Domain {
        let mut domain = domain.clone();
        domain.is_default = self.defaults.get(&domain.org_id) == Some(&domain.id);
        domain
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn claim_name(
        &self,
        name: &DomainName,
        _org: &OrgId,
        id: &DomainId,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let mut t = self.tables();
        if t.names
            .get(name.as_str())
            .is_some_and(|c| !c.yields_to(id, now))
        {
            return Err(StoreError::NameTaken(name.to_string()));
        }
        t.names.insert(
            name.to_string(),
            Claim {
                id: id.clone(),
                until: Some(until),
            },
        );
        Ok(())
    }

    async fn release_name(&self, name: &DomainName, id: &DomainId) -> Result<(), StoreError> {
        let mut t = self.tables();
        let held = t
            .names
            .get(name.as_str())
            .is_some_and(|c| &c.id == id && c.until.is_some());
        if held {
            t.names.remove(name.as_str());
        }
        Ok(())
    }

    async fn name_is_held(&self, name: &DomainName, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self
            .tables()
            .names
            .get(name.as_str())
            .is_some_and(|claim| claim.until.is_none_or(|until| until >= now)))
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
            .is_some_and(|c| !c.yields_to(&domain.id, domain.created_at))
        {
            return Err(StoreError::NameTaken(name.to_owned()));
        }
        let key = (domain.org_id.clone(), domain.id.clone());
        if let Some(stored) = t.domains.get(&key) {
            return Ok(t.resolved(stored));
        }
        let quota = t.quota(&domain.org_id);
        if quota.full() {
            return Err(StoreError::QuotaExceeded(quota.max));
        }
        *t.counts.entry(domain.org_id.clone()).or_default() += 1;
        t.names.insert(
            name.to_owned(),
            Claim {
                id: domain.id.clone(),
                until: None,
            },
        );
        t.domains.insert(key, domain.clone());
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
        Ok(t.domains
            .values()
            .rev()
            .filter(|d| &d.org_id == org)
            .map(|d| t.resolved(d))
            .collect())
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

    async fn delete_domain(&self, org: &OrgId, id: &DomainId) -> Result<Domain, StoreError> {
        let mut t = self.tables();
        let key = (org.clone(), id.clone());
        let current = t.domains.get(&key).ok_or(StoreError::NotFound)?;
        if current.counters.inbox_count > 0 {
            return Err(StoreError::InUse(current.counters.inbox_count));
        }
        let resolved = t.resolved(current);
        t.domains.remove(&key);
        if let Some(count) = t.counts.get_mut(org) {
            *count = count.saturating_sub(1);
        }
        if t.names
            .get(resolved.name.as_str())
            .is_some_and(|c| &c.id == id)
        {
            t.names.remove(resolved.name.as_str());
        }
        if resolved.is_default {
            t.defaults.remove(org);
        }
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
