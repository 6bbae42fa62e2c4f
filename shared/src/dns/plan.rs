//! The records a domain's owner publishes, derived from the domain and its
//! [`VerificationSetup`]; nothing here is stored twice.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::crypto::random_token;
use crate::model::{
    CLAIM_HOST, Claim, Domain, DomainName, MailFrom, Purpose, RecordKind, Region, Timestamp,
    VerificationSetup, ZoneRecord, selector_for,
};

/// Owner of the ownership TXT record, relative to the domain.
pub const OWNERSHIP_HOST: &str = "_amazonses";
pub const DMARC_HOST: &str = "_dmarc";
pub const MX_PREFERENCE: u16 = 10;
pub use super::rules::SPF_VALUE;

/// One record to publish, in the shape of the API's `dnsRecords`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    #[serde(skip)]
    pub kind: RecordKind,
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// Fully qualified owner name.
    pub name: String,
    /// Owner relative to the domain (`@` for the apex): what registrars' forms expect.
    pub host: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
    /// Whether `active` waits for it.
    pub required: bool,
    pub purpose: Purpose,
}

/// The records for `domain`, in the order a user publishes them: required first.
pub fn records_for(domain: &Domain) -> Vec<DnsRecord> {
    records_of(&domain.name, domain.region, &domain.setup)
}

/// The records of a domain named `name` in `region` with `setup`.
pub fn records_of(name: &DomainName, region: Region, setup: &VerificationSetup) -> Vec<DnsRecord> {
    let apex = name.as_str();
    let dkim_host = |selector: &str| format!("{selector}._domainkey");
    let dkim_value = |public_key: &str| format!("v=DKIM1; k=rsa; p={public_key}");
    let record = |kind: RecordKind, record_type, host: &str, value: String| DnsRecord {
        kind,
        record_type,
        name: if host == "@" {
            apex.to_owned()
        } else {
            name.child(host)
        },
        host: host.to_owned(),
        value,
        priority: (record_type == "MX").then_some(MX_PREFERENCE),
        required: kind.required(),
        purpose: kind.purpose(),
    };
    let mut records = vec![
        record(
            RecordKind::Mx,
            "MX",
            "@",
            format!("{MX_PREFERENCE} {}", region.inbound_smtp_host()),
        ),
        record(
            RecordKind::Ownership,
            "TXT",
            OWNERSHIP_HOST,
            setup.ownership_token.clone(),
        ),
        record(
            RecordKind::Dkim,
            "TXT",
            &dkim_host(&setup.dkim_selector),
            dkim_value(&setup.dkim_public_key),
        ),
        record(RecordKind::Spf, "TXT", "@", SPF_VALUE.to_owned()),
        record(
            RecordKind::Dmarc,
            "TXT",
            DMARC_HOST,
            format!("v=DMARC1; p=quarantine; rua=mailto:dmarc@{apex}"),
        ),
    ];
    if let Some(mail_from) = &setup.mail_from {
        records.push(record(
            RecordKind::MailFromMx,
            "MX",
            mail_from.as_str(),
            format!("{MX_PREFERENCE} {}", region.feedback_smtp_host()),
        ));
        records.push(record(
            RecordKind::MailFromSpf,
            "TXT",
            mail_from.as_str(),
            SPF_VALUE.to_owned(),
        ));
    }
    if let Some(next) = &setup.dkim_next {
        records.push(record(
            RecordKind::DkimNext,
            "TXT",
            &dkim_host(&next.selector),
            dkim_value(&next.public_key),
        ));
    }
    if let Some(retired) = &setup.dkim_retired {
        records.push(record(
            RecordKind::DkimRetired,
            "TXT",
            &dkim_host(&retired.selector),
            dkim_value(&retired.public_key),
        ));
    }
    records
}

impl DnsRecord {
    /// The record set as the zone holds it, for the journal of what the service wrote.
    pub fn zone_record(&self) -> ZoneRecord {
        ZoneRecord {
            name: self.name.clone(),
            record_type: self.record_type.to_owned(),
            value: self.value.clone(),
            retired_at: None,
        }
    }
}

/// The record sets the service created in `domain`'s managed zone. A domain stored before
/// the service kept that list had every one of its records created by the service (it
/// refused a name and type the zone already used), so they all count, the retired DKIM
/// record with its retirement.
pub fn zone_journal(domain: &Domain) -> Vec<ZoneRecord> {
    if domain.hosted_zone_id.is_none() {
        return Vec::new();
    }
    if let Some(records) = &domain.setup.zone_records {
        return records.clone();
    }
    records_for(domain)
        .iter()
        .map(|record| {
            let mut written = record.zone_record();
            if record.kind == RecordKind::DkimRetired {
                written.retired_at = domain.setup.dkim_retired.as_ref().map(|r| r.retired_at);
            }
            written
        })
        .collect()
}

/// The one record a claim asks for: its challenge, proving control of the name.
pub fn claim_record(claim: &Claim) -> DnsRecord {
    DnsRecord {
        kind: RecordKind::Ownership,
        record_type: "TXT",
        name: claim.name.child(CLAIM_HOST),
        host: CLAIM_HOST.to_owned(),
        value: claim.token.clone(),
        priority: None,
        required: true,
        purpose: Purpose::Ownership,
    }
}

/// A per-domain RSA-2048 DKIM key. The private half exists only in memory, long enough to
/// hand to SES (BYODKIM); it is never stored or logged.
pub struct DkimKeyPair {
    selector: String,
    key: KeyPair,
}

