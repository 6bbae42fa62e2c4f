//! Name servers chosen by a tenant, as hostile as they come: each scenario is a zone whose
//! servers misbehave by script, and each server counts the questions it receives. A check
//! stays within its query budgets, follows no more than two targets per link, and sends
//! nothing to an address outside the networks it allows. Every packet of these tests goes
//! to 127.0.0.0/8: private and link-local addresses appear only in answers, and are refused
//! before any packet (the resolver in front is told never to query them either).

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domains::dns::DnsChecker;
use domains::dns::budget::VERIFY_QUERIES;
use domains::dns::lookup::MAX_TARGETS;
use domains::model::{CheckReport, RecordStatus, Timestamp};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use testkit::{Behaviour, DnsHierarchy, Scripted, TestDns, pending_domain};

const PER_SERVER: Duration = Duration::from_millis(400);

fn name(text: &str) -> Name {
    Name::from_ascii(format!("{}.", text.trim_end_matches('.'))).unwrap()
}

fn cname(owner: &Name, target: &str) -> Scripted {
    Scripted {
        answers: vec![Record::from_rdata(
            owner.clone(),
            300,
            RData::CNAME(CNAME(name(target))),
        )],
        authoritative: true,
        ..Scripted::default()
    }
}

/// A delegation of `cut` to `servers` (host, glue address).
fn referral(cut: &Name, servers: &[(String, Ipv4Addr)]) -> Scripted {
    Scripted {
        authorities: servers
            .iter()
            .map(|(host, _)| Record::from_rdata(cut.clone(), 300, RData::NS(NS(name(host)))))
            .collect(),
        additionals: servers
            .iter()
            .map(|(host, ip)| Record::from_rdata(name(host), 300, RData::A(A(*ip))))
            .collect(),
        code: ResponseCode::NoError,
        authoritative: false,
        ..Scripted::default()
    }
}

fn asks_for_records(record_type: RecordType) -> bool {
    matches!(record_type, RecordType::TXT | RecordType::MX)
}

/// Questions for the records themselves (TXT, MX) that `servers` received: only the checker
/// asks those (the resolver is asked for zones and addresses, never for records).
fn record_queries(servers: &[&TestDns]) -> usize {
    servers
        .iter()
        .map(|s| s.queries_of_type(RecordType::TXT) + s.queries_of_type(RecordType::MX))
        .sum()
}

async fn started(dns: &DnsHierarchy, hosts: std::ops::Range<u8>) -> Vec<TestDns> {
    let mut servers = Vec::new();
    for host in hosts {
        servers.push(dns.server(host).await);
    }
    servers
}

/// Makes `apex` a zone served by `servers`, named `ns0.<apex>`, `ns1.<apex>`, … at their
/// addresses, delegated from its TLD with glue; the servers, for counting their queries.
fn zone_on_servers<'a>(dns: &DnsHierarchy, apex: &str, servers: &'a [TestDns]) -> Vec<&'a TestDns> {
    let hosts: Vec<(String, Ipv4Addr)> = servers
        .iter()
        .enumerate()
        .map(|(i, server)| match server.addr().ip() {
            std::net::IpAddr::V4(ip) => (format!("ns{i}.{apex}"), ip),
            other => panic!("a test server on {other}"),
        })
        .collect();
    let hosts_ref: Vec<(&str, Ipv4Addr)> = hosts.iter().map(|(h, ip)| (h.as_str(), *ip)).collect();
    let on: Vec<&TestDns> = servers.iter().collect();
    dns.zone_on(apex, &hosts_ref, &on);
    on
}

/// The checker of these tests: the hierarchy's resolver, and only 127.a.b.0/25 allowed, so
/// that servers at 127.a.b.128 and above stand for addresses the checker must not reach.
fn checker(dns: &DnsHierarchy) -> DnsChecker {
    dns.checker_allowing(PER_SERVER, &format!("{}/25", dns.ip(0)))
}

async fn check(checker: &DnsChecker, apex: &str) -> (CheckReport, Duration) {
    let domain = pending_domain("org_a", apex, Timestamp::from_unix(0));
    let started = Instant::now();
    let report = checker.check(&domain, Timestamp::from_unix(0)).await;
    (report, started.elapsed())
}

fn show(label: &str, queries: usize, report: &CheckReport, took: Duration) {
    let statuses: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{:?}", f.status))
        .collect();
    eprintln!("{label}: {queries} queries, {took:?}, {statuses:?}");
}

