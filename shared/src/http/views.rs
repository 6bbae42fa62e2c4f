//! The JSON shapes of the contract (camelCase, RFC 3339 UTC timestamps).

use serde::Serialize;

use crate::dns::plan::{claim_record, zone_journal};
use crate::dns::{DnsRecord, records_for};
use crate::model::{
    Capabilities, CheckReport, Claim, ClaimId, ClaimStatus, Counters, Domain, DomainId, Finding,
    Health, RecordKind, RecordStatus, Region, ServerFinding, SesView, Status, Timestamp,
    VerificationStatus,
};

/// Who publishes the records: `route53` while the service writes them into the account's
/// zone, which it does only while the zone is assigned to the organization. Once an
/// operator unassigned it, `dnsManagedBy` is absent (the organization publishes, a
/// rotation's record included) and `hostedZoneId` still names the zone the service wrote
/// its records into (a delete removes them from there).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsManagement<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_managed_by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hosted_zone_id: Option<&'a str>,
}

impl<'a> DnsManagement<'a> {
    /// `d`'s management, `zone_assigned` saying whether its zone is still assigned to its
    /// organization.
    pub fn new(d: &'a Domain, zone_assigned: bool) -> Self {
        Self {
            dns_managed_by: d
                .hosted_zone_id
                .as_ref()
                .filter(|_| zone_assigned)
                .map(|_| "route53"),
            hosted_zone_id: d.hosted_zone_id.as_deref(),
        }
    }
}

/// An item of `GET /` (the seed's list shape).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainSummary<'a> {
    id: &'a DomainId,
    domain: &'a str,
    status: Status,
    is_default: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    verified_at: Option<Timestamp>,
    /// `ok` or `degraded` for an active domain, `null` otherwise.
    health: Option<Health>,
    /// When the service looks next, so a list can say "checking again in 40 s".
    next_check_at: Option<Timestamp>,
    inbox_count: i64,
    sent_count: i64,
}

impl<'a> From<&'a Domain> for DomainSummary<'a> {
    fn from(d: &'a Domain) -> Self {
        Self {
            id: &d.id,
            domain: d.name.as_str(),
            status: d.state.status,
            is_default: d.is_default,
            created_at: d.created_at,
            updated_at: d.updated_at,
            verified_at: d.state.verified_at,
            health: d.state.health(),
            next_check_at: d.state.next_check_at,
            inbox_count: d.counters.inbox_count,
            sent_count: d.counters.sent_count,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainList<'a> {
    pub domains: Vec<DomainSummary<'a>>,
    /// The filtered set's size, from the organization's counters.
    pub total: u64,
    pub limit: usize,
    pub offset: usize,
    /// The organization's domains by status, whatever the filter.
    pub counts: crate::model::StatusCounts,
    /// Where the next page starts (`?cursor=`), while there is one.
    pub next_cursor: Option<String>,
}

/// A record to publish and, once checked, what DNS holds for it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    #[serde(flatten)]
    record: DnsRecord,
    /// The seed's field: `status == verified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
    status: RecordStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// What DNS held at the record's name when last checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    found: Option<Vec<String>>,
    /// What each server asked answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    servers: Option<Vec<ServerFinding>>,
    /// The record of a DKIM key SES no longer signs with.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    safe_to_remove: bool,
    /// In a managed zone: whether the service created this record set (`false`: the zone
    /// held it already, exactly so, and it is not the service's to remove).
    #[serde(skip_serializing_if = "Option::is_none")]
    written_by_service: Option<bool>,
}

impl RecordView {
    /// `record` with `finding`, if it was checked.
    fn of(record: DnsRecord, finding: Option<&Finding>, checked: bool) -> RecordView {
        if record.kind == RecordKind::DkimRetired {
            return RecordView::retired(record);
        }
        RecordView {
            written_by_service: None,
            safe_to_remove: false,
            verified: checked.then(|| finding.is_some_and(|f| f.verified)),
            status: finding.map_or(RecordStatus::NotChecked, |f| f.status),
            reason: finding.and_then(|f| f.reason.clone()),
            found: finding.map(|f| f.found.clone()),
            servers: finding.map(|f| f.servers.clone()),
            record,
        }
    }

