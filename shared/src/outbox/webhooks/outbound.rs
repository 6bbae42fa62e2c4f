//! Sending to an address a tenant chose, as if it were hostile: its name resolved once
//! and every address vetted by the outbound policy ([`AddressPolicy`]) before the
//! connection is made to a vetted address (the resolver below is the only one the client
//! asks, so nothing is resolved again between the check and the connect); `https` only,
//! except to networks an operator allows; no redirect followed; bounded in time and in
//! what is read of the answer.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Client, Url};

use crate::dns::policy::AddressPolicy;

/// Connecting, sending and reading the answer together take at most this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read of an answer at most; the rest is never read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What a send came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The endpoint answered with this status.
    Answered(u16),
    /// No answer: the connection (or its TLS handshake) failed, or the time ran out.
    Unreachable(String),
    /// Not sent: the address (or the scheme for it) is one the policy refuses. `shown` is
    /// what the endpoint's owner may read; `detail`, for the log only, the address a host
    /// name resolved to and why it was refused.
    Refused {
        shown: String,
        detail: Option<String>,
    },
}

/// Why a host name is refused: what its owner is told, and the address and reason that
/// only the log may hold. Naming the address to the tenant would let anyone resolve names
/// inside the operator's network (a private zone, the VPC's resolver) through the service.
/// Also the resolver's error, found in the client's error to tell a refusal from a failure
/// to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRefusal {
    pub shown: String,
    pub detail: String,
}

impl std::fmt::Display for NameRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl StdError for NameRefusal {}

/// The refusal of host `name` if any of `addresses` must not be contacted (over plain
/// `http` when `inside_only`).
fn name_refusal(
    policy: &AddressPolicy,
    name: &str,
    addresses: impl IntoIterator<Item = IpAddr>,
    inside_only: bool,
) -> Option<NameRefusal> {
    addresses.into_iter().find_map(|ip| {
        let why = refusal(policy, ip, inside_only)?;
        let shown = if inside_only {
            format!(
                "plain http is allowed only to networks an operator allows, and {name} \
                 resolves to an address outside them: use https"
            )
        } else {
            format!("{name} resolves to an address that is not public")
        };
        Some(NameRefusal {
            shown,
            detail: format!("{name} resolves to {ip}: {why}"),
        })
    })
}

