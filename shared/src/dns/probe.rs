//! A probe: the cheapest look that tells whether a pending domain's owner has published
//! since its last check. One required record the last check found failing, asked of one
//! authoritative server that check found: one query (two if the first datagram is lost),
//! where a full check sends a dozen or more. Only when that server serves the record, or
//! now points elsewhere, is the full check worth making.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};

use super::budget::Budget;
use super::check::{DnsChecker, DnsMode, judge};
use super::lookup::{Answer, Outcome, Session, pointed};
use super::plan::records_for;
use crate::model::{CheckReport, Domain, Finding, RecordStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The record is served, or the server now sends the question elsewhere (a delegation
    /// or a CNAME that appeared): a full check is due.
    Changed,
    /// As the last check found it.
    Unchanged,
    /// Nothing to probe with: no required record failing, or no server the last check
    /// heard from. Only a full check can tell.
    Blind,
}

/// The server a probe asks, from the last check's findings for the record.
struct Target {
    zone: Name,
    host: String,
    ip: IpAddr,
}

impl DnsChecker {
    /// Probes `domain` after `last`, paying from `budget`.
    pub async fn probe(
        &self,
        session: &Session,
        domain: &Domain,
        last: &CheckReport,
        budget: &Budget,
    ) -> Probe {
        let Some(finding) = last.required_failing().next() else {
            return Probe::Blind;
        };
        let Some(record) = records_for(domain)
            .into_iter()
            .find(|record| record.kind == finding.kind)
        else {
            return Probe::Blind;
        };
        let Ok(name) = Name::from_ascii(format!("{}.", record.name)) else {
            return Probe::Blind;
        };
        let record_type = match record.record_type {
            "MX" => RecordType::MX,
            _ => RecordType::TXT,
        };
        let answer = match self.mode {
            DnsMode::Recursive => {
                if budget.spend().is_err() {
                    return Probe::Blind;
                }
                Answer::Final(self.ask_resolver(name, record_type).await.outcome)
            }
            DnsMode::Authoritative => {
                let Some(target) = target(finding) else {
                    return Probe::Blind;
                };
                session
                    .ask_server(
                        &target.zone,
                        &target.host,
                        target.ip,
                        &name,
                        record_type,
                        budget,
                    )
                    .await
            }
        };
        match answer {
            Answer::Final(Outcome::Values(values)) => {
                if judge(domain, record.kind, &values).status == RecordStatus::Verified {
                    Probe::Changed
                } else {
                    Probe::Unchanged
                }
            }
            // Missing still, or the server did not answer: the ladder's full checks find a
            // server gone for good.
            Answer::Final(_) => Probe::Unchanged,
            // Pointing elsewhere is news only if no server said so at the last check: one
            // that points elsewhere at every look (a wildcard CNAME, a hostile server) must
            // not buy a full check at every look.
            pointing => match pointed(&pointing) {
                Some(now) if !finding.servers.iter().any(|server| server.answer == now) => {
                    Probe::Changed
                }
                _ => Probe::Unchanged,
            },
        }
    }
}

/// A server that answered the last check without serving the record: the one whose
/// change is awaited. Never one that served it already (it would be "served" at every
/// look, and buy a full check each time while another server or a conflict is what keeps
/// the record from counting: the ladder's full checks see to that).
fn target(finding: &Finding) -> Option<Target> {
    let awaited = |status: Option<RecordStatus>| {
        status.is_some_and(|status| {
            status != RecordStatus::TemporaryFailure && status != RecordStatus::Verified
        })
    };
    finding
        .servers
        .iter()
        .filter(|server| awaited(server.status))
        .find_map(|server| {
            Some(Target {
                zone: Name::from_ascii(format!("{}.", server.zone.as_deref()?)).ok()?,
                host: server.name.clone(),
                ip: server.address.parse().ok()?,
            })
        })
}

impl DnsChecker {
    /// Whether a probe after `last` would have something to ask (else it is blind, and only
    /// the next full check can tell). The resolver can always be asked.
    pub fn can_probe(&self, last: &CheckReport) -> bool {
        last.required_failing()
            .next()
            .is_some_and(|finding| self.mode == DnsMode::Recursive || target(finding).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RecordKind, ServerFinding};
    use proptest::prelude::*;

    fn server(address: &str, zone: Option<&str>, status: Option<RecordStatus>) -> ServerFinding {
        ServerFinding {
            name: "ns1.example.com".into(),
            address: address.into(),
            zone: zone.map(str::to_owned),
            answer: String::new(),
            status,
        }
    }

    fn finding(servers: Vec<ServerFinding>) -> Finding {
        Finding {
            kind: RecordKind::Ownership,
            verified: false,
            status: RecordStatus::Missing,
            reason: None,
            found: Vec::new(),
            servers,
        }
    }

    #[test]
    fn the_probe_asks_a_server_that_did_not_serve_the_record() {
        let chosen = target(&finding(vec![
            server("192.0.2.1", None, None),
            server(
                "192.0.2.2",
                Some("example.com"),
                Some(RecordStatus::Verified),
            ),
            server(
                "192.0.2.3",
                Some("example.com"),
                Some(RecordStatus::TemporaryFailure),
            ),
            server(
                "192.0.2.4",
                Some("example.com"),
                Some(RecordStatus::Missing),
            ),
        ]))
        .unwrap();
        assert_eq!(chosen.ip.to_string(), "192.0.2.4");
        assert_eq!(chosen.zone.to_ascii(), "example.com.");
        // Only a server that serves it already: nothing to probe (it would look served at
        // every look).
        assert!(
            target(&finding(vec![server(
                "192.0.2.2",
                Some("example.com"),
                Some(RecordStatus::Verified)
            )]))
            .is_none()
        );
        // No server answered: nothing to probe.
        assert!(
            target(&finding(vec![server(
                "192.0.2.3",
                Some("example.com"),
                Some(RecordStatus::TemporaryFailure)
            )]))
            .is_none()
        );
    }

    proptest! {
        // Stored findings come from servers' answers and from older versions: no field
        // value may panic the choice of a target.
        #[test]
        fn any_stored_server_finding_is_read_safely(
            address in ".{0,40}",
            zone in proptest::option::of(".{0,80}"),
        ) {
            let _ = target(&finding(vec![server(&address, zone.as_deref(), Some(RecordStatus::Missing))]));
        }
    }
}
