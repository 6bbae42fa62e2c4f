//! API keys: stored by the SHA-256 of the key (never the key), listed and revoked by id.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{OrgId, Timestamp};

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
pub trait KeyStore: Send + Sync {
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
