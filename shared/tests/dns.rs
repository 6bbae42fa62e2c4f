//! The DNS rules, each against a real DNS server on loopback: a zone that passes the rule
//! and one that fails it.

use std::time::Duration;

use domains::dns::DnsChecker;
use domains::dns::plan::new_setup;
use domains::model::{CheckReport, Domain, RecordKind, Region, Timestamp};
use testkit::{Behaviour, TestDns, pending_domain};

const APEX: &str = "yourcompany.example";
const OUR_MX: &str = "inbound-smtp.us-east-1.amazonaws.com";

struct Zone {
    dns: TestDns,
    checker: DnsChecker,
    domain: Domain,
}

impl Zone {
    /// A domain with a real 2048-bit DKIM key, and an empty zone for it.
    async fn new() -> Self {
        let now = Timestamp::from_unix(1_704_873_600);
        let mut domain = pending_domain("org_a", APEX, now);
        domain.region = Region::DEFAULT;
        domain.setup = new_setup(now).0;
        let dns = TestDns::start().await;
        let checker = DnsChecker::with_nameservers(&[dns.addr()], Duration::from_millis(400));
        Self {
            dns,
            checker,
            domain,
        }
    }

    fn dkim_name(&self) -> String {
        format!("{}._domainkey.{APEX}", self.domain.setup.dkim_selector)
    }

    fn dkim_value(&self) -> String {
        format!("v=DKIM1; k=rsa; p={}", self.domain.setup.dkim_public_key)
    }

    fn publish_required(&self) {
        self.dns.add_mx(APEX, 10, OUR_MX);
        self.dns.add_txt(
            &format!("_amazonses.{APEX}"),
            &[&self.domain.setup.ownership_token],
        );
    }

    fn publish_all(&self) {
        self.publish_required();
        self.dns
            .add_txt(APEX, &["v=spf1 include:amazonses.com ~all"]);
        self.dns.add_long_txt(&self.dkim_name(), &self.dkim_value());
        self.dns.add_txt(
            &format!("_dmarc.{APEX}"),
            &["v=DMARC1; p=quarantine; rua=mailto:dmarc@yourcompany.example"],
        );
    }

    async fn check(&self) -> CheckReport {
        tokio::time::timeout(
            Duration::from_secs(30),
            self.checker.check(&self.domain, Timestamp::from_unix(0)),
        )
        .await
        .expect("a check always finishes")
    }
}

#[track_caller]
fn assert_fails(report: &CheckReport, kind: RecordKind, reason_part: &str) {
    let finding = report.finding(kind).unwrap();
    assert!(!finding.verified, "{kind:?} should fail: {finding:?}");
    let reason = finding.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(reason_part),
        "{kind:?} reason {reason:?} lacks {reason_part:?}"
    );
}

#[track_caller]
fn assert_passes(report: &CheckReport, kind: RecordKind) {
    let finding = report.finding(kind).unwrap();
    assert!(finding.verified, "{kind:?} should pass: {finding:?}");
    assert_eq!(finding.reason, None);
}

#[tokio::test]
async fn everything_published_passes() {
    let zone = Zone::new().await;
    zone.publish_all();
    let report = zone.check().await;
    for kind in [
        RecordKind::Mx,
        RecordKind::Ownership,
        RecordKind::Spf,
        RecordKind::Dkim,
        RecordKind::Dmarc,
    ] {
        assert_passes(&report, kind);
    }
    assert!(report.required_passed());
    let mx = report.finding(RecordKind::Mx).unwrap();
    assert_eq!(mx.found, vec![format!("10 {OUR_MX}")]);
}

#[tokio::test]
async fn nothing_published_is_missing_not_an_error() {
    let zone = Zone::new().await;
    let report = zone.check().await;
    assert!(!report.required_passed());
    assert_fails(&report, RecordKind::Mx, "does not exist (NXDOMAIN)");
    assert_fails(&report, RecordKind::Ownership, "NXDOMAIN");
    assert_fails(&report, RecordKind::Dkim, "NXDOMAIN");
    assert_fails(&report, RecordKind::Dmarc, "NXDOMAIN");
}

