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

/// Asks `app` for a webhook endpoint at a public address with `key`.
async fn create_webhook(app: &App, key: &str) -> lambda_http::Response<lambda_http::Body> {
    let body = r#"{"url":"https://198.41.0.4/hooks"}"#;
    app.handle(
        Endpoint::CreateWebhook,
        request(key, Endpoint::CreateWebhook, None, body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_built_without_dns_never_need_it() {
    let store = Arc::new(MemoryStore::new());
    let key = NewApiKey::generate(org("org_a"), Timestamp::from_unix(0));
    store.put_api_key(&key.record).await.unwrap();
    let other = NewApiKey::generate(org("org_b"), Timestamp::from_unix(0));
    store.put_api_key(&other.record).await.unwrap();
    let deliverer = domains::config::deliverer(None, store.as_ref(), Some(""))
        .await
        .unwrap();
    // Webhook endpoints that need the deliverer get one, as their functions build it;
    // the rest are driven without it.
    let with_webhooks =
        App::without_dns(store.clone(), Arc::new(SystemClock)).with_deliverer(deliverer);
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
    let created = create_webhook(&with_webhooks, key).await;
    assert_eq!(created.status(), 201, "{}", json(&created));
    let hook = json(&created)["id"].as_str().unwrap().to_owned();
    let hook = Some(hook.as_str());
    let webhook_steps = [
        (Endpoint::ListWebhooks, None, ""),
        (Endpoint::GetWebhook, hook, ""),
        (Endpoint::UpdateWebhook, hook, r#"{"description":"slim"}"#),
        (Endpoint::RotateWebhookSecret, hook, ""),
        (Endpoint::TestWebhook, hook, ""),
        (Endpoint::ListWebhookDeliveries, hook, ""),
        (Endpoint::DeleteWebhook, hook, ""),
    ];
    let mut driven = vec![Endpoint::Register, Endpoint::CreateWebhook];
    let steps = steps
        .into_iter()
        .map(|step| (&app, step))
        .chain(webhook_steps.into_iter().map(|(endpoint, id, body)| {
            let host = if endpoint.needs().webhooks {
                &with_webhooks
            } else {
                &app
            };
            (host, (endpoint, id, body))
        }));
    for (host, (endpoint, id, body)) in steps {
        let response = host
            .handle(endpoint, request(key, endpoint, id, body))
            .await;
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
    // And one that needs the deliverer, built without it, says it is not configured.
    let create = create_webhook(&app, key).await;
    assert_eq!(create.status(), 503);
}
