//! [`IdempotencyStore`]: the answers kept for `Idempotency-Key`s, one record per
//! organization and key, taken by a request under a lease (so a request that died holding
//! it does not hold the key for ever) and then either filled with the answer or released.

use async_trait::async_trait;

use super::StoreError;
use crate::model::{OrgId, SealedKey, Timestamp};

/// Whose key: an organization's, by the SHA-256 of the key the client sent (any bytes the
/// header allows fit a table key that way, and the key itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencySlot {
    pub org: OrgId,
    pub key_hash: String,
}

/// A request holding a key: its fingerprint (what makes "the same request"), the token
/// that proves the lease is its own, and when the lease runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub fingerprint: String,
    pub token: String,
    pub until: Timestamp,
}

/// An answer as kept: status, the headers that matter, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: KeptBody,
}

/// An answer's body as kept: as it was sent, or sealed where it holds a secret (the table
/// and its stream never see that in plain text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptBody {
    Plain(Vec<u8>),
    Sealed(SealedKey),
}

/// What holds a key that a request could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Another request holds the lease until `until`.
    Running {
        fingerprint: String,
        until: Timestamp,
    },
    /// The first request's answer.
    Done {
        fingerprint: String,
        response: KeptResponse,
    },
}

impl Kept {
    pub fn fingerprint(&self) -> &str {
        match self {
            Kept::Running { fingerprint, .. } | Kept::Done { fingerprint, .. } => fingerprint,
        }
    }
}

#[async_trait]
pub trait IdempotencyStore {
    /// Takes the key for `lease` where nothing holds it at `now` (no record, an answer
    /// kept past its time, or a lease that ran out): `None`. Otherwise what holds it.
    async fn begin_idempotent(
        &self,
        slot: &IdempotencySlot,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<Option<Kept>, StoreError>;

    /// Keeps `response` for the key until `until`, if the lease is still `token`'s (one
    /// that ran out and was taken by another request is not overwritten: `Conflict`).
    async fn finish_idempotent(
        &self,
        slot: &IdempotencySlot,
        token: &str,
        response: &KeptResponse,
        until: Timestamp,
    ) -> Result<(), StoreError>;

    /// Forgets the key, if the lease is still `token`'s, so a retry runs anew.
    async fn release_idempotent(
        &self,
        slot: &IdempotencySlot,
        token: &str,
    ) -> Result<(), StoreError>;
}
