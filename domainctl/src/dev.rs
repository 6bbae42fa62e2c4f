//! `domainctl dev`: the whole AWS-flavoured stack on this machine in one command.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use devservers::{Server, free_port};
use domains::aws::Cloud;
use domains::aws::Kms;
use domains::clock::{Clock, SystemClock};
use domains::config;
use domains::model::{OrgId, ZoneId};
use domains::store::{DynamoStore, schema};

use crate::local::{self, Backing, Options};
use domains::aws::EventBridgeSink;

const TABLE: &str = "domains";
const REGION: &str = "us-east-1";
/// A hosted zone made in moto and assigned to `org_local`, so `autoConfigureDns` can be
/// tried at once: register `<anything>.dev.example`.
const ZONE: &str = "dev.example";

pub async fn run(addr: SocketAddr, dns: Vec<SocketAddr>) -> Result<(), String> {
    println!("starting DynamoDB Local and moto…");
    let (dynamo_port, moto_port) = (free_port(), free_port());
    // Both take a few seconds to listen; start them side by side.
    let (dynamo, moto) = tokio::join!(
        start(move || devservers::dynamodb_local(dynamo_port)),
        start(move || devservers::moto(moto_port)),
    );
    let (_dynamo, _moto): (Server, Server) = (dynamo?, moto?);
    let dynamo_url = format!("http://127.0.0.1:{dynamo_port}");
    let moto_url = format!("http://127.0.0.1:{moto_port}");

    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws_at(&dynamo_url)),
        TABLE.to_owned(),
    );
    schema::create_table(store.client(), TABLE)
        .await
        .map_err(|e| format!("cannot create the table in DynamoDB Local: {e}"))?;
    let cloud_config = aws_at(&moto_url);
    let zone = hosted_zone(&cloud_config).await?;
    let kms_key = domains::aws::create_key(&cloud_config)
        .await
        .map_err(|e| format!("cannot create the KMS key in moto: {e}"))?;

    println!("DynamoDB Local on {dynamo_url} (table {TABLE}); moto on {moto_url}");
    println!(
        "the same stack from another shell: export DOMAINS_TABLE={TABLE} \
         AWS_ENDPOINT_URL_DYNAMODB={dynamo_url} AWS_ENDPOINT_URL={moto_url} AWS_REGION={REGION} \
         AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local DKIM_KMS_KEY_ID={kms_key}"
    );
    println!("hosted zone {zone} is {ZONE}: register <name>.{ZONE} with autoConfigureDns");
    let options = Options {
        addr,
        api_keys: Vec::new(),
        dns,
        dns_allow_networks: None,
        webhook_allow_networks: None,
        sweep_every: None,
        zones: vec![(zone, OrgId::parse("org_local").expect("valid id"))],
    };
    let feed =
        crate::events::StreamFeed::open(&aws_at(&dynamo_url), TABLE, crate::events::From::Now)
            .await?;
    let bus = config::event_bus_from_env();
    let backing = Backing {
        store: Arc::new(store),
        store_name: format!("DynamoDB table {TABLE} in DynamoDB Local"),
        cloud: Cloud {
            sealer: Some(Arc::new(Kms::new(&cloud_config, kms_key))),
            ..config::cloud(&cloud_config)
        },
        events: Some((
            Box::new(feed),
            Arc::new(EventBridgeSink::new(&cloud_config, bus.clone())),
            format!("EventBridge bus {bus} in moto"),
        )),
    };
    let served = local::serve(options, backing).await;
    // `_dynamo` and `_moto` stop as they are dropped here.
    println!("stopping DynamoDB Local and moto");
    served
}

async fn start(
    launch: impl FnOnce() -> Result<Server, String> + Send + 'static,
) -> Result<Server, String> {
    tokio::task::spawn_blocking(launch)
        .await
        .map_err(|e| format!("start-up thread failed: {e}"))?
}

/// Every service at `endpoint`, in one region, with placeholder credentials.
fn aws_at(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local",
            "local",
            None,
            None,
            "domainctl-dev",
        )))
        .build()
}

async fn hosted_zone(aws: &SdkConfig) -> Result<ZoneId, String> {
    let made = aws_sdk_route53::Client::new(aws)
        .create_hosted_zone()
        .name(ZONE)
        .caller_reference(format!("domainctl-dev-{}", SystemClock.now()))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot create the hosted zone in moto: {}",
                aws_sdk_route53::error::DisplayErrorContext(&e)
            )
        })?;
    let id = made
        .hosted_zone()
        .map(|zone| zone.id().trim_start_matches("/hostedzone/").to_owned())
        .unwrap_or_default();
    ZoneId::parse(&id).ok_or_else(|| format!("moto answered an unexpected zone id {id:?}"))
}
