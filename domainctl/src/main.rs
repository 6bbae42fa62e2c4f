//! `domainctl`: run the Domains API locally, and manage API keys and the table.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use domains::App;
use domains::auth::{NewApiKey, hash_key};
use domains::clock::{Clock, SystemClock};
use domains::config;
use domains::dns::DnsChecker;
use domains::model::{OrgId, ZoneId};
use domains::store::{DynamoStore, MemoryStore, Store, StoreError, schema};
use domains::sweep::{SweepOptions, sweep};

#[derive(Parser)]
#[command(
    version,
    about = "Run the Domains API locally; manage API keys and the table"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route on one port. In-memory store unless DOMAINS_TABLE is set.
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        host: IpAddr,
        /// An API key and the organization it belongs to, as KEY=ORG_ID (repeatable).
        /// Without it, a key for `org_local` is made and printed.
        #[arg(long = "api-key", value_name = "KEY=ORG_ID", value_parser = parse_key_spec)]
        api_keys: Vec<(String, OrgId)>,
        /// The resolver(s) verification finds each zone's authoritative servers through
        /// (and asks directly with DNS_MODE=recursive), as ip:port (repeatable). Default:
        /// DNS_NAMESERVERS, else the system's resolver.
        #[arg(long = "dns", value_name = "IP:PORT")]
        dns: Vec<SocketAddr>,
        /// Also run the sweep every this many seconds (off by default).
        #[arg(long, value_name = "SECONDS")]
        sweep_every: Option<u64>,
        /// A Route 53 hosted zone and the organization whose registrations may write into
        /// it (`autoConfigureDns`), as ZONE_ID=ORG_ID (repeatable).
        #[arg(long = "assign-zone", value_name = "ZONE_ID=ORG_ID", value_parser = parse_zone_spec)]
        zones: Vec<(ZoneId, OrgId)>,
    },
    /// Run the sweep once against the DynamoDB table named by DOMAINS_TABLE.
    Sweep {
        /// The resolver(s) to find authoritative servers through, as ip:port (repeatable).
        /// Default: DNS_NAMESERVERS, else
        /// the system's resolver.
        #[arg(long = "dns", value_name = "IP:PORT")]
        dns: Vec<SocketAddr>,
        /// Domains verified at once.
        #[arg(long, default_value_t = SweepOptions::default().concurrency)]
        concurrency: usize,
    },
    /// API keys in the DynamoDB table named by DOMAINS_TABLE.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Which Route 53 hosted zones each organization may have records written into
    /// (`autoConfigureDns`), in the DynamoDB table named by DOMAINS_TABLE.
    Zones {
        #[command(subcommand)]
        command: ZonesCommand,
    },
    /// Organizations' limits, in the DynamoDB table named by DOMAINS_TABLE.
    Orgs {
        #[command(subcommand)]
        command: OrgsCommand,
    },
    /// The DynamoDB table named by DOMAINS_TABLE.
    Table {
        #[command(subcommand)]
        command: TableCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a key for an organization and print it (the only time it is shown).
    Create {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
    },
    /// The organization's keys: id, creation and revocation times (never the keys).
    List {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
    },
    /// Revoke a key by its id, or the key read from standard input (never from the command
    /// line, where shell history and process lists would keep it); it stops working
    /// within a minute everywhere.
    Revoke {
        #[arg(long, value_name = "KEY_ID")]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum ZonesCommand {
    /// Let an organization's registrations write into a hosted zone.
    Assign {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
        #[arg(long, value_parser = parse_zone)]
        zone: ZoneId,
    },
    /// Take a hosted zone away from the organization it is assigned to.
    Unassign {
        #[arg(long, value_parser = parse_zone)]
        zone: ZoneId,
    },
    /// The hosted zones assigned to an organization.
    List {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
    },
}

#[derive(Subcommand)]
enum OrgsCommand {
    /// Set how many domains an organization may hold (default 1,000).
    SetQuota {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
        max_domains: u64,
    },
    /// How many domains an organization holds, and its limit.
    Show {
        #[arg(long, value_parser = parse_org)]
        org: OrgId,
    },
}

#[derive(Subcommand)]
enum TableCommand {
    /// Create the table with its index (for DynamoDB Local; SAM creates it in AWS).
    Create,
}

fn parse_org(text: &str) -> Result<OrgId, String> {
    OrgId::parse(text)
        .ok_or_else(|| "an organization id is 1-64 letters, digits, '_' or '-'".to_owned())
}

fn parse_zone(text: &str) -> Result<ZoneId, String> {
    ZoneId::parse(text).ok_or_else(|| {
        "a hosted zone id is Route 53's id of the zone, like Z0123456789ABCDEFGHIJ".to_owned()
    })
}

fn parse_zone_spec(text: &str) -> Result<(ZoneId, OrgId), String> {
    let (zone, org) = text.split_once('=').ok_or("expected ZONE_ID=ORG_ID")?;
    Ok((parse_zone(zone)?, parse_org(org)?))
}

fn parse_key_spec(text: &str) -> Result<(String, OrgId), String> {
    let (key, org) = text.split_once('=').ok_or("expected KEY=ORG_ID")?;
    if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
        return Err("the key must be non-empty and contain no spaces".into());
    }
    Ok((key.to_owned(), parse_org(org)?))
}

