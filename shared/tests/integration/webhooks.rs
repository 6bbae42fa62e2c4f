//! Webhooks below the API: the store's part (both stores: the limit under concurrency,
//! versions, the bounded log, due deliveries taken once), and the deliverer over days on
//! a clock the test moves (the retry schedule to its end, an endpoint failing for three
//! days disabled and the others told) against a receiver on loopback that always fails.
//! A host name refused for its address is logged with the address, never shown with it.

use std::sync::Arc;

use domains::aws::SealContext;
use domains::clock::{Clock, ManualClock};
use domains::model::webhook::{
    Attempt, KEPT_ATTEMPTS, Outcome, PendingDelivery, RETRY_SCHEDULE, Webhook, WebhookEvent,
    WebhookSecret, WebhookStatus,
};
use domains::model::{SealedKey, Timestamp, WebhookId};
use domains::outbox::webhooks::Deliverer;
use domains::outbox::webhooks::signature::new_secret;
use domains::store::{MemoryStore, Store, StoreError, WaitingDeliveries, schema};
use serde_json::json;
use testkit::{Backend, for_each_backend, org};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(1_704_873_600 + seconds)
}

/// An endpoint of `org_id` at `url` whose secret is `sealed`.
fn webhook(org_id: &str, url: &str, sealed: SealedKey) -> Webhook {
    Webhook {
        id: WebhookId::generate(),
        org_id: org(org_id),
        url: url.to_owned(),
        events: vec![],
        description: None,
        status: WebhookStatus::Enabled,
        secrets: vec![WebhookSecret {
            sealed,
            created_at: at(0),
            expires_at: None,
        }],
        created_at: at(0),
        updated_at: at(0),
        failing_since: None,
        disabled_reason: None,
        version: 1,
    }
}

/// An endpoint of `org_id` at `url` whose secret `deliverer` sealed, as a create does.
async fn sealed_webhook(deliverer: &Deliverer, org_id: &str, url: &str) -> Webhook {
    let id = WebhookId::generate();
    let (_, secret) = new_secret();
    let sealed = deliverer
        .sealer()
        .seal(&secret, SealContext::Webhook { webhook_id: &id })
        .await
        .unwrap();
    Webhook {
        id,
        ..webhook(org_id, url, sealed)
    }
}

fn unsealed() -> SealedKey {
    SealedKey {
        key_id: "test".into(),
        data_key: String::new(),
        nonce: String::new(),
        ciphertext: String::new(),
    }
}

fn event(org_id: &str, n: u32) -> WebhookEvent {
    WebhookEvent {
        id: format!("evt_{n:026}"),
        event_type: "domain.created".into(),
        org_id: org(org_id),
        occurred_at: at(0),
        data: json!({ "n": n }),
    }
}

fn attempt(n: u32, when: Timestamp) -> Attempt {
    Attempt {
        event_id: format!("evt_{n}"),
        event_type: "domain.created".into(),
        attempt: 1,
        outcome: Outcome::Delivered,
        response_status: Some(200),
        duration_ms: 3,
        attempted_at: when,
        next_attempt_at: None,
        error: None,
    }
}

async fn endpoints_are_kept_per_organization_within_the_limit(backend: Backend) {
    let store = backend.fresh_store().await;
    // Twenty creates at once against a limit of five: exactly five land.
    let creates = (0..20).map(|_| {
        let store = store.clone();
        async move {
            store
                .create_webhook(&webhook("org_a", "https://a.example/", unsealed()), 5)
                .await
        }
    });
    let results = futures::future::join_all(creates).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        5,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| *e == StoreError::QuotaExceeded(5))
    );
    let mine = store.list_webhooks(&org("org_a")).await.unwrap();
    assert_eq!(mine.len(), 5);
    let ids: Vec<&WebhookId> = mine.iter().map(|w| &w.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "oldest first");
    // Another organization sees none of them and has its own five.
    assert!(store.list_webhooks(&org("org_b")).await.unwrap().is_empty());
    assert_eq!(
        store.get_webhook(&org("org_b"), &mine[0].id).await.unwrap(),
        None
    );
    store
        .create_webhook(&webhook("org_b", "https://b.example/", unsealed()), 5)
        .await
        .unwrap();
    assert_eq!(
        store.delete_webhook(&org("org_b"), &mine[0].id).await,
        Err(StoreError::NotFound)
    );

    // Writes land over the version they read.
    let mut changed = mine[0].clone();
    changed.version += 1;
    changed.url = "https://changed.example/".into();
    store.replace_webhook(&changed).await.unwrap();
    let mut stale = mine[0].clone();
    stale.version += 1;
    assert_eq!(
        store.replace_webhook(&stale).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_webhook(&org("org_a"), &mine[0].id).await.unwrap(),
        Some(changed.clone())
    );
    // A change with the deliveries it causes: both, or (a stale write) neither.
    let announce = PendingDelivery {
        webhook_id: mine[1].id.clone(),
        event: event("org_a", 7),
        attempt: 1,
        due_at: at(0),
    };
    let mut stale = changed.clone();
    stale.url = "https://stale.example/".into();
    assert_eq!(
        store
            .replace_webhook_scheduling(&stale, std::slice::from_ref(&announce))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.due_deliveries(at(0), 10).await.unwrap(), vec![]);
    changed.version += 1;
    changed.status = WebhookStatus::Disabled;
    store
        .replace_webhook_scheduling(&changed, std::slice::from_ref(&announce))
        .await
        .unwrap();
    assert_eq!(
        store.due_deliveries(at(0), 10).await.unwrap(),
        vec![announce]
    );
    assert_eq!(
        store.get_webhook(&org("org_a"), &mine[0].id).await.unwrap(),
        Some(changed.clone())
    );

    // A delete frees a place.
    store
        .delete_webhook(&org("org_a"), &mine[0].id)
        .await
        .unwrap();
    assert_eq!(
        store.delete_webhook(&org("org_a"), &mine[0].id).await,
        Err(StoreError::NotFound)
    );
    changed.version += 1;
    assert_eq!(
        store.replace_webhook(&changed).await,
        Err(StoreError::NotFound)
    );
    store
        .create_webhook(&webhook("org_a", "https://a.example/", unsealed()), 5)
        .await
        .unwrap();
}

