//! A DNS server on loopback (UDP and TCP), serving records a test writes, speaking the real
//! wire protocol (messages built with hickory-proto). With zones added ([`TestDns::add_zone`])
//! it is an authoritative server as a resolver expects one: answers with the AA bit,
//! NXDOMAIN and NODATA with the zone's SOA, referrals with glue below a delegation, REFUSED
//! outside its zones. Without zones it answers whatever it holds (a stand-in resolver). It
//! can also fail on purpose: SERVFAIL, silence, or slow answers.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Answer,
    ServFail,
    /// Reads queries and never answers (the timeout path).
    Silent,
    /// Answers every question REFUSED (a server that is not the zone's, or a victim
    /// address a hostile zone points at).
    Refused,
}

/// A scripted answer: what a hostile server sends instead of what its records say.
#[derive(Debug, Clone, Default)]
pub struct Scripted {
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    pub code: ResponseCode,
    pub authoritative: bool,
    /// Sent truncated over UDP, and never answered over TCP (the connection is accepted
    /// and read, then left hanging).
    pub stall: bool,
}

/// Decides a server's answer to (name, type, how many queries it received before this
/// one); `None` leaves the question to the server's records.
pub type Script = Arc<dyn Fn(&Name, RecordType, usize) -> Option<Scripted> + Send + Sync>;

#[derive(Default)]
struct State {
    /// Records by lower-case owner name without the root dot.
    records: HashMap<String, Vec<Record>>,
    behaviour: Option<Behaviour>,
    delay: Duration,
    /// Queries received, by lower-case name and type.
    queries: HashMap<(String, RecordType), usize>,
    /// Apexes (lower case, no root dot; "" is the root) this server is authoritative for.
    zones: Vec<String>,
    /// Names that exist only because names below them hold records (empty non-terminals).
    ancestors: std::collections::HashSet<String>,
    script: Option<Script>,
    /// Every query received, whatever its name.
    total: usize,
}

impl State {
    fn index_ancestors(&mut self, owner: &str) {
        let mut name = owner;
        while let Some((_, parent)) = name.split_once('.') {
            if !self.ancestors.insert(parent.to_owned()) {
                break;
            }
            name = parent;
        }
    }

    fn exists(&self, name: &str) -> bool {
        self.records.contains_key(name) || self.ancestors.contains(name)
    }
}

/// The negative TTL of test zones: Route 53's, so a resolver in front caches "no such
/// record" for 15 minutes, as in the field.
const NEGATIVE_TTL: u32 = 900;

