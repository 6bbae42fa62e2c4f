//! Lifecycle events as data: each change of a domain's status or health, written in the
//! same transaction as the change (an outbox item); [`crate::outbox`] delivers them.

use serde::{Deserialize, Serialize};

use super::{Domain, DomainId, DomainState, Health, OrgId, Status, Timestamp};

/// `source` of every event.
pub const SOURCE: &str = "email.domains";

/// How long a delivered outbox item is kept before its TTL removes it: long enough to
/// look one up after an incident.
pub const DELIVERED_KEPT_FOR: time::Duration = time::Duration::days(1);

/// `detail-type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "domain.created")]
    Created,
    #[serde(rename = "domain.verified")]
    Verified,
    #[serde(rename = "domain.degraded")]
    Degraded,
    #[serde(rename = "domain.recovered")]
    Recovered,
    #[serde(rename = "domain.failed")]
    Failed,
    #[serde(rename = "domain.suspended")]
    Suspended,
    #[serde(rename = "domain.reactivated")]
    Reactivated,
    #[serde(rename = "domain.deleted")]
    Deleted,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::Created,
        EventType::Verified,
        EventType::Degraded,
        EventType::Recovered,
        EventType::Failed,
        EventType::Suspended,
        EventType::Reactivated,
        EventType::Deleted,
    ];

    /// What a change of state from `before` to `after` is, if it changes the status or the
    /// health: the one rule both the events and the sweep's counts follow.
    pub fn of_change(before: &DomainState, after: &DomainState) -> Option<Self> {
        let (from, to) = (before.status, after.status);
        if from != to {
            return Some(match (from, to) {
                (Status::Suspended, Status::Active | Status::Pending)
                | (Status::Failed, Status::Pending) => EventType::Reactivated,
                (_, Status::Active) => EventType::Verified,
                (_, Status::Suspended) => EventType::Suspended,
                (_, Status::Failed) => EventType::Failed,
                (_, Status::Pending) => EventType::Reactivated,
            });
        }
        match (before.health(), after.health()) {
            (Some(Health::Ok), Some(Health::Degraded)) => Some(EventType::Degraded),
            (Some(Health::Degraded), Some(Health::Ok)) => Some(EventType::Recovered),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Created => "domain.created",
            EventType::Verified => "domain.verified",
            EventType::Degraded => "domain.degraded",
            EventType::Recovered => "domain.recovered",
            EventType::Failed => "domain.failed",
            EventType::Suspended => "domain.suspended",
            EventType::Reactivated => "domain.reactivated",
            EventType::Deleted => "domain.deleted",
        }
    }
}

/// Why a domain was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Its organization deleted it.
    Requested,
    /// Another organization proved it controls the name (`POST /claims/:id/verify`).
    Claimed,
}

/// `detail` of an event: what consumers read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    /// Stable across redeliveries: consumers dedupe on it.
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub org_id: OrgId,
    pub domain_id: DomainId,
    pub domain: String,
    /// The status after the change (`deleted` once deleted).
    pub status: String,
    /// The status before it; `null` for `domain.created`.
    pub previous_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// On `domain.deleted` with reason `claimed`: how many inboxes the holder had on the
    /// name, for the inbox service to act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_count: Option<i64>,
}

/// One event as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleEvent {
    pub detail_type: EventType,
    /// The domain's version the change produced: orders one domain's events.
    pub sequence: u64,
    pub detail: EventDetail,
}

impl LifecycleEvent {
    fn new(
        detail_type: EventType,
        domain: &Domain,
        sequence: u64,
        status: &str,
        previous: Option<Status>,
        reason: Option<String>,
        at: Timestamp,
    ) -> Self {
        Self {
            detail_type,
            sequence,
            detail: EventDetail {
                event_id: format!("evt_{}", ulid::Ulid::new()),
                occurred_at: at,
                org_id: domain.org_id.clone(),
                domain_id: domain.id.clone(),
                domain: domain.name.to_string(),
                status: status.to_owned(),
                previous_status: previous.map(|s| s.as_str().to_owned()),
                reason,
                inbox_count: None,
            },
        }
    }

    /// `domain.created`, for a domain as registration stores it.
    pub fn created(domain: &Domain) -> Self {
        let status = domain.state.status.as_str();
        Self::new(
            EventType::Created,
            domain,
            domain.version,
            status,
            None,
            None,
            domain.created_at,
        )
    }

    /// `domain.deleted`, for the domain as it was last stored.
    pub fn deleted(domain: &Domain, why: Removal, at: Timestamp) -> Self {
        let reason = match why {
            Removal::Requested => "requested",
            Removal::Claimed => "claimed",
        };
        let mut event = Self::new(
            EventType::Deleted,
            domain,
            domain.version + 1,
            "deleted",
            Some(domain.state.status),
            Some(reason.to_owned()),
            at,
        );
        if why == Removal::Claimed {
            event.detail.inbox_count = Some(domain.counters.inbox_count);
        }
        event
    }

    /// The event a change from `before` to `after` is, if it changes the status or the
    /// health; `None` for any other change (a check that found nothing new, a default
    /// switched, the sweep taking a domain for a check).
    pub fn of_change(before: &Domain, after: &Domain) -> Option<Self> {
        let detail_type = EventType::of_change(&before.state, &after.state)?;
        let reason = match detail_type {
            EventType::Reactivated | EventType::Suspended => Some("requested".to_owned()),
            EventType::Failed => after.state.failure_reason.clone(),
            EventType::Degraded => Some(degraded_reason(after)),
            _ => None,
        };
        let (from, to) = (before.state.status, after.state.status);
        Some(Self::new(
            detail_type,
            after,
            after.version,
            to.as_str(),
            Some(from),
            reason,
            after.updated_at,
        ))
    }
}

/// Which required records stopped verifying, and how.
fn degraded_reason(domain: &Domain) -> String {
    let failing: Vec<String> = domain
        .state
        .last_check
        .iter()
        .flat_map(|report| report.required_failing())
        .map(|f| format!("{} ({})", f.kind.label(), f.status.as_str()))
        .collect();
    format!("required records not verifying: {}", failing.join(", "))
}

/// An outbox item as the stream hands it over: `position` is the record's sequence number,
/// what a partial-batch response names to have the stream resume there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedEvent {
    pub position: String,
    pub event: LifecycleEvent,
}
