//! Where answers come from. A recursive resolver caches: after a user checks too early it
//! keeps answering "no such record" for the zone's negative TTL, and a corrected value
//! hides behind the old one's TTL. So a check asks the name's own authoritative servers:
//! the configured resolver only says which zone holds the name and which servers serve it
//! (and where they are), and every server of the zone is then asked directly, without
//! recursion. Each server's answer is kept, so a verdict can tell "published everywhere"
//! from "published on some servers only" from "no server answered".
//!
//! A [`Session`] caches zones (their cut, name servers and addresses, and the connections
//! to them), never answers, for one verify request or one sweep run.
//!
//! The zone's owner decides where a check is sent, so every query passes one gate
//! ([`Session::sent`]) that pays for it from the check's [`Budget`]; a name server at a
//! special-purpose address is never contacted ([`AddressPolicy`]); and the walk follows at
//! most [`MAX_TARGETS`] distinct CNAME or delegation targets per link.
//!
//! Past 600 lines on purpose: the walk (zone cut, referrals, CNAMEs, the wire per server)
//! is one state machine whose parts share the session's caches and budget; split apart,
//! each part would need them all.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, join_all, select_ok};
use hickory_net::NetError;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsExchange, DnsHandle, DnsRequestSender, FirstAnswer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::TokioResolver;
use tokio::sync::OnceCell;

use super::budget::Budget;
use super::policy::AddressPolicy;
use super::rules::{Value, normalise_host};

/// At most this many CNAME links are followed from a record's name (loops are detected
/// sooner).
pub const MAX_CNAME_LINKS: usize = 8;
/// Delegations followed below a zone the resolver named (a zone cut the resolver has not
/// seen yet, or a stale one).
const MAX_REFERRALS: usize = 4;
/// At most this many name servers of a zone are asked (the first, by name): a zone that
/// lists hundreds must not turn one check into hundreds of questions.
pub const MAX_SERVERS: usize = 8;
/// At most this many distinct CNAME targets, and as many delegations, are followed from
/// one name's servers: servers that disagree further make the record propagating or in
/// conflict, they do not multiply the check.
pub const MAX_TARGETS: usize = 2;
/// An answer larger than this comes over TCP (the EDNS size of DNS Flag Day 2020).
const EDNS_PAYLOAD: u16 = 1232;

/// Who was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The name server's host name, or `resolver`.
    pub name: String,
    /// Its address, or why there is none.
    pub address: String,
    /// The zone it was asked as authoritative for.
    pub zone: Option<String>,
}

/// What one server said about a name and type, after following what it served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Values(Vec<Value>),
    NxDomain,
    NoData,
    /// It did not answer usefully: timeout, SERVFAIL, REFUSED, not authoritative.
    Failed(String),
}

/// One final answer: a server and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub asked: Asked,
    pub outcome: Outcome,
}

/// A server that only pointed elsewhere (a CNAME or a delegation), for the record's
/// `servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub asked: Asked,
    pub answer: String,
}

/// Everything learned about one name and type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    pub views: Vec<View>,
    pub hops: Vec<Hop>,
    /// Why no server could be asked at all (the zone could not be found).
    pub failure: Option<String>,
    /// Servers pointed to more targets than are followed ([`MAX_TARGETS`]).
    pub disagreement: Option<String>,
}

impl Resolution {
    fn failed(why: String) -> Self {
        Self {
            failure: Some(why),
            ..Self::default()
        }
    }

    fn merge(&mut self, other: Resolution) {
        self.views.extend(other.views);
        self.hops.extend(other.hops);
        if self.failure.is_none() {
            self.failure = other.failure;
        }
        if self.disagreement.is_none() {
            self.disagreement = other.disagreement;
        }
    }
}

/// How long one server may take to answer one question, all its retries included.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_server: Duration,
}

/// One authoritative server of a zone, with its TCP connection once one was needed (kept
/// for the session). UDP questions each go out from a fresh socket on a random port: with
/// the random message id that is what keeps a forged answer from verifying a domain.
struct Server {
    name: String,
    /// Where it is asked, or why it is not asked at all.
    address: Result<SocketAddr, String>,
    /// Its address as `servers` shows it.
    shown: String,
    tcp: tokio::sync::Mutex<Option<DnsExchange<TokioRuntimeProvider>>>,
}

