//! A small Internet on loopback: a root server, a TLD server, the test zones on two name
//! servers (and a third for "another provider"), each at its own 127.a.b.x address on port
//! 53, and Unbound in front as the caching resolver. Delegations carry NS sets and glue,
//! negative answers the zones' SOA, so the resolver iterates and caches exactly as one in the
//! field does, and the checker finds each zone's servers through it.
//!
//! Each hierarchy takes a /24 of its own (127.a.b.0/24), so tests run side by side. Port 53
//! needs root, which is what the tests and CI run as.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use domains::dns::policy::AddressPolicy;
use domains::dns::{DnsChecker, records_for};
use domains::model::Domain;
use hickory_proto::rr::RecordType;

use crate::dns_server::{Behaviour, TestDns};
use crate::unbound::{self, Unbound};

const ROOT: u8 = 1;
const TLD: u8 = 2;
const NS1: u8 = 3;
const NS2: u8 = 4;
const OTHER: u8 = 5;
const RESOLVER: u8 = 53;

pub struct DnsHierarchy {
    pub root: TestDns,
    pub tld: TestDns,
    /// The two servers of every zone made by [`DnsHierarchy::zone`].
    pub ns: [TestDns; 2],
    /// The one server of zones made by [`DnsHierarchy::zone_elsewhere`].
    pub other: TestDns,
    block: (u8, u8),
    /// Zone apexes, each with whether it is on `other`.
    zones: Mutex<Vec<(String, bool)>>,
    tlds: Mutex<HashSet<String>>,
    resolver: Unbound,
}

/// The next /24 of 127/8 to try: spread by process id, so test binaries running at once
/// rarely collide (a taken address is skipped anyway).
fn next_block() -> (u8, u8) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) + std::process::id() * 7;
    (10 + (n / 256 % 240) as u8, (n % 256) as u8)
}

impl DnsHierarchy {
    pub async fn start() -> Self {
        let mut last_error = None;
        for _ in 0..64 {
            let block = next_block();
            let ip = move |host| Ipv4Addr::new(127, block.0, block.1, host);
            let servers = async {
                Ok::<_, std::io::Error>((
                    TestDns::start_on(ip(ROOT), 53).await?,
                    TestDns::start_on(ip(TLD), 53).await?,
                    TestDns::start_on(ip(NS1), 53).await?,
                    TestDns::start_on(ip(NS2), 53).await?,
                    TestDns::start_on(ip(OTHER), 53).await?,
                ))
            }
            .await;
            let (root, tld, ns1, ns2, other) = match servers {
                Ok(servers) => servers,
                Err(error) => {
                    last_error = Some(error);
                    continue;
                }
            };
            root.add_zone("", &[("a.root", ip(ROOT))]);
            let resolver =
                tokio::task::spawn_blocking(move || unbound::start(ip(RESOLVER), ip(ROOT)))
                    .await
                    .expect("unbound starts");
            return Self {
                root,
                tld,
                ns: [ns1, ns2],
                other,
                block,
                zones: Mutex::new(Vec::new()),
                tlds: Mutex::new(HashSet::new()),
                resolver,
            };
        }
        panic!(
            "no 127.x.y.0/24 block with port 53 free ({last_error:?}); the DNS tests bind \
             port 53 of loopback addresses and need to run as root"
        );
    }

