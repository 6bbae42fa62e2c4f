//! Spawns the local server on a free port with a fresh store and two organizations.

use std::sync::Arc;
use std::time::Duration;

use domainctl::events::{From, StreamFeed};
use domains::App;
use domains::auth::NewApiKey;
use domains::aws::Cloud;
use domains::clock::SystemClock;
use domains::model::{DomainId, OrgId, Timestamp};
use domains::store::{EventFeed, MemoryStore, Store};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::{Backend, DnsHierarchy, dynamodb_local, fresh_dynamo_store, org, sdk_config_for};
use tokio::sync::oneshot;

pub const BASE: &str = "/api/email/domains";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// Key of `org_a`.
    pub key_a: String,
    /// Key of `org_b`.
    pub key_b: String,
    /// The DNS verification looks at (zone servers behind a caching resolver): tests
    /// publish records here.
    pub dns: DnsHierarchy,
    _shutdown: oneshot::Sender<()>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

/// The field names of a JSON object, sorted.
pub fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

impl Reply {
    /// Asserts the error message mentions `part`.
    #[track_caller]
    pub fn assert_message_contains(&self, part: &str) {
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(part),
            "{message:?} does not mention {part:?}"
        );
    }

    /// Asserts the contract's error shape and code.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.body);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "an error says what is wrong: {}",
            self.body
        );
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_on(backend.fresh_store().await, Cloud::default()).await
    }

    /// The server over an existing store (a second server sees the first one's data),
    /// with SES and Route 53 as given.
    pub async fn spawn_on(store: Arc<dyn Store>, cloud: Cloud) -> Self {
        Self::spawn_with(store, cloud, |app| app).await
    }

    /// The server over `store`, its app changed by `configure` before it serves (as the
    /// environment changes it at a cold start).
    pub async fn spawn_with(
        store: Arc<dyn Store>,
        cloud: Cloud,
        configure: impl FnOnce(App) -> App,
    ) -> Self {
        let mut keys = Vec::new();
        for org_id in ["org_a", "org_b"] {
            let key = NewApiKey::generate(org(org_id), Timestamp::from_unix(0));
            store.put_api_key(&key.record).await.expect("store API key");
            keys.push(key.key);
        }
        let dns = DnsHierarchy::start().await;
        let checker = dns.checker(Duration::from_millis(500));
        let app =
            configure(App::new(store.clone(), Arc::new(SystemClock), checker).with_cloud(cloud));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(domainctl::server::serve(listener, app, async {
            let _ = stopped.await;
        }));
        let key_b = keys.pop().unwrap();
        let key_a = keys.pop().unwrap();
        Self {
            address,
            client: reqwest::Client::new(),
            store,
            key_a,
            key_b,
            dns,
            _shutdown: shutdown,
        }
    }

    /// Sends `body` as-is (so tests can send malformed JSON) with the given key.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("response is JSON, got {status} {text:?}"));
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn as_a(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, Some(&self.key_a), body.map(|b| b.to_string()))
            .await
    }

    pub async fn as_b(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, Some(&self.key_b), body.map(|b| b.to_string()))
            .await
    }

    /// Registers `domain` for `org_a`, asserting success; returns the response body.
    pub async fn register(&self, domain: &str) -> Value {
        let reply = self
            .as_a(
                Method::POST,
                BASE,
                Some(serde_json::json!({ "domain": domain })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "register {domain}: {}",
            reply.body
        );
        reply.body
    }

    pub async fn get_a(&self, id: &str) -> Reply {
        self.as_a(Method::GET, &format!("{BASE}/{id}"), None).await
    }

    pub async fn get_a_path(&self, path: &str) -> Reply {
        self.as_a(Method::GET, path, None).await
    }
}

/// A fresh store of `backend`'s kind and a feed of its stream (DynamoDB Local's own, or the
/// in-memory outbox), read from the start.
pub async fn store_with_feed(backend: Backend) -> (Arc<dyn Store>, Box<dyn EventFeed>) {
    match backend {
        Backend::Memory => {
            let store = Arc::new(MemoryStore::new());
            let feed = store.feed();
            (store, feed)
        }
        Backend::Dynamo => {
            let store = fresh_dynamo_store().await;
            let aws = sdk_config_for(&dynamodb_local().endpoint);
            let feed = StreamFeed::open(&aws, store.table(), From::Oldest)
                .await
                .expect("the table has a stream");
            (Arc::new(store), Box::new(feed))
        }
    }
}

pub fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_owned()
}

pub fn domain_id(body: &Value) -> DomainId {
    DomainId::parse(&id_of(body)).expect("a domain id")
}

pub fn org_a() -> OrgId {
    org("org_a")
}

pub use testkit::publish;
