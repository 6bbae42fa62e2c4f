//! Each Lambda function builds only what its endpoint's `needs()` names. An endpoint that
//! left DNS out but used it would answer 500 in production: every such endpoint is driven
//! here through an app built without DNS, the way its function builds it.

use std::sync::Arc;

use domains::App;
use domains::auth::NewApiKey;
use domains::clock::SystemClock;
use domains::http::Endpoint;
use domains::model::Timestamp;
use domains::store::KeyStore;
use domains::store::MemoryStore;
use testkit::api::{json, request};
use testkit::org;

/// Registers `name` with `key`; the new domain's id.
async fn register(app: &App, key: &str, name: &str) -> String {
    let body = format!(r#"{{"domain":"{name}"}}"#);
    let response = app
        .handle(
            Endpoint::Register,
            request(key, Endpoint::Register, None, &body),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", json(&response));
    json(&response)["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_built_without_dns_never_need_it() {
    let store = Arc::new(MemoryStore::new());
    let key = NewApiKey::generate(org("org_a"), Timestamp::from_unix(0));
    store.put_api_key(&key.record).await.unwrap();
    let other = NewApiKey::generate(org("org_b"), Timestamp::from_unix(0));
    store.put_api_key(&other.record).await.unwrap();
    let app = App::without_dns(store, Arc::new(SystemClock));
    let key = key.key.as_str();
    // A name another organization holds, for the claim below.
    register(&app, &other.key, "held.example").await;
    let id = register(&app, key, "slim.example").await;
    let id = Some(id.as_str());
    let steps = [
        (Endpoint::List, None, ""),
        (Endpoint::Get, id, ""),
        (Endpoint::ZoneFile, id, ""),
        (Endpoint::RotateDkim, id, ""),
        (Endpoint::OpenClaim, None, r#"{"domain":"held.example"}"#),
        (Endpoint::Update, id, r#"{"status":"suspended"}"#),
        (Endpoint::Delete, id, ""),
    ];
    let mut driven = vec![Endpoint::Register];
    for (endpoint, id, body) in steps {
        let response = app.handle(endpoint, request(key, endpoint, id, body)).await;
        assert!(
            response.status().is_success(),
            "{endpoint:?}: {} {}",
            response.status(),
            json(&response)
        );
        driven.push(endpoint);
    }
    for endpoint in Endpoint::ALL {
        assert_eq!(
            driven.contains(&endpoint),
            !endpoint.needs().dns,
            "{endpoint:?} is driven here exactly when it is built without DNS"
        );
    }

    // The test can tell: an endpoint that does check DNS, built without it, is a 500.
    let id = register(&app, key, "slim2.example").await;
    let verify = app
        .handle(
            Endpoint::Verify,
            request(key, Endpoint::Verify, Some(&id), ""),
        )
        .await;
    assert_eq!(verify.status(), 500);
}
