//! Lifecycle events end to end: the API writes them with each change, a publisher reads
//! the store's stream (DynamoDB Local's own, or the in-memory outbox) and puts them on a
//! bus in moto, whose rule delivers them to an SQS queue the test reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use domains::aws::Cloud;
use domains::aws::{EventBridgeSink, EventSink};
use domains::clock::{Clock, SystemClock};
use domains::model::event::LifecycleEvent;
use domains::model::{Counter, DomainId, DomainName};
use domains::outbox::{publish_batch, publish_forever};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Backend, DeliveredEvents, for_each_backend, fresh_dynamo_store, sdk_config_for};

use crate::harness::{BASE, TestApp, id_of, org_a, publish};
use domains::store::{DomainStore, OutboxStore};

/// EventBridge, or EventBridge unreachable (an address where nothing listens) while the
/// switch is down.
struct Switched {
    up: EventBridgeSink,
    down: EventBridgeSink,
    is_down: AtomicBool,
}

#[async_trait]
impl EventSink for Switched {
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>> {
        if self.is_down.load(Ordering::SeqCst) {
            self.down.put(events).await
        } else {
            self.up.put(events).await
        }
    }
}

struct Fixture {
    app: TestApp,
    delivered: DeliveredEvents,
    sink: Arc<Switched>,
}

fn dead_sink(bus: &str) -> EventBridgeSink {
    EventBridgeSink::new(&sdk_config_for("http://127.0.0.1:9"), bus)
}

impl Fixture {
    /// The server over a fresh store, and a publisher reading that store's stream.
    async fn new(backend: Backend) -> Self {
        let (store, feed) = crate::harness::store_with_feed(backend).await;
        let delivered = DeliveredEvents::new().await;
        let sink = Arc::new(Switched {
            up: delivered.sink(),
            down: dead_sink(&delivered.bus),
            is_down: AtomicBool::new(false),
        });
        let publisher = (store.clone(), sink.clone());
        tokio::spawn(async move {
            let (store, sink) = publisher;
            publish_forever(store.as_ref(), &SystemClock, feed, sink.as_ref()).await
        });
        Self {
            app: TestApp::spawn_on(store, Cloud::default()).await,
            delivered,
            sink,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> StatusCode {
        let reply = self.app.as_a(method, path, body).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.body);
        reply.status
    }
}

fn detail_types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap_or_default())
        .collect()
}

async fn a_domains_life_reaches_the_bus_in_order(backend: Backend) {
    let f = Fixture::new(backend).await;
    let registered = f.app.register("life.example").await;
    let id = id_of(&registered);
    let path = format!("{BASE}/{id}");
    publish(&f.app.dns, &registered["dnsRecords"]);
    f.call(Method::POST, &format!("{path}/verify"), None).await;
    for status in ["suspended", "active"] {
        let body = json!({ "status": status });
        f.call(Method::PATCH, &path, Some(body)).await;
    }
    f.call(Method::DELETE, &path, None).await;

    let events = f.delivered.received(5, Duration::from_secs(30)).await;
    assert_eq!(
        detail_types(&events),
        [
            "domain.created",
            "domain.verified",
            "domain.suspended",
            "domain.reactivated",
            "domain.deleted"
        ]
    );
    let statuses: Vec<(&Value, &Value, &Value)> = events
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (&d["previousStatus"], &d["status"], &d["reason"])
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (&Value::Null, &json!("pending"), &Value::Null),
            (&json!("pending"), &json!("active"), &Value::Null),
            (&json!("active"), &json!("suspended"), &json!("requested")),
            (&json!("suspended"), &json!("active"), &json!("requested")),
            (&json!("active"), &json!("deleted"), &json!("requested")),
        ]
    );
    for event in &events {
        assert_eq!(event["source"], "email.domains");
        let detail = &event["detail"];
        assert_eq!(detail["domainId"], id.as_str());
        assert_eq!(detail["orgId"], "org_a");
        assert_eq!(detail["domain"], "life.example");
        assert!(detail["eventId"].as_str().unwrap().starts_with("evt_"));
        assert!(detail["occurredAt"].as_str().unwrap().ends_with('Z'));
    }
    // Nothing more, and every delivered event marked so it expires.
    assert!(
        f.delivered
            .received(1, Duration::from_secs(2))
            .await
            .is_empty()
    );
    assert_eq!(undelivered(&f, "life.example").await, 0);
}

