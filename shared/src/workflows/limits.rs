//! Rate limits on verifies, so that nobody can make the checker ask a zone's servers as
//! often as they like: per domain a burst of 5, then one every 12 s; per organization
//! `VERIFY_RATE` a minute (60 by default). The sweep's checks are not counted. And on
//! webhook tests, each an outbound request of up to 10 s, a secret opened and a log entry:
//! per endpoint a burst of 5, then one every 12 s; per organization 30 a minute. Each
//! limit's pair is taken at once or not at all, in the table, so it holds across every
//! instance.

use std::time::Duration;

use super::Conflicts;
use crate::App;
use crate::error::ApiError;
use crate::model::{OrgId, Rate, WebhookId};
use crate::store::LimitUpdate;
use crate::store::schema::rate_pk;

/// Verifies of one domain (or one claim's name): a burst of 5, then one every 12 s.
pub const PER_DOMAIN: Rate = Rate {
    burst: 5,
    every: Duration::from_secs(12),
};

/// Tests of one webhook endpoint: a burst of 5, then one every 12 s.
pub const TESTS_PER_WEBHOOK: Rate = Rate {
    burst: 5,
    every: Duration::from_secs(12),
};

/// Webhook tests an organization may ask for a minute, over all its endpoints.
pub const WEBHOOK_TESTS_PER_MINUTE: u32 = 30;

pub use crate::model::DEFAULT_VERIFY_RATE;

/// One limit a request takes from: its item's key, its rate, and what it limits (said in
/// the refusal).
struct Limit {
    key: String,
    rate: Rate,
    what: &'static str,
}

/// Takes one verify of `subject` (a domain name) from the organization's and the domain's
/// limits, or answers `429 RATE_LIMITED` with when to retry.
pub async fn admit_verify(app: &App, org: &OrgId, subject: &str) -> Result<(), ApiError> {
    admit(
        app,
        &[
            Limit {
                key: rate_pk(&format!("{org}#{subject}")),
                rate: PER_DOMAIN,
                what: "verifies of this domain",
            },
            Limit {
                key: rate_pk(org.as_str()),
                rate: Rate::per_minute(app.verify_rate()),
                what: "verifies by this organization",
            },
        ],
    )
    .await
}

/// Takes one test of endpoint `id` from the endpoint's and the organization's limits, or
/// answers `429 RATE_LIMITED` with when to retry. The keys hold a `#` after the
/// organization and no dot, so no domain's verify limit shares one.
pub async fn admit_webhook_test(app: &App, org: &OrgId, id: &WebhookId) -> Result<(), ApiError> {
    admit(
        app,
        &[
            Limit {
                key: rate_pk(&format!("{org}#webhook-test#{id}")),
                rate: TESTS_PER_WEBHOOK,
                what: "tests of this webhook endpoint",
            },
            Limit {
                key: rate_pk(&format!("{org}#webhook-tests")),
                rate: Rate::per_minute(WEBHOOK_TESTS_PER_MINUTE),
                what: "webhook tests by this organization",
            },
        ],
    )
    .await
}

/// Takes one from every limit in `limits`, all or none, or refuses with the longest wait.
async fn admit(app: &App, limits: &[Limit]) -> Result<(), ApiError> {
    let keys: Vec<String> = limits.iter().map(|limit| limit.key.clone()).collect();
    let mut conflicts = Conflicts::default();
    loop {
        let now = app.now().datetime().unix_timestamp_nanos() / 1_000_000;
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let states = app.store().limit_states(&keys).await?;
        let mut updates = Vec::with_capacity(limits.len());
        let mut refused: Option<(Duration, &str)> = None;
        for (limit, old) in limits.iter().zip(states) {
            match limit.rate.admit(old, now) {
                Ok(new) => updates.push(LimitUpdate {
                    key: limit.key.clone(),
                    old,
                    new,
                }),
                Err(wait) => {
                    if refused.is_none_or(|(longest, _)| wait > longest) {
                        refused = Some((wait, limit.what));
                    }
                }
            }
        }
        if let Some((wait, what)) = refused {
            return Err(ApiError::RateLimited {
                message: format!("too many {what}; retry after {} s", retry_after(wait)),
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
