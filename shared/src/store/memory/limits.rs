//! [`LimitStore`] in memory: states by key, compared and set under the store's lock.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{LimitStore, LimitUpdate, StoreError};

#[async_trait]
impl LimitStore for MemoryStore {
    async fn limit_states(&self, keys: &[String]) -> Result<Vec<Option<i64>>, StoreError> {
        let t = self.tables();
        Ok(keys.iter().map(|key| t.rates.get(key).copied()).collect())
    }

    async fn set_limit_states(&self, updates: &[LimitUpdate]) -> Result<(), StoreError> {
        let mut t = self.tables();
        if updates
            .iter()
            .any(|u| t.rates.get(&u.key).copied() != u.old)
        {
            return Err(StoreError::Conflict);
        }
        for update in updates {
            t.rates.insert(update.key.clone(), update.new);
        }
        Ok(())
    }
}
