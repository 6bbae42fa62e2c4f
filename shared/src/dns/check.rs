//! What is published: a domain's records as its authoritative servers serve them (or, in
//! `DNS_MODE=recursive`, as the configured resolver does), each judged by the rules a real
//! receiver applies, and one verdict per record over every server's answer.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::future::join_all;
use hickory_proto::rr::{Name, RecordType};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use super::budget::{Budget, RECORD_QUERIES, VerifyBudget};
use super::lookup::{Asked, Limits, Outcome, Resolution, Session, View, describe, value_of};
use super::plan::{DnsRecord, claim_record, records_for};
use super::policy::AddressPolicy;
use super::rules::{
    FOUND_VALUES, Value, Verdict, judge_dkim, judge_dmarc, judge_mx, judge_ownership, judge_spf,
};
use crate::metrics;
use crate::model::{
    CheckReport, Claim, Domain, Finding, RecordKind, RecordStatus, ServerFinding, Timestamp,
};

/// How long one server may take to answer one question, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one record's check may take, zone discovery, CNAMEs and delegations included:
/// the records of a domain are checked at once, so this bounds a domain's check too.
pub const CHECK_BOUND: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsMode {
    /// Ask each authoritative server of the record's zone directly.
    Authoritative,
    /// Ask the resolver, and believe its (possibly cached) answer.
    Recursive,
}

/// Checks domains' records. The resolver's own cache is off: in recursive mode each check
/// sees what the resolver says now, and in authoritative mode it only finds zones.
#[derive(Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
    /// How the resolver is named in findings.
    resolver_name: String,
    mode: DnsMode,
    per_server: Duration,
    /// The port authoritative servers are asked on: 53, but in tests that cannot bind it.
    port: u16,
    /// The networks besides the public Internet where name servers may be asked.
    policy: AddressPolicy,
    /// The configured resolvers' addresses: the operator's, always allowed.
    resolvers: Vec<IpAddr>,
}

