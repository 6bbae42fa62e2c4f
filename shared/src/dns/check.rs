//! What is published: looks up a domain's records at a DNS server and judges each one by
//! the rules a real receiver applies.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::plan::{DnsRecord, SPF_VALUE, records_for};
use crate::model::{CheckReport, Domain, Finding, RecordKind, Timestamp};

/// Environment variable naming the servers to ask (`ip:port,ip:port`); the system's
/// resolver when unset.
pub const NAMESERVERS_VAR: &str = "DNS_NAMESERVERS";

/// How long one try of one lookup may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a lookup gave no records.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Miss {
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no record of this type.
    NoData,
    /// The server could not answer now: not verified, try later.
    Transient(String),
}

impl Miss {
    fn reason(&self, record: &DnsRecord) -> String {
        match self {
            Miss::NxDomain => format!("missing: {} does not exist (NXDOMAIN)", record.name),
            Miss::NoData => format!(
                "missing: no {} record at {}",
                record.record_type, record.name
            ),
            Miss::Transient(why) => format!("{why}; try again later"),
        }
    }
}

/// Asks DNS servers for a domain's records. No answer is cached: each check sees what
/// the server says now, so a fresh publication counts at once.
#[derive(Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
    timeout: Duration,
}

impl DnsChecker {
    /// The servers of `DNS_NAMESERVERS`, or the system's resolver.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(NAMESERVERS_VAR) {
            Ok(list) if !list.trim().is_empty() => Ok(Self::with_nameservers(
                &parse_nameservers(&list)?,
                DEFAULT_TIMEOUT,
            )),
            _ => Self::system(),
        }
    }

    pub fn system() -> Result<Self, String> {
        let builder = TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?;
        let resolver = builder
            .with_options(options(DEFAULT_TIMEOUT))
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        Ok(Self {
            resolver,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Asks exactly these servers (UDP, then TCP for long answers), waiting `timeout` for
    /// each try.
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
        Self { resolver, timeout }
    }

    /// Looks up every record of `domain` concurrently and judges each.
    pub async fn check(&self, domain: &Domain, now: Timestamp) -> CheckReport {
        let records = records_for(domain);
        let lookups = records.iter().map(|record| self.judge(domain, record));
        let findings = join_all(lookups).await;
        CheckReport {
            checked_at: now,
            findings,
            ses: None,
        }
    }

    async fn judge(&self, domain: &Domain, record: &DnsRecord) -> Finding {
        let outcome = match record.kind {
            RecordKind::Mx => self.mx(&record.name).await,
            _ => self.txt(&record.name).await,
        };
        let found = match &outcome {
            Ok(values) => values.iter().map(|v| v.display()).collect(),
            Err(_) => Vec::new(),
        };
        let verdict = match outcome {
            Err(miss) => Err(miss.reason(record)),
            Ok(values) => match record.kind {
                RecordKind::Mx => judge_mx(domain, &values),
                RecordKind::Ownership => judge_ownership(domain, &values),
                RecordKind::Spf => judge_spf(&values),
                RecordKind::Dkim => judge_dkim(domain, &values),
                RecordKind::Dmarc => judge_dmarc(&values),
            },
        };
        Finding {
            kind: record.kind,
            verified: verdict.is_ok(),
            reason: verdict.err(),
            found,
        }
    }

    async fn mx(&self, name: &str) -> Result<Vec<Value>, Miss> {
        let lookup = self.lookup(name, RecordType::MX).await?;
        Ok(lookup
            .into_iter()
            .filter_map(|data| match data {
                RData::MX(mx) => Some(Value::Mx {
                    preference: mx.preference,
                    host: normalise_host(&mx.exchange.to_ascii()),
                }),
                _ => None,
            })
            .collect())
    }

    async fn txt(&self, name: &str) -> Result<Vec<Value>, Miss> {
        let lookup = self.lookup(name, RecordType::TXT).await?;
        Ok(lookup
            .into_iter()
            .filter_map(|data| match data {
                // The character-strings of one record form one value (RFC 7208 §3.3,
                // RFC 6376 §3.6.2.2): a 2048-bit DKIM key does not fit in one.
                RData::TXT(txt) => Some(Value::Txt(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect(),
                )),
                _ => None,
            })
            .collect())
    }

    /// The records of `record_type` at the end of any CNAME chain from `name`.
    async fn lookup(&self, name: &str, record_type: RecordType) -> Result<Vec<RData>, Miss> {
        // Fully qualified, so no search domain of the host is ever appended.
        let fqdn = format!("{name}.");
        // A hard bound over the resolver's own retries, so a check never hangs.
        let bounded = tokio::time::timeout(
            self.timeout * 3,
            self.resolver.lookup(fqdn.as_str(), record_type),
        )
        .await;
        match bounded {
            Err(_) => Err(Miss::Transient("DNS lookup timed out".into())),
            Ok(Err(error)) => Err(classify(&error)),
            Ok(Ok(lookup)) => {
                let data: Vec<RData> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == record_type)
                    .map(|r| r.data.clone())
                    .collect();
                if data.is_empty() {
                    Err(Miss::NoData)
                } else {
                    Ok(data)
                }
            }
        }
    }
}

fn options(timeout: Duration) -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 2;
    opts.edns0 = true;
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    opts.preserve_intermediates = true;
    opts
}

