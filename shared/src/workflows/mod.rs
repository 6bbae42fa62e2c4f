//! What the API and the sweep do, one module per workflow: each takes the [`App`] a cold
//! start built and answers in [`ApiError`]s; the HTTP handlers only read requests and shape
//! responses around them.
//!
//! Every workflow that reads a domain, decides and writes it again counts its writes lost to
//! concurrent writers with one [`Conflicts`]: each is decided again on fresh data, at most
//! [`ATTEMPTS`] times.

pub mod claims;
pub mod delete;
pub mod limits;
pub mod provision;
pub mod register;
pub mod rotate_dkim;
pub mod sweep;
pub mod update;
pub mod verify;
pub mod webhooks;
pub mod zone_change;
pub mod zones;

use crate::App;
use crate::dns::DkimKeyPair;
use crate::error::ApiError;
use crate::model::{Domain, Timestamp, VerificationSetup};
use crate::store::{StoreError, backoff};

pub use crate::store::ATTEMPTS;

/// Counts a workflow's writes lost to concurrent writers (a `Conflict` from the store): the
/// workflow reads again and decides again on fresh data, after a pause, and gives up with
/// `503` after [`ATTEMPTS`] tries.
#[derive(Debug, Default)]
pub(crate) struct Conflicts {
    lost: usize,
}

impl Conflicts {
    /// After a write lost to a concurrent writer: pauses before the next try, or gives up.
    pub(crate) async fn lost(&mut self) -> Result<(), ApiError> {
        self.lost += 1;
        if self.lost >= ATTEMPTS {
            return Err(StoreError::Conflict.into());
        }
        backoff(self.lost - 1).await;
        Ok(())
    }
}

/// The domain as stored now; gone is `DOMAIN_NOT_FOUND`.
pub(crate) async fn reread(app: &App, domain: &Domain) -> Result<Domain, ApiError> {
    app.store()
        .get_domain(&domain.org_id, &domain.id)
        .await?
        .ok_or(ApiError::DomainNotFound)
}

/// Runs CPU work (RSA key generation) off the async workers.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("key generation task failed: {e}")))
}

/// A new domain's ownership token and DKIM key.
pub async fn new_keys(now: Timestamp) -> Result<(VerificationSetup, DkimKeyPair), ApiError> {
    off_thread(move || crate::dns::plan::new_setup(now)).await
}