/// Every record is a temporary failure whose reason says the budget is spent.
#[track_caller]
fn assert_budget_spent(report: &CheckReport) {
    for finding in &report.findings {
        assert_eq!(
            finding.status,
            RecordStatus::TemporaryFailure,
            "{finding:?}"
        );
        let reason = finding.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("query budget is spent"), "{reason}");
    }
}

/// Servers at `prefix`* are listed as not contacted, with the reason.
#[track_caller]
fn assert_refused_listed(report: &CheckReport, addresses: &[String]) {
    let servers: Vec<_> = report.findings.iter().flat_map(|f| &f.servers).collect();
    for address in addresses {
        let listed = servers
            .iter()
            .find(|s| s.address == *address)
            .unwrap_or_else(|| panic!("{address} is listed in servers: {servers:?}"));
        assert_eq!(listed.status, Some(RecordStatus::TemporaryFailure));
        assert!(
            listed.answer.contains("not contacted") && listed.answer.contains(address.as_str()),
            "{listed:?}"
        );
    }
}

/// Eight servers, each answering every question with a CNAME to a name never seen
/// before, inside the zone.
#[tokio::test(flavor = "multi_thread")]
async fn fresh_cnames_from_eight_servers() {
    let dns = DnsHierarchy::start().await;
    let servers = started(&dns, 100..108).await;
    let apex = "fresh.example";
    let on = zone_on_servers(&dns, apex, &servers);
    static FRESH: AtomicUsize = AtomicUsize::new(0);
    for server in &servers {
        server.set_script(Arc::new(move |qname, qtype, _| {
            asks_for_records(qtype).then(|| {
                let n = FRESH.fetch_add(1, Ordering::Relaxed);
                cname(qname, &format!("f{n}.{apex}"))
            })
        }));
    }
    let (report, took) = check(&checker(&dns), apex).await;
    let queries = record_queries(&on);
    show("fresh CNAMEs, 8 servers", queries, &report, took);
    assert!(queries <= VERIFY_QUERIES, "{queries} queries");
    assert_budget_spent(&report);
}

/// Half the NS set answers fresh CNAMEs, the other half is a victim answering REFUSED.
#[tokio::test(flavor = "multi_thread")]
async fn half_the_servers_point_at_a_victim() {
    let dns = DnsHierarchy::start().await;
    let hostile = started(&dns, 100..104).await;
    let victims = started(&dns, 200..204).await;
    for victim in &victims {
        victim.set_behaviour(Behaviour::Refused);
    }
    let apex = "victim.example";
    let mut hosts: Vec<(String, Ipv4Addr)> = (0..4)
        .map(|i| (format!("ns{i}.{apex}"), dns.ip(100 + i)))
        .collect();
    hosts.extend((0..4).map(|i| (format!("v{i}.{apex}"), dns.ip(200 + i))));
    let hosts_ref: Vec<(&str, Ipv4Addr)> = hosts.iter().map(|(h, ip)| (h.as_str(), *ip)).collect();
    let on: Vec<&TestDns> = hostile.iter().collect();
    // Only the hostile half serves the zone (the resolver reaches it through them).
    dns.zone_on(apex, &hosts_ref[..4], &on);
    let ns_set: Vec<Record> = hosts
        .iter()
        .map(|(h, _)| Record::from_rdata(name(apex), 300, RData::NS(NS(name(h)))))
        .collect();
    let glue: Vec<Record> = hosts
        .iter()
        .map(|(h, ip)| Record::from_rdata(name(h), 300, RData::A(A(*ip))))
        .collect();
    static FRESH: AtomicUsize = AtomicUsize::new(0);
    for server in &hostile {
        let (ns_set, glue) = (ns_set.clone(), glue.clone());
        server.set_script(Arc::new(move |qname, qtype, _| {
            if qtype == RecordType::NS && *qname == name(apex) {
                return Some(Scripted {
                    answers: ns_set.clone(),
                    authoritative: true,
                    ..Scripted::default()
                });
            }
            if qtype == RecordType::A && qname.to_ascii().starts_with('v') {
                let ip = glue.iter().find(|r| r.name == *qname)?.clone();
                return Some(Scripted {
                    answers: vec![ip],
                    authoritative: true,
                    ..Scripted::default()
                });
            }
            asks_for_records(qtype).then(|| {
                let n = FRESH.fetch_add(1, Ordering::Relaxed);
                cname(qname, &format!("f{n}.{apex}"))
            })
        }));
    }
    let (report, took) = check(&checker(&dns), apex).await;
    let victim_refs: Vec<&TestDns> = victims.iter().collect();
    let to_victims: usize = victims.iter().map(TestDns::queries).sum();
    show("victim half", record_queries(&on), &report, took);
    eprintln!(
        "victim half: {to_victims} packets to the victims ({} for records)",
        record_queries(&victim_refs)
    );
    // The resolver may ask a victim for the zone's own data (it iterates as resolvers do);
    // the checker's own questions are those for records.
    assert_eq!(
        record_queries(&victim_refs),
        0,
        "the checker sends nothing to an address outside the allowed networks"
    );
    assert!(record_queries(&on) <= VERIFY_QUERIES);
    assert_budget_spent(&report);
    let victim_addresses: Vec<String> = (200..204).map(|h| dns.ip(h).to_string()).collect();
    assert_refused_listed(&report, &victim_addresses);
}

