use serde::{Deserialize, Serialize};

use super::{CheckReport, DomainId, DomainName, OrgId, Region, Status, Timestamp};

/// What the owner publishes to prove control and to let SES sign: fixed at registration.
/// The DKIM private key is not here: it goes to SES and is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationSetup {
    /// Value of the `_amazonses` ownership TXT record.
    pub ownership_token: String,
    pub dkim_selector: String,
    /// Base64 DER SubjectPublicKeyInfo, as it appears after `p=` in the DKIM record.
    pub dkim_public_key: String,
}

/// The part of a domain that state changes rewrite, always as a whole and conditionally on
/// [`Domain::version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainState {
    pub status: Status,
    pub verified_at: Option<Timestamp>,
    pub last_checked_at: Option<Timestamp>,
    /// Start of the current verification window (registration, or a restart from `failed`).
    pub pending_since: Option<Timestamp>,
    /// When the sweep should next check the domain; `None` when no check is awaited.
    pub next_check_at: Option<Timestamp>,
    /// The findings of the last DNS check.
    pub last_check: Option<CheckReport>,
}

impl DomainState {
    pub fn pending(now: Timestamp) -> Self {
        Self {
            status: Status::Pending,
            verified_at: None,
            last_checked_at: None,
            pending_since: Some(now),
            next_check_at: Some(now),
            last_check: None,
        }
    }

    /// The state after a DNS check: findings recorded, and a pending or failed domain
    /// whose required records pass becomes active. Any other status stays as it is
    /// (a suspended domain is checked but stays suspended).
    pub fn after_check(&self, report: &CheckReport) -> Self {
        let now = report.checked_at;
        let activates =
            matches!(self.status, Status::Pending | Status::Failed) && report.required_passed();
        let mut next = if activates {
            let mut active = self.moved_to(Status::Active, now);
            active.verified_at = Some(now);
            active
        } else {
            self.clone()
        };
        next.last_checked_at = Some(now);
        next.last_check = Some(report.clone());
        next
    }

    /// The state after moving to `status` at `now`, keeping what still holds.
    pub fn moved_to(&self, status: Status, now: Timestamp) -> Self {
        let restart = status == Status::Pending && self.status != Status::Pending;
        Self {
            status,
            verified_at: self.verified_at,
            last_checked_at: self.last_checked_at,
            pending_since: match status {
                Status::Pending if restart => Some(now),
                Status::Pending => self.pending_since,
                _ => None,
            },
            next_check_at: match status {
                Status::Pending if restart => Some(now),
                Status::Pending => self.next_check_at,
                _ => None,
            },
            last_check: self.last_check.clone(),
        }
    }
}

/// Usage counters kept by the inbox, sending and receiving services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub inbox_count: i64,
    pub sent_count: i64,
    pub received_count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Inbox,
    Sent,
    Received,
}

impl Counter {
    /// The attribute name, shared by the table and the JSON views.
    pub fn attribute(&self) -> &'static str {
        match self {
            Counter::Inbox => "inboxCount",
            Counter::Sent => "sentCount",
            Counter::Received => "receivedCount",
        }
    }
}

impl Counters {
    pub fn get(&self, counter: Counter) -> i64 {
        match counter {
            Counter::Inbox => self.inbox_count,
            Counter::Sent => self.sent_count,
            Counter::Received => self.received_count,
        }
    }

    pub fn get_mut(&mut self, counter: Counter) -> &mut i64 {
        match counter {
            Counter::Inbox => &mut self.inbox_count,
            Counter::Sent => &mut self.sent_count,
            Counter::Received => &mut self.received_count,
        }
    }
}

/// A registered domain as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: DomainId,
    pub org_id: OrgId,
    pub name: DomainName,
    pub region: Region,
    pub setup: VerificationSetup,
    pub state: DomainState,
    pub counters: Counters,
    /// Derived on read from the organization's single default pointer, never stored here,
    /// so an organization can never have two defaults.
    pub is_default: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Bumped by every state change; writes are conditional on it.
    pub version: u64,
}