#[derive(Clone)]
pub struct TestDns {
    addr: SocketAddr,
    state: Arc<RwLock<State>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl TestDns {
    /// Binds UDP and TCP on one free loopback port and serves until the runtime ends.
    pub async fn start() -> Self {
        let (udp, tcp) = bind_pair().await;
        Self::serve(udp, tcp)
    }

    /// Binds UDP and TCP on `ip:port` (port 53 of a 127.x.y.z address, for a hierarchy
    /// whose delegations a real resolver follows), or fails if taken.
    pub async fn start_on(ip: Ipv4Addr, port: u16) -> std::io::Result<Self> {
        let udp = UdpSocket::bind((ip, port)).await?;
        let tcp = TcpListener::bind((ip, port)).await?;
        Ok(Self::serve(udp, tcp))
    }

    fn serve(udp: UdpSocket, tcp: TcpListener) -> Self {
        let addr = udp.local_addr().expect("bound address");
        let state = Arc::new(RwLock::new(State::default()));
        let dns = Self { addr, state };
        tokio::spawn(dns.clone().serve_udp(Arc::new(udp)));
        tokio::spawn(dns.clone().serve_tcp(tcp));
        dns
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.write().unwrap().behaviour = Some(behaviour);
    }

    /// Answers as `script` says wherever it says something.
    pub fn set_script(&self, script: Script) {
        self.state.write().unwrap().script = Some(script);
    }

    /// Every answer waits this long first (for benchmarks).
    pub fn set_delay(&self, delay: Duration) {
        self.state.write().unwrap().delay = delay;
    }

    fn add(&self, owner: &str, data: RData) {
        self.add_with_ttl(owner, data, 300);
    }

    fn add_with_ttl(&self, owner: &str, data: RData, ttl: u32) {
        let record = Record::from_rdata(fqdn(owner), ttl, data);
        let mut state = self.state.write().unwrap();
        state.index_ancestors(&key(owner));
        state.records.entry(key(owner)).or_default().push(record);
    }

    /// A TXT record made of these character-strings (each at most 255 octets).
    pub fn add_txt(&self, owner: &str, strings: &[&str]) {
        let bytes: Vec<&[u8]> = strings.iter().map(|s| s.as_bytes()).collect();
        self.add_txt_bytes(owner, &bytes);
    }

    /// A TXT record of arbitrary bytes (each string at most 255 octets): what a hostile
    /// or broken zone can serve.
    pub fn add_txt_bytes(&self, owner: &str, strings: &[&[u8]]) {
        assert!(
            strings.iter().all(|s| s.len() <= 255),
            "a character-string is at most 255 octets"
        );
        self.add(owner, RData::TXT(TXT::from_bytes(strings.to_vec())));
    }

    pub fn add_a(&self, owner: &str, ip: Ipv4Addr) {
        self.add(owner, RData::A(A(ip)));
    }

    /// Makes this server authoritative for `apex` ("" or "." for the root): its SOA and
    /// the NS set of `servers` (host, address), with their addresses where the hosts are
    /// inside the zone.
    pub fn add_zone(&self, apex: &str, servers: &[(&str, Ipv4Addr)]) {
        let apex = key(apex);
        let primary = servers.first().map_or("ns.invalid", |(host, _)| host);
        let soa = SOA::new(
            fqdn(primary),
            fqdn(&format!("hostmaster.{apex}")),
            1,
            7200,
            900,
            1_209_600,
            NEGATIVE_TTL,
        );
        self.add_with_ttl(&apex, RData::SOA(soa), NEGATIVE_TTL);
        self.add_ns_set(&apex, servers);
        self.state.write().unwrap().zones.push(apex);
    }

    /// Delegates `child` to `servers` (host, address): the NS set at the cut and glue.
    pub fn add_delegation(&self, child: &str, servers: &[(&str, Ipv4Addr)]) {
        self.add_ns_set(&key(child), servers);
    }

    fn add_ns_set(&self, owner: &str, servers: &[(&str, Ipv4Addr)]) {
        for (host, ip) in servers {
            self.add(owner, RData::NS(NS(fqdn(host))));
            let host = key(host);
            if owner.is_empty() || host == owner || host.ends_with(&format!(".{owner}")) {
                self.add_a(&host, *ip);
            }
        }
    }

    /// A TXT record holding `value`, split into 255-octet strings as DNS requires.
    pub fn add_long_txt(&self, owner: &str, value: &str) {
        let parts: Vec<&str> = value
            .as_bytes()
            .chunks(255)
            .map(|c| std::str::from_utf8(c).expect("ASCII value"))
            .collect();
        self.add_txt(owner, &parts);
    }

    pub fn add_mx(&self, owner: &str, preference: u16, host: &str) {
        let exchange = Name::from_ascii(format!("{}.", host.trim_end_matches('.'))).unwrap();
        self.add(owner, RData::MX(MX::new(preference, exchange)));
    }

    pub fn add_cname(&self, owner: &str, target: &str) {
        let target = Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).unwrap();
        self.add(owner, RData::CNAME(CNAME(target)));
    }

    /// How many queries the server has received (UDP and TCP).
    pub fn queries(&self) -> usize {
        self.state.read().unwrap().total
    }

    /// How many queries for `record_type`, whatever the name, the server has received.
    pub fn queries_of_type(&self, record_type: RecordType) -> usize {
        let state = self.state.read().unwrap();
        state
            .queries
            .iter()
            .filter(|((_, t), _)| *t == record_type)
            .map(|(_, n)| n)
            .sum()
    }

    /// How many queries for `name` and `record_type` the server has received.
    pub fn queries_of(&self, name: &str, record_type: RecordType) -> usize {
        let state = self.state.read().unwrap();
        state
            .queries
            .get(&(key(name), record_type))
            .copied()
            .unwrap_or(0)
    }

