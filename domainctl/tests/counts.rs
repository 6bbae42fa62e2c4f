//! `domainctl orgs counts` against a DynamoDB Local table whose counters drifted.

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use domains::store::DefaultChoice;
use domains::store::{DomainStore, OrgStore};
use testkit::pending_domain;

/// Runs `domainctl orgs counts ARGS` on `table`; exit status and stdout.
fn counts(table: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_domainctl"))
        .args(["orgs", "counts"])
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