/// Every server disagrees on where the name points: a CNAME to a target of its own.
#[tokio::test(flavor = "multi_thread")]
async fn disagreeing_cnames() {
    let dns = DnsHierarchy::start().await;
    let servers = started(&dns, 100..106).await;
    let apex = "disagree.example";
    let on = zone_on_servers(&dns, apex, &servers);
    dns.zone("targets.example");
    for (i, server) in servers.iter().enumerate() {
        server.set_script(Arc::new(move |qname, qtype, _| {
            asks_for_records(qtype).then(|| {
                let label = qname
                    .iter()
                    .next()
                    .map(|l| String::from_utf8_lossy(l).into_owned());
                cname(
                    qname,
                    &format!("t{i}-{}.targets.example", label.unwrap_or_default()),
                )
            })
        }));
    }
    let (report, took) = check(&checker(&dns), apex).await;
    let targets: usize = (0..6)
        .map(|i| dns.ns[0].queries_of(&format!("t{i}-_amazonses.targets.example"), RecordType::TXT))
        .filter(|n| *n > 0)
        .count();
    show("disagreeing CNAMEs", record_queries(&on), &report, took);
    eprintln!("disagreeing CNAMEs: {targets} of 6 targets followed");
    assert!(targets <= MAX_TARGETS, "{targets} targets followed");
    for finding in &report.findings {
        assert_eq!(finding.status, RecordStatus::Conflict, "{finding:?}");
        assert!(
            finding
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("disagree")
        );
    }
}

/// Every name is delegated further, to eight servers whose glue points at other addresses:
/// four of them hostile (each then answering a fresh CNAME back into the parent, to be
/// delegated again), four victims answering REFUSED.
#[tokio::test(flavor = "multi_thread")]
async fn referral_fan_out() {
    let dns = DnsHierarchy::start().await;
    let hostile = started(&dns, 100..104).await;
    let victims = started(&dns, 200..204).await;
    for victim in &victims {
        victim.set_behaviour(Behaviour::Refused);
    }
    let apex = "fanout.example";
    let on = zone_on_servers(&dns, apex, &hostile);
    let children: Vec<(String, Ipv4Addr)> = (0..8)
        .map(|i| {
            let host = if i < 4 { 100 + i } else { 196 + i };
            (format!("c{i}.glue.net"), dns.ip(host))
        })
        .collect();
    let referred: Arc<Mutex<HashSet<Name>>> = Arc::default();
    static FRESH: AtomicUsize = AtomicUsize::new(0);
    for server in &hostile {
        let (children, referred) = (children.clone(), referred.clone());
        server.set_script(Arc::new(move |qname, qtype, _| {
            if !asks_for_records(qtype) || *qname == name(apex) {
                return None;
            }
            if referred.lock().unwrap().insert(qname.clone()) {
                return Some(referral(qname, &children));
            }
            let n = FRESH.fetch_add(1, Ordering::Relaxed);
            Some(cname(qname, &format!("r{n}.{apex}")))
        }));
    }
    let (report, took) = check(&checker(&dns), apex).await;
    let victim_refs: Vec<&TestDns> = victims.iter().collect();
    show("referral fan-out", record_queries(&on), &report, took);
    let to_victims: usize = victims.iter().map(TestDns::queries).sum();
    eprintln!("referral fan-out: {to_victims} packets to the victims' addresses");
    assert_eq!(
        to_victims, 0,
        "nothing reaches an address outside the allowed networks"
    );
    assert!(record_queries(&on) <= VERIFY_QUERIES);
    for finding in &report.findings {
        assert_ne!(finding.status, RecordStatus::Verified, "{finding:?}");
    }
    let _ = victim_refs;
}