impl DnsChecker {
    /// The system's resolver, authoritative mode.
    pub fn system() -> Result<Self, String> {
        let (config, _) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?;
        let resolvers = config.name_servers().iter().map(|s| s.ip).collect();
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options(DEFAULT_TIMEOUT))
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        Ok(Self::over(
            resolver,
            "the system's resolver".into(),
            DEFAULT_TIMEOUT,
            resolvers,
        ))
    }

    /// Exactly these resolvers (UDP, then TCP for long answers), authoritative mode; each
    /// server, resolver or authoritative, gets `timeout` per question.
    pub fn with_nameservers(servers: &[SocketAddr], timeout: Duration) -> Self {
        let name_servers = servers
            .iter()
            .map(|addr| {
                let connection = |mut c: ConnectionConfig| {
                    c.port = addr.port();
                    c
                };
                NameServerConfig::new(
                    addr.ip(),
                    true,
                    vec![
                        connection(ConnectionConfig::udp()),
                        connection(ConnectionConfig::tcp()),
                    ],
                )
            })
            .collect();
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(options(timeout))
        .build()
        .expect("a resolver over explicit servers builds");
        let name = servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let resolvers = servers.iter().map(SocketAddr::ip).collect();
        Self::over(resolver, name, timeout, resolvers)
    }

    fn over(
        resolver: TokioResolver,
        resolver_name: String,
        per_server: Duration,
        resolvers: Vec<IpAddr>,
    ) -> Self {
        Self {
            resolver,
            resolver_name,
            mode: DnsMode::Authoritative,
            per_server,
            port: 53,
            policy: AddressPolicy::public_only(),
            resolvers,
        }
    }

    /// Name servers in `policy`'s networks may be asked too (`DNS_ALLOW_NETWORKS`); by
    /// default only public addresses are.
    pub fn with_allowed_networks(mut self, policy: AddressPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The networks besides the public Internet where name servers may be asked.
    pub fn allowed_networks(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Asks the resolver only (`DNS_MODE=recursive`).
    pub fn recursive(mut self) -> Self {
        self.mode = DnsMode::Recursive;
        self
    }

    /// Where the checker looks, for a start-up line.
    pub fn describe(&self) -> String {
        match self.mode {
            DnsMode::Authoritative => format!(
                "each zone's authoritative servers (found through {})",
                self.resolver_name
            ),
            DnsMode::Recursive => format!("{} only (DNS_MODE=recursive)", self.resolver_name),
        }
    }

    /// A zone cache for one verify request or one sweep run.
    pub fn session(&self) -> Session {
        let policy = self
            .resolvers
            .iter()
            .fold(self.policy.clone(), |policy, ip| {
                policy.allowing((*ip).into())
            });
        Session::new(
            self.resolver.clone(),
            Limits {
                per_server: self.per_server,
            },
            self.port,
            policy,
        )
    }

    /// Checks every record of `domain` now, in a session of its own.
    pub async fn check(&self, domain: &Domain, now: Timestamp) -> CheckReport {
        self.check_in(&self.session(), domain, now).await
    }

    /// Checks every record of `domain` concurrently, with the zones `session` knows,
    /// within one verify's query budget.
    pub async fn check_in(
        &self,
        session: &Session,
        domain: &Domain,
        now: Timestamp,
    ) -> CheckReport {
        // A retired key's record is the owner's to remove whenever they like: not asked.
        let records: Vec<DnsRecord> = records_for(domain)
            .into_iter()
            .filter(|record| record.kind != RecordKind::DkimRetired)
            .collect();
        let budget = VerifyBudget::default();
        let findings = join_all(records.iter().map(|record| {
            let budget = budget.record(RECORD_QUERIES);
            async move {
                self.check_record(session, record, &budget, move |values| {
                    judge(domain, record.kind, values)
                })
                .await
            }
        }))
        .await;
        metrics::record(&metrics::DNS_QUERIES, &[], budget.used() as f64);
        for finding in &findings {
            metrics::count(&metrics::RECORD_CHECKS, &[finding.status.as_str()]);
        }
        CheckReport {
            checked_at: now,
            findings,
            ses: None,
        }
    }

    /// Checks a claim's challenge record now, at the authoritative servers.
    pub async fn check_claim(&self, claim: &Claim) -> Finding {
        let record = claim_record(claim);
        self.check_record(&self.session(), &record, &Budget::single(), |values| {
            judge_ownership(&claim.token, values)
        })
        .await
    }

    /// One record, judged by `judge` on each server's values, within [`CHECK_BOUND`] and
    /// `budget`. A check cut short by its budget is a temporary failure that says so,
    /// whatever the servers asked before said: what it did not follow might disagree.
    async fn check_record(
        &self,
        session: &Session,
        record: &DnsRecord,
        budget: &Budget,
        judge: impl Fn(&[Value]) -> Verdict,
    ) -> Finding {
        let lookup = self.resolve(session, record, budget);
        let resolution = tokio::time::timeout(CHECK_BOUND, lookup)
            .await
            .unwrap_or_else(|_| Resolution {
                failure: Some(format!(
                    "the check took longer than {} s",
                    CHECK_BOUND.as_secs_f32()
                )),
                ..Resolution::default()
            });
        let mut finding = finding(record, resolution, &judge);
        if let Some(why) = budget.exhausted() {
            finding.verified = false;
            finding.status = RecordStatus::TemporaryFailure;
            finding.reason = Some(format!("{why}; not verified"));
        }
        finding
    }

    async fn resolve(&self, session: &Session, record: &DnsRecord, budget: &Budget) -> Resolution {
        let record_type = match record.record_type {
            "MX" => RecordType::MX,
            _ => RecordType::TXT,
        };
        let Ok(name) = Name::from_ascii(format!("{}.", record.name)) else {
            return Resolution {
                failure: Some(format!("{} is not a name DNS can look up", record.name)),
                ..Resolution::default()
            };
        };
        match self.mode {
            DnsMode::Authoritative => session.resolve(&name, record_type, budget).await,
            DnsMode::Recursive => Resolution {
                views: vec![self.ask_resolver(name, record_type).await],
                ..Resolution::default()
            },
        }
    }

    /// The resolver's answer, after any CNAME chain (the resolver follows it).
    async fn ask_resolver(&self, name: Name, record_type: RecordType) -> View {
        let asked = Asked {
            name: "resolver".into(),
            address: self.resolver_name.clone(),
            zone: None,
        };
        let outcome = match self.resolver.lookup(name, record_type).await {
            Ok(lookup) => {
                let values: Vec<Value> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == record_type)
                    .filter_map(value_of)
                    .collect();
                if values.is_empty() {
                    Outcome::NoData
                } else {
                    Outcome::Values(values)
                }
            }
            Err(error) if error.is_nx_domain() => Outcome::NxDomain,
            Err(error) if error.is_no_records_found() => Outcome::NoData,
            Err(error) => Outcome::Failed(describe(&error)),
        };
        View { asked, outcome }
    }
}

