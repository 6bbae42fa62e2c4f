//! Domains: one organization's domain, written with its name claim, its organization's
//! counts and its lifecycle event; its counters; the sweep's due domains.

use async_trait::async_trait;

use super::{Reservation, StoreError};
use crate::model::{Counter, Domain, DomainId, DomainState, OrgId, Timestamp, VerificationSetup};

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

#[async_trait]
pub trait DomainStore: Send + Sync {
    /// Claims the name for good (confirming this domain's reservation, or taking a free
    /// name), counts the domain against its organization's quota and writes it with its
    /// `domain.created` event, in one step; a lost race is `NameTaken`, a full quota `QuotaExceeded`. Returns the domain as
    /// stored (with `is_default` resolved).
    async fn insert_domain(
        &self,
        domain: &Domain,
        default: DefaultChoice,
    ) -> Result<Domain, StoreError>;

    /// [`DomainStore::insert_domain`] for a registration that holds `reservation`: only
    /// while the reservation is still its own, as read (`Conflict` once anyone took it
    /// over to undo it).
    async fn insert_reserved(
        &self,
        domain: &Domain,
        default: DefaultChoice,
        reservation: &Reservation,
    ) -> Result<Domain, StoreError>;

    async fn get_domain(&self, org: &OrgId, id: &DomainId) -> Result<Option<Domain>, StoreError>;

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

    /// When the most overdue domain's check fell due, if any is due at `now`: how far
    /// behind the sweep is (one read per index shard, whatever the backlog).
    async fn oldest_due(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError>;
}
