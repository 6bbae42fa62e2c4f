//! The stored domain and its state machine: status, health, the check schedule, what a
//! check's findings do to it.

use serde::{Deserialize, Serialize};
use time::Duration;

use super::schedule::VERIFICATION_WINDOW;
use super::{CheckReport, DomainId, DomainName, Health, OrgId, Region, Status, Timestamp};

/// What the owner publishes to prove control and to let SES sign: fixed at registration,
/// except the DKIM keys, which a rotation changes. No DKIM private key is here in plain:
/// it goes to SES, and a rotation's waits sealed under KMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationSetup {
    /// Value of the `_amazonses` ownership TXT record.
    pub ownership_token: String,
    pub dkim_selector: String,
    /// Base64 DER SubjectPublicKeyInfo, as it appears after `p=` in the DKIM record.
    pub dkim_public_key: String,
    /// The custom MAIL FROM subdomain's label; `None` for domains registered before custom
    /// MAIL FROM existed, which keep SES's own.
    pub mail_from: Option<super::MailFrom>,
    /// A rotation's key, published beside the current one until SES switches to it.
    pub dkim_next: Option<super::NextDkim>,
    /// The key the last rotation replaced: SES no longer signs with it.
    pub dkim_retired: Option<super::RetiredDkim>,
    /// The record sets the service itself created in the domain's managed zone: the only
    /// ones an undo or a delete removes. `None` for a domain stored before this was kept,
    /// whose records the service all created (it refused any name already in use then).
    pub zone_records: Option<Vec<ZoneRecord>>,
}

/// A record set the service created in a hosted zone, with the value it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneRecord {
    /// Fully qualified, without the trailing dot.
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    /// As the check reads it (TXT strings joined, MX with its preference).
    pub value: String,
    /// When a DKIM record stopped being the one SES signs with; it leaves the zone
    /// `DKIM_RETIRE_AFTER` later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<Timestamp>,
}

impl ZoneRecord {
    /// The same record set (name, type, value), whatever its retirement.
    pub fn same_set(&self, other: &ZoneRecord) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.record_type == other.record_type
            && self.value == other.value
    }
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
    /// Scheduled checks that failed in the current window: the step of the backoff.
    pub failed_checks: u32,
    /// The findings of the last DNS check.
    pub last_check: Option<CheckReport>,
    /// Why the domain is `failed`.
    pub failure_reason: Option<String>,
    /// Since when an active domain's required records have not verified (its health is
    /// `degraded`); `None` while they do.
    pub degraded_since: Option<Timestamp>,
    /// The Route 53 change that last wrote this domain's records into its managed zone,
    /// until the sweep sees it `INSYNC` (then the records are served, and it checks at once).
    pub zone_change: Option<String>,
}

/// How often an active domain's records are checked again, unless `WATCH_INTERVAL` says
/// otherwise.
pub const WATCH_INTERVAL: Duration = Duration::hours(24);

/// How often a degraded domain is checked again: a repair is seen within the hour, and
/// the 72-hour limit is applied within the hour it falls due.
pub const DEGRADED_RECHECK: Duration = Duration::hours(1);

/// How long an active domain may stay degraded before it is `failed`: SES stops signing
/// and sending for an identity whose DKIM records it cannot find for about as long.
pub const DEGRADED_WINDOW: Duration = Duration::hours(72);

/// The wait before the next scheduled check after `failed_checks` failures: 1 min, 5 min,
/// 15 min, 1 h, then every 6 h.
pub fn check_backoff(failed_checks: u32) -> Duration {
    match failed_checks {
        0 | 1 => Duration::minutes(1),
        2 => Duration::minutes(5),
        3 => Duration::minutes(15),
        4 => Duration::hours(1),
        _ => Duration::hours(6),
    }
}

impl DomainState {
    pub fn pending(now: Timestamp) -> Self {
        Self {
            status: Status::Pending,
            verified_at: None,
            last_checked_at: None,
            pending_since: Some(now),
            next_check_at: Some(now),
            failed_checks: 0,
            last_check: None,
            failure_reason: None,
            degraded_since: None,
            zone_change: None,
        }
    }