struct Zone {
    apex: Name,
    servers: Vec<Arc<Server>>,
}

/// Name servers by host name, with their address where a referral gave it (glue).
pub type NameServers = Vec<(Name, Option<IpAddr>)>;

/// What one server's message says, before following it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Final(Outcome),
    Cname(Name),
    Referral { apex: Name, servers: NameServers },
}

type ZoneCell = Arc<OnceCell<Result<Arc<Zone>, String>>>;

/// The zone cache of one verify request or one sweep run.
pub struct Session {
    resolver: TokioResolver,
    /// Owns the background tasks of the session's connections: they end with it.
    runtime: TokioRuntimeProvider,
    limits: Limits,
    /// Servers listen on this port (53 but in tests that cannot bind it).
    port: u16,
    policy: AddressPolicy,
    zones: Mutex<HashMap<Name, ZoneCell>>,
    /// Queries sent in this session, over all budgets.
    sent: AtomicUsize,
}

fn lower(name: &Name) -> Name {
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    name
}

fn show(name: &Name) -> String {
    normalise_host(&name.to_ascii())
}

/// How a server's answer that points elsewhere (a CNAME or a delegation) is written in its
/// finding, so a later answer can be compared with it; `None` for a final answer.
pub(super) fn pointed(answer: &Answer) -> Option<String> {
    match answer {
        Answer::Final(_) => None,
        Answer::Cname(target) => Some(format!("CNAME to {}", show(target))),
        Answer::Referral { apex, .. } => Some(format!("delegates {} to other servers", show(apex))),
    }
}

impl Session {
    pub(crate) fn new(
        resolver: TokioResolver,
        limits: Limits,
        port: u16,
        policy: AddressPolicy,
    ) -> Self {
        Self {
            resolver,
            runtime: TokioRuntimeProvider::default(),
            limits,
            port,
            policy,
            zones: Mutex::new(HashMap::new()),
            sent: AtomicUsize::new(0),
        }
    }

    /// Queries this session has sent, to the resolver and to authoritative servers.
    pub fn queries_sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// The one gate every query passes: paid for from `budget`, then handed back to be
    /// sent (a future sends nothing before it is polled).
    fn sent<F: Future>(&self, budget: &Budget, query: F) -> Result<F, String> {
        budget.spend()?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(query)
    }

    /// Asks every authoritative server of `name`'s zone for `record_type`, following
    /// CNAMEs (into other zones too) and delegations, within `budget`.
    pub async fn resolve(
        &self,
        name: &Name,
        record_type: RecordType,
        budget: &Budget,
    ) -> Resolution {
        self.resolve_chain(lower(name), record_type, Vec::new(), budget)
            .await
    }