#[tokio::main]
async fn main() -> ExitCode {
    domains::telemetry::init_text();
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve {
            port,
            host,
            api_keys,
            dns,
            sweep_every,
            zones,
        } => {
            serve(
                SocketAddr::new(host, port),
                api_keys,
                dns,
                sweep_every,
                zones,
            )
            .await
        }
        Command::Sweep { dns, concurrency } => {
            let aws = config::aws().await;
            let store = Arc::new(dynamo_store(&aws)?);
            let dns = DnsChecker::configured(&dns)?;
            let app = App::new(store, Arc::new(SystemClock), dns)
                .with_cloud(config::cloud_if_endpoints(&aws));
            let options = SweepOptions {
                concurrency: concurrency.max(1),
                ..SweepOptions::default()
            };
            let summary = sweep(&app, None, &options).await;
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).expect("summary serializes")
            );
            if summary.errors > 0 {
                return Err(format!("{} domain(s) could not be swept", summary.errors));
            }
            Ok(())
        }
        Command::Keys { command } => {
            let store = dynamo_store(&config::aws().await)?;
            match command {
                KeysCommand::Create { org } => {
                    let new = NewApiKey::generate(org.clone(), SystemClock.now());
                    store
                        .put_api_key(&new.record)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("{}", new.key);
                    eprintln!(
                        "API key {} for {org} created; the key is not shown again.",
                        new.record.id
                    );
                    Ok(())
                }
                KeysCommand::List { org } => {
                    for key in store.api_keys_of(&org).await.map_err(|e| e.to_string())? {
                        let revoked = key
                            .revoked_at
                            .map_or_else(|| "active".to_owned(), |at| format!("revoked {at}"));
                        println!("{}  created {}  {revoked}", key.id, key.created_at);
                    }
                    Ok(())
                }
                KeysCommand::Revoke { id } => {
                    let hash = match id {
                        Some(id) => store
                            .api_key_hash(&id)
                            .await
                            .map_err(|e| e.to_string())?
                            .ok_or_else(|| format!("no API key with id {id}"))?,
                        None => {
                            let mut key = String::new();
                            std::io::stdin().read_line(&mut key).map_err(|e| {
                                format!("cannot read the key from standard input: {e}")
                            })?;
                            let key = key.trim();
                            if key.is_empty() {
                                return Err("give --id KEY_ID, or the key on standard input".into());
                            }
                            hash_key(key)
                        }
                    };
                    match store.revoke_api_key(&hash, SystemClock.now()).await {
                        Ok(()) => {
                            eprintln!("revoked");
                            Ok(())
                        }
                        Err(StoreError::NotFound) => Err("no such API key".into()),
                        Err(other) => Err(other.to_string()),
                    }
                }
            }
        }
        Command::Orgs { command } => {
            let store = dynamo_store(&config::aws().await)?;
            let org = match &command {
                OrgsCommand::SetQuota { org, max_domains } => {
                    store
                        .set_quota(org, *max_domains)
                        .await
                        .map_err(|e| e.to_string())?;
                    org
                }
                OrgsCommand::Show { org } => org,
            };
            let quota = store.quota(org).await.map_err(|e| e.to_string())?;
            println!("{org}: {} of {} domains", quota.used, quota.max);
            Ok(())
        }
        Command::Zones { command } => {
            let store = dynamo_store(&config::aws().await)?;
            zones(&store, command).await
        }
        Command::Table {
            command: TableCommand::Create,
        } => {
            let store = dynamo_store(&config::aws().await)?;
            schema::create_table(store.client(), store.table())
                .await
                .map_err(|e| aws_error(&e))?;
            eprintln!("table {} created", store.table());
            Ok(())
        }
    }
}

