//! Delivery's guarantees: at least once, in order per domain, a refused event blocking
//! only its own domain; and which change makes which event.

use std::sync::Mutex;

use async_trait::async_trait;
use proptest::prelude::*;

use super::*;
use crate::model::event::*;
use crate::model::{
    CheckReport, Domain, DomainName, DomainState, Finding, OrgId, RecordKind, RecordStatus, Region,
    Status, Timestamp, VerificationSetup,
};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(1_790_000_000 + seconds)
}

fn domain() -> Domain {
    let setup = VerificationSetup {
        ownership_token: "t".into(),
        dkim_selector: "dkim20261128".into(),
        dkim_public_key: "MIIB".into(),
        mail_from: None,
        dkim_next: None,
        dkim_retired: None,
        zone_records: None,
    };
    Domain::new_pending(
        OrgId::parse("org_a").unwrap(),
        DomainName::parse("yourcompany.com").unwrap(),
        Region::parse("eu-west-1").unwrap(),
        setup,
        at(0),
    )
}

fn report(at: Timestamp, dkim: RecordStatus) -> CheckReport {
    let finding = |kind, status: RecordStatus| Finding {
        kind,
        verified: status.is_verified(),
        status,
        reason: None,
        found: Vec::new(),
        servers: Vec::new(),
    };
    CheckReport {
        checked_at: at,
        findings: vec![
            finding(RecordKind::Mx, RecordStatus::Verified),
            finding(RecordKind::Ownership, RecordStatus::Verified),
            finding(RecordKind::Dkim, dkim),
        ],
        ses: None,
    }
}

/// `domain` after `state`, as a store writes it.
fn changed(domain: &Domain, state: DomainState, when: Timestamp) -> Domain {
    let mut next = domain.clone();
    next.state = state;
    next.version += 1;
    next.updated_at = when;
    next
}

fn kind_of(before: &Domain, after: &Domain) -> Option<EventType> {
    LifecycleEvent::of_change(before, after).map(|e| e.detail_type)
}

#[test]
fn detail_types_are_the_serialized_names() {
    for kind in EventType::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
}

#[test]
fn a_life_yields_one_event_per_change_of_status_or_health() {
    let pending = domain();
    let created = LifecycleEvent::created(&pending);
    assert_eq!(created.detail_type, EventType::Created);
    assert_eq!(created.detail.previous_status, None);
    assert_eq!(created.detail.status, "pending");

    // A check that finds nothing new is not an event.
    let still = changed(
        &pending,
        pending
            .state
            .after_check(&report(at(1), RecordStatus::Missing)),
        at(1),
    );
    assert_eq!(kind_of(&pending, &still), None);

    let active = changed(
        &still,
        still
            .state
            .after_check(&report(at(2), RecordStatus::Verified)),
        at(2),
    );
    let verified = LifecycleEvent::of_change(&still, &active).unwrap();
    assert_eq!(verified.detail_type, EventType::Verified);
    assert_eq!(
        (
            verified.detail.status.as_str(),
            verified.detail.previous_status.as_deref()
        ),
        ("active", Some("pending"))
    );
    assert_eq!(verified.sequence, active.version);

    let degraded = changed(
        &active,
        active
            .state
            .after_check(&report(at(3), RecordStatus::Missing)),
        at(3),
    );
    let event = LifecycleEvent::of_change(&active, &degraded).unwrap();
    assert_eq!(event.detail_type, EventType::Degraded);
    assert_eq!(event.detail.status, "active");
    assert_eq!(
        event.detail.reason.as_deref(),
        Some("required records not verifying: dkim (missing)")
    );
    // Still degraded: no second event.
    let again = changed(
        &degraded,
        degraded
            .state
            .after_check(&report(at(4), RecordStatus::Missing)),
        at(4),
    );
    assert_eq!(kind_of(&degraded, &again), None);
    assert_eq!(again.state.degraded_since, Some(at(3)));

    let recovered = changed(
        &again,
        again
            .state
            .after_check(&report(at(5), RecordStatus::Verified)),
        at(5),
    );
    assert_eq!(kind_of(&again, &recovered), Some(EventType::Recovered));

    let suspended = changed(
        &recovered,
        recovered.state.moved_to(Status::Suspended, at(6)),
        at(6),
    );
    assert_eq!(kind_of(&recovered, &suspended), Some(EventType::Suspended));
    let back = changed(
        &suspended,
        suspended.state.moved_to(Status::Active, at(7)),
        at(7),
    );
    assert_eq!(kind_of(&suspended, &back), Some(EventType::Reactivated));

    let deleted = LifecycleEvent::deleted(&back, Removal::Claimed, at(8));
    assert_eq!(deleted.detail_type, EventType::Deleted);
    assert_eq!(
        (
            deleted.detail.status.as_str(),
            deleted.detail.previous_status.as_deref(),
            deleted.detail.reason.as_deref()
        ),
        ("deleted", Some("active"), Some("claimed"))
    );
    assert_eq!(deleted.sequence, back.version + 1);
}