    fn resolve_chain<'a>(
        &'a self,
        name: Name,
        record_type: RecordType,
        chain: Vec<Name>,
        budget: &'a Budget,
    ) -> BoxFuture<'a, Resolution> {
        async move {
            let zone = match self.zone_for(&name, budget).await {
                Ok(zone) => zone,
                Err(why) => return Resolution::failed(why),
            };
            self.ask_zone(zone, name, record_type, chain, 0, budget)
                .await
        }
        .boxed()
    }

    fn ask_zone<'a>(
        &'a self,
        zone: Arc<Zone>,
        name: Name,
        record_type: RecordType,
        chain: Vec<Name>,
        referrals: usize,
        budget: &'a Budget,
    ) -> BoxFuture<'a, Resolution> {
        async move {
            let asks = zone
                .servers
                .iter()
                .map(|server| self.ask(server, &zone.apex, &name, record_type, budget));
            let answers = join_all(asks).await;
            let mut resolution = Resolution::default();
            // Servers that point the same way are followed once.
            let mut aliases: Vec<Name> = Vec::new();
            let mut delegations: Vec<(Name, NameServers)> = Vec::new();
            for (server, answer) in zone.servers.iter().zip(answers) {
                let asked = Asked {
                    name: server.name.clone(),
                    address: server.shown.clone(),
                    zone: Some(show(&zone.apex)),
                };
                match answer {
                    Answer::Final(outcome) => resolution.views.push(View { asked, outcome }),
                    Answer::Cname(target) => {
                        resolution.hops.push(Hop {
                            asked,
                            answer: pointed(&Answer::Cname(target.clone())).unwrap_or_default(),
                        });
                        if !aliases.contains(&target) {
                            aliases.push(target);
                        }
                    }
                    Answer::Referral { apex, servers } => {
                        let answer = Answer::Referral { apex, servers };
                        resolution.hops.push(Hop {
                            asked,
                            answer: pointed(&answer).unwrap_or_default(),
                        });
                        let Answer::Referral { apex, servers } = answer else {
                            unreachable!("built just above")
                        };
                        if !delegations.iter().any(|(known, _)| *known == apex) {
                            delegations.push((apex, servers));
                        }
                    }
                }
            }
            let disagreeing = |what: &str, count: usize| {
                format!(
                    "the servers of {} disagree: {count} different {what} for {}, of which \
                     only {MAX_TARGETS} are followed",
                    show(&zone.apex),
                    show(&name)
                )
            };
            if aliases.len() > MAX_TARGETS {
                resolution
                    .disagreement
                    .get_or_insert_with(|| disagreeing("CNAME targets", aliases.len()));
                aliases.truncate(MAX_TARGETS);
            }
            if delegations.len() > MAX_TARGETS {
                resolution
                    .disagreement
                    .get_or_insert_with(|| disagreeing("delegations", delegations.len()));
                delegations.truncate(MAX_TARGETS);
            }
            for target in aliases {
                let mut next = chain.clone();
                next.push(name.clone());
                if next.contains(&target) {
                    resolution.failure.get_or_insert_with(|| {
                        format!("the CNAME chain from {} loops", show(&next[0]))
                    });
                } else if next.len() > MAX_CNAME_LINKS {
                    resolution.failure.get_or_insert_with(|| {
                        format!(
                            "the CNAME chain from {} is longer than {MAX_CNAME_LINKS} links",
                            show(&next[0])
                        )
                    });
                } else {
                    resolution.merge(self.resolve_chain(target, record_type, next, budget).await);
                }
            }
            for (apex, servers) in delegations {
                if referrals >= MAX_REFERRALS {
                    resolution.failure.get_or_insert_with(|| {
                        format!(
                            "more than {MAX_REFERRALS} delegations below {}",
                            show(&name)
                        )
                    });
                    continue;
                }
                let child = self.zone_from_referral(apex, servers, budget).await;
                resolution.merge(
                    self.ask_zone(
                        child,
                        name.clone(),
                        record_type,
                        chain.clone(),
                        referrals + 1,
                        budget,
                    )
                    .await,
                );
            }
            resolution
        }
        .boxed()
    }

    /// The zone holding `name`: the nearest one this session knows, else the one the
    /// resolver names. A known zone above a newer cut is fine: its servers refer us down.
    async fn zone_for(&self, name: &Name, budget: &Budget) -> Result<Arc<Zone>, String> {
        let mut ancestor = name.clone();
        loop {
            let known = self.zones.lock().unwrap().get(&ancestor).cloned();
            if let Some(cell) = known
                && let Some(zone) = cell.get()
            {
                return zone.clone();
            }
            if ancestor.is_root() {
                break;
            }
            ancestor = ancestor.base_name();
        }
        let apex = self.find_apex(name, budget).await?;
        let cell = self.cell(&apex);
        cell.get_or_init(|| self.discover(apex.clone(), budget))
            .await
            .clone()
    }

    fn cell(&self, apex: &Name) -> ZoneCell {
        self.zones
            .lock()
            .unwrap()
            .entry(apex.clone())
            .or_default()
            .clone()
    }

    /// The apex of the zone holding `name`, from the resolver: the SOA at the name itself,
    /// or the one an answer of "no such record" carries; failing both, the parent's.
    async fn find_apex(&self, name: &Name, budget: &Budget) -> Result<Name, String> {
        let mut candidate = name.clone();
        loop {
            let lookup = self.resolver.lookup(candidate.clone(), RecordType::SOA);
            match self.sent(budget, lookup)?.await {
                Ok(lookup) => {
                    let at_candidate = lookup
                        .answers()
                        .iter()
                        .any(|r| r.record_type() == RecordType::SOA && lower(&r.name) == candidate);
                    if at_candidate {
                        return Ok(candidate);
                    }
                    // An alias: a CNAME cannot stand at a zone's apex, so the zone is above.
                }
                Err(error) if error.is_no_records_found() => {
                    if let Some(soa) = error.into_soa()
                        && soa.name.zone_of(&candidate)
                    {
                        return Ok(lower(&soa.name));
                    }
                }
                Err(error) => {
                    return Err(format!(
                        "the resolver could not say which zone holds {}: {}",
                        show(name),
                        describe(&error)
                    ));
                }
            }
            if candidate.is_root() {
                return Err(format!(
                    "the resolver knows no zone that holds {}: is the domain registered, and \
                     its zone delegated to name servers?",
                    show(name)
                ));
            }
            candidate = candidate.base_name();
        }
    }

    /// The zone's name servers and their addresses, from the resolver.
    async fn discover(&self, apex: Name, budget: &Budget) -> Result<Arc<Zone>, String> {
        let lookup = self.resolver.lookup(apex.clone(), RecordType::NS);
        let lookup = self.sent(budget, lookup)?.await.map_err(|error| {
            format!(
                "the resolver could not list the name servers of {}: {}",
                show(&apex),
                describe(&error)
            )
        })?;
        let mut hosts: Vec<Name> = lookup
            .answers()
            .iter()
            .filter(|r| lower(&r.name) == apex)
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(lower(&ns.0)),
                _ => None,
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        if hosts.is_empty() {
            return Err(format!("{} has no name servers (NS records)", show(&apex)));
        }
        let servers = hosts.into_iter().map(|host| (host, None)).collect();
        Ok(self.zone(apex, servers, budget).await)
    }

    async fn zone_from_referral(
        &self,
        apex: Name,
        servers: NameServers,
        budget: &Budget,
    ) -> Arc<Zone> {
        let cell = self.cell(&apex);
        let zone = cell
            .get_or_init(|| async { Ok(self.zone(apex.clone(), servers, budget).await) })
            .await;
        match zone {
            Ok(zone) => zone.clone(),
            // The same apex was looked up through the resolver earlier in this session and
            // that failed: the referral's servers are not asked either, and the record
            // reports that no server could be asked.
            Err(_) => Arc::new(Zone {
                apex,
                servers: Vec::new(),
            }),
        }
    }

    /// A zone of these servers (at most [`MAX_SERVERS`]); addresses not given as glue come
    /// from the resolver. A server whose address the policy refuses is kept, with the
    /// reason, so that `servers` says why it was not asked.
    async fn zone(&self, apex: Name, mut servers: NameServers, budget: &Budget) -> Arc<Zone> {
        servers.sort();
        servers.dedup_by(|a, b| a.0 == b.0);
        servers.truncate(MAX_SERVERS);
        let servers = join_all(servers.into_iter().map(|(host, glue)| async move {
            let candidates = match glue {
                Some(ip) => vec![ip],
                None => self.addresses_of(&host, budget).await,
            };
            let allowed = candidates
                .iter()
                .find(|ip| self.policy.refusal(**ip).is_none());
            let (address, shown) = match (allowed, candidates.first()) {
                (Some(ip), _) => (Ok(SocketAddr::new(*ip, self.port)), ip.to_string()),
                (None, Some(ip)) => (
                    Err(self.policy.refusal(*ip).unwrap_or_default()),
                    ip.to_string(),
                ),
                (None, None) => (
                    Err("its address could not be resolved".to_owned()),
                    "unknown".to_owned(),
                ),
            };
            Arc::new(Server {
                name: show(&host),
                address,
                shown,
                tcp: tokio::sync::Mutex::new(None),
            })
        }))
        .await;
        Arc::new(Zone { apex, servers })
    }

    /// A name server's addresses: IPv4 where it has any (what every network here reaches),
    /// else IPv6. All of them, so that one the policy allows is used where there is one.
    async fn addresses_of(&self, host: &Name, budget: &Budget) -> Vec<IpAddr> {
        for record_type in [RecordType::A, RecordType::AAAA] {
            let lookup = self.resolver.lookup(host.clone(), record_type);
            let Ok(lookup) = self.sent(budget, lookup) else {
                return Vec::new();
            };
            let Ok(lookup) = lookup.await else {
                continue;
            };
            let addresses: Vec<IpAddr> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                })
                .collect();
            if !addresses.is_empty() {
                return addresses;
            }
        }
        Vec::new()
    }

    /// One question to the server `host` at `ip`, authoritative for `zone`, as a check asks
    /// it (address policy, budget, UDP then TCP): the probe of a record at a server an
    /// earlier check found, without finding the zone again.
    pub async fn ask_server(
        &self,
        zone: &Name,
        host: &str,
        ip: IpAddr,
        name: &Name,
        record_type: RecordType,
        budget: &Budget,
    ) -> Answer {
        let server = Server {
            name: host.to_owned(),
            address: match self.policy.refusal(ip) {
                Some(why) => Err(why),
                None => Ok(SocketAddr::new(ip, self.port)),
            },
            shown: ip.to_string(),
            tcp: tokio::sync::Mutex::new(None),
        };
        self.ask(&server, &lower(zone), &lower(name), record_type, budget)
            .await
    }

    /// One question to one server: UDP, then TCP if the answer did not fit.
    async fn ask(
        &self,
        server: &Server,
        zone: &Name,
        name: &Name,
        record_type: RecordType,
        budget: &Budget,
    ) -> Answer {
        let address = match &server.address {
            Ok(address) => *address,
            Err(why) => return Answer::Final(Outcome::Failed(why.clone())),
        };
        let query = Query::query(name.clone(), record_type);
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = false;
        options.use_edns = true;
        options.edns_payload_len = EDNS_PAYLOAD;
        let bound = self.limits.per_server;
        let sent = match self.ask_udp(address, &query, options, budget).await {
            Ok(sent) => sent,
            Err(why) => return Answer::Final(Outcome::Failed(why)),
        };
        let message = match sent {
            Ok(response) if response.metadata.truncation => {
                match self.ask_tcp(server, address, query, options, budget).await {
                    Ok(message) => message,
                    Err(why) => return Answer::Final(Outcome::Failed(why)),
                }
            }
            Ok(response) => response.into_message(),
            Err(error) if !matches!(error, NetError::Timeout) => {
                return Answer::Final(Outcome::Failed(describe(&error)));
            }
            Err(_) => {
                return Answer::Final(Outcome::Failed(format!(
                    "no answer within {}",
                    seconds(bound)
                )));
            }
        };
        read_answer(&message, zone, name, record_type)
    }

    /// The question over UDP, each datagram from a fresh socket on a random port, sent
    /// straight from this task (no background exchange to hop through). One resend,
    /// halfway through the server's time, paid for like the first: a lost datagram is
    /// asked again, a slow server is not asked twice at once. The first answer wins.
    /// `Err` when the budget allowed not even the first datagram.
    async fn ask_udp(
        &self,
        address: SocketAddr,
        query: &Query,
        options: DnsRequestOptions,
        budget: &Budget,
    ) -> Result<Result<DnsResponse, NetError>, String> {
        let bound = self.limits.per_server;
        let once = || {
            // One datagram per stream (its retry count includes the first send); the
            // stream bounds the wait by `bound` itself.
            let mut udp = UdpClientStream::builder(address, self.runtime.clone())
                .with_timeout(Some(bound))
                .with_max_retries(1)
                .build();
            let request = DnsRequest::from_query(query.clone(), options);
            async move { udp.send_message(request).first_answer().await }.boxed()
        };
        let mut first = self.sent(budget, once())?;
        let resend_at = tokio::time::sleep(bound / 2);
        tokio::select! {
            answer = &mut first => return Ok(answer),
            () = resend_at => {}
        }
        let Ok(second) = self.sent(budget, once()) else {
            // No budget for a resend: the first datagram may still be answered.
            return Ok(first.await);
        };
        let bounded = tokio::time::timeout(bound, select_ok([first, second])).await;
        Ok(match bounded {
            Ok(answer) => answer.map(|(response, _)| response),
            Err(_) => Err(NetError::Timeout),
        })
    }

    async fn ask_tcp(
        &self,
        server: &Server,
        address: SocketAddr,
        query: Query,
        options: DnsRequestOptions,
        budget: &Budget,
    ) -> Result<Message, String> {
        let bound = self.limits.per_server;
        let exchange = {
            let mut tcp = server.tcp.lock().await;
            match &*tcp {
                Some(exchange) => exchange.clone(),
                None => {
                    let connect =
                        TcpClientStream::exchange(address, None, bound, None, self.runtime.clone());
                    let exchange = tokio::time::timeout(bound, connect)
                        .await
                        .map_err(|_| format!("no TCP connection within {}", seconds(bound)))?
                        .map_err(|e| format!("TCP: {}", describe(&e)))?;
                    *tcp = Some(exchange.clone());
                    exchange
                }
            }
        };
        let lookup = tokio::time::timeout(bound, exchange.lookup(query, options).first_answer());
        let answer = self
            .sent(budget, lookup)?
            .await
            .map_err(|_| format!("no answer over TCP within {}", seconds(bound)))?;
        match answer {
            Ok(response) if response.metadata.truncation => {
                Err("the answer was truncated even over TCP".into())
            }
            Ok(response) => Ok(response.into_message()),
            Err(error) => {
                // A broken connection is made again next time.
                *server.tcp.lock().await = None;
                Err(format!("TCP: {}", describe(&error)))
            }
        }
    }
}

fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// A resolver or transport error in a few words.
pub fn describe(error: &NetError) -> String {
    if error.is_nx_domain() {
        return "NXDOMAIN".into();
    }
    match error {
        NetError::Timeout => "timed out".into(),
        NetError::Dns(hickory_net::DnsError::ResponseCode(code)) => rcode(*code),
        other => other.to_string(),
    }
}

/// A response code as DNS tools print it (`SERVFAIL`, `REFUSED`).
fn rcode(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        other => format!("response code {}", u16::from(other)),
    }
}

/// What an authoritative server's message means for `name`/`record_type` in `zone`.
/// Only data inside the zone is believed (anything else a server sends is not its to
/// say); a CNAME leaving the zone is followed by asking the target's own servers.
pub fn read_answer(message: &Message, zone: &Name, name: &Name, record_type: RecordType) -> Answer {
    let code = message.metadata.response_code;
    if !matches!(code, ResponseCode::NoError | ResponseCode::NXDomain) {
        return Answer::Final(Outcome::Failed(rcode(code)));
    }
    let authoritative = message.metadata.authoritative;
    let mut current = name.clone();
    let mut links = 0;
    loop {
        let here = |r: &&Record| lower(&r.name) == current;
        let values: Vec<Value> = message
            .answers
            .iter()
            .filter(here)
            .filter(|r| r.record_type() == record_type)
            .filter_map(value_of)
            .collect();
        if !values.is_empty() {
            if !authoritative {
                return not_authoritative(zone);
            }
            return Answer::Final(Outcome::Values(values));
        }
        let alias = message
            .answers
            .iter()
            .filter(here)
            .find_map(|r| match &r.data {
                RData::CNAME(target) => Some(lower(&target.0)),
                _ => None,
            });
        match alias {
            Some(target) if record_type != RecordType::CNAME => {
                links += 1;
                if !zone.zone_of(&target) || links > MAX_CNAME_LINKS {
                    return Answer::Cname(target);
                }
                current = target;
            }
            _ => break,
        }
    }
    if current != *name {
        // A CNAME inside the zone whose target holds nothing of the type: the target's
        // own answer is what counts, so ask for it as a name of its own.
        return Answer::Cname(current);
    }
    if !authoritative {
        // A delegation below the zone: the servers of the child zone hold the answer.
        let cut = message
            .authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NS)
            .map(|r| lower(&r.name))
            .find(|cut| cut != zone && zone.zone_of(cut) && cut.zone_of(name));
        if let Some(apex) = cut {
            let servers = message
                .authorities
                .iter()
                .filter(|r| lower(&r.name) == apex)
                .filter_map(|r| match &r.data {
                    RData::NS(ns) => Some(lower(&ns.0)),
                    _ => None,
                })
                .map(|host| {
                    let glue = message.additionals.iter().find_map(|r| match &r.data {
                        RData::A(a) if lower(&r.name) == host => Some(IpAddr::V4(a.0)),
                        _ => None,
                    });
                    (host, glue)
                })
                .collect();
            return Answer::Referral { apex, servers };
        }
        return not_authoritative(zone);
    }
    Answer::Final(if code == ResponseCode::NXDomain {
        Outcome::NxDomain
    } else {
        Outcome::NoData
    })
}

