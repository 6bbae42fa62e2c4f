//! The Lambda host: what every function's `main` calls.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use lambda_http::{Error, LambdaEvent, service_fn};
use serde::Deserialize;
use tracing::Instrument;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;

use crate::App;
use crate::aws::EventBridgeSink;
use crate::clock::{Clock, SystemClock};
use crate::config;
use crate::http::{Handler, Needs};
use crate::metrics;
use crate::outbox::publish_batch;
use crate::outbox::webhooks::{Deliverer, Invocation, handle_invocation};
use crate::store::DynamoStore;
use crate::telemetry;
use crate::workflows::sweep::{SweepOptions, SweepSummary, sweep};

/// The table from `DOMAINS_TABLE` and the AWS configuration, logging set up.
async fn table_from_env() -> Result<(aws_config::SdkConfig, DynamoStore), Error> {
    telemetry::init_json();
    metrics::enable();
    let table =
        config::table_from_env().ok_or_else(|| format!("{} is not set", config::TABLE_VAR))?;
    let aws = config::aws().await;
    let store = config::dynamo_store(&aws, table);
    Ok((aws, store))
}

/// What a function builds at its cold start, as a constant of a type: [`app_from_env`] is
/// generic over it, so in each function the branches it does not take are gone at compile
/// time, and with them the code they would have linked (the resolver, SES, Route 53, KMS).
trait ColdStart {
    const NEEDS: Needs;
}

impl<H: Handler> ColdStart for H {
    const NEEDS: Needs = H::ENDPOINT.needs();
}

/// The sweep: it verifies, activates and undoes, so it builds everything.
struct Everything;

impl ColdStart for Everything {
    const NEEDS: Needs = Needs {
        dns: true,
        cloud: true,
        webhooks: false,
    };
}

/// The state of a cold start: DynamoDB from `DOMAINS_TABLE`, the watch interval from
/// `WATCH_INTERVAL`, and only what `C` needs: DNS from `DNS_NAMESERVERS`, SES, Route 53
/// and KMS from the AWS configuration.
async fn app_from_env<C: ColdStart>() -> Result<App, Error> {
    let (aws, store) = table_from_env().await?;
    let deliverer = if C::NEEDS.webhooks {
        Some(config::deliverer(config::lambda_webhook_sealer(&aws)?, &store, None).await?)
    } else {
        None
    };
    let (store, clock) = (Arc::new(store), Arc::new(SystemClock));
    let mut app = if C::NEEDS.dns {
        App::new(store, clock, config::dns_checker(&[], None)?)
    } else {
        App::without_dns(store, clock)
    };
    if C::NEEDS.cloud {
        app = app.with_cloud(config::lambda_cloud(&aws));
    }
    if let Some(deliverer) = deliverer {
        app = app.with_deliverer(deliverer);
    }
    if let Some(watch) = config::watch_interval_from_env()? {
        app = app.with_watch_interval(watch);
    }
    if let Some(after) = config::dkim_retire_after_from_env()? {
        app = app.with_dkim_retire_after(after);
    }
    if let Some(rate) = config::verify_rate_from_env()? {
        app = app.with_verify_rate(rate);
    }
    Ok(app)
}

/// The state `H`'s function builds at its cold start, exactly as [`run`] builds it (for the
/// tests that judge each function's AWS calls against its role).
pub async fn app_for<H: Handler>() -> Result<App, Error> {
    app_from_env::<H>().await
}

/// The state `sweep-domains` builds at its cold start, as [`run_sweep`] builds it.
pub async fn sweep_app() -> Result<App, Error> {
    app_from_env::<Everything>().await
}

/// What `publish-events` builds at its cold start: the table and the bus `EVENT_BUS_NAME`.
pub async fn publisher_from_env() -> Result<(DynamoStore, EventBridgeSink), Error> {
    let (aws, store) = table_from_env().await?;
    Ok((
        store,
        EventBridgeSink::new(&aws, config::event_bus_from_env()),
    ))
}