/// The resolver's options: twice a server's time per question, because the resolver may
/// itself wait out a dead authoritative server before asking the next one.
fn options(per_server: Duration) -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.timeout = per_server * 2;
    opts.attempts = 2;
    opts.edns0 = true;
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    opts.preserve_intermediates = true;
    opts
}

/// `ip:port` list; a bare IP means port 53.
pub fn parse_nameservers(list: &str) -> Result<Vec<SocketAddr>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<SocketAddr>()
                .or_else(|_| {
                    item.parse::<std::net::IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 53))
                })
                .map_err(|_| format!("'{item}' is not ip:port"))
        })
        .collect()
}

/// The public key a DKIM record of `kind` must carry (a retired key's record is never
/// asked; see `check_in`).
fn dkim_key(domain: &Domain, kind: RecordKind) -> &str {
    let setup = &domain.setup;
    match kind {
        RecordKind::DkimNext => setup.dkim_next.as_ref().map(|n| n.public_key.as_str()),
        RecordKind::DkimRetired => setup.dkim_retired.as_ref().map(|r| r.public_key.as_str()),
        _ => Some(setup.dkim_public_key.as_str()),
    }
    .unwrap_or_default()
}

fn judge(domain: &Domain, kind: RecordKind, values: &[Value]) -> Verdict {
    match kind {
        RecordKind::Mx => judge_mx(&domain.region.inbound_smtp_host(), values),
        RecordKind::Ownership => judge_ownership(&domain.setup.ownership_token, values),
        RecordKind::Spf => judge_spf(values),
        RecordKind::Dkim | RecordKind::DkimNext | RecordKind::DkimRetired => {
            judge_dkim(dkim_key(domain, kind), values)
        }
        RecordKind::Dmarc => judge_dmarc(values),
        RecordKind::MailFromMx => judge_mx(&domain.region.feedback_smtp_host(), values),
        RecordKind::MailFromSpf => judge_spf(values),
    }
}

fn verdict_of(
    record: &DnsRecord,
    outcome: &Outcome,
    judge: &dyn Fn(&[Value]) -> Verdict,
) -> Verdict {
    match outcome {
        Outcome::Values(values) => judge(values),
        Outcome::NxDomain => Verdict::fails(
            RecordStatus::Missing,
            format!("{} does not exist (NXDOMAIN)", record.name),
        ),
        Outcome::NoData => Verdict::fails(
            RecordStatus::Missing,
            format!("no {} record at {}", record.record_type, record.name),
        ),
        Outcome::Failed(why) => Verdict::fails(RecordStatus::TemporaryFailure, why.clone()),
    }
}

fn summary(record: &DnsRecord, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Values(values) => format!(
            "{} {} record{}",
            values.len(),
            record.record_type,
            if values.len() == 1 { "" } else { "s" }
        ),
        Outcome::NxDomain => "NXDOMAIN".into(),
        Outcome::NoData => format!("NODATA (no {} record)", record.record_type),
        Outcome::Failed(why) => why.clone(),
    }
}

fn who(asked: &Asked) -> String {
    format!("{} ({})", asked.name, asked.address)
}