/// A server that answers over UDP truncated and, over TCP, accepts and never answers.
#[tokio::test(flavor = "multi_thread")]
async fn tcp_that_never_answers() {
    let dns = DnsHierarchy::start().await;
    let servers = started(&dns, 100..102).await;
    let apex = "stall.example";
    let on = zone_on_servers(&dns, apex, &servers);
    for server in &servers {
        server.set_script(Arc::new(|_, qtype, _| {
            asks_for_records(qtype).then(|| Scripted {
                stall: true,
                ..Scripted::default()
            })
        }));
    }
    let (report, took) = check(&checker(&dns), apex).await;
    show("TCP never answers", record_queries(&on), &report, took);
    for finding in &report.findings {
        assert_eq!(
            finding.status,
            RecordStatus::TemporaryFailure,
            "{finding:?}"
        );
    }
    // Each server costs a datagram and a TCP question per record, each bounded in time.
    assert!(record_queries(&on) <= 2 * 2 * 7, "{}", record_queries(&on));
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// A zone whose NS set, from the resolver, names servers at a private (RFC 1918) and the
/// link-local metadata address, and which delegates a name with glue at those addresses:
/// refused before any packet, listed in `servers` with why; the public (here: allowed)
/// servers still decide.
#[tokio::test(flavor = "multi_thread")]
async fn name_servers_at_private_and_link_local_addresses() {
    let dns = DnsHierarchy::start().await;
    let apex = "private.example";
    dns.zone(apex);
    dns.zone_elsewhere("hostile-ns.net");
    dns.other
        .add_a("rfc1918.hostile-ns.net", Ipv4Addr::new(10, 0, 0, 53));
    dns.other
        .add_a("metadata.hostile-ns.net", Ipv4Addr::new(169, 254, 169, 254));
    let domain = pending_domain("org_a", apex, Timestamp::from_unix(0));
    dns.publish_required(&domain);
    let ns_set: Vec<Record> = [
        format!("ns1.{apex}"),
        format!("ns2.{apex}"),
        "rfc1918.hostile-ns.net".to_owned(),
        "metadata.hostile-ns.net".to_owned(),
    ]
    .iter()
    .map(|host| Record::from_rdata(name(apex), 300, RData::NS(NS(name(host)))))
    .collect();
    let glue = vec![
        ("g1.glue.net".to_owned(), Ipv4Addr::new(10, 0, 0, 54)),
        ("g2.glue.net".to_owned(), Ipv4Addr::new(169, 254, 169, 254)),
    ];
    for server in &dns.ns {
        let (ns_set, glue) = (ns_set.clone(), glue.clone());
        server.set_script(Arc::new(move |qname, qtype, _| {
            if qtype == RecordType::NS && *qname == name(apex) {
                return Some(Scripted {
                    answers: ns_set.clone(),
                    authoritative: true,
                    ..Scripted::default()
                });
            }
            let dmarc = name(&format!("_dmarc.{apex}"));
            (asks_for_records(qtype) && *qname == dmarc).then(|| referral(qname, &glue))
        }));
    }
    let report = dns
        .checker(PER_SERVER)
        .check(&domain, Timestamp::from_unix(0))
        .await;
    let ownership = report
        .findings
        .iter()
        .find(|f| f.kind == domains::model::RecordKind::Ownership)
        .unwrap();
    assert!(ownership.verified, "{ownership:?}");
    assert_refused_listed(
        &report,
        &["10.0.0.53", "169.254.169.254", "10.0.0.54"].map(str::to_owned),
    );
    let metadata = ownership
        .servers
        .iter()
        .find(|s| s.address == "169.254.169.254")
        .unwrap();
    assert!(metadata.answer.contains("link-local"), "{metadata:?}");
}

/// With loopback not allowed, the hierarchy's own servers are refused too: the policy
/// does not trust an address for being on this machine.
#[tokio::test(flavor = "multi_thread")]
async fn loopback_is_refused_unless_allowed() {
    let dns = DnsHierarchy::start().await;
    let apex = "loopback.example";
    dns.zone(apex);
    let domain = pending_domain("org_a", apex, Timestamp::from_unix(0));
    dns.publish_required(&domain);
    let before = dns.queries_for_zone_servers();
    let report = dns
        .checker_allowing(PER_SERVER, "")
        .check(&domain, Timestamp::from_unix(0))
        .await;
    for finding in &report.findings {
        assert_eq!(
            finding.status,
            RecordStatus::TemporaryFailure,
            "{finding:?}"
        );
    }
    assert_refused_listed(&report, &[dns.ip(3).to_string(), dns.ip(4).to_string()]);
    // Only the resolver asked them (for the zone and its NS set); no record question.
    assert_eq!(record_queries(&dns.ns.iter().collect::<Vec<_>>()), 0);
    assert!(dns.queries_for_zone_servers() >= before);
}