#[test]
fn an_unreachable_server_is_not_a_degraded_domain() {
    let pending = domain();
    let active = changed(
        &pending,
        pending
            .state
            .after_check(&report(at(1), RecordStatus::Verified)),
        at(1),
    );
    let unsure = changed(
        &active,
        active
            .state
            .after_check(&report(at(2), RecordStatus::TemporaryFailure)),
        at(2),
    );
    assert_eq!(unsure.state.health(), Some(crate::model::Health::Ok));
    assert_eq!(kind_of(&active, &unsure), None);
}

#[test]
fn seventy_two_hours_degraded_fail_the_domain() {
    let pending = domain();
    let mut current = changed(
        &pending,
        pending
            .state
            .after_check(&report(at(0), RecordStatus::Verified)),
        at(0),
    );
    let mut kinds = Vec::new();
    for hour in (24..=96).step_by(24) {
        let when = at(hour * 3600);
        let next = changed(
            &current,
            current
                .state
                .after_check(&report(when, RecordStatus::Missing)),
            when,
        );
        kinds.extend(kind_of(&current, &next));
        current = next;
    }
    // Degraded at hour 24, failed at hour 96: 72 hours later, not before.
    assert_eq!(kinds, [EventType::Degraded, EventType::Failed]);
    assert_eq!(current.state.status, Status::Failed);
    let reason = current.state.failure_reason.as_deref().unwrap();
    assert!(
        reason.contains("72 hours") && reason.contains("dkim"),
        "{reason}"
    );
}

/// A sink that refuses the events it is told to, and records what it accepted.
#[derive(Default)]
struct Scripted {
    refuse: Mutex<Vec<String>>,
    accepted: Mutex<Vec<String>>,
    calls: Mutex<Vec<usize>>,
}

#[async_trait]
impl EventSink for Scripted {
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>> {
        self.calls.lock().unwrap().push(events.len());
        let refuse = self.refuse.lock().unwrap();
        events
            .iter()
            .map(|e| {
                if refuse.contains(&e.detail.event_id) {
                    Err("refused".to_owned())
                } else {
                    self.accepted
                        .lock()
                        .unwrap()
                        .push(e.detail.event_id.clone());
                    Ok(())
                }
            })
            .collect()
    }
}

/// `count` events of each of `domains` domains (each of its own name: events are ordered
/// per name), interleaved as a stream would hold them.
fn batch(domains: usize, count: u64) -> Vec<StreamedEvent> {
    let ds: Vec<Domain> = (0..domains)
        .map(|i| Domain {
            name: DomainName::parse(&format!("d{i}.yourcompany.com")).unwrap(),
            ..domain()
        })
        .collect();
    let mut items = Vec::new();
    for sequence in 0..count {
        for d in &ds {
            let mut event = LifecycleEvent::created(d);
            event.sequence = sequence;
            items.push(StreamedEvent {
                position: format!("{:05}", items.len()),
                event,
            });
        }
    }
    items
}