    /// Removes every record at `owner` but a zone's own SOA and NS set.
    pub fn remove(&self, owner: &str) {
        let mut state = self.state.write().unwrap();
        if let Some(records) = state.records.get_mut(&key(owner)) {
            records.retain(|r| matches!(r.record_type(), RecordType::SOA | RecordType::NS));
            if records.is_empty() {
                state.records.remove(&key(owner));
                let owners: Vec<String> = state.records.keys().cloned().collect();
                state.ancestors.clear();
                for owner in owners {
                    state.index_ancestors(&owner);
                }
            }
        }
    }

    async fn serve_udp(self, socket: Arc<UdpSocket>) {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let query = buf[..len].to_vec();
            let (this, socket) = (self.clone(), socket.clone());
            tokio::spawn(async move {
                if let Some(answer) = this.answer(&query, 1232).await {
                    let _ = socket.send_to(&answer, peer).await;
                }
            });
        }
    }

    async fn serve_tcp(self, listener: TcpListener) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(len) = stream.read_u16().await else {
                        return;
                    };
                    let mut query = vec![0u8; usize::from(len)];
                    if stream.read_exact(&mut query).await.is_err() {
                        return;
                    }
                    let Some(answer) = this.answer(&query, u16::MAX).await else {
                        continue;
                    };
                    let Ok(len) = u16::try_from(answer.len()) else {
                        return;
                    };
                    if stream.write_u16(len).await.is_err()
                        || stream.write_all(&answer).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    }

    async fn answer(&self, query: &[u8], max_udp: u16) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let (behaviour, delay, nth, script) = {
            let mut state = self.state.write().unwrap();
            let nth = state.total;
            state.total += 1;
            if let Some(question) = request.queries.first() {
                *state
                    .queries
                    .entry((key(&question.name.to_ascii()), question.query_type))
                    .or_default() += 1;
            }
            (
                state.behaviour.unwrap_or(Behaviour::Answer),
                state.delay,
                nth,
                state.script.clone(),
            )
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut response = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.queries = request.queries.clone();
        if let Some(edns) = &request.edns {
            let mut reply = Edns::new();
            reply.set_max_payload(edns.max_payload().min(max_udp).max(512));
            response.set_edns(reply);
        }
        match behaviour {
            Behaviour::Silent => return None,
            Behaviour::ServFail => response.metadata.response_code = ResponseCode::ServFail,
            Behaviour::Refused => response.metadata.response_code = ResponseCode::Refused,
            Behaviour::Answer => {
                let question = request.queries.first()?;
                let scripted = script
                    .as_ref()
                    .and_then(|script| script(&question.name, question.query_type, nth));
                let reply = match scripted {
                    Some(s) if s.stall && max_udp == u16::MAX => return None,
                    Some(s) if s.stall => {
                        response.metadata.truncation = true;
                        return response.to_vec().ok();
                    }
                    Some(s) => Reply {
                        answers: s.answers,
                        authorities: s.authorities,
                        additionals: s.additionals,
                        code: s.code,
                        authoritative: s.authoritative,
                    },
                    None => self.reply(&question.name.to_ascii(), question.query_type),
                };
                response.answers = reply.answers;
                response.authorities = reply.authorities;
                response.additionals = reply.additionals;
                response.metadata.response_code = reply.code;
                response.metadata.authoritative = reply.authoritative;
            }
        }
        let bytes = response.to_vec().ok()?;
        // Over UDP an answer fits the client's EDNS size (512 without EDNS) or is
        // truncated; over TCP (`max_udp` = u16::MAX) it is never truncated.
        let limit = match &request.edns {
            _ if max_udp == u16::MAX => usize::from(u16::MAX),
            Some(edns) => usize::from(edns.max_payload().min(max_udp)),
            None => 512,
        };
        if bytes.len() > limit.max(512) {
            let mut truncated = response.truncate();
            truncated.metadata.truncation = true;
            return truncated.to_vec().ok();
        }
        Some(bytes)
    }

    fn reply(&self, qname: &str, qtype: RecordType) -> Reply {
        let state = self.state.read().unwrap();
        if state.zones.is_empty() {
            drop(state);
            let (answers, code) = self.resolve(qname, qtype);
            return Reply {
                answers,
                code,
                authoritative: true,
                ..Reply::default()
            };
        }
        authoritative_reply(&state, &key(qname), qtype)
    }

    /// Answers from what it holds, following CNAMEs (the stand-in resolver's way).
    fn resolve(&self, qname: &str, qtype: RecordType) -> (Vec<Record>, ResponseCode) {
        let state = self.state.read().unwrap();
        let mut answers = Vec::new();
        let mut name = key(qname);
        for _ in 0..8 {
            let Some(records) = state.records.get(&name) else {
                return (answers, ResponseCode::NXDomain);
            };
            let cname = records
                .iter()
                .find(|r| r.record_type() == RecordType::CNAME);
            match cname {
                Some(record) if qtype != RecordType::CNAME => {
                    answers.push(record.clone());
                    let RData::CNAME(CNAME(target)) = &record.data else {
                        unreachable!()
                    };
                    name = key(&target.to_ascii());
                }
                _ => {
                    answers.extend(records.iter().filter(|r| r.record_type() == qtype).cloned());
                    return (answers, ResponseCode::NoError);
                }
            }
        }
        (answers, ResponseCode::ServFail)
    }
}

