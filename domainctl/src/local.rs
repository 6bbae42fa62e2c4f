//! `domainctl serve` and `domainctl dev`: the handlers on one port over a store and the
//! AWS services they were given, until Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use domains::App;
use domains::auth::NewApiKey;
use domains::aws::Cloud;
use domains::aws::EventSink;
use domains::clock::{Clock, SystemClock};
use domains::model::{OrgId, ZoneId};
use domains::outbox::publish_forever;
use domains::outbox::webhooks::{FanOut, deliver_due_forever};
use domains::store::EventFeed;
use domains::store::{Store, StoreError};
use domains::workflows::sweep::{SweepOptions, sweep};

/// What the server runs over.
pub struct Backing {
    pub store: Arc<dyn Store>,
    /// How the banner names the store.
    pub store_name: String,
    pub cloud: Cloud,
    pub events: Option<Events>,
}

/// Where the store's lifecycle events come from and go, and how the banner names the
/// destination.
pub type Events = (Box<dyn EventFeed>, Arc<dyn EventSink>, String);

pub struct Options {
    pub addr: SocketAddr,
    /// Keys to accept; none means one is made for `org_local` and printed.
    pub api_keys: Vec<(String, OrgId)>,
    pub dns: Vec<SocketAddr>,
    /// `--dns-allow-networks`; `None` leaves it to `DNS_ALLOW_NETWORKS`.
    pub dns_allow_networks: Option<String>,
    /// `--webhook-allow-networks`; `None` leaves it to `WEBHOOK_ALLOW_NETWORKS`.
    pub webhook_allow_networks: Option<String>,
    pub sweep_every: Option<u64>,
    pub zones: Vec<(ZoneId, OrgId)>,
}

/// Stores the keys and zone assignments, prints the banner, and serves until Ctrl-C.
pub async fn serve(options: Options, backing: Backing) -> Result<(), String> {
    let dns = domains::config::dns_checker(&options.dns, options.dns_allow_networks.as_deref())?;
    let store = backing.store;
    let now = SystemClock.now();
    let generated = options.api_keys.is_empty();
    let keys: Vec<NewApiKey> = if generated {
        vec![NewApiKey::generate(
            OrgId::parse("org_local").expect("valid id"),
            now,
        )]
    } else {
        options
            .api_keys
            .into_iter()
            .map(|(key, org)| NewApiKey::from_key(key, org, now))
            .collect()
    };
    for key in &keys {
        match store.put_api_key(&key.record).await {
            Ok(()) => {}
            // Already there from an earlier run against the same table: fine if it
            // belongs to the same organization.
            Err(StoreError::Conflict) => {
                let existing = store.get_api_key(&key.record.key_hash).await;
                if !matches!(existing, Ok(Some(ref r)) if r.org_id == key.record.org_id) {
                    return Err(format!(
                        "that API key already belongs to another organization than {}",
                        key.record.org_id
                    ));
                }
            }
            Err(other) => return Err(format!("cannot store API key: {other}")),
        }
    }
    for (zone, org) in &options.zones {
        store
            .assign_zone(zone, org, now)
            .await
            .map_err(|e| format!("cannot assign hosted zone {zone} to {org}: {e}"))?;
    }

    let addr = options.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let base = format!("http://{addr}{}", domains::http::BASE_PATH);
    println!("Domains API on {base}");
    println!("store: {}", backing.store_name);
    println!("DNS checks ask: {}", dns.describe());
    let cloud = backing.cloud;
    println!(
        "SES identities: {}; Route 53 records: {}",
        if cloud.ses.is_some() {
            "on"
        } else {
            "off (set AWS_ENDPOINT_URL to use them)"
        },
        if cloud.zones.is_some() { "on" } else { "off" }
    );
    if cloud.ses.is_some() {
        println!(
            "DKIM rotation: {}",
            if cloud.sealer.is_some() {
                "on (new keys wait sealed under KMS)"
            } else {
                "off (set DKIM_KMS_KEY_ID to a KMS key)"
            }
        );
    }
    if let Some((_, _, name)) = &backing.events {
        println!("lifecycle events: {name}");
    }
    for key in &keys {
        if generated {
            println!("API key for {}: {}", key.record.org_id, key.key);
        } else {
            println!("API key accepted for {}", key.record.org_id);
        }
    }
    for (zone, org) in &options.zones {
        println!("hosted zone {zone} assigned to {org}");
    }
    if let Some(key) = keys.first().filter(|_| generated) {
        println!("try: curl -H 'Authorization: Bearer {}' {base}", key.key);
    }

    let deliverer = domains::config::deliverer(
        cloud.sealer.clone(),
        store.as_ref(),
        options.webhook_allow_networks.as_deref(),
    )
    .await?;
    println!(
        "webhooks: delivered from this process ({}; secrets sealed {})",
        match deliverer.outbound().policy().networks() {
            [] => "public addresses only, https".to_owned(),
            nets => format!(
                "also {} (plain http allowed there)",
                nets.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        if cloud.sealer.is_some() {
            "with KMS"
        } else {
            "with a key kept in the store (local only)"
        }
    );
    let mut app = App::new(store, Arc::new(SystemClock), dns)
        .with_cloud(cloud)
        .with_deliverer(deliverer.clone());
    if let Some(watch) = domains::config::watch_interval_from_env()? {
        app = app.with_watch_interval(watch);
    }
    if let Some(after) = domains::config::dkim_retire_after_from_env()? {
        app = app.with_dkim_retire_after(after);
    }
    if let Some(rate) = domains::config::verify_rate_from_env()? {
        app = app.with_verify_rate(rate);
    }
    let store: Arc<dyn Store> = app.store_arc();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if let Some((feed, sink, _)) = backing.events {
        let app = app.clone();
        // Each event the sink takes is fanned out to its webhooks, as the bus's rule does
        // deployed.
        let sink = FanOut {
            inner: sink,
            deliverer: deliverer.clone(),
            store: store.clone(),
            clock: clock.clone(),
        };
        tokio::spawn(async move { publish_forever(app.store(), &SystemClock, feed, &sink).await });
    }
    tokio::spawn(deliver_due_forever(deliverer, store, clock));
    if let Some(seconds) = options.sweep_every.filter(|s| *s > 0) {
        println!("sweep: every {seconds} s");
        let app = app.clone();
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(std::time::Duration::from_secs(seconds));
            loop {
                timer.tick().await;
                sweep(&app, None, &SweepOptions::default()).await;
            }
        });
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    crate::server::serve(listener, app, shutdown)
        .await
        .map_err(|e| e.to_string())
}