    pub fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.block.0, self.block.1, host)
    }

    /// Unbound's address: the resolver the checker is configured with.
    pub fn resolver(&self) -> SocketAddr {
        self.resolver.addr
    }

    /// A checker configured as the product is: this resolver, authoritative mode; and the
    /// hierarchy's own network allowed (its servers are on loopback, which a checker
    /// otherwise never contacts).
    pub fn checker(&self, per_server: Duration) -> DnsChecker {
        self.checker_allowing(per_server, &self.network())
    }

    /// A checker that may contact name servers in `networks` (`DNS_ALLOW_NETWORKS`'s form)
    /// only, besides public addresses (which no test zone uses).
    pub fn checker_allowing(&self, per_server: Duration, networks: &str) -> DnsChecker {
        let policy = AddressPolicy::parse(networks).expect("valid networks");
        DnsChecker::with_nameservers(&[self.resolver()], per_server).with_allowed_networks(policy)
    }

    /// The hierarchy's /24 in CIDR form.
    pub fn network(&self) -> String {
        format!("{}/24", self.ip(0))
    }

    fn tld_of(&self, apex: &str) {
        let tld = apex.rsplit('.').next().unwrap_or(apex).to_owned();
        if self.tlds.lock().unwrap().insert(tld.clone()) {
            let host = format!("ns.nic.{tld}");
            let servers = [(host.as_str(), self.ip(TLD))];
            self.root.add_delegation(&tld, &servers);
            self.tld.add_zone(&tld, &servers);
        }
    }

    /// Makes `apex` a zone on the two zone servers (`ns1.<apex>`, `ns2.<apex>`), delegated
    /// from its TLD with glue. Idempotent.
    pub fn zone(&self, apex: &str) {
        let apex = apex.trim_end_matches('.').to_ascii_lowercase();
        if self.zones.lock().unwrap().iter().any(|(z, _)| *z == apex) {
            return;
        }
        self.tld_of(&apex);
        let (ns1, ns2) = (format!("ns1.{apex}"), format!("ns2.{apex}"));
        let servers = [(ns1.as_str(), self.ip(NS1)), (ns2.as_str(), self.ip(NS2))];
        self.tld.add_delegation(&apex, &servers);
        for server in &self.ns {
            server.add_zone(&apex, &servers);
        }
        self.zones.lock().unwrap().push((apex, false));
    }

    /// Makes `apex` a zone of another DNS host: one server, [`DnsHierarchy::other`].
    pub fn zone_elsewhere(&self, apex: &str) {
        let apex = apex.trim_end_matches('.').to_ascii_lowercase();
        self.tld_of(&apex);
        let host = format!("ns.{apex}");
        let servers = [(host.as_str(), self.ip(OTHER))];
        self.tld.add_delegation(&apex, &servers);
        self.other.add_zone(&apex, &servers);
        self.zones.lock().unwrap().push((apex, true));
    }

    /// Another server of this hierarchy, at `127.a.b.host` port 53 (hosts 1 to 5 and 53 are
    /// taken by the hierarchy itself).
    pub async fn server(&self, host: u8) -> TestDns {
        TestDns::start_on(self.ip(host), 53)
            .await
            .unwrap_or_else(|e| panic!("cannot bind {}:53: {e}", self.ip(host)))
    }

    /// Makes `apex` a zone on `on`, delegated from its TLD to `servers` (host, glue
    /// address): the hostile tests' zones, whose servers misbehave by script.
    pub fn zone_on(&self, apex: &str, servers: &[(&str, Ipv4Addr)], on: &[&TestDns]) {
        let apex = apex.trim_end_matches('.').to_ascii_lowercase();
        self.tld_of(&apex);
        self.tld.add_delegation(&apex, servers);
        for server in on {
            server.add_zone(&apex, servers);
        }
    }

    /// The servers of the zone holding `owner`; a zone of its last two labels is made on
    /// the two zone servers if none holds it yet.
    pub fn servers_of(&self, owner: &str) -> Vec<&TestDns> {
        let owner = owner.trim_end_matches('.').to_ascii_lowercase();
        let holding = |zones: &Vec<(String, bool)>| {
            zones
                .iter()
                .filter(|(apex, _)| owner == *apex || owner.ends_with(&format!(".{apex}")))
                .max_by_key(|(apex, _)| apex.len())
                .map(|(_, elsewhere)| *elsewhere)
        };
        let found = holding(&self.zones.lock().unwrap());
        let elsewhere = match found {
            Some(elsewhere) => elsewhere,
            None => {
                let labels: Vec<&str> = owner.rsplitn(3, '.').collect();
                let apex = match labels.as_slice() {
                    [tld, second, ..] => format!("{second}.{tld}"),
                    _ => owner.clone(),
                };
                self.zone(&apex);
                false
            }
        };
        if elsewhere {
            vec![&self.other]
        } else {
            self.ns.iter().collect()
        }
    }

    pub fn add_txt(&self, owner: &str, strings: &[&str]) {
        for server in self.servers_of(owner) {
            server.add_txt(owner, strings);
        }
    }

    pub fn add_txt_bytes(&self, owner: &str, strings: &[&[u8]]) {
        for server in self.servers_of(owner) {
            server.add_txt_bytes(owner, strings);
        }
    }

    pub fn add_long_txt(&self, owner: &str, value: &str) {
        for server in self.servers_of(owner) {
            server.add_long_txt(owner, value);
        }
    }

    pub fn add_mx(&self, owner: &str, preference: u16, host: &str) {
        for server in self.servers_of(owner) {
            server.add_mx(owner, preference, host);
        }
    }

    pub fn add_cname(&self, owner: &str, target: &str) {
        for server in self.servers_of(owner) {
            server.add_cname(owner, target);
        }
    }

    pub fn remove(&self, owner: &str) {
        for server in self.servers_of(owner) {
            server.remove(owner);
        }
    }

    /// How both zone servers answer.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        for server in &self.ns {
            server.set_behaviour(behaviour);
        }
    }

    /// Every answer of both zone servers waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        for server in &self.ns {
            server.set_delay(delay);
        }
    }

    /// Every query the two zone servers received.
    pub fn queries_for_zone_servers(&self) -> usize {
        self.ns.iter().map(TestDns::queries).sum()
    }

    /// Queries for `name` and `record_type` the first zone server received: one per check
    /// of that record (the resolver never asks it for the records themselves).
    pub fn checks_of(&self, name: &str, record_type: RecordType) -> usize {
        self.ns[0].queries_of(name, record_type)
    }

    /// Publishes the records `active` needs (MX, ownership TXT, DKIM), as returned for the
    /// domain, on both zone servers.
    pub fn publish_required(&self, domain: &Domain) {
        for record in records_for(domain).iter().filter(|r| r.required) {
            match record.record_type {
                "MX" => {
                    let (preference, host) = record.value.split_once(' ').expect("MX value");
                    self.add_mx(&record.name, preference.parse().expect("preference"), host);
                }
                _ => self.add_long_txt(&record.name, &record.value),
            }
        }
    }
}
