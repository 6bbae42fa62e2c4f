//! Rate limits on verifies, so that nobody can make the checker ask a zone's servers as
//! often as they like: per domain a burst of 5, then one every 12 s; per organization
//! `VERIFY_RATE` a minute (60 by default). Both are taken at once or not at all, in the
//! table, so they hold across every instance. The sweep's checks are not counted.

use std::time::Duration;

use super::Conflicts;
use crate::App;
use crate::error::ApiError;
use crate::model::{OrgId, Rate};
use crate::store::LimitUpdate;
use crate::store::schema::rate_pk;

/// Verifies of one domain (or one claim's name): a burst of 5, then one every 12 s.
pub const PER_DOMAIN: Rate = Rate {
    burst: 5,
    every: Duration::from_secs(12),
};

pub use crate::model::DEFAULT_VERIFY_RATE;

/// Takes one verify of `subject` (a domain name) from the organization's and the domain's
/// limits, or answers `429 RATE_LIMITED` with when to retry.
pub async fn admit_verify(app: &App, org: &OrgId, subject: &str) -> Result<(), ApiError> {
    let limits = [
        (
            rate_pk(&format!("{org}#{subject}")),
            PER_DOMAIN,
            "this domain",
        ),
        (
            rate_pk(org.as_str()),
            Rate::per_minute(app.verify_rate()),
            "this organization",
        ),
    ];
    let keys: Vec<String> = limits.iter().map(|(key, _, _)| key.clone()).collect();
    let mut conflicts = Conflicts::default();
    loop {
        let now = app.now().datetime().unix_timestamp_nanos() / 1_000_000;
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let states = app.store().limit_states(&keys).await?;
        let mut updates = Vec::with_capacity(limits.len());
        let mut refused: Option<(Duration, &str)> = None;
        for ((key, rate, whose), old) in limits.iter().zip(states) {
            match rate.admit(old, now) {
                Ok(new) => updates.push(LimitUpdate {
                    key: key.clone(),
                    old,
                    new,
                }),
                Err(wait) => {
                    if refused.is_none_or(|(longest, _)| wait > longest) {
                        refused = Some((wait, whose));
                    }
                }
            }
        }
        if let Some((wait, whose)) = refused {
            return Err(ApiError::RateLimited {
                message: format!(
                    "too many verifies of {whose}; retry after {} s",
                    retry_after(wait)
                ),
                retry_after: retry_after(wait),
            });
        }
        match app.store().set_limit_states(&updates).await {
            Ok(()) => return Ok(()),
            Err(crate::store::StoreError::Conflict) => conflicts.lost().await?,
            Err(other) => return Err(other.into()),
        }
    }
}

/// Whole seconds, rounded up: a client that waits that long is admitted.
fn retry_after(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}
