//! Checks against real DNS on loopback: a root, a TLD, the domain's zone on two name
//! servers at their own addresses, and Unbound in front as the caching resolver the checker
//! is configured with. Each rule with a zone that passes and one that fails it, and what
//! the authoritative checks exist for: caches, propagation, dead servers, CNAMEs into other
//! zones.

use std::time::{Duration, Instant};

use domains::dns::DnsChecker;
use domains::dns::plan::new_setup;
use domains::model::{CheckReport, Domain, RecordKind, RecordStatus, Region, Timestamp};
use testkit::{Behaviour, DnsHierarchy, pending_domain};

const APEX: &str = "yourcompany.example";
const OUR_MX: &str = "inbound-smtp.us-east-1.amazonaws.com";
const PER_SERVER: Duration = Duration::from_millis(500);

struct Zone {
    dns: DnsHierarchy,
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
        let dns = DnsHierarchy::start().await;
        dns.zone(APEX);
        let checker = dns.checker(PER_SERVER);
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

    fn ownership_name(&self) -> String {
        format!("_amazonses.{APEX}")
    }

    fn publish_required(&self) {
        self.dns.add_mx(APEX, 10, OUR_MX);
        self.dns.add_txt(
            &self.ownership_name(),
            &[&self.domain.setup.ownership_token],
        );
        self.dns.add_long_txt(&self.dkim_name(), &self.dkim_value());
    }

    fn publish_all(&self) {
        self.publish_required();
        self.dns
            .add_txt(APEX, &["v=spf1 include:amazonses.com ~all"]);
        self.dns.add_txt(
            &format!("_dmarc.{APEX}"),
            &["v=DMARC1; p=quarantine; rua=mailto:dmarc@yourcompany.example"],
        );
    }

    async fn check_with(&self, checker: &DnsChecker) -> CheckReport {
        tokio::time::timeout(
            Duration::from_secs(30),
            checker.check(&self.domain, Timestamp::from_unix(0)),
        )
        .await
        .expect("a check always finishes")
    }

    async fn check(&self) -> CheckReport {
        self.check_with(&self.checker).await
    }
}

#[track_caller]
fn assert_status(report: &CheckReport, kind: RecordKind, status: RecordStatus, reason_part: &str) {
    let finding = report.finding(kind).unwrap();
    assert_eq!(finding.status, status, "{kind:?}: {finding:?}");
    assert_eq!(finding.verified, status == RecordStatus::Verified);
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
    assert_eq!(finding.status, RecordStatus::Verified);
    assert_eq!(finding.reason, None);
}

const ALL: [RecordKind; 5] = [
    RecordKind::Mx,
    RecordKind::Ownership,
    RecordKind::Spf,
    RecordKind::Dkim,
    RecordKind::Dmarc,
];

#[tokio::test]
async fn everything_published_passes_on_every_server() {
    let zone = Zone::new().await;
    zone.publish_all();
    let report = zone.check().await;
    for kind in ALL {
        assert_passes(&report, kind);
    }
    assert!(report.required_passed());
    let mx = report.finding(RecordKind::Mx).unwrap();
    assert_eq!(mx.found, vec![format!("10 {OUR_MX}")]);
    // Both authoritative servers were asked directly, and each said so.
    let names: Vec<&str> = mx.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [format!("ns1.{APEX}"), format!("ns2.{APEX}")]);
    for (server, host) in mx.servers.iter().zip([3, 4]) {
        assert_eq!(server.address, zone.dns.ip(host).to_string());
        assert_eq!(server.zone.as_deref(), Some(APEX));
        assert_eq!(server.status, Some(RecordStatus::Verified));
        assert_eq!(server.answer, "1 MX record");
    }
}

#[tokio::test]
async fn nothing_published_is_missing_not_an_error() {
    let zone = Zone::new().await;
    let report = zone.check().await;
    assert!(!report.required_passed());
    assert_status(
        &report,
        RecordKind::Mx,
        RecordStatus::Missing,
        &format!("no MX record at {APEX}"),
    );
    assert_status(
        &report,
        RecordKind::Ownership,
        RecordStatus::Missing,
        "does not exist (NXDOMAIN)",
    );
    assert_status(&report, RecordKind::Dkim, RecordStatus::Missing, "NXDOMAIN");
    assert_status(
        &report,
        RecordKind::Dmarc,
        RecordStatus::Missing,
        "NXDOMAIN",
    );
}

