//! [`ListStore`] in memory: an organization's domains in id order, and the cursor key.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::{Domain, OrgId};
use crate::store::{DomainPage, ListStore, PageQuery, PageStart, StoreError};

#[async_trait]
impl ListStore for MemoryStore {
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

    async fn cursor_key(&self) -> Result<[u8; 32], StoreError> {
        Ok(*self
            .cursor_key
            .get_or_init(crate::crypto::random_bytes::<32>))
    }
}