async fn zones(store: &dyn Store, command: ZonesCommand) -> Result<(), String> {
    match command {
        ZonesCommand::Assign { org, zone } => {
            match store.assign_zone(&zone, &org, SystemClock.now()).await {
                Ok(()) => {
                    eprintln!("hosted zone {zone} assigned to {org}");
                    Ok(())
                }
                Err(StoreError::Conflict) => {
                    let owner = store.zone_owner(&zone).await.map_err(|e| e.to_string())?;
                    Err(format!(
                        "hosted zone {zone} is assigned to {}; unassign it first",
                        owner.map_or_else(|| "another organization".into(), |o| o.to_string())
                    ))
                }
                Err(other) => Err(other.to_string()),
            }
        }
        ZonesCommand::Unassign { zone } => match store.unassign_zone(&zone).await {
            Ok(org) => {
                eprintln!("hosted zone {zone} is no longer assigned to {org}");
                Ok(())
            }
            Err(StoreError::NotFound) => Err(format!("hosted zone {zone} is not assigned")),
            Err(other) => Err(other.to_string()),
        },
        ZonesCommand::List { org } => {
            for zone in store.zones_of(&org).await.map_err(|e| e.to_string())? {
                println!("{zone}");
            }
            Ok(())
        }
    }
}

fn dynamo_store(aws: &aws_config::SdkConfig) -> Result<DynamoStore, String> {
    let table = config::table_from_env().ok_or_else(|| {
        format!(
            "set {} (and AWS_ENDPOINT_URL for DynamoDB Local): keys and tables live in DynamoDB",
            config::TABLE_VAR
        )
    })?;
    Ok(config::dynamo_store(aws, table))
}

fn aws_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

async fn serve(
    addr: SocketAddr,
    api_keys: Vec<(String, OrgId)>,
    dns: Vec<SocketAddr>,
    sweep_every: Option<u64>,
    assigned_zones: Vec<(ZoneId, OrgId)>,
) -> Result<(), String> {
    let dns = DnsChecker::configured(&dns)?;
    // The in-memory store with SES and Route 53 off needs no AWS configuration at all
    // (loading it would go looking for a region and credentials).
    let (ses, zones) = config::endpoints_set();
    let aws = if config::table_from_env().is_some() || ses || zones {
        Some(config::aws().await)
    } else {
        None
    };
    let (store, store_name): (Arc<dyn Store>, String) = match config::table_from_env() {
        Some(table) => (
            Arc::new(config::dynamo_store(
                aws.as_ref().expect("loaded when a table is named"),
                table.clone(),
            )),
            format!("DynamoDB table {table}"),
        ),
        None => (
            Arc::new(MemoryStore::new()),
            "in-memory (everything is lost when the server stops)".into(),
        ),
    };
    let now = SystemClock.now();
    let generated = api_keys.is_empty();
    let keys: Vec<NewApiKey> = if generated {
        vec![NewApiKey::generate(
            OrgId::parse("org_local").expect("valid id"),
            now,
        )]
    } else {
        api_keys
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

    for (zone, org) in &assigned_zones {
        store
            .assign_zone(zone, org, now)
            .await
            .map_err(|e| format!("cannot assign hosted zone {zone} to {org}: {e}"))?;
    }

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let base = format!("http://{addr}{}", domains::http::BASE_PATH);
    println!("Domains API on {base}");
    println!("store: {store_name}");
    println!("DNS checks ask: {}", dns.describe());
    let cloud = aws
        .as_ref()
        .map(config::cloud_if_endpoints)
        .unwrap_or_default();
    println!(
        "SES identities: {}; Route 53 records: {}",
        if cloud.ses.is_some() {
            "on"
        } else {
            "off (set AWS_ENDPOINT_URL to use them)"
        },
        if cloud.zones.is_some() { "on" } else { "off" }
    );
    for key in &keys {
        if generated {
            println!("API key for {}: {}", key.record.org_id, key.key);
        } else {
            println!("API key accepted for {}", key.record.org_id);
        }
    }
    for (zone, org) in &assigned_zones {
        println!("hosted zone {zone} assigned to {org}");
    }
    if let Some(key) = keys.first().filter(|_| generated) {
        println!("try: curl -H 'Authorization: Bearer {}' {base}", key.key);
    }

    let app = App::new(store, Arc::new(SystemClock), dns).with_cloud(cloud);
    if let Some(seconds) = sweep_every.filter(|s| *s > 0) {
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
    domainctl::server::serve(listener, app, shutdown)
        .await
        .map_err(|e| e.to_string())
}