/// `(detail-type, domainId, reason)` of each event, in the order they arrived.
fn arrivals(events: &[Value]) -> Vec<(String, String, Option<String>)> {
    events
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (
                e["detail-type"].as_str().unwrap_or_default().to_owned(),
                d["domainId"].as_str().unwrap_or_default().to_owned(),
                d["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// One name's events arrive in the order they happened, across a delete and a new
/// registration of the name, and across a claim: the holder's `domain.deleted` (reason
/// `claimed`, with its `inboxCount`) before the claimant's `domain.created`.
async fn one_names_events_arrive_in_order_across_owners(backend: Backend) {
    let f = Fixture::new(backend).await;
    let name = "sequence.example";
    let first = id_of(&f.app.register(name).await);
    f.call(Method::DELETE, &format!("{BASE}/{first}"), None)
        .await;
    let second = id_of(&f.app.register(name).await);
    assert_ne!(first, second);
    f.app
        .store
        .add_to_counter(
            &org_a(),
            &DomainId::parse(&second).unwrap(),
            Counter::Inbox,
            2,
        )
        .await
        .unwrap();

    // org_b proves the name while org_a's registration is still unverified.
    let opened = f
        .app
        .as_b(
            Method::POST,
            &format!("{BASE}/claims"),
            Some(json!({ "domain": name })),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let record = &opened.body["dnsRecords"][0];
    f.app.dns.zone(name);
    f.app.dns.add_txt(
        record["name"].as_str().unwrap(),
        &[record["value"].as_str().unwrap()],
    );
    let claim = id_of(&opened.body);
    let won = f
        .app
        .as_b(Method::POST, &format!("{BASE}/claims/{claim}/verify"), None)
        .await;
    assert_eq!(won.status, StatusCode::CREATED, "{}", won.body);
    let third = id_of(&won.body);

    let events = f.delivered.received(5, Duration::from_secs(30)).await;
    let of = |t: &str, id: &str, reason: Option<&str>| {
        (t.to_owned(), id.to_owned(), reason.map(str::to_owned))
    };
    assert_eq!(
        arrivals(&events),
        [
            of("domain.created", &first, None),
            of("domain.deleted", &first, Some("requested")),
            of("domain.created", &second, None),
            of("domain.deleted", &second, Some("claimed")),
            of("domain.created", &third, None),
        ]
    );
    let claimed = &events[3]["detail"];
    assert_eq!(claimed["inboxCount"], 2, "{claimed}");
    assert_eq!(claimed["orgId"], "org_a");
    assert_eq!(events[4]["detail"]["orgId"], "org_b");
    assert!(
        events[..3]
            .iter()
            .chain(&events[4..])
            .all(|e| e["detail"].get("inboxCount").is_none()),
        "only a claim's deletion carries inboxCount"
    );
    assert!(
        f.delivered
            .received(1, Duration::from_secs(2))
            .await
            .is_empty()
    );
    assert_eq!(undelivered(&f, name).await, 0);
}

/// Outbox items not yet marked delivered (marking follows the put by a moment).
async fn undelivered(f: &Fixture, name: &str) -> usize {
    let name = DomainName::parse(name).unwrap();
    for _ in 0..50 {
        let left = f.app.store.undelivered_events(&name).await.unwrap().len();
        if left == 0 {
            return 0;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f.app.store.undelivered_events(&name).await.unwrap().len()
}

async fn events_refused_while_the_bus_is_down_all_arrive_later(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.sink.is_down.store(true, Ordering::SeqCst);
    let mut ids = Vec::new();
    let names = ["one.example", "two.example", "three.example"];
    for name in names {
        ids.push(id_of(&f.app.register(name).await));
    }
    let body = json!({ "status": "suspended" });
    f.call(Method::PATCH, &format!("{BASE}/{}", ids[0]), Some(body))
        .await;
    // A few attempts fail meanwhile; nothing arrives and nothing is marked.
    assert!(
        f.delivered
            .received(1, Duration::from_secs(3))
            .await
            .is_empty()
    );
    let mut written = Vec::new();
    for name in names {
        let events = f
            .app
            .store
            .undelivered_events(&DomainName::parse(name).unwrap())
            .await
            .unwrap();
        written.extend(events.into_iter().map(|e| e.detail.event_id));
    }
    assert_eq!(written.len(), 4);

    f.sink.is_down.store(false, Ordering::SeqCst);
    let mut events = f.delivered.received(4, Duration::from_secs(30)).await;
    events.extend(f.delivered.received(8, Duration::from_secs(2)).await);
    let mut arrived: Vec<&str> = events
        .iter()
        .map(|e| e["detail"]["eventId"].as_str().unwrap())
        .collect();
    // The first domain's suspension after its creation.
    let first: Vec<&str> = events
        .iter()
        .filter(|e| e["detail"]["domainId"] == ids[0].as_str())
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(&first[..2], ["domain.created", "domain.suspended"]);
    arrived.sort_unstable();
    arrived.dedup();
    written.sort_unstable();
    assert_eq!(arrived, written, "every event, none invented");
    for name in names {
        assert_eq!(undelivered(&f, name).await, 0);
    }
}

for_each_backend!(
    a_domains_life_reaches_the_bus_in_order,
    events_refused_while_the_bus_is_down_all_arrive_later,
    one_names_events_arrive_in_order_across_owners,
);

/// `publish-events` as Lambda runs it: a batch of stream records in, a partial-batch
/// response out that names the first record to deliver again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_handler_names_the_first_record_to_retry() {
    let store = fresh_dynamo_store().await;
    let now = SystemClock.now();
    let mut written = Vec::new();
    for name in ["l1.example", "l2.example"] {
        let domain = testkit::pending_domain("org_a", name, now);
        store
            .insert_domain(&domain, domains::store::DefaultChoice::Never)
            .await
            .unwrap();
        written.extend(store.undelivered_events(&domain.name).await.unwrap());
    }
    // The records as the stream carries them to Lambda, with a domain item between.
    let record = |sequence: usize, image: Value| {
        json!({
            "eventID": sequence.to_string(), "eventName": "INSERT", "awsRegion": "us-east-1",
            "eventSource": "aws:dynamodb",
            "dynamodb": {
                "ApproximateCreationDateTime": 1.79e9, "SequenceNumber": sequence.to_string(),
                "SizeBytes": 100, "StreamViewType": "NEW_IMAGE", "Keys": {}, "NewImage": image
            }
        })
    };
    let mut records = vec![record(
        99,
        json!({"PK": {"S": "ORG#org_a"}, "SK": {"S": "DOMAIN#x"}}),
    )];
    for (i, event) in written.iter().enumerate() {
        let image = json!({
            "PK": {"S": format!("EVENTS#{}", event.detail.domain_id)},
            "SK": {"S": format!("EVENT#{:020}", event.sequence)},
            "event": {"S": serde_json::to_string(event).unwrap()},
        });
        records.push(record(100 + i, image));
    }
    let batch = serde_json::from_value(json!({ "Records": records })).unwrap();

    let delivered = DeliveredEvents::new().await;
    let refused = publish_batch(&store, &dead_sink(&delivered.bus), &batch, now).await;
    let named: Vec<Option<String>> = refused
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(named, [Some("100".to_owned())]);
    assert_eq!(written.len(), 2);

    let answered = publish_batch(&store, &delivered.sink(), &batch, now).await;
    assert!(answered.batch_item_failures.is_empty());
    let events = delivered.received(2, Duration::from_secs(10)).await;
    assert_eq!(detail_types(&events), ["domain.created", "domain.created"]);
    for event in &written {
        let left = store
            .undelivered_events(&DomainName::parse(&event.detail.domain).unwrap())
            .await
            .unwrap();
        assert!(left.is_empty(), "marked delivered, so the TTL removes it");
    }
}
