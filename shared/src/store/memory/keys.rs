//! [`KeyStore`] in memory: keys by hash.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::{OrgId, Timestamp};
use crate::store::{ApiKeyRecord, KeyStore, StoreError};

#[async_trait]
impl KeyStore for MemoryStore {
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