    /// A retired DKIM key's record: never checked, and the owner's to remove.
    fn retired(record: DnsRecord) -> RecordView {
        RecordView {
            written_by_service: None,
            verified: None,
            status: RecordStatus::NotChecked,
            reason: Some(
                "SES no longer signs with this key (a DKIM rotation replaced it): remove this \
                 record once mail signed with it has been delivered; a day is plenty"
                    .into(),
            ),
            found: None,
            servers: None,
            safe_to_remove: true,
            record,
        }
    }

    /// The records to publish, not yet checked (the answer to registration).
    fn unchecked(domain: &Domain) -> Vec<RecordView> {
        let views = records_for(domain)
            .into_iter()
            .map(|record| RecordView::of(record, None, false))
            .collect();
        RecordView::with_writer(domain, views)
    }

    /// Says, in a managed zone, which record sets the service created.
    fn with_writer(domain: &Domain, mut views: Vec<RecordView>) -> Vec<RecordView> {
        if domain.hosted_zone_id.is_some() {
            let journal = zone_journal(domain);
            for view in &mut views {
                let set = view.record.zone_record();
                view.written_by_service = Some(journal.iter().any(|ours| ours.same_set(&set)));
            }
        }
        views
    }

    /// The records with the findings of `report`; before any check nothing counts as
    /// published.
    pub fn checked(domain: &Domain, report: Option<&CheckReport>) -> Vec<RecordView> {
        let views = records_for(domain)
            .into_iter()
            .map(|record| {
                let finding = report.and_then(|r| r.finding(record.kind));
                RecordView::of(record, finding, true)
            })
            .collect();
        RecordView::with_writer(domain, views)
    }
}

/// The answer to `POST /`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered<'a> {
    id: &'a DomainId,
    domain: &'a str,
    status: Status,
    is_default: bool,
    region: Region,
    dns_records: Vec<RecordView>,
    #[serde(flatten)]
    dns_management: DnsManagement<'a>,
    /// Where the same records are served as a zone-file fragment.
    zone_file: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl<'a> From<&'a Domain> for Registered<'a> {
    fn from(d: &'a Domain) -> Self {
        Self {
            id: &d.id,
            domain: d.name.as_str(),
            status: d.state.status,
            is_default: d.is_default,
            region: d.region,
            dns_records: RecordView::unchecked(d),
            // Registration wrote into the zone only as it was assigned.
            dns_management: DnsManagement::new(d, true),
            zone_file: format!("{}/{}/zonefile", super::BASE_PATH, d.id),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// `dkimRotation`: the last DKIM rotation, under way or done.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DkimRotationView<'a> {
    /// `pending` until SES signs with the new key, then `complete`.
    status: &'static str,
    /// The new key's selector.
    selector: &'a str,
    /// The selector of the key it replaces (or replaced).
    previous_selector: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_at: Option<Timestamp>,
    /// When SES switched to the new key.
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<Timestamp>,
}

impl<'a> DkimRotationView<'a> {
    fn of(d: &'a Domain) -> Option<Self> {
        let setup = &d.setup;
        if let Some(next) = &setup.dkim_next {
            return Some(Self {
                status: "pending",
                selector: &next.selector,
                previous_selector: &setup.dkim_selector,
                requested_at: Some(next.requested_at),
                completed_at: None,
            });
        }
        setup.dkim_retired.as_ref().map(|retired| Self {
            status: "complete",
            selector: &setup.dkim_selector,
            previous_selector: &retired.selector,
            requested_at: None,
            completed_at: Some(retired.retired_at),
        })
    }
}

/// The answer to `GET /:id`: everything.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainDetail<'a> {
    id: &'a DomainId,
    domain: &'a str,
    status: Status,
    is_default: bool,
    region: Region,
    dns_records: Vec<RecordView>,
    #[serde(flatten)]
    dns_management: DnsManagement<'a>,
    verification_status: VerificationStatus,
    capabilities: Capabilities,
    /// SES's own view at the last check.
    #[serde(skip_serializing_if = "Option::is_none")]
    ses: Option<&'a SesView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dkim_rotation: Option<DkimRotationView<'a>>,
    created_at: Timestamp,
    updated_at: Timestamp,
    verified_at: Option<Timestamp>,
    last_checked_at: Option<Timestamp>,
    #[serde(flatten)]
    watch: WatchView,
    /// Why the domain is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<&'a str>,
    stats: Counters,
}

/// An active domain's health (`null` for other statuses), since when it is degraded, and
/// when the service checks it next.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WatchView {
    health: Option<Health>,
    degraded_since: Option<Timestamp>,
    next_check_at: Option<Timestamp>,
}

