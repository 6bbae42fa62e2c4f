//! Webhook endpoints as data: an organization's HTTPS callback, its sealed signing secrets,
//! the attempts made to deliver to it, and the deliveries waiting for their next attempt.

use serde::{Deserialize, Serialize};
use time::Duration;

use super::{EventType, OrgId, SealedKey, Timestamp, WebhookId};

/// Endpoints one organization may hold: each event is sent to every one of them, so the
/// count bounds what one event costs.
pub const MAX_WEBHOOKS: u64 = 10;
/// Longest `url` accepted (browsers and proxies handle 2,048 everywhere).
pub const MAX_URL_LEN: usize = 2048;
/// Longest `description` accepted, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 256;
/// How long the secret a rotation replaced keeps signing beside the new one, so a
/// receiver can deploy the new secret without missing a delivery.
pub const PREVIOUS_SECRET_SIGNS_FOR: Duration = Duration::hours(24);
/// The waits before each retry of a failed delivery (the Standard Webhooks schedule):
/// after the last one the delivery is given up.
pub const RETRY_SCHEDULE: [Duration; 9] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(14),
    Duration::hours(20),
    Duration::hours(24),
];
/// An endpoint that has failed every attempt for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::days(3);
/// Attempts kept per endpoint in its deliveries log.
pub const KEPT_ATTEMPTS: usize = 100;
/// How long an attempt stays in the table (its TTL); the log shows the newest anyway.
pub const ATTEMPTS_KEPT_FOR: Duration = Duration::days(30);
/// The type of the event `POST /:id/test` sends.
pub const TEST_EVENT: &str = "webhook.test";
/// The type of the event sent to an organization's other endpoints when one is disabled
/// for failing.
pub const DISABLED_EVENT: &str = "webhook.disabled";
/// The prefix of a secret as shown to its owner (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";

/// Whether an endpoint receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    Enabled,
    Disabled,
}

/// The event types an endpoint may subscribe to: every lifecycle event, and the notice
/// that another of its organization's endpoints was disabled.
pub fn subscribable_types() -> Vec<&'static str> {
    EventType::ALL
        .iter()
        .map(EventType::as_str)
        .chain([DISABLED_EVENT])
        .collect()
}

/// One signing secret, sealed: the newest first; a replaced one until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    pub sealed: SealedKey,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// An organization's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    /// The types it receives; empty means every type.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub status: WebhookStatus,
    pub secrets: Vec<WebhookSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the run of failed attempts it is in began; `None` after any success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    /// Why the service disabled it, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Bumped by every write: a write lands only over the version it read.
    pub version: u64,
}

impl Webhook {
    /// Whether an event of `event_type` goes to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        self.status == WebhookStatus::Enabled
            && (self.events.is_empty() || self.events.iter().any(|e| e == event_type))
    }

    /// The secrets that sign at `now`: the current one, and a replaced one for its last
    /// 24 hours.
    pub fn signing_secrets(&self, now: Timestamp) -> impl Iterator<Item = &WebhookSecret> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|until| until > now))
    }
}

/// What one attempt came to (also the `Outcome` dimension of the deliveries metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// The endpoint answered something else (a redirect included: none is followed).
    Failed,
    /// No answer: the connection (or its TLS handshake) failed or the time ran out.
    Unreachable,
    /// Not sent: the address is one the outbound policy refuses.
    Refused,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Unreachable => "unreachable",
            Outcome::Refused => "refused",
        }
    }
}

/// One attempt, as the deliveries log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// 1 for the first attempt of an event, 2 for its first retry, and so on.
    pub attempt: u32,
    pub outcome: Outcome,
    pub response_status: Option<u16>,
    pub duration_ms: u64,
    pub attempted_at: Timestamp,
    /// When the next attempt is due; `None` once delivered or given up.
    pub next_attempt_at: Option<Timestamp>,
    /// Why it did not deliver, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An event on its way to one endpoint: what the Standard Webhooks payload is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// `webhook-id`: the lifecycle event's `eventId`, the same on every attempt.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub org_id: OrgId,
    pub occurred_at: Timestamp,
    pub data: serde_json::Value,
}

/// A delivery whose next attempt waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingDelivery {
    pub webhook_id: WebhookId,
    pub event: WebhookEvent,
    /// The number the next attempt takes.
    pub attempt: u32,
    pub due_at: Timestamp,
}

/// When the attempt after a failed attempt `number` is due, or `None` when the schedule
/// is spent.
pub fn next_attempt(number: u32, failed_at: Timestamp) -> Option<Timestamp> {
    let wait = RETRY_SCHEDULE.get(usize::try_from(number).ok()?.checked_sub(1)?)?;
    Some(failed_at.plus(*wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spends_after_nine_retries_and_spans_more_than_three_days() {
        let start = Timestamp::from_unix(0);
        assert_eq!(
            next_attempt(1, start),
            Some(start.plus(Duration::seconds(5)))
        );
        assert_eq!(
            next_attempt(9, start),
            Some(start.plus(Duration::hours(24)))
        );
        assert_eq!(next_attempt(10, start), None);
        assert_eq!(next_attempt(0, start), None);
        let total: Duration = RETRY_SCHEDULE.iter().copied().sum();
        assert!(
            total > DISABLE_AFTER,
            "the last retry comes after three days"
        );
    }
}
