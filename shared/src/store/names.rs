//! Names: who holds a domain name across all organizations, the reservations a
//! registration holds while it works outside the table, and a claimed name's handover.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{
    Domain, DomainId, DomainName, OrgId, Region, Timestamp, VerificationSetup, ZoneId, ZoneRecord,
};

/// Something a registration creates outside the table. It is written down before it is
/// created, so whoever finds the registration dead can remove it; removing what was never
/// created is a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The name's SES identity in `region`, if its tags name domain `domain_id`.
    Identity { region: Region, domain_id: DomainId },
    /// Record sets the registration creates in hosted zone `zone`: written down before the
    /// change is sent (`confirmed: false`), then again once it was (`confirmed: true`). A
    /// record set the zone held already is never here. Each is removed only where the zone
    /// still holds exactly the value written.
    Records {
        zone: ZoneId,
        records: Vec<ZoneRecord>,
        confirmed: bool,
    },
    /// A reservation written before record sets were listed one by one: the records of
    /// `setup`, removed where they are exactly as written (as they were then).
    SetupRecords {
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

#[async_trait]
pub trait NameStore: Send + Sync {
    /// Holds the name for the reservation's domain, with the effects it is about to
    /// create, before any of them is created. `NameTaken` if anyone else holds it, a
    /// reservation that ran out included: that one's effects must be undone first
    /// ([`NameStore::retime_reservation`], then [`NameStore::release_name`]).
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

    /// Rewrites the effects of `reservation` (as read) to `effects`, if the reservation is
    /// still its registration's own: `Conflict` once anyone took it over.
    async fn record_effects(
        &self,
        reservation: &Reservation,
        effects: &[Effect],
    ) -> Result<(), StoreError>;

    /// Gives up `reservation` as read (its domain and its deadline): a no-op once the name
    /// is held otherwise, by another registration, by a registered domain, or by the same
    /// reservation taken over (retimed) by someone undoing it, who releases it when done.
    async fn release_name(&self, reservation: &Reservation) -> Result<(), StoreError>;

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
}
