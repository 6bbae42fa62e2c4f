//! The JSON shapes of the contract (camelCase, RFC 3339 UTC timestamps).

use serde::Serialize;

use crate::dns::{DnsRecord, records_for};
use crate::model::{Counters, Domain, DomainId, Region, Status, Timestamp};

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
            inbox_count: d.counters.inbox_count,
            sent_count: d.counters.sent_count,
        }
    }
}

#[derive(Serialize)]
pub struct DomainList<'a> {
    pub domains: Vec<DomainSummary<'a>>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
}

/// A record to publish and, once checked, whether it is published.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    #[serde(flatten)]
    record: DnsRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<bool>,
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
            dns_records: records_for(d)
                .into_iter()
                .map(|record| RecordView {
                    record,
                    verified: None,
                })
                .collect(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Serialize, Default)]
pub struct VerificationStatus {
    ownership: bool,
    mx: bool,
    spf: bool,
    dkim: bool,
    dmarc: bool,
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
    verification_status: VerificationStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
    verified_at: Option<Timestamp>,
    last_checked_at: Option<Timestamp>,
    stats: Counters,
}

impl<'a> From<&'a Domain> for DomainDetail<'a> {
    fn from(d: &'a Domain) -> Self {
        Self {
            id: &d.id,
            domain: d.name.as_str(),
            status: d.state.status,
            is_default: d.is_default,
            region: d.region,
            // Until a DNS check has run, nothing counts as published.
            dns_records: records_for(d)
                .into_iter()
                .map(|record| RecordView {
                    record,
                    verified: Some(false),
                })
                .collect(),
            verification_status: VerificationStatus::default(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            verified_at: d.state.verified_at,
            last_checked_at: d.state.last_checked_at,
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