#[tokio::test]
async fn a_name_without_the_type_is_nodata() {
    let zone = Zone::new().await;
    zone.dns
        .add_txt(APEX, &["v=spf1 include:amazonses.com ~all"]);
    let report = zone.check().await;
    assert_fails(&report, RecordKind::Mx, &format!("no MX record at {APEX}"));
    assert_passes(&report, RecordKind::Spf);
}

#[tokio::test]
async fn a_fresh_publication_counts_at_once() {
    let zone = Zone::new().await;
    assert!(!zone.check().await.required_passed());
    zone.publish_required();
    assert!(
        zone.check().await.required_passed(),
        "no resolver cache hides the new records"
    );
    zone.dns.remove(APEX);
    assert_fails(&zone.check().await, RecordKind::Mx, "NXDOMAIN");
}

#[tokio::test]
async fn dkim_key_split_across_character_strings_is_joined() {
    let zone = Zone::new().await;
    zone.publish_required();
    let value = zone.dkim_value();
    assert!(
        value.len() > 255,
        "a 2048-bit key needs more than one string"
    );
    zone.dns.add_long_txt(&zone.dkim_name(), &value);
    assert_passes(&zone.check().await, RecordKind::Dkim);

    // Split elsewhere, with white space inside p= (allowed by RFC 6376 §3.6.1).
    let zone = Zone::new().await;
    let key = zone.domain.setup.dkim_public_key.clone();
    let (head, tail) = key.split_at(200);
    zone.dns.add_txt(
        &zone.dkim_name(),
        &["v=DKIM1; k=rsa; ", &format!("p={head} "), tail],
    );
    assert_passes(&zone.check().await, RecordKind::Dkim);
}

#[tokio::test]
async fn dkim_wrong_or_conflicting_keys_fail() {
    let zone = Zone::new().await;
    let other = new_setup(Timestamp::from_unix(0)).0.dkim_public_key;
    zone.dns
        .add_long_txt(&zone.dkim_name(), &format!("v=DKIM1; k=rsa; p={other}"));
    assert_fails(
        &zone.check().await,
        RecordKind::Dkim,
        "not this domain's public key",
    );
    zone.dns.add_long_txt(&zone.dkim_name(), &zone.dkim_value());
    assert_fails(&zone.check().await, RecordKind::Dkim, "2 DKIM key records");
}

#[tokio::test]
async fn dkim_through_a_cname_chain_counts() {
    let zone = Zone::new().await;
    zone.dns.add_cname(&zone.dkim_name(), "hop.keys.example");
    zone.dns.add_cname("hop.keys.example", "key.keys.example");
    zone.dns
        .add_long_txt("key.keys.example", &zone.dkim_value());
    assert_passes(&zone.check().await, RecordKind::Dkim);

    let broken = Zone::new().await;
    broken
        .dns
        .add_cname(&broken.dkim_name(), "nowhere.keys.example");
    assert_fails(&broken.check().await, RecordKind::Dkim, "NXDOMAIN");
}

#[tokio::test]
async fn owner_names_and_mx_hosts_ignore_case_and_the_root_dot() {
    let zone = Zone::new().await;
    let upper = APEX.to_uppercase();
    zone.dns.add_mx(
        &format!("{upper}."),
        10,
        &format!("{}.", OUR_MX.to_uppercase()),
    );
    zone.dns.add_txt(
        &format!("_AMAZONSES.{upper}"),
        &[&zone.domain.setup.ownership_token],
    );
    zone.dns
        .add_long_txt(&zone.dkim_name().to_uppercase(), &zone.dkim_value());
    let report = zone.check().await;
    assert_passes(&report, RecordKind::Mx);
    assert_passes(&report, RecordKind::Ownership);
    assert_passes(&report, RecordKind::Dkim);
}

