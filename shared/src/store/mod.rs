//! Persistence: one trait, a DynamoDB implementation (the product) and an in-memory one
//! (the local default). Both pass the same test suite.

mod dynamo;
mod effects;
mod memory;
pub mod schema;

use async_trait::async_trait;

pub use dynamo::{DynamoStore, domain_item};
pub use memory::MemoryStore;

use crate::events::LifecycleEvent;
use crate::model::{
    Claim, ClaimId, Counter, Domain, DomainId, DomainName, DomainState, OrgId, Region, Status,
    StatusCounts, Timestamp, VerificationSetup, ZoneId,
};

/// Pause before retrying a write lost to a concurrent writer: growing with each attempt,
/// and jittered so that the losers of one race do not collide again.
pub async fn backoff(attempt: usize) {
    let [jitter] = crate::crypto::random_bytes::<1>();
    let millis = (attempt as u64 + 1) * (5 + u64::from(jitter) % 16);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("name '{0}' is taken")]
    NameTaken(String),
    #[error("domain has {0} inboxes")]
    InUse(i64),
    /// The organization holds its limit of domains already.
    #[error("the organization holds {0} domains, its limit")]
    QuotaExceeded(u64),
    /// The item changed since it was read; read again and decide again.
    #[error("concurrent modification")]
    Conflict,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Internal(String),
}

/// How many domains an organization may hold unless an operator sets otherwise: SES allows
/// 10,000 identities per region and account, shared by every organization.
pub const DEFAULT_MAX_DOMAINS: u64 = 1_000;

/// An organization's domains and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub used: u64,
    pub max: u64,
}

impl Quota {
    pub fn full(&self) -> bool {
        self.used >= self.max
    }

    /// `QuotaExceeded` if the organization cannot take one more domain.
    pub fn room(&self) -> Result<(), StoreError> {
        if self.full() {
            return Err(StoreError::QuotaExceeded(self.max));
        }
        Ok(())
    }
}

/// Whether a new domain becomes its organization's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultChoice {
    /// The caller asked for it (`isDefault: true`).
    Always,
    /// Only when the organization has no default yet (`isDefault` omitted).
    IfNone,
    /// The caller declined (`isDefault: false`).
    Never,
}

/// Something a registration creates outside the table. It is written down before it is
/// created, so whoever finds the registration dead can remove it; removing what was never
/// created is a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The name's SES identity in `region`, if it is tagged with `org`.
    Identity { region: Region, org: OrgId },
    /// The records of `setup` for the name, as written into hosted zone `zone` (only those
    /// exactly as written are removed).
    Records {
        zone: ZoneId,
        region: Region,
        setup: Box<VerificationSetup>,
    },
}

/// A name held for a registration while it works outside the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub name: DomainName,
    pub org: OrgId,
    /// The domain being registered.
    pub domain_id: DomainId,
    /// When whoever finds it may take it over, undoing its effects first.
    pub until: Timestamp,
    /// Removed before anything is created: what a claimed name's previous holder left.
    pub leftovers: Vec<Effect>,
    /// What the registration creates.
    pub effects: Vec<Effect>,
}

/// Who holds a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameHolder {
    Domain { org: OrgId, id: DomainId },
    Reservation(Reservation),
}

/// One change of a domain (a PATCH, a check, a DKIM rotation), applied atomically.
#[derive(Debug, Clone)]
pub struct DomainUpdate {
    /// The domain's whole new state, when the status changes.
    pub state: Option<DomainState>,
    /// The domain's new setup, when a DKIM rotation starts or completes (only the DKIM
    /// keys of a setup ever change).
    pub setup: Option<VerificationSetup>,
    /// `Some(true)`: make it the default; `Some(false)`: stop it being the default.
    pub default: Option<bool>,
    pub at: Timestamp,
}

/// Where a page of a list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStart {
    /// After skipping this many of the list's domains.
    Offset(usize),
    /// Just after this domain (which need not exist any more): the list goes on with the
    /// next older one.
    After(DomainId),
}

/// One page of an organization's domains, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub status: Option<Status>,
    pub start: PageStart,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPage {
    pub domains: Vec<Domain>,
    /// Whether older domains follow the page.
    pub more: bool,
    /// The organization's counts by status, from its counters.
    pub counts: StatusCounts,
}

/// An organization's counters beside a count of its domains one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recount {
    /// The counters as they were read (below zero read as zero, and flagged).
    pub stored: StatusCounts,
    /// The count of domains held, which the quota uses.
    pub stored_held: u64,
    /// Some counter was below zero.
    pub negative: bool,
    pub counted: StatusCounts,
    /// Domains whose list-index keys were missing or wrong (rewritten when repairing).
    pub unindexed: usize,
    /// Whether anything was written.
    pub repaired: bool,
}

impl Recount {
    pub fn drifted(&self) -> bool {
        self.negative
            || self.stored != self.counted
            || self.stored_held != self.counted.total()
            || self.unindexed > 0
    }
}

