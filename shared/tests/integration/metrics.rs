//! The metrics the deployment watches are the ones the code emits: the flows (endpoints,
//! the sweep, event delivery) are driven with recording on, every EMF line is held to the
//! specification's structure, and each metric an alarm or the dashboard of `template.yaml`
//! names (with its dimensions) is found among them. Also: every function has its error and
//! throttle alarms and a log group.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domains::App;
use domains::auth::NewApiKey;
use domains::aws::EventSink;
use domains::clock::ManualClock;
use domains::http::Endpoint;
use domains::metrics;
use domains::model::event::LifecycleEvent;
use domains::model::{DEGRADED_WINDOW, RecordStatus, Timestamp, WATCH_INTERVAL};
use domains::outbox::deliver;
use domains::store::{KeyStore, MemoryStore};
use domains::workflows::sweep::{SweepOptions, sweep};
use serde_json::Value;
use testkit::api::{json, request};
use testkit::{DnsHierarchy, org, publish};

/// A sink that refuses everything, then one that takes everything.
struct Sink(bool);

#[async_trait]
impl EventSink for Sink {
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>> {
        let answer = if self.0 {
            Ok(())
        } else {
            Err("refused".into())
        };
        events.iter().map(|_| answer.clone()).collect()
    }
}

/// Drives every flow that records a metric; the EMF lines recorded meanwhile. Other tests
/// of this binary may record at the same time: their lines only add to these.
async fn emitted() -> Vec<String> {
    metrics::enable();
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix(1_704_873_600)));
    let dns = DnsHierarchy::start().await;
    let deliverer = domains::config::deliverer(None, store.as_ref(), Some(""))
        .await
        .unwrap();
    let app = App::new(
        store.clone(),
        clock.clone(),
        dns.checker(Duration::from_secs(2)),
    )
    .with_deliverer(deliverer.clone());
    let key = NewApiKey::generate(org("org_metrics"), Timestamp::from_unix(0));
    store.put_api_key(&key.record).await.unwrap();
    let key = key.key.as_str();
    let mut feed = store.feed();

    let call = async |endpoint, id: Option<&str>, body: &str, expect: u16| {
        let response = app.handle(endpoint, request(key, endpoint, id, body)).await;
        let body = json(&response);
        assert_eq!(response.status(), expect, "{endpoint:?}: {body}");
        body
    };
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    for name in ["watched-metrics.example", "never-metrics.example"] {
        dns.zone(name);
        let body = call(
            Endpoint::Register,
            None,
            &format!(r#"{{"domain":"{name}"}}"#),
            201,
        )
        .await;
        ids.push(body["id"].as_str().unwrap().to_owned());
        bodies.push(body);
    }
    call(Endpoint::List, None, "", 200).await;
    call(
        Endpoint::Get,
        Some("dom_00000000000000000000000000"),
        "",
        404,
    )
    .await;
    // One published (active), one never (422, and failed 72 hours on).
    publish(&dns, &bodies[0]["dnsRecords"]);
    call(Endpoint::Verify, Some(&ids[0]), "", 200).await;
    call(Endpoint::Verify, Some(&ids[1]), "", 422).await;
    // The active one's DKIM record removed: degraded at its daily check, failed 72 hours on.
    let dkim = bodies[0]["dnsRecords"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["name"].as_str().filter(|n| n.contains("._domainkey.")))
        .unwrap();
    dns.remove(dkim);
    let options = SweepOptions::default();
    clock.advance(WATCH_INTERVAL + time::Duration::minutes(1));
    let run = sweep(&app, None, &options).await;
    assert_eq!(run.degraded, 1, "{run:?}");
    clock.advance(DEGRADED_WINDOW + time::Duration::hours(1));
    let run = sweep(&app, None, &options).await;
    assert_eq!(run.failed, 2, "{run:?}");

    // The lifecycle events, refused once, then delivered.
    let batch = feed.next_batch().await.unwrap();
    assert!(batch.len() >= 6, "{} events", batch.len());
    assert!(deliver(&batch, &Sink(false)).await.delivered.is_empty());
    assert_eq!(
        deliver(&batch, &Sink(true)).await.delivered.len(),
        batch.len()
    );

    // A webhook endpoint at a documentation address: its test, and the events fanned out
    // to it, are refused without a packet sent.
    let created = call(
        Endpoint::CreateWebhook,
        None,
        r#"{"url":"https://198.51.100.7/hooks"}"#,
        400,
    )
    .await;
    assert_eq!(created["error"]["code"], "VALIDATION_ERROR");
    let created = call(
        Endpoint::CreateWebhook,
        None,
        r#"{"url":"https://hooks.metrics.example/in"}"#,
        201,
    )
    .await;
    let hook = created["id"].as_str().unwrap().to_owned();
    let tested = call(Endpoint::TestWebhook, Some(&hook), "", 200).await;
    assert_ne!(tested["outcome"], "delivered", "{tested}");
    let event = domains::model::webhook::WebhookEvent::of(&batch[0].event);
    let attempts = deliverer
        .fan_out(app.store(), clock.as_ref(), &event)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    // A tick of the deliverer's schedule: the refused attempt's retry is not due yet.
    let tick = domains::outbox::webhooks::Invocation::Schedule(serde_json::json!({}));
    let ticked = domains::outbox::webhooks::handle_invocation(
        &deliverer,
        app.store(),
        clock.as_ref(),
        tick,
        None,
    )
    .await
    .unwrap();
    assert_eq!(ticked["attempts"], 0, "{ticked}");

    metrics::take_lines(app.now().datetime().unix_timestamp() * 1000)
}

