//! Request bodies, path parameters and `Idempotency-Key`s are read from the network:
//! whatever arrives, every endpoint answers with the contract's shapes and never a 5xx (or
//! a panic).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use domains::App;
use domains::auth::NewApiKey;
use domains::clock::SystemClock;
use domains::dns::DnsChecker;
use domains::http::Endpoint;
use domains::model::Timestamp;
use domains::store::KeyStore;
use domains::store::MemoryStore;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, RequestExt};
use proptest::prelude::*;
use serde_json::{Value, json};
use testkit::org;

struct World {
    runtime: tokio::runtime::Runtime,
    app: App,
    key: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = Arc::new(MemoryStore::new());
        let key = NewApiKey::generate(org("org_a"), Timestamp::from_unix(0));
        runtime.block_on(store.put_api_key(&key.record)).unwrap();
        // Nothing listens there: any DNS check fails fast, as a temporary failure.
        let dns = DnsChecker::with_nameservers(
            &["127.0.0.1:9".parse().unwrap()],
            Duration::from_millis(50),
        );
        // Webhook addresses: public ones only, so a generated one is refused or never
        // answers; none is ever reached.
        let deliverer = runtime
            .block_on(domains::config::deliverer(None, store.as_ref(), Some("")))
            .unwrap();
        let app = App::new(store, Arc::new(SystemClock), dns).with_deliverer(deliverer);
        World {
            runtime,
            app,
            key: key.key,
        }
    })
}

/// JSON of any shape, with the contract's field names more often than chance would.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,80}".prop_map(Value::from),
        "https://[a-z0-9.]{1,20}/[a-z]{0,8}".prop_map(Value::from),
        "domain\\.(created|verified|deleted|exploded)".prop_map(Value::from),
        "[a-z0-9.-]{1,30}\\.(com|example|co\\.uk)".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![
            Just("domain".to_owned()),
            Just("region".to_owned()),
            Just("isDefault".to_owned()),
            Just("status".to_owned()),
            Just("autoConfigureDns".to_owned()),
            Just("url".to_owned()),
            Just("events".to_owned()),
            Just("description".to_owned()),
            ".{0,12}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::hash_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    proptest::sample::select(Endpoint::ALL.to_vec())
}

/// An `Idempotency-Key`: none, a few that repeat across cases (so replays and reuse
/// happen), or any bytes a header can hold.
fn idempotency_key() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        proptest::sample::select(vec![b"k1".to_vec(), b"k2".to_vec()]),
        proptest::collection::vec(any::<u8>(), 0..300),
    ])
}

fn request(
    endpoint: Endpoint,
    key: &str,
    id: &str,
    body: Vec<u8>,
    idempotency_key: Option<Vec<u8>>,
) -> lambda_http::Request {
    let (method, _) = endpoint.route();
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri("/api/email/domains")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json");
    // Bytes no header may hold never reach a handler.
    if let Some(value) = idempotency_key.and_then(|k| HeaderValue::from_bytes(&k).ok()) {
        builder = builder.header("idempotency-key", value);
    }
    builder
        .body(Body::from(body))
        .unwrap()
        .with_path_parameters(HashMap::from([("id".to_owned(), id.to_owned())]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_body_and_path_get_a_contract_answer(
        endpoint in endpoint(),
        id in prop_oneof![".{0,40}", "(dom|clm|whk)_[0-9A-Z]{26}"],
        body in body(),
        idempotency_key in idempotency_key(),
    ) {
        let world = world();
        let response = world
            .runtime
            .block_on(world.app.handle(endpoint, request(endpoint, &world.key, &id, body, idempotency_key)));
        let status = response.status().as_u16();
        prop_assert!(status < 500, "{endpoint:?}: {status} {:?}", response.body());
        let text = match response.body() {
            Body::Text(text) => text.clone(),
            other => return Err(TestCaseError::fail(format!("not text: {other:?}"))),
        };
        let json: Value = serde_json::from_str(&text).unwrap();
        if status >= 400 {
            prop_assert!(json["error"]["code"].is_string(), "{text}");
            prop_assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{text}");
        }
    }
}
