//! The sample events in `events/` go through `lambda_http`'s own API Gateway parsing into
//! the handler of the function they are named after, so they cannot rot.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domains::App;
use domains::auth::NewApiKey;
use domains::clock::SystemClock;
use domains::dns::DnsChecker;
use domains::http::Endpoint;
use domains::lambda::{ScheduledEvent, handle_scheduled};
use domains::model::{Claim, ClaimId, DomainId, DomainName, Region, Timestamp};
use domains::store::{ClaimStore, DomainStore, KeyStore, WebhookStore};
use domains::store::{DefaultChoice, MemoryStore};
use domains::workflows::sweep::SweepOptions;
use lambda_http::{Body, Context, LambdaEvent};
use testkit::{TestDns, org, pending_domain};

const EVENT_KEY: &str = "emk_sample_events_key_0000000000000000000000000";
const EVENT_DOMAIN_ID: &str = "dom_01JDX3M5Q8Z9YV2K7W4T6R0N1B";
const EVENT_CLAIM_ID: &str = "clm_01JDX3M5Q8Z9YV2K7W4T6R0N1C";
const EVENT_WEBHOOK_ID: &str = "whk_01JDX3M5Q8Z9YV2K7W4T6R0N1D";
/// Held by another organization, never verified: what the claim events claim.
const SQUATTED: &str = "squatted.example";

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// A store holding the events' API key and the domain their path parameters name, and a
/// DNS server where that domain's required records are published.
async fn seeded_app() -> App {
    let store = Arc::new(MemoryStore::new());
    let now = Timestamp::from_unix(1_704_873_600);
    let key = NewApiKey::from_key(EVENT_KEY.into(), org("org_events"), now);
    store.put_api_key(&key.record).await.unwrap();
    let mut domain = pending_domain("org_events", "sample.example", now);
    domain.id = DomainId::parse(EVENT_DOMAIN_ID).unwrap();
    store
        .insert_domain(&domain, DefaultChoice::IfNone)
        .await
        .unwrap();
    store
        .insert_domain(
            &pending_domain("org_squatter", SQUATTED, now),
            DefaultChoice::IfNone,
        )
        .await
        .unwrap();
    let mut claim = Claim::new(
        org("org_events"),
        DomainName::parse(SQUATTED).unwrap(),
        Region::DEFAULT,
        Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
    );
    claim.id = ClaimId::parse(EVENT_CLAIM_ID).unwrap();
    store.put_claim(&claim).await.unwrap();
    // The sample events are parsing checks: one DNS server stands in for the resolver.
    let dns = TestDns::start().await;
    dns.add_txt(&format!("_amazonses-claim.{SQUATTED}"), &[&claim.token]);
    dns.add_mx("sample.example", 10, "inbound-smtp.us-east-1.amazonaws.com");
    dns.add_txt(
        "_amazonses.sample.example",
        &[&domain.setup.ownership_token],
    );
    dns.add_txt(
        &format!("{}._domainkey.sample.example", domain.setup.dkim_selector),
        &[&format!(
            "v=DKIM1; k=rsa; p={}",
            domain.setup.dkim_public_key
        )],
    );
    let checker = DnsChecker::with_nameservers(&[dns.addr()], Duration::from_secs(2)).recursive();
    let deliverer = domains::config::deliverer(None, store.as_ref(), Some(""))
        .await
        .unwrap();
    let app = App::new(store.clone(), Arc::new(SystemClock), checker).with_deliverer(deliverer);
    // An endpoint at a documentation address: the test event is refused, never sent.
    let created = domains::workflows::webhooks::create(
        &app,
        &org("org_events"),
        domains::workflows::webhooks::NewWebhook {
            url: "https://192.0.2.10/email-domains".into(),
            events: None,
            description: None,
        },
    )
    .await;
    assert!(created.is_err(), "a documentation address is refused");
    store
        .create_webhook(&sample_webhook(&app).await, 10)
        .await
        .unwrap();
    app
}

/// The events' endpoint, its secret sealed for its id: at a documentation address, so the
/// test event is refused without a packet sent.
async fn sample_webhook(app: &App) -> domains::model::webhook::Webhook {
    use domains::model::webhook::{Webhook, WebhookSecret, WebhookStatus, subscribable_types};
    let id = domains::model::WebhookId::parse(EVENT_WEBHOOK_ID).unwrap();
    let (_, secret) = domains::outbox::webhooks::signature::new_secret();
    let sealed = app
        .deliverer()
        .unwrap()
        .sealer()
        .seal(
            &secret,
            domains::aws::SealContext::Webhook { webhook_id: &id },
        )
        .await
        .unwrap();
    let now = Timestamp::from_unix(1_704_873_600);
    Webhook {
        id,
        org_id: org("org_events"),
        url: "https://192.0.2.10/email-domains".into(),
        events: subscribable_types()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        description: None,
        status: WebhookStatus::Enabled,
        secrets: vec![WebhookSecret {
            sealed,
            created_at: now,
            expires_at: None,
        }],
        created_at: now,
        updated_at: now,
        failing_since: None,
        disabled_reason: None,
        version: 1,
    }
}