/// The complaint behind authoritative checks: a user verifies before publishing, the
/// resolver caches "no such record" for the zone's negative TTL (15 minutes here, as on
/// Route 53), the user publishes and verifies again at once.
#[tokio::test]
async fn verify_before_publishing_then_publish_counts_at_once() {
    let zone = Zone::new().await;
    let resolver_only = zone.dns.checker(PER_SERVER).recursive();
    let early = zone.check().await;
    assert!(!early.required_passed());
    // The resolver now holds the negative answers (asked through it once).
    assert!(!zone.check_with(&resolver_only).await.required_passed());

    zone.publish_required();
    let cached = zone.check_with(&resolver_only).await;
    assert_status(
        &cached,
        RecordKind::Ownership,
        RecordStatus::Missing,
        "NXDOMAIN",
    );
    let report = zone.check().await;
    assert!(report.required_passed(), "{report:#?}");
}

#[tokio::test]
async fn a_corrected_value_counts_at_once() {
    let zone = Zone::new().await;
    zone.publish_required();
    zone.dns.remove(&zone.ownership_name());
    zone.dns
        .add_txt(&zone.ownership_name(), &["a-mistyped-token"]);
    let resolver_only = zone.dns.checker(PER_SERVER).recursive();
    assert_status(
        &zone.check_with(&resolver_only).await,
        RecordKind::Ownership,
        RecordStatus::WrongValue,
        "token",
    );
    zone.dns.remove(&zone.ownership_name());
    zone.dns.add_txt(
        &zone.ownership_name(),
        &[&zone.domain.setup.ownership_token],
    );
    // The resolver keeps the old value for its TTL; the zone's servers have the new one.
    assert_status(
        &zone.check_with(&resolver_only).await,
        RecordKind::Ownership,
        RecordStatus::WrongValue,
        "token",
    );
    assert_passes(&zone.check().await, RecordKind::Ownership);
}

