//! Organizations: how many domains each holds and may hold, and the recount that checks
//! (and repairs) its counters against its domains.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{OrgId, StatusCounts};

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

#[async_trait]
pub trait OrgStore: Send + Sync {
    /// The organization's domain count and limit ([`DEFAULT_MAX_DOMAINS`] unless set).
    async fn quota(&self, org: &OrgId) -> Result<Quota, StoreError>;

    /// Sets the organization's limit. Domains it holds beyond a lowered limit stay; new
    /// ones wait until it is under the limit again.
    async fn set_quota(&self, org: &OrgId, max: u64) -> Result<(), StoreError>;

    /// Counts the organization's domains one by one and compares the count with its
    /// counters. With `repair`, writes what it counted, unless a change landed while it
    /// counted (then it counts again), and puts domains missing from the list index back.
    async fn recount(&self, org: &OrgId, repair: bool) -> Result<Recount, StoreError>;

    /// Every organization that has held a domain, sorted. Reads the whole table: for tools.
    async fn organizations(&self) -> Result<Vec<OrgId>, StoreError>;
}
