//! The outcome of a DNS check, kept with the domain so `GET` shows the last findings.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// An active domain's standing at its last check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Degraded,
}

/// The records of the contract, by purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Mx,
    Ownership,
    Spf,
    Dkim,
    Dmarc,
    /// The MX of the MAIL FROM subdomain (SES's feedback host).
    #[serde(rename = "mail_from_mx")]
    MailFromMx,
    /// The SPF record of the MAIL FROM subdomain.
    #[serde(rename = "mail_from_spf")]
    MailFromSpf,
    /// A rotation's new DKIM key: SES switches to it once this record verifies.
    #[serde(rename = "dkim_next")]
    DkimNext,
    /// The DKIM key a rotation replaced: never checked, safe to remove.
    #[serde(rename = "dkim_retired")]
    DkimRetired,
}

impl RecordKind {
    /// What the record is for, as the API's `purpose` says it.
    pub fn purpose(&self) -> Purpose {
        match self {
            RecordKind::Mx => Purpose::Receiving,
            RecordKind::Ownership => Purpose::Ownership,
            RecordKind::Spf | RecordKind::Dkim | RecordKind::DkimNext | RecordKind::DkimRetired => {
                Purpose::Sending
            }
            RecordKind::Dmarc => Purpose::Policy,
            RecordKind::MailFromMx | RecordKind::MailFromSpf => Purpose::MailFrom,
        }
    }

    /// The name the API gives it (`kind` of a finding).
    pub fn label(&self) -> &'static str {
        match self {
            RecordKind::Mx => "mx",
            RecordKind::Ownership => "ownership",
            RecordKind::Spf => "spf",
            RecordKind::Dkim => "dkim",
            RecordKind::Dmarc => "dmarc",
            RecordKind::MailFromMx => "mail_from_mx",
            RecordKind::MailFromSpf => "mail_from_spf",
            RecordKind::DkimNext => "dkim_next",
            RecordKind::DkimRetired => "dkim_retired",
        }
    }

    /// Whether `active` waits for it: ownership, DKIM (SES verifies a BYODKIM identity
    /// through its DKIM record, so without it the domain cannot send) and MX.
    pub fn required(&self) -> bool {
        matches!(
            self,
            RecordKind::Ownership | RecordKind::Dkim | RecordKind::Mx
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Ownership,
    Receiving,
    Sending,
    MailFrom,
    Policy,
}

/// A record's state after a check, for programs (`reason` says it for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    NotChecked,
    Verified,
    /// NXDOMAIN or NODATA.
    Missing,
    WrongValue,
    /// Something beside it defeats it: two SPF records, a better-preference MX elsewhere.
    Conflict,
    /// Some authoritative servers serve it, others not yet.
    Propagating,
    /// No authoritative server answered: not verified, try later.
    TemporaryFailure,
}

impl RecordStatus {
    pub const ALL: [RecordStatus; 7] = [
        RecordStatus::NotChecked,
        RecordStatus::Verified,
        RecordStatus::Missing,
        RecordStatus::WrongValue,
        RecordStatus::Conflict,
        RecordStatus::Propagating,
        RecordStatus::TemporaryFailure,
    ];

    /// The name the API gives it (`status` of a finding).
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordStatus::NotChecked => "not_checked",
            RecordStatus::Verified => "verified",
            RecordStatus::Missing => "missing",
            RecordStatus::WrongValue => "wrong_value",
            RecordStatus::Conflict => "conflict",
            RecordStatus::Propagating => "propagating",
            RecordStatus::TemporaryFailure => "temporary_failure",
        }
    }

    pub fn is_verified(&self) -> bool {
        *self == RecordStatus::Verified
    }
}

/// What one server said about a record's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerFinding {
    /// The name server's host name (`resolver` when asking the configured resolver).
    pub name: String,
    /// The address asked.
    pub address: String,
    /// The zone the server was asked as authoritative for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// What it answered, in a few words (`NXDOMAIN`, `2 TXT records`, `CNAME to …`,
    /// `no answer within 2 s`).
    pub answer: String,
    /// The record judged on this server's answer alone; absent for a server that only
    /// pointed elsewhere (a CNAME or a delegation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RecordStatus>,
}

/// The verdict on one published record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "StoredFinding")]
pub struct Finding {
    pub kind: RecordKind,
    /// `status == verified`, the seed's field.
    pub verified: bool,
    pub status: RecordStatus,
    /// Why it does not count (absent when verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What DNS holds at the record's name and type: at most 10 values of at most 512
    /// bytes each.
    #[serde(default)]
    pub found: Vec<String>,
    /// Each server asked, and its answer.
    #[serde(default)]
    pub servers: Vec<ServerFinding>,
}

/// A finding as stored, including those stored before `status` existed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredFinding {
    kind: RecordKind,
    verified: bool,
    #[serde(default)]
    status: Option<RecordStatus>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    found: Vec<String>,
    #[serde(default)]
    servers: Vec<ServerFinding>,
}

impl From<StoredFinding> for Finding {
    fn from(stored: StoredFinding) -> Self {
        let status = stored.status.unwrap_or(if stored.verified {
            RecordStatus::Verified
        } else {
            RecordStatus::Missing
        });
        Self {
            kind: stored.kind,
            verified: status == RecordStatus::Verified,
            status,
            reason: stored.reason,
            found: stored.found,
            servers: stored.servers,
        }
    }
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
    /// Both records of the custom MAIL FROM subdomain verified.
    #[serde(rename = "mailFrom")]
    pub mail_from: bool,
}