fn not_authoritative(zone: &Name) -> Answer {
    Answer::Final(Outcome::Failed(format!(
        "not authoritative for {} (a lame delegation)",
        show(zone)
    )))
}

/// A record's data as the rules read it.
pub fn value_of(record: &Record) -> Option<Value> {
    match &record.data {
        RData::MX(mx) => Some(Value::Mx {
            preference: mx.preference,
            host: normalise_host(&mx.exchange.to_ascii()),
        }),
        RData::TXT(txt) => Some(Value::Txt(txt.txt_data.concat())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, MX, NS, TXT};
    use proptest::prelude::*;

    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    const NAMES: [&str; 6] = [
        "yourcompany.example.",
        "_amazonses.yourcompany.example.",
        "mail.yourcompany.example.",
        "ns1.mail.yourcompany.example.",
        "example.",
        "elsewhere.net.",
    ];

    fn record() -> impl Strategy<Value = Record> {
        let owner = prop::sample::select(NAMES.to_vec());
        let target = prop::sample::select(NAMES.to_vec());
        let data = prop_oneof![
            target.clone().prop_map(|t| RData::CNAME(CNAME(name(t)))),
            target.clone().prop_map(|t| RData::NS(NS(name(t)))),
            (any::<u16>(), target).prop_map(|(p, t)| RData::MX(MX::new(p, name(t)))),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..3)
                .prop_map(|parts| {
                    RData::TXT(TXT::from_bytes(parts.iter().map(Vec::as_slice).collect()))
                }),
            any::<[u8; 4]>().prop_map(|o| RData::A(A::from(std::net::Ipv4Addr::from(o)))),
        ];
        (owner, data).prop_map(|(owner, data)| Record::from_rdata(name(owner), 300, data))
    }

    fn message() -> impl Strategy<Value = Message> {
        let records = || proptest::collection::vec(record(), 0..5);
        let code = prop::sample::select(vec![
            ResponseCode::NoError,
            ResponseCode::NXDomain,
            ResponseCode::ServFail,
            ResponseCode::Refused,
        ]);
        (records(), records(), records(), any::<bool>(), code).prop_map(
            |(answers, authorities, additionals, authoritative, code)| {
                let mut message = Message::new(1, MessageType::Response, OpCode::Query);
                message.answers = answers;
                message.authorities = authorities;
                message.additionals = additionals;
                message.metadata.authoritative = authoritative;
                message.metadata.response_code = code;
                message
            },
        )
    }

    proptest! {
        /// Whatever a server sends, its answer is read without a panic, data is believed
        /// only from an authoritative answer, and a referral only ever points below the
        /// zone asked (a server cannot send the check to a zone it is not the parent of).
        #[test]
        fn any_answer_is_read_safely(message in message(), asked in 0usize..3) {
            let zone = name("yourcompany.example.");
            let question = name(NAMES[asked]);
            for record_type in [RecordType::MX, RecordType::TXT] {
                match read_answer(&message, &zone, &question, record_type) {
                    Answer::Final(Outcome::Values(values)) => {
                        prop_assert!(message.metadata.authoritative);
                        prop_assert!(!values.is_empty());
                    }
                    Answer::Referral { apex, .. } => {
                        prop_assert!(zone.zone_of(&apex) && apex != zone && apex.zone_of(&question));
                    }
                    _ => {}
                }
            }
            // And through the wire format.
            if let Ok(bytes) = message.to_vec() {
                crate::dns::fuzzing::dns_answer(&bytes);
            }
        }

        #[test]
        fn any_bytes_from_the_wire_are_read_safely(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            crate::dns::fuzzing::dns_answer(&bytes);
        }

        #[test]
        fn any_txt_lines_are_judged(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            crate::dns::fuzzing::txt_rules(&bytes);
        }
    }

    #[test]
    fn an_answer_without_authority_is_a_lame_server() {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.answers = vec![Record::from_rdata(
            name("yourcompany.example."),
            300,
            RData::MX(MX::new(10, name("mx.example."))),
        )];
        let zone = name("yourcompany.example.");
        let answer = read_answer(&message, &zone, &zone, RecordType::MX);
        assert!(
            matches!(&answer, Answer::Final(Outcome::Failed(why)) if why.contains("lame")),
            "{answer:?}"
        );
    }
}