/// The sample scheduled event through the sweep function's handler, with the invocation's
/// deadline at `deadline`.
async fn scheduled_sweep(deadline: SystemTime) -> domains::workflows::sweep::SweepSummary {
    let text = std::fs::read_to_string(events_dir().join("sweep-domains.json")).unwrap();
    let payload: ScheduledEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(payload.detail_type, "Scheduled Event");
    let mut context = Context::default();
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let app = seeded_app().await;
    handle_scheduled(
        &app,
        &SweepOptions::default(),
        LambdaEvent::new(payload, context),
    )
    .await
}

#[tokio::test]
async fn the_scheduled_event_runs_a_sweep() {
    let summary = scheduled_sweep(SystemTime::now() + Duration::from_secs(60)).await;
    // The sample domain is published and activates; the squatted one (registered long
    // ago, never published) fails.
    assert_eq!(
        (
            summary.due,
            summary.activated,
            summary.failed,
            summary.errors
        ),
        (2, 1, 1, 0),
        "{summary:?}"
    );
}

/// A host whose deadline has passed before the run starts (`cargo lambda watch` sends
/// one) gets a sweep without a deadline, not one that defers everything.
#[tokio::test]
async fn a_deadline_already_past_does_not_defer_everything() {
    let summary = scheduled_sweep(SystemTime::now() - Duration::from_secs(1)).await;
    assert_eq!(
        (summary.due, summary.deferred, summary.activated),
        (2, 0, 1),
        "{summary:?}"
    );
}

/// A sink that accepts everything and keeps it.
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<domains::model::event::LifecycleEvent>>);

#[async_trait::async_trait]
impl domains::aws::EventSink for Kept {
    async fn put(
        &self,
        events: &[&domains::model::event::LifecycleEvent],
    ) -> Vec<Result<(), String>> {
        let mut kept = self.0.lock().unwrap();
        kept.extend(events.iter().map(|e| (*e).clone()));
        vec![Ok(()); events.len()]
    }
}

#[tokio::test]
async fn the_stream_sample_event_publishes_its_outbox_item() {
    let text = std::fs::read_to_string(events_dir().join("publish-events.json")).unwrap();
    let batch: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&text).unwrap();
    let sink = Kept::default();
    let store = domains::store::MemoryStore::new();
    let now = Timestamp::from_unix(1_795_687_512);
    let response = domains::outbox::publish_batch(&store, &sink, &batch, now).await;
    assert!(response.batch_item_failures.is_empty());
    let kept = sink.0.lock().unwrap();
    // The domain item's change is not an event; the outbox item is.
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].detail_type.as_str(), "domain.verified");
    assert_eq!(kept[0].detail.domain, "yourcompany.com");
}

/// The queue's sample message (a lifecycle event as the bus's rule delivers it) fanned out
/// to the organization's endpoint: one attempt, logged (refused: its address is a
/// documentation one, so nothing is sent).
#[tokio::test]
async fn the_queue_sample_event_reaches_the_organizations_endpoint() {
    let text = std::fs::read_to_string(events_dir().join("deliver-webhooks.json")).unwrap();
    let invocation: domains::outbox::webhooks::Invocation = serde_json::from_str(&text).unwrap();
    let app = seeded_app().await;
    let answer = domains::outbox::webhooks::handle_invocation(
        app.deliverer().unwrap(),
        app.store(),
        &SystemClock,
        invocation,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    let id = domains::model::WebhookId::parse(EVENT_WEBHOOK_ID).unwrap();
    let log = app.store().recent_attempts(&id, 10).await.unwrap();
    assert_eq!(log.len(), 2, "the attempt and its first retry: {log:#?}");
    assert!(log.iter().all(|a| a.event_type == "domain.verified"));
    assert_eq!(log[1].event_id, "evt_01JDX3M5Q8Z9YV2K7W4T6R0N1E");
    // A schedule's tick: nothing due yet.
    let tick: domains::outbox::webhooks::Invocation = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("sweep-domains.json")).unwrap(),
    )
    .unwrap();
    let answer = domains::outbox::webhooks::handle_invocation(
        app.deliverer().unwrap(),
        app.store(),
        &SystemClock,
        tick,
        None,
    )
    .await
    .unwrap();
    assert_eq!(answer["attempts"], 0, "{answer}");
}