#[derive(Default)]
struct Reply {
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    code: ResponseCode,
    authoritative: bool,
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).expect("valid name")
}

fn within(name: &str, apex: &str) -> bool {
    apex.is_empty() || name == apex || name.ends_with(&format!(".{apex}"))
}

/// The deepest zone of this server that holds `name`.
fn zone_of<'a>(state: &'a State, name: &str) -> Option<&'a str> {
    state
        .zones
        .iter()
        .filter(|apex| within(name, apex))
        .max_by_key(|apex| apex.len())
        .map(String::as_str)
}

fn of_type(state: &State, name: &str, qtype: RecordType) -> Vec<Record> {
    state
        .records
        .get(name)
        .map(|rs| {
            rs.iter()
                .filter(|r| r.record_type() == qtype)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 1034 §4.3.2, for the zones this server holds.
fn authoritative_reply(state: &State, qname: &str, qtype: RecordType) -> Reply {
    let Some(zone) = zone_of(state, qname) else {
        return Reply {
            code: ResponseCode::Refused,
            ..Reply::default()
        };
    };
    // A delegation between the apex and the name: refer, with glue, not authoritatively.
    let relative = if zone.is_empty() {
        qname.to_owned()
    } else {
        qname
            .strip_suffix(zone)
            .unwrap_or("")
            .trim_end_matches('.')
            .to_owned()
    };
    let labels: Vec<&str> = relative.split('.').filter(|l| !l.is_empty()).collect();
    for start in (0..labels.len()).rev() {
        let mut cut = labels[start..].join(".");
        if !zone.is_empty() {
            cut = format!("{cut}.{zone}");
        }
        let ns = of_type(state, &cut, RecordType::NS);
        if !ns.is_empty() {
            let additionals = ns
                .iter()
                .filter_map(|r| match &r.data {
                    RData::NS(NS(host)) => {
                        Some(of_type(state, &key(&host.to_ascii()), RecordType::A))
                    }
                    _ => None,
                })
                .flatten()
                .collect();
            return Reply {
                authorities: ns,
                additionals,
                code: ResponseCode::NoError,
                authoritative: false,
                ..Reply::default()
            };
        }
    }
    let soa = || of_type(state, zone, RecordType::SOA);
    let mut answers = Vec::new();
    let mut name = qname.to_owned();
    for _ in 0..8 {
        let cname = of_type(state, &name, RecordType::CNAME);
        if let (Some(record), false) = (cname.first(), qtype == RecordType::CNAME) {
            answers.push(record.clone());
            let RData::CNAME(CNAME(target)) = &record.data else {
                unreachable!()
            };
            name = key(&target.to_ascii());
            if zone_of(state, &name) != Some(zone) {
                break; // out of this zone: the resolver asks the target's servers
            }
            continue;
        }
        let found = of_type(state, &name, qtype);
        let exists = state.exists(&name);
        return match (found.is_empty(), exists) {
            (false, _) => {
                answers.extend(found);
                Reply {
                    answers,
                    code: ResponseCode::NoError,
                    authoritative: true,
                    ..Reply::default()
                }
            }
            (true, exists) => Reply {
                answers,
                authorities: soa(),
                code: if exists {
                    ResponseCode::NoError
                } else {
                    ResponseCode::NXDomain
                },
                authoritative: true,
                ..Reply::default()
            },
        };
    }
    Reply {
        answers,
        code: ResponseCode::NoError,
        authoritative: true,
        ..Reply::default()
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}