    /// `ok` or `degraded` for an active domain; `None` for any other status.
    pub fn health(&self) -> Option<Health> {
        (self.status == Status::Active).then_some(match self.degraded_since {
            Some(_) => Health::Degraded,
            None => Health::Ok,
        })
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
        if self.status == Status::Active {
            return next.watched(report);
        }
        next
    }

    /// An already active domain after a check: its health follows the findings (an
    /// inconclusive check changes nothing), and 72 hours degraded make it `failed`.
    fn watched(mut self, report: &CheckReport) -> Self {
        let now = report.checked_at;
        match report.health() {
            Some(Health::Ok) => self.degraded_since = None,
            Some(Health::Degraded) => {
                let since = *self.degraded_since.get_or_insert(now);
                if now.datetime() - since.datetime() >= DEGRADED_WINDOW {
                    let failing: Vec<&str> =
                        report.required_failing().map(|f| f.kind.label()).collect();
                    let mut failed = self.moved_to(Status::Failed, now);
                    failed.failure_reason = Some(format!(
                        "the required DNS records stopped verifying at {since} and were not \
                         restored within {} hours (failing: {}); publish them and set the \
                         status back to pending",
                        DEGRADED_WINDOW.whole_hours(),
                        failing.join(", ")
                    ));
                    return failed;
                }
            }
            None => {}
        }
        self
    }

    /// The state after a check made by the sweep: as [`Self::after_check`], and a domain
    /// still pending either waits for its next look (see `schedule`) or, past the
    /// verification window, is `failed`.
    pub fn after_scheduled_check(&self, report: &CheckReport) -> Self {
        self.after_sweep_check(report, super::schedule::next_look)
    }

    /// As [`Self::after_scheduled_check`], on the backoff ladder the sweep used before
    /// probes (1, 5, 15 minutes, 1 hour, then every 6 hours): kept so the benchmark can
    /// measure both schedules with the same code.
    pub fn after_backoff_check(&self, report: &CheckReport) -> Self {
        let mut next = self.after_sweep_check(report, |_, now| now);
        if next.status == Status::Pending {
            let wait = check_backoff(next.failed_checks);
            next.next_check_at = Some(report.checked_at.plus(wait));
        }
        next
    }

    fn after_sweep_check(
        &self,
        report: &CheckReport,
        next_look: fn(Timestamp, Timestamp) -> Timestamp,
    ) -> Self {
        let now = report.checked_at;
        let mut next = self.after_check(report);
        if next.status != Status::Pending {
            return next;
        }
        let since = next.pending_since.unwrap_or(now);
        if now.datetime() - since.datetime() >= VERIFICATION_WINDOW {
            let mut failed = next.moved_to(Status::Failed, now);
            failed.failure_reason = Some(format!(
                "the required DNS records (ownership TXT, DKIM and MX) were not found within \
                 {} hours of registration; publish them and set the status back to pending",
                VERIFICATION_WINDOW.whole_hours()
            ));
            return failed;
        }
        next.failed_checks += 1;
        next.next_check_at = Some(next_look(since, now));
        next
    }

    /// An active domain's next check: on the backoff ladder while a DKIM rotation waits
    /// for its new record (`rotating`), within the hour while it is degraded, and after
    /// `watch` otherwise. Other statuses keep their own schedule.
    pub fn scheduled(mut self, rotating: bool, watch: Duration, now: Timestamp) -> Self {
        if self.status != Status::Active {
            return self;
        }
        let wait = if rotating {
            self.failed_checks += 1;
            check_backoff(self.failed_checks)
        } else {
            self.failed_checks = 0;
            match self.degraded_since {
                Some(_) => DEGRADED_RECHECK.min(watch),
                None => watch,
            }
        };
        self.next_check_at = Some(now.plus(wait));
        self
    }

