//! Lists: an organization's domains, whole or a page at a time, and the key list cursors
//! are sealed with.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{Domain, DomainId, OrgId, Status, StatusCounts};

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

#[async_trait]
pub trait ListStore: Send + Sync {
    /// Every domain of the organization, newest first. Reads the whole partition: for
    /// recounts and tools, never for a request.
    async fn list_domains(&self, org: &OrgId) -> Result<Vec<Domain>, StoreError>;

    /// One page of the organization's domains, newest first, with its counts: reads about
    /// `limit` items whatever the organization's size (an offset also reads `offset` keys).
    async fn list_page(&self, org: &OrgId, query: &PageQuery) -> Result<DomainPage, StoreError>;

    /// The key list cursors are sealed with: made at random the first time it is asked
    /// for, then the same for every process that shares the store.
    async fn cursor_key(&self) -> Result<[u8; 32], StoreError>;
}