/// Publishes the lifecycle events of each batch of the table's stream to the bus
/// `EVENT_BUS_NAME`, until the runtime stops.
pub async fn run_publisher() -> Result<(), Error> {
    let (store, sink) = publisher_from_env().await?;
    let (store, sink) = (&store, &sink);
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let span = telemetry::invocation_span("publish-events", &event.context);
        async move {
            let now = SystemClock.now();
            let response = publish_batch(store, sink, &event.payload, now).await;
            metrics::flush();
            Ok::<_, Error>(response)
        }
        .instrument(span)
    }))
    .await
}

/// What `deliver-webhooks` builds at its cold start: the table, and the deliverer (its
/// secrets opened with KMS, `DKIM_KMS_KEY_ID`; addresses under `WEBHOOK_ALLOW_NETWORKS`).
pub async fn webhook_deliverer_from_env() -> Result<(DynamoStore, Deliverer), Error> {
    let (aws, store) = table_from_env().await?;
    let deliverer = config::deliverer(config::lambda_webhook_sealer(&aws)?, &store, None).await?;
    Ok((store, deliverer))
}

/// Delivers to webhook endpoints until the runtime stops: the lifecycle events of each
/// batch from its queue, and the retries due at each tick of its schedule.
pub async fn run_webhook_deliverer() -> Result<(), Error> {
    let (store, deliverer) = webhook_deliverer_from_env().await?;
    let (store, deliverer) = (&store, &deliverer);
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<Invocation>| {
        let span = telemetry::invocation_span("deliver-webhooks", &event.context);
        async move {
            let deadline = deadline(time_left(&event.context));
            let response =
                handle_invocation(deliverer, store, &SystemClock, event.payload, deadline).await;
            metrics::flush();
            response.map_err(|error| -> Error {
                tracing::error!(error = %error, "due webhook retries could not be read");
                Box::new(error)
            })
        }
        .instrument(span)
    }))
    .await
}

/// Serves `H`'s endpoint behind API Gateway until the runtime stops.
pub async fn run<H: Handler>() -> Result<(), Error> {
    let app = app_from_env::<H>().await?;
    lambda_http::run(service_fn(move |request| {
        let app = app.clone();
        async move {
            let response = app.handle_as::<H>(request).await;
            metrics::flush();
            Ok::<_, Infallible>(response)
        }
    }))
    .await
}

/// Runs the sweep once per scheduled event until the runtime stops.
pub async fn run_sweep() -> Result<(), Error> {
    let app = app_from_env::<Everything>().await?;
    let options = config::sweep_options_from_env();
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let (app, options) = (app.clone(), options.clone());
        let span = telemetry::invocation_span("sweep-domains", &event.context);
        async move {
            let summary = handle_scheduled(&app, &options, event).await;
            metrics::flush();
            Ok::<_, Error>(summary)
        }
        .instrument(span)
    }))
    .await
}

/// The fields of an EventBridge scheduled event worth a log line.
#[derive(Debug, Deserialize)]
pub struct ScheduledEvent {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub time: String,
    #[serde(default, rename = "detail-type")]
    pub detail_type: String,
}

/// One scheduled invocation: a sweep that stops taking work before the invocation's
/// deadline.
pub async fn handle_scheduled(
    app: &App,
    options: &SweepOptions,
    event: LambdaEvent<ScheduledEvent>,
) -> SweepSummary {
    let left = time_left(&event.context);
    tracing::info!(
        event_id = event.payload.id,
        scheduled_at = event.payload.time,
        detail_type = event.payload.detail_type,
        time_left_ms = left.as_millis() as u64,
        "sweep started"
    );
    let deadline = deadline(left);
    sweep(app, deadline, options).await
}

/// What is left of an invocation's time.
fn time_left(context: &lambda_http::Context) -> std::time::Duration {
    context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default()
}

/// The instant work must be done by, `left` from now. Lambda always grants time; a host
/// that says none is left at the very start (`cargo lambda watch` sends a deadline already
/// past) has no usable deadline, and honouring it would defer all work for ever.
fn deadline(left: std::time::Duration) -> Option<tokio::time::Instant> {
    if left.is_zero() {
        tracing::warn!(
            "the invocation's deadline has already passed at its start; working without one"
        );
        None
    } else {
        Some(tokio::time::Instant::now() + left)
    }
}
