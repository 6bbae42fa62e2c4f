//! `Idempotency-Key` over HTTP: a retry answered from the kept answer, a reused key
//! refused, a key in use, a 4xx or 5xx not kept, a lapsed lease taken over, keys per
//! organization, and 20 concurrent requests with one key making exactly one domain.

use std::sync::Arc;

use domains::aws::{Cloud, SesV2};
use domains::http::idempotency::{LEASE, fingerprint};
use domains::http::{Endpoint, Request};
use domains::model::OrgId;
use domains::store::{IdempotencySlot, Lease, Store};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::aws::unique_domain;
use testkit::{Backend, for_each_backend, sdk_config_for};

use crate::harness::{BASE, Reply, TestApp, id_of, org_a};

const REPLAYED: &str = "idempotent-replayed";

/// Sends `body` with `key` as the `Idempotency-Key` header, as the given API key.
async fn send(app: &TestApp, api_key: &str, path: &str, key: Option<&[u8]>, body: &Value) -> Reply {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(api_key)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header(
            "idempotency-key",
            HeaderValue::from_bytes(key).expect("a header value"),
        );
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON, got {status} {text:?}"));
    Reply {
        status,
        body,
        headers,
    }
}

fn replayed(reply: &Reply) -> bool {
    reply.headers.get(REPLAYED).and_then(|v| v.to_str().ok()) == Some("true")
}

async fn total(app: &TestApp, org_key: &str) -> u64 {
    let reply = app.send(Method::GET, BASE, Some(org_key), None).await;
    reply.body["total"].as_u64().expect("a total")
}

async fn a_retry_is_answered_from_the_kept_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "domain": "retried.example" });
    let first = send(&app, &app.key_a, BASE, Some(b"key-1"), &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(!replayed(&first));
    let again = send(&app, &app.key_a, BASE, Some(b"key-1"), &body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers.get("location"), first.headers.get("location"));
    assert_eq!(
        again.headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(total(&app, &app.key_a).await, 1);
    // Without the key, the same request runs again: the name is taken.
    let bare = send(&app, &app.key_a, BASE, None, &body).await;
    bare.assert_error(StatusCode::CONFLICT, "DOMAIN_EXISTS");
    // An error answer is not kept (nothing happened): the retry runs anew, and the key
    // then serves the corrected request.
    let invalid = json!({ "domain": "co.uk" });
    let refused = send(&app, &app.key_a, BASE, Some(b"key-2"), &invalid).await;
    refused.assert_error(StatusCode::BAD_REQUEST, "DOMAIN_INVALID");
    let refused_again = send(&app, &app.key_a, BASE, Some(b"key-2"), &invalid).await;
    refused_again.assert_error(StatusCode::BAD_REQUEST, "DOMAIN_INVALID");
    assert!(!replayed(&refused_again));
    let corrected = json!({ "domain": "corrected.example" });
    let fixed = send(&app, &app.key_a, BASE, Some(b"key-2"), &corrected).await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.body);
    assert_eq!(total(&app, &app.key_a).await, 2);
}

async fn a_key_reused_for_another_request_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = send(
        &app,
        &app.key_a,
        BASE,
        Some(b"k"),
        &json!({ "domain": "one.example" }),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let other_body = json!({ "domain": "two.example" });
    let reused = send(&app, &app.key_a, BASE, Some(b"k"), &other_body).await;
    reused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    // The same body to another endpoint is another request as well.
    let claim = send(
        &app,
        &app.key_a,
        &format!("{BASE}/claims"),
        Some(b"k"),
        &other_body,
    )
    .await;
    claim.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    // Same JSON, other bytes: a client retrying sends the same bytes, so this is another.
    let respaced = send(
        &app,
        &app.key_a,
        BASE,
        Some(b"k"),
        &json!({ "domain":  "one.example", "isDefault": true }),
    )
    .await;
    respaced.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(total(&app, &app.key_a).await, 1);
}

