//! Configuration from the environment, read once per cold start: the one module that reads
//! environment variables (the AWS SDK's own chain aside), each with an error that names the
//! variable and what was wrong.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::aws::{Cloud, KeySealer, Kms, LocalSealer, Route53, SesV2};
use crate::dns::DnsChecker;
use crate::dns::check::{DEFAULT_TIMEOUT, parse_nameservers};
use crate::dns::policy::AddressPolicy;
use crate::outbox::webhooks::{Deliverer, Outbound};
use crate::store::{DynamoStore, Store};
use crate::workflows::sweep::SweepOptions;

/// Name of the DynamoDB table. Required in Lambda; in the local server its presence
/// switches from the in-memory store to DynamoDB.
pub const TABLE_VAR: &str = "DOMAINS_TABLE";

pub fn table_from_env() -> Option<String> {
    std::env::var(TABLE_VAR)
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// The shared AWS configuration: region, credentials and endpoint overrides
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, …) from the standard chain.
pub async fn aws() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub fn dynamo_store(config: &SdkConfig, table: String) -> DynamoStore {
    let client = crate::aws::client!(
        aws_sdk_dynamodb,
        aws_sdk_dynamodb::config::Builder::from(config)
    );
    DynamoStore::new(client, table)
}

/// SES and Route 53 both on, and KMS where `DKIM_KMS_KEY_ID` names a key: the deployed
/// service.
pub fn cloud(config: &SdkConfig) -> Cloud {
    Cloud {
        ses: Some(Arc::new(SesV2::new(config.clone()))),
        zones: Some(Arc::new(Route53::new(config))),
        sealer: kms_sealer(config),
    }
}

/// KMS where `DKIM_KMS_KEY_ID` names a key.
fn kms_sealer(config: &SdkConfig) -> Option<Arc<dyn KeySealer>> {
    kms_key_from_env().map(|id| Arc::new(Kms::new(config, id)) as _)
}

/// Turns SES and Route 53 off in the Lambda functions (`off`), e.g. under `cargo lambda
/// watch` against DynamoDB Local alone.
pub const AWS_SERVICES_VAR: &str = "DOMAINS_AWS_SERVICES";

/// The functions' services: both on, unless `DOMAINS_AWS_SERVICES=off`.
pub fn lambda_cloud(config: &SdkConfig) -> Cloud {
    if aws_services_off() {
        Cloud::default()
    } else {
        cloud(config)
    }
}

fn aws_services_off() -> bool {
    std::env::var(AWS_SERVICES_VAR).is_ok_and(|value| value.eq_ignore_ascii_case("off"))
}

/// The sealer of webhook secrets in a Lambda function: KMS (`DKIM_KMS_KEY_ID`), and
/// nothing else unless the AWS services are off (`DOMAINS_AWS_SERVICES=off`, a local
/// session), where `None` asks [`deliverer`] for local sealing. A deployment without the
/// key refuses to start rather than keep secrets under a key that lives in its own table.
pub fn lambda_webhook_sealer(config: &SdkConfig) -> Result<Option<Arc<dyn KeySealer>>, String> {
    // Only the KMS client: the webhook functions build no SES or Route 53 client.
    if aws_services_off() {
        return Ok(None);
    }
    kms_sealer(config).map(Some).ok_or_else(|| {
        format!(
            "{KMS_KEY_VAR} is not set: webhook secrets are sealed with KMS (set \
             {AWS_SERVICES_VAR}=off for a local session without AWS)"
        )
    })
}

/// Each of SES, Route 53 and KMS on only when an endpoint is configured for it
/// (`AWS_ENDPOINT_URL`, or `AWS_ENDPOINT_URL_SESV2` / `_ROUTE_53` / `_KMS`): the local
/// server, which must not touch a real account by accident.
pub fn cloud_if_endpoints(config: &SdkConfig) -> Cloud {
    let set = endpoints_set();
    let everything = cloud(config);
    Cloud {
        ses: everything.ses.filter(|_| set.ses),
        zones: everything.zones.filter(|_| set.route53),
        sealer: everything.sealer.filter(|_| set.kms),
    }
}