/// An API key as stored: only the SHA-256 of the key, never the key, and an id (`key_` +
/// a ULID) by which operators list and revoke it without handling the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub key_hash: String,
    pub org_id: OrgId,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Holds the name for the reservation's domain, with the effects it is about to
    /// create, before any of them is created. `NameTaken` if anyone else holds it, a
    /// reservation that ran out included: that one's effects must be undone first
    /// ([`Store::retime_reservation`], then [`Store::release_name`]).
    async fn reserve_name(&self, reservation: &Reservation) -> Result<(), StoreError>;

    /// Who holds `name`, if anyone.
    async fn name_holder(&self, name: &DomainName) -> Result<Option<NameHolder>, StoreError>;

    /// Moves `reservation`'s (as read) deadline to `until`: later, to take a dead
    /// registration over so that one party at a time undoes it; now, to hand a failed one
    /// to whoever comes next. `Conflict` if it changed since it was read.
    async fn retime_reservation(
        &self,
        reservation: &Reservation,
        until: Timestamp,
    ) -> Result<(), StoreError>;

    /// Names whose reservation ran out before `now`, at most `limit`: registrations that
    /// died, for the sweep to undo. Read from an index that may lag a write by a moment.
    async fn expired_reservations(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, StoreError>;

    /// Gives up a reservation of `name` held by `id`; a no-op if `id` does not hold it.
    async fn release_name(&self, name: &DomainName, id: &DomainId) -> Result<(), StoreError>;

    /// Claims the name for good (confirming this domain's reservation, or taking a free
    /// name), counts the domain against its organization's quota and writes it with its
    /// `domain.created` event, in one step; a lost race is `NameTaken`, a full quota `QuotaExceeded`. Returns the domain as
    /// stored (with `is_default` resolved).
    async fn insert_domain(
        &self,
        domain: &Domain,
        default: DefaultChoice,
    ) -> Result<Domain, StoreError>;

    async fn get_domain(&self, org: &OrgId, id: &DomainId) -> Result<Option<Domain>, StoreError>;

    /// Every domain of the organization, newest first. Reads the whole partition: for
    /// recounts and tools, never for a request.
    async fn list_domains(&self, org: &OrgId) -> Result<Vec<Domain>, StoreError>;

    /// One page of the organization's domains, newest first, with its counts: reads about
    /// `limit` items whatever the organization's size (an offset also reads `offset` keys).
    async fn list_page(&self, org: &OrgId, query: &PageQuery) -> Result<DomainPage, StoreError>;

    /// Counts the organization's domains one by one and compares the count with its
    /// counters. With `repair`, writes what it counted, unless a change landed while it
    /// counted (then it counts again), and puts domains missing from the list index back.
    async fn recount(&self, org: &OrgId, repair: bool) -> Result<Recount, StoreError>;

    /// Every organization that has held a domain, sorted. Reads the whole table: for tools.
    async fn organizations(&self) -> Result<Vec<OrgId>, StoreError>;

    /// The key list cursors are sealed with: made at random the first time it is asked
    /// for, then the same for every process that shares the store.
    async fn cursor_key(&self) -> Result<[u8; 32], StoreError>;

    /// Applies `update` if the stored domain is still at `current.version` (else
    /// `Conflict`: read again and decide again), with the lifecycle event it makes, if
    /// any, in the same write. Returns the domain as updated.
    async fn update_domain(
        &self,
        current: &Domain,
        update: &DomainUpdate,
    ) -> Result<Domain, StoreError>;

    /// Marks the domain as being deleted (`deleting_since`), so no inbox is added while its
    /// SES identity and records are removed. `InUse` while it has inboxes.
    async fn begin_delete(
        &self,
        org: &OrgId,
        id: &DomainId,
        at: Timestamp,
    ) -> Result<Domain, StoreError>;

    /// Removes the domain and its name claim, gives its quota slot back, and clears the
    /// default if it was this one, with its `domain.deleted` event. `InUse` while it has
    /// inboxes.
    async fn delete_domain(
        &self,
        org: &OrgId,
        id: &DomainId,
        at: Timestamp,
    ) -> Result<Domain, StoreError>;

    /// Atomically adds `delta` (which may be negative) to a counter and returns the new
    /// value. Never creates a domain (`NotFound`), never adds an inbox to a domain being
    /// deleted (`NotFound`), and never takes a counter below zero (`Conflict`).
    async fn add_to_counter(
        &self,
        org: &OrgId,
        id: &DomainId,
        counter: Counter,
        delta: i64,
    ) -> Result<i64, StoreError>;

    /// Domains whose next scheduled check is at or before `now`, most overdue first, at
    /// most `limit`. Read from the sweep's sparse index; may lag a write by a moment, so
    /// callers re-read each domain before acting.
    async fn due_domains(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(OrgId, DomainId)>, StoreError>;

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

    /// The organization's domain count and limit ([`DEFAULT_MAX_DOMAINS`] unless set).
    async fn quota(&self, org: &OrgId) -> Result<Quota, StoreError>;

    /// Sets the organization's limit. Domains it holds beyond a lowered limit stay; new
    /// ones wait until it is under the limit again.
    async fn set_quota(&self, org: &OrgId, max: u64) -> Result<(), StoreError>;

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

    /// Hands a claimed name over, in one step: removes `holder`'s domain (if it is still at
    /// the version read), gives its organization's quota slot back, clears its default if
    /// it was this one, writes its `domain.deleted` event (reason `claimed`), and turns the
    /// name into `reservation` for the claimant. `Conflict` if the holder changed or the
    /// name moved since they were read.
    async fn transfer_name(
        &self,
        holder: &Domain,
        reservation: &Reservation,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Marks outbox items delivered: they expire [`crate::events::DELIVERED_KEPT_FOR`]
    /// after `at`. Items already gone are skipped.
    async fn mark_delivered(
        &self,
        events: &[LifecycleEvent],
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The domain's events not yet delivered, in the order they happened.
    async fn undelivered_events(&self, id: &DomainId) -> Result<Vec<LifecycleEvent>, StoreError>;

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    async fn get_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Marks the key revoked; `NotFound` if no such key.
    async fn revoke_api_key(&self, key_hash: &str, at: Timestamp) -> Result<(), StoreError>;

    /// The hash of the key with this id, if there is one.
    async fn api_key_hash(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// The organization's keys, oldest first, with an empty `key_hash`: listings never
    /// carry what authenticates.
    async fn api_keys_of(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError>;
}