#[tokio::test]
async fn one_dead_name_server_does_not_block_the_other() {
    let zone = Zone::new().await;
    zone.publish_required();
    zone.dns.ns[1].set_behaviour(Behaviour::Silent);
    let started = Instant::now();
    let report = zone.check().await;
    let took = started.elapsed();
    assert!(report.required_passed(), "{report:#?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let ownership = report.finding(RecordKind::Ownership).unwrap();
    let dead = ownership
        .servers
        .iter()
        .find(|s| s.name == format!("ns2.{APEX}"))
        .unwrap();
    assert_eq!(dead.status, Some(RecordStatus::TemporaryFailure));
    assert!(dead.answer.contains("no answer within"), "{dead:?}");
}

#[tokio::test]
async fn a_record_on_one_server_only_is_propagating_and_names_both() {
    let zone = Zone::new().await;
    zone.publish_required();
    // ns1 has the new zone's DKIM record, ns2 still serves the old zone.
    zone.dns.remove(&zone.dkim_name());
    zone.dns.ns[0].add_long_txt(&zone.dkim_name(), &zone.dkim_value());
    let report = zone.check().await;
    let reason = format!("served by ns1.{APEX} ({})", zone.dns.ip(3));
    assert_status(
        &report,
        RecordKind::Dkim,
        RecordStatus::Propagating,
        &reason,
    );
    assert_status(
        &report,
        RecordKind::Dkim,
        RecordStatus::Propagating,
        &format!("not yet by ns2.{APEX} ({})", zone.dns.ip(4)),
    );
    assert!(!report.required_passed(), "DKIM is required");
    zone.dns.ns[1].add_long_txt(&zone.dkim_name(), &zone.dkim_value());
    assert!(zone.check().await.required_passed());
}

#[tokio::test]
async fn no_authoritative_server_answering_is_a_temporary_failure() {
    let zone = Zone::new().await;
    zone.publish_required();
    assert!(zone.check().await.required_passed());
    zone.dns.set_behaviour(Behaviour::Silent);
    let started = Instant::now();
    let report = zone.check().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    for kind in [RecordKind::Mx, RecordKind::Ownership, RecordKind::Dkim] {
        assert_status(
            &report,
            kind,
            RecordStatus::TemporaryFailure,
            "try again later",
        );
    }
    assert!(!report.required_passed());

    zone.dns.set_behaviour(Behaviour::ServFail);
    let report = zone.check().await;
    assert_status(
        &report,
        RecordKind::Ownership,
        RecordStatus::TemporaryFailure,
        "SERVFAIL",
    );
}

#[tokio::test]
async fn dkim_as_a_cname_into_another_providers_zone() {
    let zone = Zone::new().await;
    zone.publish_required();
    zone.dns.remove(&zone.dkim_name());
    zone.dns.zone_elsewhere("keys.net");
    zone.dns.add_cname(&zone.dkim_name(), "hop.keys.net");
    zone.dns.add_cname("hop.keys.net", "key.keys.net");
    zone.dns.add_long_txt("key.keys.net", &zone.dkim_value());
    let report = zone.check().await;
    assert_passes(&report, RecordKind::Dkim);
    let dkim = report.finding(RecordKind::Dkim).unwrap();
    assert!(
        dkim.servers
            .iter()
            .any(|s| s.answer == "CNAME to hop.keys.net" && s.status.is_none()),
        "{dkim:?}"
    );
    assert!(
        dkim.servers
            .iter()
            .any(|s| s.name == "ns.keys.net" && s.status == Some(RecordStatus::Verified)),
        "{dkim:?}"
    );

    // A chain to nowhere is missing; a loop is reported, not followed forever.
    zone.dns.remove("key.keys.net");
    assert_status(
        &zone.check().await,
        RecordKind::Dkim,
        RecordStatus::Missing,
        "NXDOMAIN",
    );
    zone.dns.add_cname("key.keys.net", &zone.dkim_name());
    let looped = zone.check().await;
    assert_status(
        &looped,
        RecordKind::Dkim,
        RecordStatus::TemporaryFailure,
        "loops",
    );
}

#[tokio::test]
async fn a_delegated_subdomain_is_asked_at_its_own_servers() {
    // The organization registers mail.yourcompany.example, whose zone is delegated to
    // another provider: the parent's servers only refer.
    let zone = Zone::new().await;
    let sub = format!("mail.{APEX}");
    zone.dns.zone_elsewhere(&sub);
    for server in &zone.dns.ns {
        server.add_delegation(&sub, &[(&format!("ns.{sub}"), zone.dns.ip(5))]);
    }
    let mut domain = zone.domain.clone();
    domain.name = domains::model::DomainName::parse(&sub).unwrap();
    zone.dns.add_mx(&sub, 10, OUR_MX);
    let report = zone.checker.check(&domain, Timestamp::from_unix(0)).await;
    assert_passes(&report, RecordKind::Mx);
    let mx = report.finding(RecordKind::Mx).unwrap();
    assert!(
        mx.servers.iter().all(|s| s.name == format!("ns.{sub}")),
        "{mx:?}"
    );
}

#[tokio::test]
async fn a_zone_listing_many_name_servers_is_asked_at_eight() {
    let zone = Zone::new().await;
    zone.publish_required();
    // Twenty more NS records, all pointing at the second server's address.
    for i in 0..20 {
        let host = format!("extra{i:02}.{APEX}");
        for server in &zone.dns.ns {
            server.add_delegation(APEX, &[(&host, zone.dns.ip(4))]);
        }
        zone.dns
            .tld
            .add_delegation(APEX, &[(&host, zone.dns.ip(4))]);
    }
    let report = zone.check().await;
    assert!(report.required_passed(), "{report:#?}");
    for finding in &report.findings {
        assert_eq!(finding.servers.len(), 8, "{finding:?}");
    }
}

#[tokio::test]
async fn dkim_key_split_across_character_strings_is_joined() {
    let zone = Zone::new().await;
    let key = zone.domain.setup.dkim_public_key.clone();
    let (head, tail) = key.split_at(200);
    // Split anywhere, white space inside p= and a trailing ';' (RFC 6376 §3.6.1, §3.2).
    zone.dns.add_txt(
        &zone.dkim_name(),
        &[
            "v=DKIM1; k=rsa; ",
            &format!("p={head} "),
            &format!("{tail};"),
        ],
    );
    assert_passes(&zone.check().await, RecordKind::Dkim);
}

#[tokio::test]
async fn dkim_wrong_or_conflicting_keys_fail() {
    let zone = Zone::new().await;
    let other = new_setup(Timestamp::from_unix(0)).0.dkim_public_key;
    zone.dns
        .add_long_txt(&zone.dkim_name(), &format!("v=DKIM1; k=rsa; p={other}"));
    assert_status(
        &zone.check().await,
        RecordKind::Dkim,
        RecordStatus::WrongValue,
        "not this domain's public key",
    );
    zone.dns.add_long_txt(&zone.dkim_name(), &zone.dkim_value());
    assert_status(
        &zone.check().await,
        RecordKind::Dkim,
        RecordStatus::Conflict,
        "2 DKIM key records",
    );
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
async fn mx_counts_only_with_the_best_preference_alone() {
    let zone = Zone::new().await;
    zone.dns.add_mx(APEX, 10, OUR_MX);
    zone.dns.add_mx(APEX, 5, "mx.other-provider.example");
    let report = zone.check().await;
    assert_status(
        &report,
        RecordKind::Mx,
        RecordStatus::Conflict,
        "mx.other-provider.example has a better preference (5)",
    );
    let found = &report.finding(RecordKind::Mx).unwrap().found;
    assert!(
        found.contains(&"5 mx.other-provider.example".to_owned()),
        "{found:?}"
    );

    zone.dns.remove(APEX);
    zone.dns.add_mx(APEX, 10, OUR_MX);
    zone.dns.add_mx(APEX, 10, "mx.other-provider.example");
    assert_status(
        &zone.check().await,
        RecordKind::Mx,
        RecordStatus::Conflict,
        "same preference",
    );

    zone.dns.remove(APEX);
    zone.dns.add_mx(APEX, 10, OUR_MX);
    zone.dns.add_mx(APEX, 20, "backup.other-provider.example");
    assert_passes(&zone.check().await, RecordKind::Mx);

    zone.dns.remove(APEX);
    zone.dns
        .add_mx(APEX, 10, "inbound-smtp.eu-west-1.amazonaws.com");
    assert_status(
        &zone.check().await,
        RecordKind::Mx,
        RecordStatus::WrongValue,
        &format!("no MX record points to {OUR_MX}"),
    );
}

#[tokio::test]
async fn spf_and_dmarc_need_exactly_one_valid_record() {
    let zone = Zone::new().await;
    zone.dns
        .add_txt(APEX, &["v=spf1 include:_spf.other.example -all"]);
    zone.dns.add_txt(APEX, &["google-site-verification=abc"]);
    assert_status(
        &zone.check().await,
        RecordKind::Spf,
        RecordStatus::WrongValue,
        "does not include amazonses.com",
    );
    zone.dns
        .add_txt(APEX, &["v=spf1 include:amazonses.com ~all"]);
    assert_status(
        &zone.check().await,
        RecordKind::Spf,
        RecordStatus::Conflict,
        "2 SPF records",
    );

    let name = format!("_dmarc.{APEX}");
    zone.dns.add_txt(&name, &["v=DMARC1; p=none"]);
    assert_passes(&zone.check().await, RecordKind::Dmarc);
    zone.dns.add_txt(&name, &["v=DMARC1; p=reject"]);
    assert_status(
        &zone.check().await,
        RecordKind::Dmarc,
        RecordStatus::Conflict,
        "2 DMARC records",
    );
}

/// Bytes that are not UTF-8, and multi-byte characters where a version tag is read,
/// used to panic the checker. Every record is judged; the report is bounded.
#[tokio::test]
async fn hostile_txt_records_are_judged_not_fatal() {
    let zone = Zone::new().await;
    zone.publish_required();
    let hostile: [&[u8]; 5] = [
        b"abcde\xff",
        "v=spf\u{e9}".as_bytes(),
        "\u{1F600}\u{1F600}\u{1F600}".as_bytes(),
        b"v=DMARC1; p=\xc3",
        &[0u8; 255],
    ];
    for name in [APEX.to_owned(), format!("_dmarc.{APEX}"), zone.dkim_name()] {
        zone.dns.add_txt_bytes(&name, &hostile);
    }
    // Many long records: `found` stays bounded.
    for i in 0..30 {
        zone.dns
            .add_txt(APEX, &[&format!("{i}-{}", "x".repeat(250))]);
    }
    let report = zone.check().await;
    for finding in &report.findings {
        assert!(finding.found.len() <= 10, "{finding:?}");
        assert!(finding.found.iter().all(|v| v.len() <= 512), "{finding:?}");
    }
    assert_status(
        &report,
        RecordKind::Spf,
        RecordStatus::Missing,
        "no SPF record",
    );
    assert_status(
        &report,
        RecordKind::Dkim,
        RecordStatus::Conflict,
        "other TXT record",
    );
    assert!(!report.finding(RecordKind::Dmarc).unwrap().verified);
}

#[tokio::test]
async fn recursive_mode_asks_the_resolver_only() {
    let zone = Zone::new().await;
    zone.publish_all();
    let checker = zone.dns.checker(PER_SERVER).recursive();
    let report = zone.check_with(&checker).await;
    for kind in ALL {
        assert_passes(&report, kind);
    }
    let mx = report.finding(RecordKind::Mx).unwrap();
    assert_eq!(mx.servers.len(), 1);
    assert_eq!(mx.servers[0].name, "resolver");
    assert_eq!(mx.servers[0].address, zone.dns.resolver().to_string());
}

/// A resolver that knows no zone for the name (an unregistered domain, or a resolver that
/// answers nothing useful): the reason says what to look at, and nothing is a 5xx.
#[tokio::test]
async fn a_name_in_no_zone_says_what_to_check() {
    let zone = Zone::new().await;
    let nothing = testkit::TestDns::start().await;
    let checker = DnsChecker::with_nameservers(&[nothing.addr()], PER_SERVER);
    let report = zone.check_with(&checker).await;
    assert_status(
        &report,
        RecordKind::Mx,
        RecordStatus::TemporaryFailure,
        &format!("the resolver knows no zone that holds {APEX}: is the domain registered"),
    );
}
