//! A panic while serving a request (a bug, or an input no test foresaw) answers that
//! request with a logged 500 and leaves the app serving every other one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use domains::App;
use domains::auth::NewApiKey;
use domains::clock::{Clock, SystemClock};
use domains::dns::DnsChecker;
use domains::http::Endpoint;
use domains::model::Timestamp;
use domains::store::MemoryStore;
use domains::store::{KeyStore, ListStore};
use lambda_http::Body;
use testkit::org;

/// Panics on demand: registration reads the clock inside the handler.
struct FaultyClock(AtomicBool);

impl Clock for FaultyClock {
    fn now(&self) -> Timestamp {
        if self.0.load(Ordering::SeqCst) {
            panic!("the clock broke");
        }
        SystemClock.now()
    }
}

fn register(key: &str, name: &str) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/api/email/domains")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(format!(r#"{{"domain":"{name}"}}"#)))
        .unwrap()
}

fn body(response: &lambda_http::Response<Body>) -> serde_json::Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
        Body::Empty => serde_json::Value::Null,
        _ => panic!("unexpected body"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_request_is_a_500_and_the_app_keeps_serving() {
    let store = Arc::new(MemoryStore::new());
    let key = NewApiKey::generate(org("org_a"), Timestamp::from_unix(0));
    store.put_api_key(&key.record).await.unwrap();
    let clock = Arc::new(FaultyClock(AtomicBool::new(true)));
    let dns = DnsChecker::with_nameservers(
        &["127.0.0.1:9".parse().unwrap()],
        Duration::from_millis(100),
    );
    let app = App::new(store.clone(), clock.clone(), dns);

    let broken = app
        .handle(Endpoint::Register, register(&key.key, "a.example"))
        .await;
    assert_eq!(broken.status(), 500);
    let error = body(&broken);
    assert_eq!(error["error"]["code"], "INTERNAL_ERROR", "{error}");
    assert!(
        !error.to_string().contains("the clock broke"),
        "internals are logged, never shown: {error}"
    );
    assert!(error["error"]["requestId"].is_string(), "{error}");
    assert!(store.list_domains(&org("org_a")).await.unwrap().is_empty());

    clock.0.store(false, Ordering::SeqCst);
    let served = app
        .handle(Endpoint::Register, register(&key.key, "a.example"))
        .await;
    assert_eq!(served.status(), 201, "{}", body(&served));
}