#[tokio::test]
async fn each_domains_events_go_in_order_and_a_refusal_holds_only_its_domain() {
    let items = batch(12, 3);
    let sink = Scripted::default();
    // The second event of the first domain is refused.
    sink.refuse
        .lock()
        .unwrap()
        .push(items[12].event.detail.event_id.clone());
    let delivery = deliver(&items, &sink).await;
    // Everything but that domain's last two events went, at most 10 to a call.
    assert_eq!(delivery.delivered.len(), 36 - 2);
    assert!(sink.calls.lock().unwrap().iter().all(|n| *n <= MAX_PER_PUT));
    assert_eq!(delivery.retry_from, Some(12));
    let accepted = sink.accepted.lock().unwrap().clone();
    assert!(!accepted.contains(&items[24].event.detail.event_id));
    // Within a domain, in sequence order.
    for d in 0..12 {
        let order: Vec<usize> = (0..3)
            .filter_map(|s| {
                let id = &items[s * 12 + d].event.detail.event_id;
                accepted.iter().position(|a| a == id)
            })
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "domain {d}: {order:?}"
        );
    }

    // Delivered again from there, nothing is missing.
    sink.refuse.lock().unwrap().clear();
    let again = deliver(&items[12..], &sink).await;
    assert_eq!(again.retry_from, None);
    let accepted = sink.accepted.lock().unwrap().clone();
    for item in &items {
        assert!(accepted.contains(&item.event.detail.event_id));
    }
}

#[tokio::test]
async fn a_sink_that_is_down_delivers_nothing_and_retries_everything() {
    let items = batch(3, 2);
    let sink = Scripted::default();
    sink.refuse
        .lock()
        .unwrap()
        .extend(items.iter().map(|i| i.event.detail.event_id.clone()));
    let delivery = deliver(&items, &sink).await;
    assert!(delivery.delivered.is_empty());
    assert_eq!(delivery.retry_from, Some(0));
}

fn stream_event(records: serde_json::Value) -> Option<aws_lambda_events::event::dynamodb::Event> {
    serde_json::from_value(serde_json::json!({ "Records": records })).ok()
}

fn record(name: &str, image: serde_json::Value, sequence: &str) -> serde_json::Value {
    serde_json::json!({
        "eventID": "1", "eventName": name, "awsRegion": "eu-west-1",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "ApproximateCreationDateTime": 1.79e9, "SequenceNumber": sequence,
            "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
            "Keys": {}, "NewImage": image
        }
    })
}

#[test]
fn only_inserted_outbox_items_are_events() {
    let event = LifecycleEvent::created(&domain());
    let text = serde_json::to_string(&event).unwrap();
    let outbox = serde_json::json!({
        "PK": {"S": format!("EVENTS#{}", event.detail.domain_id)},
        "SK": {"S": "EVENT#00000000000000000000"},
        "event": {"S": text}
    });
    let domain_item = serde_json::json!({"PK": {"S": "ORG#org_a"}, "event": {"S": text}});
    let broken = serde_json::json!({"PK": {"S": "EVENTS#dom_x"}, "event": {"S": "{"}});
    let parsed = stream_event(serde_json::json!([
        record("INSERT", outbox.clone(), "100"),
        record("MODIFY", outbox.clone(), "101"),
        record("INSERT", domain_item, "102"),
        record("INSERT", broken, "103"),
        record("REMOVE", outbox, "104"),
    ]))
    .unwrap();
    let found = outbox_records(&parsed);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].position.as_str(), &found[0].event),
        ("100", &event)
    );
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("EVENTS#dom_01")),
        Just(serde_json::Value::from("INSERT")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("S".to_owned()),
                    Just("PK".to_owned()),
                    Just("event".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Whatever a stream record holds, reading it never panics, and only a well-formed
    /// outbox item is taken for an event.
    #[test]
    fn any_stream_record_reads_without_panicking(
        image in json_value(),
        event_text in ".{0,200}",
        name in prop_oneof![Just("INSERT".to_owned()), Just("MODIFY".to_owned()), ".{0,8}"],
    ) {
        let mut images = vec![image];
        images.push(serde_json::json!({
            "PK": {"S": "EVENTS#dom_01"}, "event": {"S": event_text.clone()}
        }));
        for image in images {
            if let Some(parsed) = stream_event(serde_json::json!([record(&name, image, "1")])) {
                for found in outbox_records(&parsed) {
                    let again = serde_json::to_string(&found.event).unwrap();
                    prop_assert!(serde_json::from_str::<LifecycleEvent>(&again).is_ok());
                }
            }
        }
    }
}