/// What the specification requires of one document; the metric names it carries, each
/// with its dimension sets.
fn check_document(line: &str) -> Vec<(String, Vec<BTreeSet<String>>)> {
    let root: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let root = root.as_object().expect("a JSON object");
    let aws = root["_aws"].as_object().expect("_aws, an object");
    assert!(aws["Timestamp"].is_i64(), "Timestamp in ms: {line}");
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics");
    assert!(!directives.is_empty(), "{line}");
    let mut found = Vec::new();
    for directive in directives {
        let namespace = directive["Namespace"].as_str().expect("Namespace");
        assert_eq!(namespace, metrics::NAMESPACE);
        let sets: Vec<BTreeSet<String>> = directive["Dimensions"]
            .as_array()
            .expect("Dimensions, an array of dimension sets")
            .iter()
            .map(|set| {
                let keys = set.as_array().expect("a dimension set is an array");
                assert!(keys.len() <= 30, "{line}");
                keys.iter()
                    .map(|key| {
                        let key = key.as_str().expect("dimension keys are strings");
                        let value = root.get(key).unwrap_or_else(|| panic!("{key}: {line}"));
                        let value = value.as_str().expect("dimension values are strings");
                        assert!(!value.is_empty() && value.len() <= 1024, "{line}");
                        key.to_owned()
                    })
                    .collect()
            })
            .collect();
        let named = directive["Metrics"].as_array().expect("Metrics");
        assert!(!named.is_empty() && named.len() <= 100, "{line}");
        for metric in named {
            let name = metric["Name"].as_str().expect("Name");
            assert!(
                ["Count", "Milliseconds", "Seconds"].contains(&metric["Unit"].as_str().unwrap()),
                "{line}"
            );
            match &root[name] {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(!values.is_empty() && values.len() <= metrics::MAX_VALUES);
                    assert!(values.iter().all(Value::is_number), "{line}");
                }
                other => panic!("{name} is {other}: {line}"),
            }
            found.push((name.to_owned(), sets.clone()));
        }
    }
    found
}

/// What `template.yaml` watches, read by `scripts/template_monitoring.py`.
fn monitoring() -> Value {
    let root = devservers::root();
    let out = Command::new(root.join(".tools/venv/bin/python"))
        .arg(root.join("scripts/template_monitoring.py"))
        .arg(root.join("template.yaml"))
        .output()
        .expect("the tools' Python (scripts/install-test-tools)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The values each dimension the code records can take.
fn dimension_values() -> BTreeMap<&'static str, BTreeSet<String>> {
    BTreeMap::from([
        (
            "Endpoint",
            Endpoint::ALL
                .iter()
                .map(|e| e.function_name().to_owned())
                .collect(),
        ),
        (
            "StatusClass",
            ["1xx", "2xx", "3xx", "4xx", "5xx"].map(String::from).into(),
        ),
        (
            "Outcome",
            ["delivered", "failed", "unreachable", "refused"]
                .map(String::from)
                .into(),
        ),
        (
            "RecordStatus",
            RecordStatus::ALL
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_template_watches_is_emitted() {
    let lines = emitted().await;
    let mut published: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for line in &lines {
        for (name, sets) in check_document(line) {
            published.entry(name).or_default().extend(sets);
        }
    }
    let example = lines
        .iter()
        .find(|l| l.contains(r#""Requests""#) && l.contains("verify-domain"))
        .expect("a verify request's line");
    println!("{} EMF lines, for example:\n{example}", lines.len());
    for metric in metrics::ALL {
        assert!(
            published.contains_key(metric.name),
            "{} was never emitted by the flows",
            metric.name
        );
    }

    let watched = monitoring();
    let values = dimension_values();
    let ours: Vec<&Value> = watched["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["namespace"] == metrics::NAMESPACE)
        .collect();
    assert!(
        ours.len() > 10,
        "the template watches the service's metrics"
    );
    for metric in ours {
        let (name, place) = (metric["name"].as_str().unwrap(), &metric["where"]);
        let sets = published
            .get(name)
            .unwrap_or_else(|| panic!("{place}: {name} is never emitted"));
        let dimensions = metric["dimensions"].as_object().unwrap();
        let keys: BTreeSet<String> = dimensions.keys().cloned().collect();
        assert!(
            sets.contains(&keys),
            "{place}: {name} is not published with exactly the dimensions {keys:?} (only {sets:?})"
        );
        for (key, value) in dimensions {
            let value = value.as_str().unwrap();
            assert!(
                values[key.as_str()].contains(value),
                "{place}: {name} never has {key}={value}"
            );
        }
    }

    let functions: BTreeSet<&str> = watched["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(functions.len() >= 12, "{functions:?}");
    for function in &functions {
        let alarmed: Vec<&str> = watched["alarmed"][function]
            .as_array()
            .map(|a| a.iter().map(|m| m.as_str().unwrap()).collect())
            .unwrap_or_default();
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarmed.contains(&metric),
                "{function} has no {metric} alarm"
            );
        }
        assert!(
            watched["logged"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == function),
            "{function} has no log group"
        );
    }
}

#[test]
fn a_document_missing_a_dimension_value_is_caught() {
    let bad = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"EmailDomains","Dimensions":[["Endpoint"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]},"Requests":1}"#;
    assert!(std::panic::catch_unwind(|| check_document(bad)).is_err());
    let good = bad.replace(r#""Requests":1"#, r#""Requests":1,"Endpoint":"get-domain""#);
    assert_eq!(check_document(&good).len(), 1);
}
