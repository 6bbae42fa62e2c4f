//! domainctl's operator commands against DynamoDB Local tables: `orgs counts` on counters
//! that drifted, `status` on a table with work and webhook retries waiting.

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use domains::clock::{Clock, SystemClock};
use domains::model::webhook::{PendingDelivery, WebhookEvent};
use domains::model::{DomainId, DomainName, Timestamp, WebhookId};
use domains::store::{DefaultChoice, DynamoStore, schema};
use domains::store::{DomainStore, NameStore, OrgStore, OutboxStore, Reservation, WebhookStore};
use testkit::org;
use testkit::pending_domain;

/// Runs `domainctl orgs counts ARGS` on `table`; exit status and stdout.
fn counts(table: &str, args: &[&str]) -> (bool, String) {
    let args: Vec<&str> = ["orgs", "counts"].iter().chain(args).copied().collect();
    domainctl(table, &args)
}

/// Runs `domainctl ARGS` on `table`; exit status and stdout.
fn domainctl(table: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_domainctl"))
        .args(args)
        .env("DOMAINS_TABLE", table)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            &testkit::dynamodb_local().endpoint,
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() || !stderr.is_empty(), "{stdout}");
    (output.status.success(), stdout)
}

#[test]
fn counts_are_verified_then_repaired() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(testkit::fresh_dynamo_store());
    let at = domains::model::Timestamp::from_unix(1_704_873_600);
    runtime.block_on(async {
        for (org, name) in [
            ("org_a", "a1.example"),
            ("org_a", "a2.example"),
            ("org_b", "b.example"),
        ] {
            store
                .insert_domain(&pending_domain(org, name, at), DefaultChoice::IfNone)
                .await
                .unwrap();
        }
    });
    let table = store.table().to_owned();
    let (clean, out) = counts(&table, &["--all"]);
    assert!(clean, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "org_a: ok (2 domains: 2 pending)",
            "org_b: ok (1 domains: 1 pending)"
        ]
    );

    runtime.block_on(async {
        store
            .client()
            .update_item()
            .table_name(&table)
            .key("PK", AttributeValue::S("ORG#org_a".into()))
            .key("SK", AttributeValue::S("ORG".into()))
            .update_expression("SET pendingCount = :wrong")
            .expression_attribute_values(":wrong", AttributeValue::N("5".into()))
            .send()
            .await
            .unwrap();
    });
    let (clean, out) = counts(&table, &["--org", "org_a"]);
    assert!(!clean, "verifying drift fails: {out}");
    assert!(
        out.contains("DIFFERS: pending counter 5 (counted 2)"),
        "{out}"
    );
    let (clean, out) = counts(&table, &["--all", "--repair"]);
    assert!(clean, "{out}");
    assert!(
        out.contains("org_a: repaired: pending counter 5 (counted 2)"),
        "{out}"
    );
    let (clean, out) = counts(&table, &["--org", "org_a"]);
    assert!(clean, "{out}");
    let quota = runtime
        .block_on(store.quota(&testkit::org("org_a")))
        .unwrap();
    assert_eq!(quota.used, 2);
}