    /// The state after moving to `status` at `now`, keeping what still holds.
    pub fn moved_to(&self, status: Status, now: Timestamp) -> Self {
        let restart = status == Status::Pending && self.status != Status::Pending;
        let pending = status == Status::Pending;
        Self {
            status,
            verified_at: self.verified_at,
            last_checked_at: self.last_checked_at,
            pending_since: match () {
                _ if restart => Some(now),
                _ if pending => self.pending_since,
                _ => None,
            },
            next_check_at: match () {
                _ if restart => Some(now),
                _ if pending => self.next_check_at,
                _ => None,
            },
            failed_checks: if pending && !restart {
                self.failed_checks
            } else {
                0
            },
            last_check: self.last_check.clone(),
            failure_reason: None,
            // Health belongs to one stretch of being active.
            degraded_since: if status == Status::Active && self.status == Status::Active {
                self.degraded_since
            } else {
                None
            },
            // A change of ours still travelling to the servers travels on whatever the status.
            zone_change: self.zone_change.clone(),
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
    /// The Route 53 hosted zone the service wrote this domain's records to, if it did.
    pub hosted_zone_id: Option<String>,
    /// Set when a delete has started removing the domain's SES identity and records; no
    /// inbox can be added from then on.
    pub deleting_since: Option<Timestamp>,
}

impl Domain {
    /// A domain as registration makes it: a new id, pending from `now`, nothing counted.
    pub fn new_pending(
        org_id: OrgId,
        name: DomainName,
        region: Region,
        setup: VerificationSetup,
        now: Timestamp,
    ) -> Self {
        Self {
            id: DomainId::generate(),
            org_id,
            name,
            region,
            setup,
            state: DomainState::pending(now),
            counters: Counters::default(),
            is_default: false,
            created_at: now,
            updated_at: now,
            version: 0,
            hosted_zone_id: None,
            deleting_since: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, RecordKind, RecordStatus};

    fn report(at: Timestamp, pass: bool) -> CheckReport {
        let finding = |kind| Finding {
            kind,
            verified: pass,
            status: if pass {
                RecordStatus::Verified
            } else {
                RecordStatus::Missing
            },
            reason: (!pass).then(|| "missing".to_owned()),
            found: Vec::new(),
            servers: Vec::new(),
        };
        CheckReport {
            checked_at: at,
            findings: vec![
                finding(RecordKind::Mx),
                finding(RecordKind::Ownership),
                finding(RecordKind::Dkim),
            ],
            ses: None,
        }
    }

    #[test]
    fn scheduled_checks_back_off_then_fail_after_the_window() {
        let start = Timestamp::from_unix(1_704_873_600);
        let mut state = DomainState::pending(start);
        let mut now = start;
        let mut waits = Vec::new();
        while state.status == Status::Pending {
            state = state.after_scheduled_check(&report(now, false));
            if let Some(next) = state.next_check_at {
                waits.push((next.datetime() - now.datetime()).whole_seconds());
                now = next;
            }
        }
        // Full checks here (no probe between them): the pending schedule's steps, each
        // less the sweep's slack (see `schedule`).
        let step = |minutes: i64| {
            (Duration::minutes(minutes) - super::super::schedule::SWEEP_SLACK).whole_seconds()
        };
        assert_eq!(waits[0], step(1));
        assert!(waits.contains(&step(2)));
        assert_eq!(*waits.last().unwrap(), step(5));
        assert_eq!(state.status, Status::Failed);
        assert!(now.datetime() - start.datetime() >= VERIFICATION_WINDOW);
        assert!(
            state
                .failure_reason
                .as_deref()
                .unwrap()
                .contains("72 hours")
        );
        assert_eq!((state.next_check_at, state.pending_since), (None, None));

        // Restarting verification opens a new window and a new ladder.
        let restarted = state.moved_to(Status::Pending, now);
        assert_eq!(restarted.pending_since, Some(now));
        assert_eq!(restarted.next_check_at, Some(now));
        assert_eq!(
            (restarted.failed_checks, restarted.failure_reason),
            (0, None)
        );
    }

    #[test]
    fn a_passing_check_activates_and_stops_the_schedule() {
        let start = Timestamp::from_unix(0);
        let state = DomainState::pending(start).after_scheduled_check(&report(start, true));
        assert_eq!(state.status, Status::Active);
        assert_eq!(state.verified_at, Some(start));
        assert_eq!(state.next_check_at, None);
    }

    #[test]
    fn a_scheduled_check_never_resumes_a_suspended_domain() {
        let start = Timestamp::from_unix(0);
        let suspended = DomainState::pending(start).moved_to(Status::Suspended, start);
        let after = suspended.after_scheduled_check(&report(start, true));
        assert_eq!(after.status, Status::Suspended);
        assert_eq!(after.next_check_at, None);
    }
}