#[tokio::test]
async fn every_sample_event_is_served_by_its_function() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let Some(endpoint) = Endpoint::from_function_name(&name) else {
            assert!(
                ["sweep-domains", "publish-events", "deliver-webhooks"].contains(&name.as_str()),
                "events/{name}.json names no function"
            );
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not an API Gateway event: {e}"));
        let response = seeded_app().await.handle(endpoint, request).await;
        let body = match response.body() {
            Body::Text(text) => text.clone(),
            other => panic!("{name}: unexpected body {other:?}"),
        };
        let expected = match endpoint {
            Endpoint::Register
            | Endpoint::OpenClaim
            | Endpoint::VerifyClaim
            | Endpoint::CreateWebhook => 201,
            Endpoint::RotateDkim => 202,
            _ => 200,
        };
        assert_eq!(response.status().as_u16(), expected, "{name}: {body}");
        if endpoint == Endpoint::ZoneFile {
            assert!(
                body.contains("\n_amazonses.sample.example.\t300\tIN\tTXT\t\""),
                "{name}: {body}"
            );
            seen.push(endpoint);
            continue;
        }
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        match endpoint {
            Endpoint::List => assert_eq!(json["total"], 1, "{name}: {body}"),
            Endpoint::Register => assert_eq!(json["domain"], "yourcompany.com"),
            Endpoint::Get => assert_eq!(json["id"], EVENT_DOMAIN_ID),
            Endpoint::Update => assert_eq!(json["status"], "suspended"),
            Endpoint::Verify => assert_eq!(json["status"], "active", "{body}"),
            Endpoint::Delete => assert_eq!(json["success"], true),
            Endpoint::OpenClaim => assert_eq!(json["domain"], SQUATTED, "{body}"),
            Endpoint::VerifyClaim => assert_eq!(json["domain"], SQUATTED, "{body}"),
            Endpoint::ZoneFile => unreachable!("read as text above"),
            Endpoint::RotateDkim => {
                assert_eq!(json["dkimRotation"]["status"], "pending", "{body}");
                assert_eq!(json["dkimRotation"]["previousSelector"], "dkim20240110");
            }
            Endpoint::ListWebhooks => assert_eq!(json["total"], 1, "{body}"),
            Endpoint::CreateWebhook => {
                assert!(
                    json["secret"].as_str().unwrap().starts_with("whsec_"),
                    "{body}"
                );
                assert_eq!(json["events"].as_array().unwrap().len(), 2, "{body}");
            }
            Endpoint::GetWebhook | Endpoint::DeleteWebhook => {
                assert!(body.contains(EVENT_WEBHOOK_ID), "{body}")
            }
            Endpoint::UpdateWebhook => assert_eq!(json["status"], "disabled", "{body}"),
            Endpoint::RotateWebhookSecret => {
                assert!(
                    json["secret"].as_str().unwrap().starts_with("whsec_"),
                    "{body}"
                )
            }
            Endpoint::TestWebhook => {
                assert_eq!(json["type"], "webhook.test", "{body}");
                assert_eq!(json["outcome"], "refused", "{body}");
            }
            Endpoint::ListWebhookDeliveries => assert!(json["deliveries"].is_array(), "{body}"),
        }
        seen.push(endpoint);
    }
    for endpoint in Endpoint::ALL {
        assert!(
            seen.contains(&endpoint),
            "events/{}.json is missing",
            endpoint.function_name()
        );
    }
}

/// The router `cargo lambda watch` reads from the workspace manifest names, for every
/// endpoint's method and route, the function that serves it.
#[test]
fn cargo_lambda_routes_match_the_endpoints() {
    let manifest = std::fs::read_to_string(events_dir().join("../Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&manifest).unwrap();
    let router = &manifest["workspace"]["metadata"]["lambda"]["watch"]["router"];
    let mut routes = 0;
    for endpoint in Endpoint::ALL {
        let (method, path) = endpoint.route();
        let entries = router
            .get(path)
            .and_then(toml::Value::as_array)
            .unwrap_or_else(|| panic!("no route for {path}"));
        let function = entries
            .iter()
            .find(|e| e["method"].as_str() == Some(method))
            .and_then(|e| e["function"].as_str());
        assert_eq!(function, Some(endpoint.function_name()), "{method} {path}");
        routes += 1;
    }
    let listed: usize = router
        .as_table()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(listed, routes, "no route beyond the endpoints");
}