#[tokio::test]
async fn mx_counts_only_with_the_best_preference() {
    let zone = Zone::new().await;
    zone.dns.add_mx(APEX, 10, OUR_MX);
    zone.dns.add_mx(APEX, 5, "mx.other-provider.example");
    let report = zone.check().await;
    assert_fails(
        &report,
        RecordKind::Mx,
        "mx.other-provider.example has a better preference (5)",
    );
    let found = &report.finding(RecordKind::Mx).unwrap().found;
    assert!(
        found.contains(&"5 mx.other-provider.example".to_owned()),
        "{found:?}"
    );

    let zone = Zone::new().await;
    zone.dns.add_mx(APEX, 10, OUR_MX);
    zone.dns.add_mx(APEX, 20, "backup.other-provider.example");
    assert_passes(&zone.check().await, RecordKind::Mx);

    let zone = Zone::new().await;
    zone.dns
        .add_mx(APEX, 10, "inbound-smtp.eu-west-1.amazonaws.com");
    assert_fails(
        &zone.check().await,
        RecordKind::Mx,
        &format!("no MX record points to {OUR_MX}"),
    );
}

#[tokio::test]
async fn ownership_needs_this_domains_token() {
    let zone = Zone::new().await;
    zone.dns
        .add_txt(&format!("_amazonses.{APEX}"), &["someone-elses-token"]);
    assert_fails(&zone.check().await, RecordKind::Ownership, "token");
    // Other TXT records beside ours do not matter.
    zone.dns.add_txt(
        &format!("_amazonses.{APEX}"),
        &[&zone.domain.setup.ownership_token],
    );
    assert_passes(&zone.check().await, RecordKind::Ownership);
}

#[tokio::test]
async fn spf_needs_exactly_one_record_including_amazonses() {
    let zone = Zone::new().await;
    zone.dns
        .add_txt(APEX, &["v=spf1 include:_spf.other.example -all"]);
    zone.dns.add_txt(APEX, &["google-site-verification=abc"]);
    assert_fails(
        &zone.check().await,
        RecordKind::Spf,
        "does not include amazonses.com",
    );
    zone.dns
        .add_txt(APEX, &["v=spf1 include:amazonses.com ~all"]);
    assert_fails(&zone.check().await, RecordKind::Spf, "2 SPF records");

    let zone = Zone::new().await;
    zone.dns.add_txt(
        APEX,
        &[
            "v=spf1 ",
            "+include:AmazonSES.com include:_spf.other.example ~all",
        ],
    );
    assert_passes(&zone.check().await, RecordKind::Spf);
}

#[tokio::test]
async fn dmarc_needs_exactly_one_record() {
    let zone = Zone::new().await;
    let name = format!("_dmarc.{APEX}");
    zone.dns.add_txt(&name, &["v=DMARC1; p=none"]);
    assert_passes(&zone.check().await, RecordKind::Dmarc);
    zone.dns.add_txt(&name, &["v=DMARC1; p=reject"]);
    assert_fails(&zone.check().await, RecordKind::Dmarc, "2 DMARC records");

    let zone = Zone::new().await;
    zone.dns
        .add_txt(&format!("_dmarc.{APEX}"), &["v=spf1 -all"]);
    assert_fails(&zone.check().await, RecordKind::Dmarc, "no DMARC record");
}

#[tokio::test]
async fn servfail_is_try_later() {
    let zone = Zone::new().await;
    zone.publish_all();
    zone.dns.set_behaviour(Behaviour::ServFail);
    let report = zone.check().await;
    for finding in &report.findings {
        assert!(!finding.verified);
        let reason = finding.reason.as_deref().unwrap();
        assert!(
            reason.contains("SERVFAIL") && reason.contains("try again later"),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let zone = Zone::new().await;
    zone.publish_all();
    zone.dns.set_behaviour(Behaviour::Silent);
    let report = zone.check().await;
    for finding in &report.findings {
        assert!(!finding.verified);
        let reason = finding.reason.as_deref().unwrap();
        assert!(
            reason.contains("timed out") && reason.contains("try again later"),
            "{reason}"
        );
    }
}