async fn keys_belong_to_their_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "domain": "tenant.example" });
    let a = send(&app, &app.key_a, BASE, Some(b"same-key"), &body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    // Org B sends org A's key with org A's request: a fresh run of its own, never A's
    // answer (the name is A's).
    let b = send(&app, &app.key_b, BASE, Some(b"same-key"), &body).await;
    b.assert_error(StatusCode::CONFLICT, "DOMAIN_EXISTS");
    assert!(!replayed(&b));
    // B's 409 was not kept (nothing happened): the same key with B's own request runs,
    // and its answer is the one kept for B.
    let own = json!({ "domain": "b-own.example" });
    let b_own = send(&app, &app.key_b, BASE, Some(b"same-key"), &own).await;
    assert_eq!(b_own.status, StatusCode::CREATED, "{}", b_own.body);
    assert!(!replayed(&b_own));
    let b_again = send(&app, &app.key_b, BASE, Some(b"same-key"), &own).await;
    assert!(replayed(&b_again));
    assert_eq!(b_again.body, b_own.body);
    // A's kept answer is still A's.
    let a_again = send(&app, &app.key_a, BASE, Some(b"same-key"), &body).await;
    assert!(replayed(&a_again));
    assert_eq!(a_again.body, a.body);
    // Without a valid API key nothing about keys is answered.
    let anonymous = send(&app, "not-a-key", BASE, Some(b"same-key"), &body).await;
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

async fn bad_keys_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "domain": "badkey.example" });
    let long = vec![b'k'; 256];
    // (Spaces around a value are not the key's: HTTP drops them before the server sees it.)
    let bad: [&[u8]; 4] = [b"", &long, b"caf\xc3\xa9", b"tab\there"];
    for key in bad {
        let reply = send(&app, &app.key_a, BASE, Some(key), &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{key:?}");
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        reply.assert_message_contains("Idempotency-Key");
    }
    let twice = app
        .client
        .post(format!("{}{BASE}", app.address))
        .bearer_auth(&app.key_a)
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    assert_eq!(total(&app, &app.key_a).await, 0, "nothing ran");
    let longest = vec![b'k'; 255];
    let reply = send(&app, &app.key_a, BASE, Some(&longest), &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

/// The lease a request for `body` to register would take, held by "another request".
async fn hold(
    store: &Arc<dyn Store>,
    org: OrgId,
    key: &str,
    body: &Value,
    lease_for: time::Duration,
) {
    let request: Request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(BASE)
        .body(lambda_http::Body::Text(body.to_string()))
        .unwrap();
    let now = domains::clock::Clock::now(&domains::clock::SystemClock);
    let slot = IdempotencySlot {
        org,
        key_hash: domains::crypto::sha256_hex(key.as_bytes()),
    };
    let lease = Lease {
        fingerprint: fingerprint(Endpoint::Register, &request),
        token: "held-elsewhere".into(),
        until: now.plus(lease_for),
    };
    assert_eq!(store.begin_idempotent(&slot, &lease, now).await, Ok(None));
}

async fn a_key_in_use_waits_and_a_lapsed_lease_is_taken_over(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "domain": "inuse.example" });
    hold(&app.store, org_a(), "busy", &body, LEASE).await;
    let reply = send(&app, &app.key_a, BASE, Some(b"busy"), &body).await;
    reply.assert_error(StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE");
    assert_eq!(reply.headers.get("retry-after").unwrap(), "1");
    // A different request with the key is still a reuse.
    let other = send(
        &app,
        &app.key_a,
        BASE,
        Some(b"busy"),
        &json!({ "domain": "x.example" }),
    )
    .await;
    other.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(total(&app, &app.key_a).await, 0);

    // A function that died holding a key: once its lease is over the retry runs.
    hold(&app.store, org_a(), "crashed", &body, time::Duration::ZERO).await;
    let retry = send(&app, &app.key_a, BASE, Some(b"crashed"), &body).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert!(!replayed(&retry));
}

async fn twenty_concurrent_requests_with_one_key_make_one_domain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "domain": "raced-key.example" });
    let replies = futures::future::join_all(
        (0..20).map(|_| send(&app, &app.key_a, BASE, Some(b"one-key"), &body)),
    )
    .await;
    let mut ids = Vec::new();
    let mut fresh = 0;
    for reply in &replies {
        match reply.status {
            StatusCode::CREATED => {
                ids.push(id_of(&reply.body));
                fresh += usize::from(!replayed(reply));
            }
            _ => reply.assert_error(StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE"),
        }
    }
    assert_eq!(fresh, 1, "exactly one request ran");
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(total(&app, &app.key_a).await, 1);
    // Those told to wait get the one answer once they retry.
    let retry = send(&app, &app.key_a, BASE, Some(b"one-key"), &body).await;
    assert!(replayed(&retry));
    assert_eq!(id_of(&retry.body), ids[0]);
}

/// A 5xx is not kept: with SES unreachable the registration answers 503, and the same
/// request with the same key, once SES is back, runs and registers.
async fn a_server_error_is_not_kept(backend: Backend) {
    let store: Arc<dyn Store> = backend.fresh_store().await;
    let nowhere = sdk_config_for(&format!("http://127.0.0.1:{}", devservers::free_port()));
    let broken = Cloud {
        ses: Some(Arc::new(SesV2::new(nowhere))),
        zones: None,
        sealer: None,
    };
    let down = TestApp::spawn_on(store.clone(), broken).await;
    let body = json!({ "domain": unique_domain("idem5xx") });
    let failed = send(&down, &down.key_a, BASE, Some(b"retry-me"), &body).await;
    failed.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");

    let up = TestApp::spawn_on(store, crate::cloud::cloud()).await;
    let key_a = up.key_a.clone();
    let ran = send(&up, &key_a, BASE, Some(b"retry-me"), &body).await;
    assert_eq!(ran.status, StatusCode::CREATED, "{}", ran.body);
    assert!(!replayed(&ran));
    let again = send(&up, &key_a, BASE, Some(b"retry-me"), &body).await;
    assert!(replayed(&again));
    assert_eq!(again.body, ran.body);
}

for_each_backend!(
    a_retry_is_answered_from_the_kept_answer,
    a_key_reused_for_another_request_is_refused,
    keys_belong_to_their_organization,
    bad_keys_are_refused,
    a_key_in_use_waits_and_a_lapsed_lease_is_taken_over,
    twenty_concurrent_requests_with_one_key_make_one_domain,
    a_server_error_is_not_kept,
);
