//! [`LimitStore`]: the state of rate limits (see [`crate::model::Rate`]), one number per
//! limit, changed all at once or not at all, only where nobody changed it since it was read.

use async_trait::async_trait;

use super::StoreError;

/// One limit's new state, written only if it still holds `old`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitUpdate {
    /// The limit's key, `RATE#…` (see [`crate::store::schema::rate_pk`]).
    pub key: String,
    /// The state read (`None`: no item).
    pub old: Option<i64>,
    /// The new state: the time, in milliseconds since the epoch, the bucket is full again.
    pub new: i64,
}

#[async_trait]
pub trait LimitStore {
    /// Each limit's state, in the order of `keys` (`None` where there is none).
    async fn limit_states(&self, keys: &[String]) -> Result<Vec<Option<i64>>, StoreError>;

    /// Writes every update, or none: `Conflict` if any limit no longer holds its `old`
    /// state. Each item is removed some time after its state (the table's TTL), when the
    /// bucket is full again anyway.
    async fn set_limit_states(&self, updates: &[LimitUpdate]) -> Result<(), StoreError>;
}
