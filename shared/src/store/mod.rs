//! Persistence: one small trait per aggregate (names, domains, lists, organizations, zones,
//! claims, outbox, API keys, rate limits, idempotency keys, webhooks), joined into [`Store`], with a DynamoDB implementation (the
//! product) and an in-memory one (the local default). Both pass the same test suite.
//!
//! Callers hold a `&dyn Store` or an `Arc<dyn Store>` and call any aggregate's methods on
//! it without importing that aggregate's trait; a caller holding a concrete store imports
//! the traits it uses.

mod claims;
mod domains;
mod dynamo;
mod effects;
mod idempotency;
mod keys;
mod limits;
mod lists;
mod memory;
mod names;
mod orgs;
mod outbox;
pub mod schema;
mod webhooks;
mod zones;

pub use claims::ClaimStore;
pub use domains::{DefaultChoice, DomainStore, DomainUpdate};
pub use dynamo::{DynamoStore, domain_item};
pub use idempotency::{IdempotencySlot, IdempotencyStore, Kept, KeptBody, KeptResponse, Lease};
pub use keys::{ApiKeyRecord, KeyStore};
pub use limits::{LimitStore, LimitUpdate};
pub use lists::{DomainPage, ListStore, PageQuery, PageStart};
pub use memory::MemoryStore;
pub use names::{Effect, NameHolder, NameStore, Reservation};
pub use orgs::{DEFAULT_MAX_DOMAINS, OrgStore, Quota, Recount};
pub use outbox::{EventFeed, OutboxStore, StuckEvents};
pub use webhooks::{WaitingDeliveries, WebhookStore};
pub use zones::ZoneStore;

/// Everything the service keeps: every aggregate's store in one.
pub trait Store:
    NameStore
    + DomainStore
    + ListStore
    + OrgStore
    + ZoneStore
    + ClaimStore
    + OutboxStore
    + KeyStore
    + LimitStore
    + IdempotencyStore
    + WebhookStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: NameStore
        + DomainStore
        + ListStore
        + OrgStore
        + ZoneStore
        + ClaimStore
        + OutboxStore
        + KeyStore
        + LimitStore
        + IdempotencyStore
        + WebhookStore
        + Send
        + Sync
        + 'static
{
}

/// How many times a write lost to concurrent writers is read, decided and tried again,
/// before giving up.
pub const ATTEMPTS: usize = 5;

/// Pause before retrying a write lost to a concurrent writer: growing with each attempt,
/// and jittered so that the losers of one race do not collide again.
pub async fn backoff(attempt: usize) {
    let [jitter] = crate::crypto::random_bytes::<1>();
    let millis = (attempt as u64 + 1) * (5 + u64::from(jitter) % 16);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("name '{0}' is taken")]
    NameTaken(String),
    #[error("domain has {0} inboxes")]
    InUse(i64),
    /// The organization holds its limit of domains already.
    #[error("the organization holds {0} domains, its limit")]
    QuotaExceeded(u64),
    /// The item changed since it was read; read again and decide again.
    #[error("concurrent modification")]
    Conflict,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Internal(String),
}
