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
    /// Not sent: the address (or the scheme for it) is one the policy refuses.
    Refused(String),
}

/// Why the resolver refused a name: found in the client's error to tell a refusal from a
/// failure to connect.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Refusal {}

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
            for address in &found {
                if let Some(why) = refusal(&policy, address.ip(), inside_only) {
                    return Err(Box::new(Refusal(format!("{}: {why}", name.as_str())))
                        as Box<dyn StdError + Send + Sync>);
                }
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
            Err(error) => return Sent::Refused(format!("the url does not parse: {error}")),
        };
        if let Some(why) = self.refusal_of(&url) {
            return Sent::Refused(why);
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
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return Sent::Refused(refusal.0.clone());
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