async fn the_log_keeps_the_newest_attempts(backend: Backend) {
    let store = backend.fresh_store().await;
    let id = WebhookId::generate();
    for n in 0..(KEPT_ATTEMPTS as u32 + 5) {
        store
            .record_attempt(&id, &attempt(n, at(i64::from(n))))
            .await
            .unwrap();
    }
    let recent = store.recent_attempts(&id, KEPT_ATTEMPTS).await.unwrap();
    assert_eq!(recent.len(), KEPT_ATTEMPTS);
    assert_eq!(recent[0].event_id, format!("evt_{}", KEPT_ATTEMPTS + 4));
    let three = store.recent_attempts(&id, 3).await.unwrap();
    let numbers: Vec<&str> = three.iter().map(|a| a.event_id.as_str()).collect();
    assert_eq!(numbers, ["evt_104", "evt_103", "evt_102"]);
    assert!(
        store
            .recent_attempts(&WebhookId::generate(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn due_deliveries_are_taken_once(backend: Backend) {
    let store = backend.fresh_store().await;
    let hook = WebhookId::generate();
    let pending = |n: u32, due: i64| PendingDelivery {
        webhook_id: hook.clone(),
        event: event("org_a", n),
        attempt: 2,
        due_at: at(due),
    };
    store.schedule_delivery(&pending(1, -10)).await.unwrap();
    store.schedule_delivery(&pending(2, 100)).await.unwrap();
    store.schedule_delivery(&pending(3, -20)).await.unwrap();
    let due = store.due_deliveries(at(0), 10).await.unwrap();
    assert_eq!(
        due,
        vec![pending(3, -20), pending(1, -10)],
        "most overdue first"
    );
    assert_eq!(store.due_deliveries(at(0), 1).await.unwrap().len(), 1);
    // Two workers race for one: one wins, and holds it until its lease ends.
    let lease = at(60);
    let (a, b) = futures::join!(
        store.take_delivery(&due[0], lease),
        store.take_delivery(&due[0], lease)
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one takes it");
    // Its next attempt scheduled since it was read: the stale copy is not taken.
    let later = PendingDelivery {
        attempt: 3,
        ..pending(1, 50)
    };
    assert!(store.schedule_delivery(&later).await.unwrap());
    // The event fanned out again (a redelivered message): the schedule is not set back.
    assert!(!store.schedule_delivery(&pending(1, 0)).await.unwrap());
    assert!(!store.take_delivery(&due[1], lease).await.unwrap());
    assert_eq!(store.due_deliveries(at(0), 10).await.unwrap(), vec![]);
    // A taker that died: the delivery is due again when its lease ends, for another.
    let leased = PendingDelivery {
        due_at: lease,
        ..pending(3, -20)
    };
    let again = store.due_deliveries(at(60), 10).await.unwrap();
    assert_eq!(again, vec![later.clone(), leased.clone()]);
    assert!(store.take_delivery(&leased, at(120)).await.unwrap());
    // Dropped once attempted: gone for good.
    store.drop_delivery(&hook, &leased.event.id).await.unwrap();
    store
        .drop_delivery(&hook, "evt_never_scheduled")
        .await
        .unwrap();
    assert_eq!(
        store.due_deliveries(at(1000), 10).await.unwrap(),
        vec![later, pending(2, 100)]
    );
}

async fn one_endpoints_backlog_does_not_hold_the_others(backend: Backend) {
    let store = backend.fresh_store().await;
    let (busy, quiet) = (WebhookId::generate(), WebhookId::generate());
    let pending = |hook: &WebhookId, n: u32, due: i64| PendingDelivery {
        webhook_id: hook.clone(),
        event: event("org_a", n),
        attempt: 2,
        due_at: at(due),
    };
    // Thirty overdue for one endpoint, all older than the other's one.
    for n in 0..30 {
        store
            .schedule_delivery(&pending(&busy, n, -100 + i64::from(n)))
            .await
            .unwrap();
    }
    store
        .schedule_delivery(&pending(&quiet, 99, -1))
        .await
        .unwrap();
    let due = store.due_deliveries(at(0), 4).await.unwrap();
    let hooks: Vec<&WebhookId> = due.iter().map(|d| &d.webhook_id).collect();
    assert_eq!(hooks, [&busy, &quiet, &busy, &busy], "in turns");
    assert_eq!(
        due[0],
        pending(&busy, 0, -100),
        "each one's most overdue first"
    );
    assert_eq!(store.due_deliveries(at(0), 100).await.unwrap().len(), 31);
}

/// What an operator sees of the retries: every waiting delivery, due or not, the endpoints
/// they are for, and the earliest due time, across the index's shards.
async fn waiting_deliveries_are_counted_with_their_endpoints(backend: Backend) {
    let store = backend.fresh_store().await;
    assert_eq!(
        store.waiting_deliveries(100).await.unwrap(),
        WaitingDeliveries::default()
    );
    // Two endpoints in two shards of the index, `late` in the one read last.
    let (early, late) = loop {
        let (a, b) = (WebhookId::generate(), WebhookId::generate());
        if schema::webhook_due_shard(&a) < schema::webhook_due_shard(&b) {
            break (a, b);
        }
    };
    let pending = |hook: &WebhookId, n: u32, due: i64| PendingDelivery {
        webhook_id: hook.clone(),
        event: event("org_a", n),
        attempt: 2,
        due_at: at(due),
    };
    for delivery in [
        pending(&early, 1, 300),
        pending(&early, 2, 3_600),
        pending(&early, 3, 60),
        pending(&late, 4, -600),
    ] {
        store.schedule_delivery(&delivery).await.unwrap();
    }
    let waiting = |count, endpoints, earliest| WaitingDeliveries {
        count,
        endpoints,
        earliest_due: Some(at(earliest)),
    };
    assert_eq!(
        store.waiting_deliveries(100).await.unwrap(),
        waiting(4, 2, -600)
    );
    // The limit bounds what is counted, not which delivery is the earliest.
    let one = store.waiting_deliveries(1).await.unwrap();
    assert_eq!((one.count, one.endpoints), (1, 1), "{one:?}");
    assert_eq!(one.earliest_due, Some(at(-600)));

    // Taken for its attempt (leased), then delivered: no longer waiting. Rescheduled:
    // still one delivery.
    assert!(
        store
            .take_delivery(&pending(&late, 4, -600), at(60))
            .await
            .unwrap()
    );
    store
        .drop_delivery(&late, &event("org_a", 4).id)
        .await
        .unwrap();
    let mut again = pending(&early, 3, 900);
    again.attempt = 3;
    store.schedule_delivery(&again).await.unwrap();
    assert_eq!(
        store.waiting_deliveries(100).await.unwrap(),
        waiting(3, 1, 300)
    );
}

for_each_backend!(
    endpoints_are_kept_per_organization_within_the_limit,
    the_log_keeps_the_newest_attempts,
    due_deliveries_are_taken_once,
    one_endpoints_backlog_does_not_hold_the_others,
    waiting_deliveries_are_counted_with_their_endpoints,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_three_days_is_disabled_and_the_others_told() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(at(0));
    let deliverer = domains::config::deliverer(None, store.as_ref(), Some("127.0.0.0/8"))
        .await
        .unwrap();
    let failing_receiver = testkit::StatusReceiver::start(&[500]).await;
    let mut failing = sealed_webhook(&deliverer, "org_a", &failing_receiver.url).await;
    failing.events = vec!["domain.created".into()];
    store.create_webhook(&failing, 10).await.unwrap();
    // A second endpoint, at an address that is refused without a packet sent: what it
    // is told is in its log.
    let mut watcher = sealed_webhook(&deliverer, "org_a", "https://192.0.2.1/hooks").await;
    watcher.events = vec!["webhook.disabled".into()];
    store.create_webhook(&watcher, 10).await.unwrap();

    let attempts = deliverer
        .fan_out(store.as_ref(), &clock, &event("org_a", 1))
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "only one wants domain.created");
    // Each retry when it is due, never before.
    for wait in RETRY_SCHEDULE {
        clock.advance(wait - time::Duration::seconds(1));
        assert_eq!(
            deliverer
                .deliver_due(store.as_ref(), &clock, None)
                .await
                .unwrap(),
            0,
            "not due a second early"
        );
        clock.advance(time::Duration::seconds(1));
        let made = deliverer
            .deliver_due(store.as_ref(), &clock, None)
            .await
            .unwrap();
        assert!(made >= 1, "due after {wait}");
    }
    assert_eq!(failing_receiver.hits(), 10, "one attempt and nine retries");
    // The disable is announced to the organization's other endpoints as a delivery due at
    // once (made by the next run, like any other).
    assert_eq!(
        deliverer
            .deliver_due(store.as_ref(), &clock, None)
            .await
            .unwrap(),
        1,
        "the announcement"
    );
    assert_eq!(
        deliverer
            .deliver_due(store.as_ref(), &clock, None)
            .await
            .unwrap(),
        0,
        "the schedule is spent (the announcement's retry is not due yet)"
    );
    let now = store
        .get_webhook(&org("org_a"), &failing.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.status, WebhookStatus::Disabled, "{now:?}");
    assert!(now.disabled_reason.is_some());
    let log = store.recent_attempts(&failing.id, 20).await.unwrap();
    assert_eq!(log.len(), 10);
    assert!(
        log.iter()
            .all(|a| a.outcome == Outcome::Failed && a.response_status == Some(500))
    );
    assert_eq!(log[0].next_attempt_at, None, "given up");
    assert!(
        log.iter().all(|a| a.event_id == log[0].event_id),
        "one event, one webhook-id"
    );
    let told = store.recent_attempts(&watcher.id, 20).await.unwrap();
    assert!(
        told.iter().any(|a| a.event_type == "webhook.disabled"),
        "{told:#?}"
    );
    // Disabled: a new event is not sent to it.
    let attempts = deliverer
        .fan_out(store.as_ref(), &clock, &event("org_a", 2))
        .await
        .unwrap();
    assert!(attempts.is_empty());
    assert_eq!(failing_receiver.hits(), 10);
    assert_eq!(
        clock.now(),
        at(RETRY_SCHEDULE.iter().map(|d| d.whole_seconds()).sum())
    );
}

/// A host name that resolves to a refused address: its owner reads only that it is not
/// public, when the endpoint is given and in the deliveries log; the address is in the
/// service's log, with the organization and (once it has one) the endpoint.
#[tokio::test]
async fn a_refused_name_is_logged_not_shown() {
    // This test's thread only (its runtime's too): the binary's other tests log nowhere.
    let captured = testkit::CapturedLogs::default();
    let writer = captured.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish(),
    );
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let deliverer = domains::config::deliverer(None, store.as_ref(), Some(""))
        .await
        .unwrap();
    let hook = sealed_webhook(&deliverer, "org_logged", "https://localhost/hooks").await;
    let attempt = deliverer
        .send(&hook, &event("org_logged", 1), 1, at(0))
        .await;
    assert_eq!(attempt.outcome, Outcome::Refused, "{attempt:?}");
    assert_eq!(
        attempt.error.as_deref(),
        Some("localhost resolves to an address that is not public")
    );
    let refusals = || -> Vec<String> {
        let logs = captured.text();
        let lines: Vec<String> = logs
            .lines()
            .filter(|l| l.contains("refused address"))
            .map(str::to_owned)
            .collect();
        for line in &lines {
            assert!(line.contains("org_logged"), "{line}");
            assert!(line.contains("localhost resolves to"), "{line}");
            assert!(line.contains("127.0.0.1") || line.contains("::1"), "{line}");
        }
        lines
    };
    let lines = refusals();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains(&hook.id.to_string()), "{}", lines[0]);

    let key = domains::auth::NewApiKey::generate(org("org_logged"), at(0));
    store.put_api_key(&key.record).await.unwrap();
    let app = domains::App::without_dns(store, Arc::new(domains::clock::SystemClock))
        .with_deliverer(deliverer);
    let endpoint = domains::http::Endpoint::CreateWebhook;
    let refused = app
        .handle(
            endpoint,
            testkit::api::request(
                &key.key,
                endpoint,
                None,
                r#"{"url":"https://localhost/hooks"}"#,
            ),
        )
        .await;
    assert_eq!(refused.status(), 400);
    let shown = testkit::api::json(&refused).to_string();
    assert!(shown.contains("not public"), "{shown}");
    assert!(
        !shown.contains("127.0.0.1") && !shown.contains("::1"),
        "{shown}"
    );
    assert_eq!(refusals().len(), 2, "the refusal at creation is logged too");
}