impl CheckReport {
    pub fn finding(&self, kind: RecordKind) -> Option<&Finding> {
        self.findings.iter().find(|f| f.kind == kind)
    }

    /// The report as it reads once SES signs with the next DKIM key: that key's finding is
    /// the DKIM finding.
    pub fn with_next_dkim_current(mut self) -> Self {
        self.findings.retain(|f| f.kind != RecordKind::Dkim);
        for finding in &mut self.findings {
            if finding.kind == RecordKind::DkimNext {
                finding.kind = RecordKind::Dkim;
            }
        }
        self
    }

    pub fn passed(&self, kind: RecordKind) -> bool {
        self.finding(kind).is_some_and(|f| f.verified)
    }

    /// Ownership, DKIM and MX: what `active` needs.
    pub fn required_passed(&self) -> bool {
        [RecordKind::Ownership, RecordKind::Dkim, RecordKind::Mx]
            .into_iter()
            .all(|kind| self.passed(kind))
    }

    /// An active domain's health as this check found it: `Some(Ok)` when the required
    /// records verify, `Some(Degraded)` when one of them is definitely not served as
    /// published (missing, wrong, defeated, or gone from some servers), and `None` when the
    /// check could not tell (no authoritative server answered): one unreachable server is
    /// not a broken domain, and nothing is announced on it.
    pub fn health(&self) -> Option<Health> {
        if self.required_passed() {
            return Some(Health::Ok);
        }
        let definite = self.required_failing().any(|f| {
            !matches!(
                f.status,
                RecordStatus::TemporaryFailure | RecordStatus::NotChecked
            )
        });
        definite.then_some(Health::Degraded)
    }

    /// The required records that did not verify.
    pub fn required_failing(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.kind.required() && !f.verified)
    }

    /// What the domain can do as this check found it.
    pub fn capabilities(&self) -> Capabilities {
        let ses_agrees = self.ses.as_ref().is_none_or(|ses| ses.verified_for_sending);
        Capabilities {
            sending: self.passed(RecordKind::Ownership)
                && self.passed(RecordKind::Dkim)
                && ses_agrees,
            receiving: self.passed(RecordKind::Mx),
        }
    }

    pub fn status(&self) -> VerificationStatus {
        VerificationStatus {
            ownership: self.passed(RecordKind::Ownership),
            mx: self.passed(RecordKind::Mx),
            spf: self.passed(RecordKind::Spf),
            dkim: self.passed(RecordKind::Dkim),
            dmarc: self.passed(RecordKind::Dmarc),
            mail_from: self.passed(RecordKind::MailFromMx) && self.passed(RecordKind::MailFromSpf),
        }
    }
}

/// `capabilities` of the API: sending needs ownership and DKIM (and SES's own
/// `verifiedForSending` where SES is in use); receiving needs the MX.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub sending: bool,
    pub receiving: bool,
}

/// SES's own view of an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesView {
    pub verified_for_sending: bool,
    /// `PENDING`, `SUCCESS`, `FAILED`, `TEMPORARY_FAILURE` or `NOT_STARTED`.
    pub dkim_status: String,
    /// The custom MAIL FROM domain's state at SES (`PENDING`, `SUCCESS`, `FAILED`,
    /// `TEMPORARY_FAILURE`), where one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_from_status: Option<String>,
    /// The selector of the key SES signs with, where it is one of ours (BYODKIM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim_selector: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_stored_before_statuses_existed_still_read() {
        let old = r#"{"kind":"mx","verified":false,"reason":"missing: no MX","found":[]}"#;
        let finding: Finding = serde_json::from_str(old).unwrap();
        assert_eq!(finding.status, RecordStatus::Missing);
        assert!(finding.servers.is_empty());
        let old = r#"{"kind":"dkim","verified":true}"#;
        let finding: Finding = serde_json::from_str(old).unwrap();
        assert_eq!(finding.status, RecordStatus::Verified);
        assert!(finding.verified);
    }

    #[test]
    fn labels_are_the_serialized_names() {
        use RecordKind::*;
        for kind in [
            Mx,
            Ownership,
            Spf,
            Dkim,
            Dmarc,
            MailFromMx,
            MailFromSpf,
            DkimNext,
            DkimRetired,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.label());
        }
        for status in RecordStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn active_needs_ownership_dkim_and_mx() {
        let finding = |kind, status| Finding {
            kind,
            verified: status == RecordStatus::Verified,
            status,
            reason: None,
            found: Vec::new(),
            servers: Vec::new(),
        };
        let report = |dkim| CheckReport {
            checked_at: Timestamp::from_unix(0),
            findings: vec![
                finding(RecordKind::Mx, RecordStatus::Verified),
                finding(RecordKind::Ownership, RecordStatus::Verified),
                finding(RecordKind::Dkim, dkim),
                finding(RecordKind::Spf, RecordStatus::Missing),
            ],
            ses: None,
        };
        assert!(report(RecordStatus::Verified).required_passed());
        for dkim in [RecordStatus::Missing, RecordStatus::Propagating] {
            let without = report(dkim);
            assert!(!without.required_passed(), "{dkim:?}");
            assert_eq!(
                without.capabilities(),
                Capabilities {
                    sending: false,
                    receiving: true
                }
            );
        }
        let mut ses_behind = report(RecordStatus::Verified);
        ses_behind.ses = Some(SesView {
            verified_for_sending: false,
            dkim_status: "PENDING".into(),
            mail_from_status: None,
            dkim_selector: None,
        });
        assert!(!ses_behind.capabilities().sending);
    }
}