/// The one resolver of a client: every address a name has must pass, or none is used.
struct VettingResolver {
    policy: AddressPolicy,
    /// Plain `http`: only addresses inside the allowed networks.
    inside_allowed_only: bool,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let inside_only = self.inside_allowed_only;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(format!("{} has no address", name.as_str()).into());
            }
            let ips = found.iter().map(SocketAddr::ip);
            if let Some(refused) = name_refusal(&policy, name.as_str(), ips, inside_only) {
                return Err(Box::new(refused) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Why `ip` must not be contacted (over plain `http` when `inside_only`).
fn refusal(policy: &AddressPolicy, ip: IpAddr, inside_only: bool) -> Option<String> {
    if inside_only {
        let inside = policy.networks().iter().any(|net| net.contains(&ip));
        return (!inside).then(|| {
            format!("plain http is allowed only to networks an operator allows, not to {ip}")
        });
    }
    policy.refusal(ip)
}

/// Two clients, each with its vetting resolver: one for `https`, one for plain `http` to
/// allowed networks.
#[derive(Clone)]
pub struct Outbound {
    policy: AddressPolicy,
    https: Client,
    http: Client,
}

impl Outbound {
    /// The client of every host: endpoints' certificates are judged by the system's roots.
    pub fn new(policy: AddressPolicy) -> Result<Self, String> {
        Self::with_roots(policy, Vec::new())
    }

    /// A client that also trusts `roots`, for endpoints whose certificates a private CA
    /// issued (a test's receiver, a local setup); the system's roots are trusted still.
    pub fn with_roots(
        policy: AddressPolicy,
        roots: Vec<reqwest::Certificate>,
    ) -> Result<Self, String> {
        // The process's TLS provider: the aws-lc-rs one the AWS SDK links already. An
        // earlier install (by another client) is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let build = |inside_allowed_only: bool| {
            roots
                .iter()
                .fold(Client::builder(), |builder, root| {
                    builder.add_root_certificate(root.clone())
                })
                .dns_resolver(Arc::new(VettingResolver {
                    policy: policy.clone(),
                    inside_allowed_only,
                }))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(TIMEOUT)
                .timeout(TIMEOUT)
                .pool_max_idle_per_host(0)
                .user_agent("email-domains-webhooks/1")
                .https_only(!inside_allowed_only)
                .build()
                .map_err(|e| format!("cannot build the webhook client: {e}"))
        };
        Ok(Self {
            https: build(false)?,
            http: build(true)?,
            policy,
        })
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Why `url` is not an address to send to, judged without resolving it: the scheme,
    /// userinfo, and an address literal's range.
    pub fn refusal_of(&self, url: &Url) -> Option<String> {
        match url.scheme() {
            "https" | "http" => {}
            other => return Some(format!("the scheme must be https, not {other}")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Some("the url must not carry a user name or password".into());
        }
        let inside_only = url.scheme() == "http";
        match url.host() {
            None => Some("the url has no host".into()),
            Some(url::Host::Ipv4(ip)) => refusal(&self.policy, IpAddr::V4(ip), inside_only),
            Some(url::Host::Ipv6(ip)) => refusal(&self.policy, IpAddr::V6(ip), inside_only),
            Some(url::Host::Domain(_)) => None,
        }
    }

    /// Why host `name`, resolving to `addresses`, is not one to send to (over plain `http`
    /// when `inside_only`), judged as every attempt judges it.
    pub fn refusal_of_name(
        &self,
        name: &str,
        addresses: impl IntoIterator<Item = IpAddr>,
        inside_only: bool,
    ) -> Option<NameRefusal> {
        name_refusal(&self.policy, name, addresses, inside_only)
    }

    /// Posts `body` with `headers` to `url`; reads at most [`MAX_RESPONSE_BYTES`] of the
    /// answer.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> (Sent, Duration) {
        let started = Instant::now();
        let sent = self.send(url, headers, body).await;
        (sent, started.elapsed())
    }

    async fn send(&self, url: &str, headers: &[(&str, String)], body: String) -> Sent {
        let url = match Url::parse(url) {
            Ok(url) => url,
            Err(error) => {
                return Sent::Refused {
                    shown: format!("the url does not parse: {error}"),
                    detail: None,
                };
            }
        };
        // An address in the url is the owner's own: the reason may name it.
        if let Some(why) = self.refusal_of(&url) {
            return Sent::Refused {
                shown: why,
                detail: None,
            };
        }
        let client = if url.scheme() == "http" {
            &self.http
        } else {
            &self.https
        };
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failure(&error),
        };
        let status = response.status().as_u16();
        // Read a bounded part of the answer, so the endpoint sees it read; never more.
        let mut read = 0usize;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        Sent::Answered(status)
    }
}

/// A refusal by the resolver, or what kept the request from an answer.
fn failure(error: &reqwest::Error) -> Sent {
    for cause in causes(error) {
        if let Some(refusal) = cause.downcast_ref::<NameRefusal>() {
            return Sent::Refused {
                shown: refusal.shown.clone(),
                detail: Some(refusal.detail.clone()),
            };
        }
        // The endpoint's owner must be told it is their certificate (expired, for another
        // name, from a CA nobody trusts), not the network.
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Sent::Unreachable(format!("the TLS handshake failed: {tls}"));
        }
    }
    let what = if error.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if error.is_connect() {
        "the connection failed".to_owned()
    } else {
        "the request failed".to_owned()
    };
    // The innermost cause says what happened (refused, reset, no address) without naming
    // anything of ours.
    let innermost = causes(error).last().unwrap_or(error);
    Sent::Unreachable(format!("{what}: {innermost}"))
}

/// `error` and its causes, outermost first. An `io::Error`'s `source` skips the error it
/// wraps (where the TLS error travels, twice wrapped), so that one is taken instead.
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&cause| {
        match cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(wrapped) => Some(wrapped as &(dyn StdError + 'static)),
            None => cause.source(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_refused_name_is_shown_without_its_address() {
        let policy = AddressPolicy::parse("127.0.0.2/32").unwrap();
        for (refused, inside_only) in [
            ("10.1.2.3", false),
            ("169.254.169.254", false),
            ("127.0.0.1", false),
            ("fd00::53", false),
            ("::ffff:10.0.0.1", false),
            ("203.0.114.1", true),
            ("10.1.2.3", true),
        ] {
            // An address that passes first: one refused address among them refuses the name.
            let passes = if inside_only {
                "127.0.0.2"
            } else {
                "198.41.0.4"
            };
            let addresses = [ip(passes), ip(refused)];
            let refusal = name_refusal(&policy, "hooks.example", addresses, inside_only)
                .unwrap_or_else(|| panic!("{refused} is refused"));
            assert!(refusal.shown.starts_with(if inside_only {
                "plain http"
            } else {
                "hooks.example resolves to an address that is not public"
            }));
            for hidden in [refused, "/", "private", "loopback", "link-local"] {
                assert!(!refusal.shown.contains(hidden), "{refusal:?}");
            }
            assert!(refusal.detail.contains(refused), "{refusal:?}");
            assert!(refusal.detail.contains("hooks.example"), "{refusal:?}");
        }
        for (allowed, inside_only) in [("198.41.0.4", false), ("127.0.0.2", true)] {
            assert_eq!(
                name_refusal(&policy, "hooks.example", [ip(allowed)], inside_only),
                None
            );
        }
        // Plain http to a public address is outside the allowed networks.
        assert!(name_refusal(&policy, "hooks.example", [ip("198.41.0.4")], true).is_some());
    }
}