/// One verdict over every answer: verified when every server that answered serves the
/// record, propagating when only some do, a temporary failure when none answered, and
/// otherwise what the answers found wrong (a conflict before a wrong value before a
/// missing record).
fn finding(
    record: &DnsRecord,
    resolution: Resolution,
    judge: &dyn Fn(&[Value]) -> Verdict,
) -> Finding {
    let judged: Vec<(&View, Verdict)> = resolution
        .views
        .iter()
        .map(|view| (view, verdict_of(record, &view.outcome, judge)))
        .collect();
    let mut servers: Vec<ServerFinding> = resolution
        .hops
        .iter()
        .map(|hop| ServerFinding {
            name: hop.asked.name.clone(),
            address: hop.asked.address.clone(),
            zone: hop.asked.zone.clone(),
            answer: hop.answer.clone(),
            status: None,
        })
        .collect();
    servers.extend(judged.iter().map(|(view, verdict)| ServerFinding {
        name: view.asked.name.clone(),
        address: view.asked.address.clone(),
        zone: view.asked.zone.clone(),
        answer: summary(record, &view.outcome),
        status: Some(verdict.status),
    }));
    let mut found: Vec<String> = Vec::new();
    for (view, _) in &judged {
        if let Outcome::Values(values) = &view.outcome {
            for value in values {
                let shown = value.display();
                if found.len() < FOUND_VALUES && !found.contains(&shown) {
                    found.push(shown);
                }
            }
        }
    }
    let answered = |status_is_verified: bool| -> Vec<&(&View, Verdict)> {
        judged
            .iter()
            .filter(|(_, v)| v.status != RecordStatus::TemporaryFailure)
            .filter(|(_, v)| (v.status == RecordStatus::Verified) == status_is_verified)
            .collect()
    };
    let (serving, lagging) = (answered(true), answered(false));
    let verdict = if serving.is_empty() && lagging.is_empty() {
        let silent: Vec<String> = judged
            .iter()
            .map(|(view, v)| {
                format!(
                    "{}: {}",
                    who(&view.asked),
                    v.reason.as_deref().unwrap_or("")
                )
            })
            .collect();
        let why = match (&resolution.failure, silent.is_empty()) {
            (Some(failure), _) => failure.clone(),
            (None, true) => "no server could be asked".into(),
            (None, false) if resolution.views.iter().all(|v| v.asked.zone.is_none()) => {
                silent.join("; ")
            }
            (None, false) => format!("no authoritative server answered ({})", silent.join("; ")),
        };
        Verdict::fails(
            RecordStatus::TemporaryFailure,
            format!("{why}; not verified, try again later"),
        )
    } else if lagging.is_empty()
        && resolution.failure.is_none()
        && resolution.disagreement.is_none()
    {
        Verdict::verified()
    } else if !serving.is_empty() {
        let names = |views: &[&(&View, Verdict)]| {
            views
                .iter()
                .map(|(view, _)| who(&view.asked))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let behind = lagging
            .first()
            .and_then(|(_, v)| v.reason.clone())
            .or_else(|| resolution.failure.clone())
            .or_else(|| resolution.disagreement.clone())
            .unwrap_or_default();
        Verdict::fails(
            RecordStatus::Propagating,
            format!(
                "served by {} but not yet by {} ({behind}); the change is still reaching \
                 every server: verify again in a few minutes",
                names(&serving),
                if lagging.is_empty() {
                    "the rest of the chain".to_owned()
                } else {
                    names(&lagging)
                }
            ),
        )
    } else if let Some(disagreement) = &resolution.disagreement {
        Verdict::fails(RecordStatus::Conflict, disagreement.clone())
    } else {
        let rank = |status: RecordStatus| match status {
            RecordStatus::Conflict => 0,
            RecordStatus::WrongValue => 1,
            _ => 2,
        };
        lagging
            .iter()
            .min_by_key(|(_, v)| rank(v.status))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| Verdict::fails(RecordStatus::Missing, "not found"))
    };
    Finding {
        kind: record.kind,
        verified: verdict.status == RecordStatus::Verified,
        status: verdict.status,
        reason: verdict.reason,
        found,
        servers,
    }
}
