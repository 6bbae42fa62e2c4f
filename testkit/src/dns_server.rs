//! An authoritative DNS server on a free loopback port (UDP and TCP), serving zones a test
//! writes, speaking the real wire protocol (messages built with hickory-proto). It can also
//! fail on purpose: SERVFAIL, silence, or slow answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, MX, TXT};
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
}

#[derive(Default)]
struct State {
    /// Records by lower-case owner name without the root dot.
    records: HashMap<String, Vec<Record>>,
    behaviour: Option<Behaviour>,
    delay: Duration,
    /// Queries received, by lower-case name.
    queries: HashMap<String, usize>,
}

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

    /// Every answer waits this long first (for benchmarks).
    pub fn set_delay(&self, delay: Duration) {
        self.state.write().unwrap().delay = delay;
    }

    fn add(&self, owner: &str, data: RData) {
        let name = Name::from_ascii(format!("{}.", owner.trim_end_matches('.')))
            .expect("valid owner name");
        let record = Record::from_rdata(name, 300, data);
        self.state
            .write()
            .unwrap()
            .records
            .entry(key(owner))
            .or_default()
            .push(record);
    }

    /// A TXT record made of these character-strings (each at most 255 octets).
    pub fn add_txt(&self, owner: &str, strings: &[&str]) {
        assert!(
            strings.iter().all(|s| s.len() <= 255),
            "a character-string is at most 255 octets"
        );
        self.add(
            owner,
            RData::TXT(TXT::new(strings.iter().map(|s| s.to_string()).collect())),
        );
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

    /// How many queries for `name` (any type) the server has received.
    pub fn queries_for(&self, name: &str) -> usize {
        self.state
            .read()
            .unwrap()
            .queries
            .get(&key(name))
            .copied()
            .unwrap_or(0)
    }

    /// Removes every record at `owner`.
    pub fn remove(&self, owner: &str) {
        self.state.write().unwrap().records.remove(&key(owner));
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
        let (behaviour, delay) = {
            let mut state = self.state.write().unwrap();
            if let Some(question) = request.queries.first() {
                *state
                    .queries
                    .entry(key(&question.name.to_ascii()))
                    .or_default() += 1;
            }
            (state.behaviour.unwrap_or(Behaviour::Answer), state.delay)
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
            Behaviour::Answer => {
                let question = request.queries.first()?;
                let (answers, code) = self.resolve(&question.name.to_ascii(), question.query_type);
                response.answers = answers;
                response.metadata.response_code = code;
            }
        }
        let bytes = response.to_vec().ok()?;
        let limit = usize::from(
            request
                .edns
                .as_ref()
                .map_or(512, |e| e.max_payload().min(max_udp)),
        );
        if bytes.len() > limit.max(512) {
            let mut truncated = response.truncate();
            truncated.metadata.truncation = true;
            return truncated.to_vec().ok();
        }
        Some(bytes)
    }

    /// Answers from the zone, following CNAMEs inside it as an authoritative server does.
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