/// Which services have an endpoint configured.
#[derive(Debug, Clone, Copy)]
pub struct EndpointsSet {
    pub ses: bool,
    pub route53: bool,
    pub kms: bool,
    pub eventbridge: bool,
}

pub fn endpoints_set() -> EndpointsSet {
    let set = |var: &str| std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
    let all = set("AWS_ENDPOINT_URL");
    EndpointsSet {
        ses: all || set("AWS_ENDPOINT_URL_SESV2"),
        route53: all || set("AWS_ENDPOINT_URL_ROUTE_53"),
        kms: all || set("AWS_ENDPOINT_URL_KMS"),
        eventbridge: all || set("AWS_ENDPOINT_URL_EVENTBRIDGE"),
    }
}

/// How often active domains are checked again: `WATCH_INTERVAL` as `24h`, `30m`, `1h 30m`
/// and the like.
pub const WATCH_VAR: &str = "WATCH_INTERVAL";

/// `WATCH_INTERVAL` if it is set; an error names the variable and what was wrong.
pub fn watch_interval_from_env() -> Result<Option<time::Duration>, String> {
    let Ok(text) = std::env::var(WATCH_VAR) else {
        return Ok(None);
    };
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|error| format!("{WATCH_VAR}={text:?}: {error}"))?;
    let duration = time::Duration::try_from(parsed)
        .ok()
        .filter(|d| *d >= time::Duration::MINUTE)
        .ok_or_else(|| format!("{WATCH_VAR}={text:?}: give at least one minute"))?;
    Ok(Some(duration))
}

/// How long a retired DKIM record stays in a managed zone: `DKIM_RETIRE_AFTER`, as
/// `48h`, `3d` and the like.
pub const DKIM_RETIRE_AFTER_VAR: &str = "DKIM_RETIRE_AFTER";

/// `DKIM_RETIRE_AFTER` if it is set; an error names the variable and what was wrong.
pub fn dkim_retire_after_from_env() -> Result<Option<time::Duration>, String> {
    let Ok(text) = std::env::var(DKIM_RETIRE_AFTER_VAR) else {
        return Ok(None);
    };
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|error| format!("{DKIM_RETIRE_AFTER_VAR}={text:?}: {error}"))?;
    let duration = time::Duration::try_from(parsed)
        .map_err(|error| format!("{DKIM_RETIRE_AFTER_VAR}={text:?}: {error}"))?;
    Ok(Some(duration))
}

