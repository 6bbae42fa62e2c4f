//! The in-memory store (the local server's default): [`MemoryStore`], its tables behind
//! one lock, and what its operations share; one file per aggregate holds that aggregate's
//! trait implementation.

mod claims;
mod domains;
mod idempotency;
mod keys;
mod limits;
mod lists;
mod names;
mod orgs;
mod outbox;
mod webhooks;
mod zones;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use super::{ApiKeyRecord, DEFAULT_MAX_DOMAINS, IdempotencySlot, KeptResponse, NameHolder, Quota};
use crate::model::event::LifecycleEvent;
use crate::model::webhook::{Attempt, PendingDelivery, Webhook};
use crate::model::{
    Claim, ClaimId, Domain, DomainId, OrgId, StatusCounts, Timestamp, WebhookId, ZoneId,
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
    /// Rate limits' states by key (see `LimitStore`).
    rates: HashMap<String, i64>,
    /// Answers kept for idempotency keys, and the leases of requests still running.
    idempotency: HashMap<IdempotencySlot, IdempotencyEntry>,
    /// The size at which expired idempotency records are next swept out.
    idempotency_sweep_at: usize,
    /// Webhook endpoints, ordered by id (creation order) within each organization.
    webhooks: BTreeMap<(OrgId, WebhookId), Webhook>,
    /// Each endpoint's newest attempts, newest first.
    attempts: HashMap<WebhookId, VecDeque<Attempt>>,
    /// Deliveries waiting for their next attempt, by endpoint and event.
    pending_deliveries: HashMap<(WebhookId, String), PendingDelivery>,
}

/// One idempotency record: running under `token`'s lease until `until`, or done (its
/// `response` kept until `until`).
struct IdempotencyEntry {
    fingerprint: String,
    token: String,
    until: Timestamp,
    response: Option<KeptResponse>,
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