impl std::fmt::Debug for DkimKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKeyPair")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl DkimKeyPair {
    /// Generates a key whose selector names the day it was made, so a later rotation
    /// gets a new selector and both records can coexist during the switch.
    pub fn generate(now: Timestamp) -> Self {
        Self::generate_as(selector_for(now, &[]))
    }

    /// Generates a key published under `selector`.
    pub fn generate_as(selector: String) -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key generation");
        Self { selector, key }
    }

    /// The key sealed as [`Self::private_key_der`] wrote it; `None` if it is not an RSA
    /// PKCS#8 key.
    pub fn from_pkcs8(selector: String, der: &[u8]) -> Option<Self> {
        let key = KeyPair::from_pkcs8(der).ok()?;
        Some(Self { selector, key })
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// Base64 DER SubjectPublicKeyInfo: the `p=` of the DKIM record.
    pub fn public_key_base64(&self) -> String {
        let der: PublicKeyX509Der = self
            .key
            .public_key()
            .as_der()
            .expect("RSA public key encodes");
        STANDARD.encode(der.as_ref())
    }

    /// Base64 DER PKCS#8 private key, the form SES accepts for BYODKIM.
    pub fn private_key_base64(&self) -> String {
        STANDARD.encode(self.private_key_der().as_ref())
    }

    /// DER PKCS#8 private key, to seal while a rotation waits.
    pub fn private_key_der(&self) -> Pkcs8V1Der<'static> {
        self.key.as_der().expect("RSA private key encodes")
    }
}

/// Everything a new domain's owner must publish, plus the private DKIM key for SES.
pub fn new_setup(now: Timestamp) -> (VerificationSetup, DkimKeyPair) {
    let dkim = DkimKeyPair::generate(now);
    let setup = VerificationSetup {
        ownership_token: random_token(),
        dkim_selector: dkim.selector().to_owned(),
        dkim_public_key: dkim.public_key_base64(),
        mail_from: Some(MailFrom::standard()),
        dkim_next: None,
        dkim_retired: None,
        zone_records: None,
    };
    (setup, dkim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DomainName, OrgId, Region};

    fn domain(setup: VerificationSetup) -> Domain {
        Domain::new_pending(
            OrgId::parse("org_a").unwrap(),
            DomainName::parse("yourcompany.com").unwrap(),
            Region::parse("eu-west-1").unwrap(),
            setup,
            Timestamp::from_unix(1_704_873_600),
        )
    }

    #[test]
    fn plan_lists_every_record_of_the_contract() {
        let (setup, dkim) = new_setup(Timestamp::from_unix(1_704_873_600));
        assert_eq!(dkim.selector(), "dkim20240110");
        let records = records_for(&domain(setup.clone()));
        let by_kind = |kind| records.iter().find(|r| r.kind == kind).unwrap();

        let mx = by_kind(RecordKind::Mx);
        assert_eq!(
            (mx.name.as_str(), mx.host.as_str()),
            ("yourcompany.com", "@")
        );
        assert_eq!(mx.value, "10 inbound-smtp.eu-west-1.amazonaws.com");
        assert_eq!((mx.priority, mx.required), (Some(10), true));

        let owner = by_kind(RecordKind::Ownership);
        assert_eq!(owner.name, "_amazonses.yourcompany.com");
        assert_eq!(owner.host, "_amazonses");
        assert_eq!(owner.value, setup.ownership_token);
        assert!(owner.required);

        let spf = by_kind(RecordKind::Spf);
        assert_eq!((spf.host.as_str(), spf.required), ("@", false));
        assert_eq!(spf.purpose, Purpose::Sending);

        let dkim_record = by_kind(RecordKind::Dkim);
        assert_eq!(dkim_record.name, "dkim20240110._domainkey.yourcompany.com");
        assert_eq!(dkim_record.host, "dkim20240110._domainkey");
        assert!(dkim_record.value.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"));
        // A 2048-bit key does not fit one 255-octet TXT character-string.
        assert!(dkim_record.value.len() > 255);
        // SES verifies a BYODKIM identity through this record: without it, no sending.
        assert!(dkim_record.required);

        let dmarc = by_kind(RecordKind::Dmarc);
        assert_eq!(dmarc.name, "_dmarc.yourcompany.com");
        assert_eq!(
            dmarc.value,
            "v=DMARC1; p=quarantine; rua=mailto:dmarc@yourcompany.com"
        );
        assert_eq!(records.iter().filter(|r| r.required).count(), 3);
        assert!(
            records.iter().take_while(|r| r.required).count() == 3,
            "required records come first"
        );
    }

    #[test]
    fn keys_are_per_domain_and_private_half_round_trips() {
        let now = Timestamp::from_unix(0);
        let (a, key_a) = new_setup(now);
        let (b, _) = new_setup(now);
        assert_ne!(a.dkim_public_key, b.dkim_public_key);
        assert_ne!(a.ownership_token, b.ownership_token);
        let der = STANDARD.decode(key_a.private_key_base64()).unwrap();
        let parsed = KeyPair::from_pkcs8(&der).unwrap();
        let public: PublicKeyX509Der = parsed.public_key().as_der().unwrap();
        assert_eq!(STANDARD.encode(public.as_ref()), a.dkim_public_key);
        assert!(!format!("{key_a:?}").contains(&key_a.private_key_base64()));
    }
}