impl From<&Domain> for WatchView {
    fn from(d: &Domain) -> Self {
        Self {
            health: d.state.health(),
            degraded_since: d.state.degraded_since,
            next_check_at: d.state.next_check_at,
        }
    }
}

impl<'a> DomainDetail<'a> {
    /// `d` in full; `zone_assigned`: whether its zone (if any) is still assigned to its
    /// organization.
    pub fn new(d: &'a Domain, zone_assigned: bool) -> Self {
        Self {
            id: &d.id,
            domain: d.name.as_str(),
            status: d.state.status,
            is_default: d.is_default,
            region: d.region,
            dns_records: RecordView::checked(d, d.state.last_check.as_ref()),
            dns_management: DnsManagement::new(d, zone_assigned),
            ses: d.state.last_check.as_ref().and_then(|r| r.ses.as_ref()),
            dkim_rotation: DkimRotationView::of(d),
            verification_status: d
                .state
                .last_check
                .as_ref()
                .map(CheckReport::status)
                .unwrap_or_default(),
            capabilities: d
                .state
                .last_check
                .as_ref()
                .map(CheckReport::capabilities)
                .unwrap_or_default(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            verified_at: d.state.verified_at,
            last_checked_at: d.state.last_checked_at,
            watch: WatchView::from(d),
            failure_reason: d.state.failure_reason.as_deref(),
            stats: d.counters,
        }
    }
}

/// The answer to `PATCH /:id`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Updated<'a> {
    id: &'a DomainId,
    domain: &'a str,
    is_default: bool,
    status: Status,
    updated_at: Timestamp,
}

impl<'a> From<&'a Domain> for Updated<'a> {
    fn from(d: &'a Domain) -> Self {
        Self {
            id: &d.id,
            domain: d.name.as_str(),
            is_default: d.is_default,
            status: d.state.status,
            updated_at: d.updated_at,
        }
    }
}

/// The answer to `DELETE /:id`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub success: bool,
    pub message: &'static str,
    pub deleted_at: Timestamp,
}

/// The answer to `POST /:id/verify`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified<'a> {
    id: &'a DomainId,
    domain: &'a str,
    status: Status,
    verification_status: VerificationStatus,
    capabilities: Capabilities,
    #[serde(skip_serializing_if = "Option::is_none")]
    ses: Option<&'a SesView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dkim_rotation: Option<DkimRotationView<'a>>,
    verified_at: Option<Timestamp>,
    last_checked_at: Option<Timestamp>,
    #[serde(flatten)]
    watch: WatchView,
    /// Why the domain is `failed` (a check may fail a domain degraded for too long).
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<&'a str>,
    dns_records: Vec<RecordView>,
    #[serde(flatten)]
    dns_management: DnsManagement<'a>,
}

impl<'a> Verified<'a> {
    /// `zone_assigned`: whether the domain's zone (if any) is still assigned to its
    /// organization.
    pub fn new(d: &'a Domain, report: &'a CheckReport, zone_assigned: bool) -> Self {
        Self {
            id: &d.id,
            domain: d.name.as_str(),
            status: d.state.status,
            verification_status: report.status(),
            capabilities: report.capabilities(),
            ses: report.ses.as_ref(),
            dkim_rotation: DkimRotationView::of(d),
            verified_at: d.state.verified_at,
            last_checked_at: d.state.last_checked_at,
            watch: WatchView::from(d),
            failure_reason: d.state.failure_reason.as_deref(),
            dns_records: RecordView::checked(d, Some(report)),
            dns_management: DnsManagement::new(d, zone_assigned),
        }
    }
}

/// A claim: `POST /claims` answers it, and a failed `POST /claims/:id/verify` carries it
/// (with the challenge's finding) in its `details`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView<'a> {
    id: &'a ClaimId,
    domain: &'a str,
    region: Region,
    status: ClaimStatus,
    dns_records: Vec<RecordView>,
    created_at: Timestamp,
    expires_at: Timestamp,
}

impl<'a> ClaimView<'a> {
    pub fn new(claim: &'a Claim, now: Timestamp, finding: Option<&Finding>) -> Self {
        Self {
            id: &claim.id,
            domain: claim.name.as_str(),
            region: claim.region,
            status: claim.status(now),
            dns_records: vec![RecordView::of(
                claim_record(claim),
                finding,
                finding.is_some(),
            )],
            created_at: claim.created_at,
            expires_at: claim.expires_at,
        }
    }
}
