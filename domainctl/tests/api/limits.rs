//! Verify rate limits through the real endpoints: per domain a burst of 5 then one every
//! 12 s, per organization `VERIFY_RATE` a minute; `429 RATE_LIMITED` with `Retry-After`
//! beyond either, for domain and claim verifies alike, and across servers sharing a table.

use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, Reply, TestApp, id_of};

async fn verify(app: &TestApp, id: &str) -> Reply {
    app.as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await
}

/// A refusal as the contract has it, with a `Retry-After` of 1 to `most` seconds.
#[track_caller]
pub(crate) fn assert_limited(reply: &Reply, most: u64) {
    reply.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let seconds: u64 = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After in seconds: {:?}", reply.headers));
    assert!((1..=most).contains(&seconds), "Retry-After: {seconds}");
}

async fn a_domain_gets_a_burst_of_five(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = id_of(&app.register("burst.example").await);
    for _ in 0..5 {
        let reply = verify(&app, &id).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    let refused = verify(&app, &id).await;
    assert_limited(&refused, 12);
    refused.assert_message_contains("this domain");
    // Another domain of the same organization is not held back.
    let other = id_of(&app.register("other-burst.example").await);
    assert_eq!(
        verify(&app, &other).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn an_organization_gets_verify_rate_a_minute(backend: Backend) {
    let store = backend.fresh_store().await;
    let app = TestApp::spawn_with(store, Default::default(), |app| app.with_verify_rate(3)).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(id_of(&app.register(&format!("org-rate-{n}.example")).await));
    }
    for id in &ids[..3] {
        assert_eq!(
            verify(&app, id).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let refused = verify(&app, &ids[3]).await;
    // 3 a minute: one more every 20 s.
    assert_limited(&refused, 20);
    refused.assert_message_contains("this organization");
    // Another organization has its own allowance.
    let theirs = app
        .as_b(
            Method::POST,
            BASE,
            Some(json!({ "domain": "theirs.example" })),
        )
        .await;
    let theirs = id_of(&theirs.body);
    let reply = app
        .as_b(Method::POST, &format!("{BASE}/{theirs}/verify"), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
}

async fn claim_verifies_are_limited_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("claimed-burst.example").await;
    let opened = app
        .as_b(
            Method::POST,
            &format!("{BASE}/claims"),
            Some(json!({ "domain": "claimed-burst.example" })),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let path = format!("{BASE}/claims/{}/verify", id_of(&opened.body));
    for _ in 0..5 {
        let reply = app.as_b(Method::POST, &path, None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    assert_limited(&app.as_b(Method::POST, &path, None).await, 12);
}

for_each_backend!(
    a_domain_gets_a_burst_of_five,
    an_organization_gets_verify_rate_a_minute,
    claim_verifies_are_limited_too,
);

/// Two servers (as two Lambda instances) over one DynamoDB Local table: the limit is the
/// table's, not either server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_hold_across_servers_sharing_the_table() {
    let first = TestApp::spawn(Backend::Dynamo).await;
    let second = TestApp::spawn_on(first.store.clone(), Default::default()).await;
    let id = id_of(&first.register("shared-burst.example").await);
    for app in [&first, &second, &first, &second, &first] {
        assert_eq!(
            verify(app, &id).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_limited(&verify(&second, &id).await, 12);
    assert_limited(&verify(&first, &id).await, 12);
}