/// The EventBridge bus lifecycle events go to (`EVENT_BUS_NAME`, else `default`).
pub fn event_bus_from_env() -> String {
    std::env::var("EVENT_BUS_NAME")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// Names the KMS key that seals DKIM keys (id, ARN or alias).
pub const KMS_KEY_VAR: &str = "DKIM_KMS_KEY_ID";

/// The key `DKIM_KMS_KEY_ID` names, if it names one.
pub fn kms_key_from_env() -> Option<String> {
    std::env::var(KMS_KEY_VAR)
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// Environment variable naming the resolver (`ip:port,ip:port`); the system's when unset.
pub const NAMESERVERS_VAR: &str = "DNS_NAMESERVERS";
/// `recursive` asks the resolver only (for networks that cannot reach the Internet's name
/// servers); anything else, or unset, asks the authoritative servers.
pub const MODE_VAR: &str = "DNS_MODE";

/// Networks besides the public Internet where name servers may be asked (comma-separated
/// CIDRs); empty or unset: none.
pub const ALLOW_NETWORKS_VAR: &str = "DNS_ALLOW_NETWORKS";

/// Verifies an organization may ask for a minute.
pub const VERIFY_RATE_VAR: &str = "VERIFY_RATE";

/// `VERIFY_RATE` if it is set: a whole number of verifies a minute, at least 1.
pub fn verify_rate_from_env() -> Result<Option<u32>, String> {
    let Ok(text) = std::env::var(VERIFY_RATE_VAR) else {
        return Ok(None);
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_verify_rate(&text).map(Some)
}

/// A verify rate as `VERIFY_RATE` gives it.
pub fn parse_verify_rate(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| {
            format!(
                "{VERIFY_RATE_VAR}={text:?}: give the verifies an organization may ask for a \
                 minute, a whole number from 1 to 1000000"
            )
        })
}

/// The DNS checker: these resolvers (the command line's), else `DNS_NAMESERVERS`, else the
/// system's; `DNS_MODE`; and the networks `allow` names (the command line's), else
/// `DNS_ALLOW_NETWORKS`'s.
pub fn dns_checker(resolvers: &[SocketAddr], allow: Option<&str>) -> Result<DnsChecker, String> {
    let allow = match allow {
        Some(list) => list.to_owned(),
        None => std::env::var(ALLOW_NETWORKS_VAR).unwrap_or_default(),
    };
    let policy =
        AddressPolicy::parse(&allow).map_err(|why| format!("{ALLOW_NETWORKS_VAR}: {why}"))?;
    let from_env = std::env::var(NAMESERVERS_VAR).unwrap_or_default();
    let checker = if !resolvers.is_empty() {
        DnsChecker::with_nameservers(resolvers, DEFAULT_TIMEOUT)
    } else if !from_env.trim().is_empty() {
        DnsChecker::with_nameservers(&parse_nameservers(&from_env)?, DEFAULT_TIMEOUT)
    } else {
        DnsChecker::system()?
    };
    let checker = checker.with_allowed_networks(policy);
    Ok(match std::env::var(MODE_VAR) {
        Ok(mode) if mode.trim().eq_ignore_ascii_case("recursive") => checker.recursive(),
        Ok(mode)
            if !mode.trim().is_empty() && !mode.trim().eq_ignore_ascii_case("authoritative") =>
        {
            return Err(format!(
                "{MODE_VAR} is '{mode}'; it takes authoritative (the default) or recursive"
            ));
        }
        _ => checker,
    })
}

/// The sweep's options: the defaults, with `SWEEP_CONCURRENCY` when set.
pub fn sweep_options_from_env() -> SweepOptions {
    let mut options = SweepOptions::default();
    if let Some(n) = std::env::var("SWEEP_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        options.concurrency = n;
    }
    options
}

/// The log filter's directives: `RUST_LOG`, else `default`.
pub fn log_spec_from_env(default: &str) -> String {
    std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_owned())
}

/// Networks besides the public Internet where webhook endpoints may be (comma-separated
/// CIDRs); plain `http` is allowed into these only. Empty or unset: none.
pub const WEBHOOK_ALLOW_NETWORKS_VAR: &str = "WEBHOOK_ALLOW_NETWORKS";

/// What delivers webhooks: the outbound client under the networks `allow` names (the
/// command line's), else `WEBHOOK_ALLOW_NETWORKS`'s; secrets sealed by `kms` where a host
/// has it, else (local hosts) by a key derived from the store's own.
pub async fn deliverer(
    kms: Option<Arc<dyn KeySealer>>,
    store: &dyn Store,
    allow: Option<&str>,
) -> Result<Deliverer, String> {
    let allow = match allow {
        Some(list) => list.to_owned(),
        None => std::env::var(WEBHOOK_ALLOW_NETWORKS_VAR).unwrap_or_default(),
    };
    let policy = AddressPolicy::parse(&allow)
        .map_err(|why| format!("{WEBHOOK_ALLOW_NETWORKS_VAR}: {why}"))?;
    let sealer = match kms {
        Some(kms) => kms,
        None => {
            let key = store
                .cursor_key()
                .await
                .map_err(|e| format!("cannot read the store's key for webhook secrets: {e}"))?;
            Arc::new(LocalSealer::derived_from(&key)) as Arc<dyn KeySealer>
        }
    };
    Ok(Deliverer::new(Outbound::new(policy)?, sealer))
}