fn classify(error: &NetError) -> Miss {
    if error.is_nx_domain() {
        return Miss::NxDomain;
    }
    if error.is_no_records_found() {
        return Miss::NoData;
    }
    match error {
        NetError::Timeout => Miss::Transient("DNS lookup timed out".into()),
        NetError::Dns(hickory_resolver::net::DnsError::ResponseCode(ResponseCode::ServFail)) => {
            Miss::Transient("the DNS server failed to answer (SERVFAIL)".into())
        }
        other => Miss::Transient(format!("DNS lookup failed: {other}")),
    }
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

/// A published value as the judges see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Mx { preference: u16, host: String },
    Txt(String),
}

impl Value {
    fn display(&self) -> String {
        match self {
            Value::Mx { preference, host } => format!("{preference} {host}"),
            Value::Txt(text) => text.clone(),
        }
    }

    fn txt(&self) -> Option<&str> {
        match self {
            Value::Txt(text) => Some(text),
            Value::Mx { .. } => None,
        }
    }
}

/// Host names compare case-insensitively and without the root dot.
fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn judge_mx(domain: &Domain, values: &[Value]) -> Result<(), String> {
    let ours = domain.region.inbound_smtp_host();
    let hosts: Vec<(u16, &str)> = values
        .iter()
        .filter_map(|v| match v {
            Value::Mx { preference, host } => Some((*preference, host.as_str())),
            Value::Txt(_) => None,
        })
        .collect();
    let Some(our_preference) = hosts
        .iter()
        .filter(|(_, host)| *host == ours)
        .map(|(p, _)| *p)
        .min()
    else {
        return Err(format!("wrong value: no MX record points to {ours}"));
    };
    // Mail goes to the lowest preference first: another host there takes it instead.
    match hosts.iter().filter(|(_, host)| *host != ours).min() {
        Some((best, other)) if *best < our_preference => Err(format!(
            "conflicting record: {other} has a better preference ({best}) than {ours} \
             ({our_preference}), so mail goes there"
        )),
        _ => Ok(()),
    }
}

fn judge_ownership(domain: &Domain, values: &[Value]) -> Result<(), String> {
    let token = &domain.setup.ownership_token;
    if values
        .iter()
        .filter_map(Value::txt)
        .any(|t| t.trim() == token)
    {
        Ok(())
    } else {
        Err("wrong value: no TXT record there holds this domain's token".into())
    }
}

/// Whether a TXT value starts with the version tag `tag` (as in `v=spf1 ...`), compared
/// case-insensitively as the RFCs require.
fn has_version(text: &str, tag: &str) -> bool {
    let text = text.trim_start();
    text.len() >= tag.len()
        && text[..tag.len()].eq_ignore_ascii_case(tag)
        && text[tag.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == ';')
}

fn judge_spf(values: &[Value]) -> Result<(), String> {
    let spf: Vec<&str> = values
        .iter()
        .filter_map(Value::txt)
        .filter(|t| has_version(t, "v=spf1"))
        .collect();
    match spf.as_slice() {
        [] => Err(format!("missing: no SPF record (publish \"{SPF_VALUE}\")")),
        [record] => {
            let includes_ses = record.split_whitespace().any(|term| {
                let term = term.strip_prefix(['+', '~', '?']).unwrap_or(term);
                term.eq_ignore_ascii_case("include:amazonses.com")
            });
            if includes_ses {
                Ok(())
            } else {
                Err("wrong value: the SPF record does not include amazonses.com".into())
            }
        }
        many => Err(format!(
            "conflicting record: {} SPF records found; a domain must publish exactly one, \
             receivers treat several as an error (RFC 7208 §4.5)",
            many.len()
        )),
    }
}

fn judge_dkim(domain: &Domain, values: &[Value]) -> Result<(), String> {
    let keys: Vec<String> = values
        .iter()
        .filter_map(Value::txt)
        .filter_map(dkim_public_key)
        .collect();
    match keys.as_slice() {
        [] => Err("missing: no DKIM key record (v=DKIM1; k=rsa; p=...) there".into()),
        [key] if *key == domain.setup.dkim_public_key => Ok(()),
        [_] => Err("wrong value: the DKIM record's p= is not this domain's public key".into()),
        many => Err(format!(
            "conflicting record: {} DKIM key records at one selector; publish exactly one",
            many.len()
        )),
    }
}

/// The `p=` of a DKIM key record, white space removed; `None` if it is not one.
fn dkim_public_key(text: &str) -> Option<String> {
    let mut key = None;
    for tag in text.split(';') {
        let (name, value) = tag.split_once('=')?;
        let value: String = value.split_whitespace().collect();
        match name.trim() {
            "v" if value != "DKIM1" => return None,
            "k" if !value.eq_ignore_ascii_case("rsa") => return None,
            "p" => key = Some(value),
            _ => {}
        }
    }
    key
}

fn judge_dmarc(values: &[Value]) -> Result<(), String> {
    let dmarc = values
        .iter()
        .filter_map(Value::txt)
        .filter(|t| has_version(t, "v=DMARC1"))
        .count();
    match dmarc {
        0 => Err("missing: no DMARC record (v=DMARC1; ...)".into()),
        1 => Ok(()),
        n => Err(format!(
            "conflicting record: {n} DMARC records found; receivers ignore all of them \
             (RFC 7489 §6.6.3)"
        )),
    }
}
