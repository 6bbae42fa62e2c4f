//! The outcome of a DNS check, kept with the domain so `GET` shows the last findings.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The records of the contract, by purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Mx,
    Ownership,
    Spf,
    Dkim,
    Dmarc,
}

/// The verdict on one published record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub kind: RecordKind,
    pub verified: bool,
    /// Why it does not count (absent when verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the server returned for the record's name and type.
    #[serde(default)]
    pub found: Vec<String>,
}

/// One check of all of a domain's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub checked_at: Timestamp,
    pub findings: Vec<Finding>,
    /// SES's own view of the domain's identity at the time, where SES is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ses: Option<SesView>,
}

/// `verificationStatus` of the API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerificationStatus {
    pub ownership: bool,
    pub mx: bool,
    pub spf: bool,
    pub dkim: bool,
    pub dmarc: bool,
}

impl CheckReport {
    pub fn finding(&self, kind: RecordKind) -> Option<&Finding> {
        self.findings.iter().find(|f| f.kind == kind)
    }

    pub fn passed(&self, kind: RecordKind) -> bool {
        self.finding(kind).is_some_and(|f| f.verified)
    }

    /// Ownership and MX: what `active` needs.
    pub fn required_passed(&self) -> bool {
        self.passed(RecordKind::Ownership) && self.passed(RecordKind::Mx)
    }

    pub fn status(&self) -> VerificationStatus {
        VerificationStatus {
            ownership: self.passed(RecordKind::Ownership),
            mx: self.passed(RecordKind::Mx),
            spf: self.passed(RecordKind::Spf),
            dkim: self.passed(RecordKind::Dkim),
            dmarc: self.passed(RecordKind::Dmarc),
        }
    }
}

/// SES's own view of an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesView {
    pub verified_for_sending: bool,
    /// `PENDING`, `SUCCESS`, `FAILED`, `TEMPORARY_FAILURE` or `NOT_STARTED`.
    pub dkim_status: String,
}
