//! `domainctl`: run the Domains API locally, and manage API keys and the table.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use domainctl::cli::{
    Cli, Command, EventsCommand, KeysCommand, OrgsCommand, TableCommand, ZonesCommand,
};
use domainctl::events::{From, StreamFeed};
use domainctl::local::{self, Backing, Options};
use domainctl::preflight::{self, Exists, Uses};
use domains::App;
use domains::auth::{NewApiKey, hash_key};
use domains::aws::{EventSink, MAX_PER_PUT};
use domains::clock::{Clock, SystemClock};
use domains::config;
use domains::outbox::LogSink;
use domains::store::{
    DynamoStore, EventFeed, KeyStore, MemoryStore, OrgStore, Store, StoreError, schema,
};
use domains::workflows::sweep::{SweepOptions, sweep};

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
            dns_allow_networks,
            webhook_allow_networks,
            sweep_every,
            zones,
        } => {
            let options = Options {
                addr: SocketAddr::new(host, port),
                api_keys,
                dns,
                dns_allow_networks,
                webhook_allow_networks,
                sweep_every,
                zones,
            };
            serve(options).await
        }
        Command::Dev { port, host, dns } => {
            domainctl::dev::run(SocketAddr::new(host, port), dns).await
        }
        Command::Sweep { dns, concurrency } => {
            let aws = config::aws().await;
            let store = Arc::new(dynamo_store(&aws, Exists::Required).await?);
            let dns = domains::config::dns_checker(&dns, None)?;
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
            let store = dynamo_store(&config::aws().await, Exists::Required).await?;
            match command {
                KeysCommand::Create { org, stdin } => {
                    let now = SystemClock.now();
                    let new = if stdin {
                        NewApiKey::from_key(key_from_stdin()?, org.clone(), now)
                    } else {
                        NewApiKey::generate(org.clone(), now)
                    };
                    match store.put_api_key(&new.record).await {
                        Ok(()) => {}
                        Err(StoreError::Conflict) => {
                            return Err("that API key is already stored".into());
                        }
                        Err(other) => return Err(other.to_string()),
                    }
                    if stdin {
                        eprintln!("API key {} for {org} stored", new.record.id);
                    } else {
                        println!("{}", new.key);
                        eprintln!(
                            "API key {} for {org} created; the key is not shown again.",
                            new.record.id
                        );
                    }
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
                        None => hash_key(&key_from_stdin().map_err(|e| {
                            format!("give --id KEY_ID, or the key on standard input ({e})")
                        })?),
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
            let store = dynamo_store(&config::aws().await, Exists::Required).await?;
            let org = match &command {
                OrgsCommand::Counts { org, all, repair } => {
                    let orgs = match org {
                        Some(org) if !all => vec![org.clone()],
                        _ => store.organizations().await.map_err(|e| e.to_string())?,
                    };
                    let drifted = domainctl::counts::check(&store, &orgs, *repair).await?;
                    return if drifted == 0 || *repair {
                        Ok(())
                    } else {
                        Err(format!(
                            "{drifted} organization(s) with counts that differ; run again with --repair"
                        ))
                    };
                }
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
            let store = dynamo_store(&config::aws().await, Exists::Required).await?;
            zones(&store, command).await
        }
        Command::Status => {
            let store = dynamo_store(&config::aws().await, Exists::Required).await?;
            let status = domainctl::status::read(&store, SystemClock.now())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&status).expect("status serializes")
            );
            match status.attention.len() {
                0 => Ok(()),
                n => Err(format!("{n} thing(s) need attention")),
            }
        }
        Command::Table {
            command: TableCommand::Create,
        } => {
            let store = dynamo_store(&config::aws().await, Exists::NotRequired).await?;
            schema::create_table(store.client(), store.table())
                .await
                .map_err(|e| aws_error(&e))?;
            eprintln!("table {} created", store.table());
            Ok(())
        }
        Command::Events {
            command: EventsCommand::Tail { from_start },
        } => {
            let aws = config::aws().await;
            let store = dynamo_store(&aws, Exists::Required).await?;
            let from = if from_start { From::Oldest } else { From::Now };
            let mut feed = StreamFeed::open(&aws, store.table(), from).await?;
            loop {
                let batch = feed.next_batch().await?;
                let events: Vec<_> = batch.iter().map(|item| &item.event).collect();
                for chunk in events.chunks(MAX_PER_PUT) {
                    LogSink.put(chunk).await;
                }
            }
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

/// A key from the first line of standard input: never an argument, where shell history
/// and process lists would keep it.
fn key_from_stdin() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the key from standard input: {e}"))?;
    let key = line.trim();
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err("standard input holds no key".into());
    }
    Ok(key.to_owned())
}

/// The table named by DOMAINS_TABLE, once the configuration has been checked.
async fn dynamo_store(aws: &aws_config::SdkConfig, exists: Exists) -> Result<DynamoStore, String> {
    let table = config::table_from_env().ok_or_else(|| {
        format!(
            "set {} (and AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local): keys and tables live \
             in DynamoDB",
            config::TABLE_VAR
        )
    })?;
    let uses = Uses {
        table: Some((&table, exists)),
        ses: false,
        route53: false,
    };
    preflight::check(aws, &uses).await?;
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

/// `serve`: the in-memory store, or the table named by DOMAINS_TABLE; SES and Route 53
/// where endpoints are set. Everything it will use is checked before it listens.
async fn serve(options: Options) -> Result<(), String> {
    let table = config::table_from_env();
    let config::EndpointsSet {
        ses,
        route53,
        eventbridge,
        ..
    } = config::endpoints_set();
    // The in-memory store with SES, Route 53 and EventBridge off needs no AWS
    // configuration at all (loading it would go looking for a region and credentials).
    let aws = if table.is_some() || ses || route53 || eventbridge {
        let aws = config::aws().await;
        let uses = Uses {
            table: table.as_deref().map(|t| (t, Exists::Required)),
            ses,
            route53,
        };
        preflight::check(&aws, &uses).await?;
        Some(aws)
    } else {
        None
    };
    let (sink, sink_name) = domainctl::events::sink(aws.as_ref());
    let (store, store_name, feed): (Arc<dyn Store>, String, _) = match (&aws, table) {
        (Some(aws), Some(table)) => {
            let store = config::dynamo_store(aws, table.clone());
            let feed = StreamFeed::open(aws, &table, From::Now).await?;
            (
                Arc::new(store),
                format!("DynamoDB table {table}"),
                Box::new(feed) as Box<dyn EventFeed>,
            )
        }
        _ => {
            let store = Arc::new(MemoryStore::new());
            let feed = store.feed();
            (
                store,
                "in-memory (everything is lost when the server stops)".into(),
                feed,
            )
        }
    };
    let backing = Backing {
        store,
        store_name,
        cloud: aws
            .as_ref()
            .map(config::cloud_if_endpoints)
            .unwrap_or_default(),
        events: Some((feed, sink, sink_name)),
    };
    local::serve(options, backing).await
}