#[test]
fn status_shows_what_waits() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(testkit::fresh_dynamo_store());
    let table = store.table().to_owned();
    let status = |expect_clean: bool| {
        let (clean, out) = domainctl(&table, &["status"]);
        assert_eq!(clean, expect_clean, "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let quiet = status(true);
    assert_eq!(quiet["due"], 0, "{quiet}");
    assert_eq!(quiet["undeliveredEvents"]["count"], 0, "{quiet}");
    assert_eq!(quiet["expiredReservations"], 0, "{quiet}");
    assert_eq!(
        quiet["webhookRetries"],
        serde_json::json!({"count": 0, "endpoints": 0, "earliestDue": null}),
        "{quiet}"
    );
    assert!(quiet["webhookRetryOverdueSeconds"].is_null(), "{quiet}");

    // Two endpoints failing: retries waiting, one due two minutes ago (the deliverer's
    // next run takes it). A customer's endpoint failing is not the operator's to fix.
    let now = SystemClock.now();
    let (one, other) = (WebhookId::generate(), WebhookId::generate());
    let two_minutes_ago = now.plus(time::Duration::minutes(-2));
    retry(&runtime, &store, &one, 1, two_minutes_ago);
    retry(
        &runtime,
        &store,
        &one,
        2,
        now.plus(time::Duration::hours(2)),
    );
    retry(
        &runtime,
        &store,
        &other,
        3,
        now.plus(time::Duration::minutes(30)),
    );
    let failing = status(true);
    assert_eq!(
        failing["webhookRetries"],
        serde_json::json!({
            "count": 3,
            "endpoints": 2,
            "earliestDue": two_minutes_ago.to_string()
        }),
        "{failing}"
    );
    let overdue = failing["webhookRetryOverdueSeconds"].as_i64().unwrap();
    assert!((120..600).contains(&overdue), "{failing}");

    // A domain registered an hour ago: due since, its creation never delivered; and a
    // registration that died, its reservation run out a minute ago.
    let hour_ago = now.plus(time::Duration::hours(-1));
    let domain = pending_domain("org_a", "waiting.example", hour_ago);
    runtime.block_on(async {
        store
            .insert_domain(&domain, DefaultChoice::IfNone)
            .await
            .unwrap();
        store
            .reserve_name(&Reservation {
                name: DomainName::parse("died.example").unwrap(),
                org: org("org_b"),
                domain_id: DomainId::generate(),
                until: now.plus(time::Duration::minutes(-1)),
                leftovers: vec![],
                effects: vec![],
            })
            .await
            .unwrap();
    });
    let waiting = status(false);
    assert_eq!(waiting["due"], 1, "{waiting}");
    assert_eq!(waiting["webhookRetries"]["count"], 3, "{waiting}");
    assert!(
        waiting["oldestDueAgeSeconds"].as_i64().unwrap() >= 3600,
        "{waiting}"
    );
    assert_eq!(waiting["undeliveredEvents"]["count"], 1, "{waiting}");
    assert_eq!(
        waiting["undeliveredEvents"]["oldest"],
        hour_ago.to_string(),
        "{waiting}"
    );
    assert_eq!(waiting["expiredReservations"], 1, "{waiting}");
    assert_eq!(
        waiting["attention"].as_array().unwrap().len(),
        3,
        "{waiting}"
    );

    // Delivered, the event no longer counts.
    runtime.block_on(async {
        let events = store.undelivered_events(&domain.name).await.unwrap();
        assert_eq!(events.len(), 1);
        store.mark_delivered(&events, now).await.unwrap();
    });
    let delivered = status(false);
    assert_eq!(delivered["undeliveredEvents"]["count"], 0, "{delivered}");
    assert_eq!(
        delivered["undeliveredEvents"]["unreadable"], 0,
        "{delivered}"
    );

    // An outbox item nobody can read is never delivered: counted, not a failed command.
    runtime.block_on(async {
        store
            .client()
            .put_item()
            .table_name(store.table())
            .item(
                "PK",
                AttributeValue::S(format!("{}unreadable.example", schema::EVENTS_PK_PREFIX)),
            )
            .item("SK", AttributeValue::S("EVENT#dom_x#1".into()))
            .item("event", AttributeValue::S("{not json".into()))
            .send()
            .await
            .unwrap();
    });
    let unreadable = status(false);
    assert_eq!(
        unreadable["undeliveredEvents"]["unreadable"], 1,
        "{unreadable}"
    );
    assert!(
        unreadable["attention"]
            .to_string()
            .contains("cannot be read"),
        "{unreadable}"
    );

    // A retry due half an hour ago: nobody is making retries.
    let half_hour_ago = now.plus(time::Duration::minutes(-30));
    retry(&runtime, &store, &WebhookId::generate(), 4, half_hour_ago);
    let late = status(false);
    assert_eq!(late["webhookRetries"]["count"], 4, "{late}");
    assert_eq!(late["webhookRetries"]["endpoints"], 3, "{late}");
    assert_eq!(
        late["webhookRetries"]["earliestDue"],
        half_hour_ago.to_string(),
        "{late}"
    );
    assert!(
        late["webhookRetryOverdueSeconds"].as_i64().unwrap() >= 1800,
        "{late}"
    );
    assert!(
        late["attention"]
            .to_string()
            .contains("webhook retries are not being made: one has been due for 30 minutes"),
        "{late}"
    );
}

/// Keeps event `n`'s delivery to `webhook` waiting for a retry due at `due_at`.
fn retry(
    runtime: &tokio::runtime::Runtime,
    store: &DynamoStore,
    webhook: &WebhookId,
    n: u32,
    due_at: Timestamp,
) {
    let delivery = PendingDelivery {
        webhook_id: webhook.clone(),
        event: WebhookEvent {
            id: format!("evt_{n:026}"),
            event_type: "domain.created".into(),
            org_id: org("org_a"),
            occurred_at: due_at,
            data: serde_json::json!({}),
        },
        attempt: 2,
        due_at,
    };
    runtime
        .block_on(store.schedule_delivery(&delivery))
        .unwrap();
}
