//! The idempotency records of the store suite, on both stores: a key is taken once, its
//! answer kept and read back, held by a lease that runs out, per organization, and exactly
//! one of many concurrent requests takes it. An answer that holds a webhook's secret is
//! kept sealed: neither store, nor the table's item, holds the secret in plain text.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use domains::App;
use domains::auth::NewApiKey;
use domains::clock::{Clock, SystemClock};
use domains::http::Endpoint;
use domains::model::{SealedKey, Timestamp};
use domains::store::schema::{IDEMPOTENCY_SK, idempotency_pk};
use domains::store::{
    IdempotencySlot, Kept, KeptBody, KeptResponse, Lease, MemoryStore, Store, StoreError,
};
use lambda_http::http::HeaderValue;
use testkit::api::{json, request};
use testkit::{Backend, for_each_backend, org};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(1_704_873_600 + seconds)
}

fn slot(org_id: &str, key: &str) -> IdempotencySlot {
    IdempotencySlot {
        org: org(org_id),
        key_hash: domains::crypto::sha256_hex(key.as_bytes()),
    }
}

fn lease(fingerprint: &str, token: &str, until: Timestamp) -> Lease {
    Lease {
        fingerprint: fingerprint.into(),
        token: token.into(),
        until,
    }
}

fn answer(status: u16) -> KeptResponse {
    KeptResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), "/api/email/domains/dom_x".into()),
        ],
        body: KeptBody::Plain(br#"{"id":"dom_x"}"#.to_vec()),
    }
}

async fn a_key_is_taken_once_and_its_answer_kept(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = slot("org_a", "key-1");
    let first = lease("fp-1", "token-1", at(60));
    assert_eq!(store.begin_idempotent(&a, &first, at(0)).await, Ok(None));
    // While it runs, the key is held, whatever the request.
    let second = lease("fp-1", "token-2", at(70));
    assert_eq!(
        store.begin_idempotent(&a, &second, at(10)).await,
        Ok(Some(Kept::Running {
            fingerprint: "fp-1".into(),
            until: at(60)
        }))
    );
    // Only the lease's holder fills it, once.
    assert_eq!(
        store
            .finish_idempotent(&a, "token-2", &answer(201), at(86_400))
            .await,
        Err(StoreError::Conflict)
    );
    store
        .finish_idempotent(&a, "token-1", &answer(201), at(86_400))
        .await
        .unwrap();
    assert_eq!(
        store
            .finish_idempotent(&a, "token-1", &answer(409), at(86_400))
            .await,
        Err(StoreError::Conflict)
    );
    let replayed = store.begin_idempotent(&a, &second, at(3_600)).await;
    assert_eq!(
        replayed,
        Ok(Some(Kept::Done {
            fingerprint: "fp-1".into(),
            response: answer(201)
        }))
    );
    // A kept answer is not released, nor is it taken before its time is up.
    store.release_idempotent(&a, "token-1").await.unwrap();
    assert!(matches!(
        store.begin_idempotent(&a, &second, at(86_399)).await,
        Ok(Some(Kept::Done { .. }))
    ));
    // After 24 hours the key is free again.
    let later = lease("fp-9", "token-9", at(86_460));
    assert_eq!(
        store.begin_idempotent(&a, &later, at(86_400)).await,
        Ok(None)
    );
}

async fn keys_are_per_organization(backend: Backend) {
    let store = backend.fresh_store().await;
    let (a, b) = (slot("org_a", "shared-key"), slot("org_b", "shared-key"));
    let first = lease("fp-a", "token-a", at(60));
    assert_eq!(store.begin_idempotent(&a, &first, at(0)).await, Ok(None));
    store
        .finish_idempotent(&a, "token-a", &answer(201), at(86_400))
        .await
        .unwrap();
    // The other organization's equal key is another key: free, and its own.
    let other = lease("fp-b", "token-b", at(60));
    assert_eq!(store.begin_idempotent(&b, &other, at(1)).await, Ok(None));
    assert_eq!(
        store.begin_idempotent(&a, &other, at(2)).await,
        Ok(Some(Kept::Done {
            fingerprint: "fp-a".into(),
            response: answer(201)
        }))
    );
}

async fn a_released_key_or_a_lapsed_lease_frees_the_key(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = slot("org_a", "key-2");
    assert_eq!(
        store
            .begin_idempotent(&a, &lease("fp", "t1", at(60)), at(0))
            .await,
        Ok(None)
    );
    // Another token cannot release it.
    store.release_idempotent(&a, "t2").await.unwrap();
    assert!(matches!(
        store
            .begin_idempotent(&a, &lease("fp", "t2", at(65)), at(5))
            .await,
        Ok(Some(Kept::Running { .. }))
    ));
    // Its holder can (a 5xx): the retry runs.
    store.release_idempotent(&a, "t1").await.unwrap();
    assert_eq!(
        store
            .begin_idempotent(&a, &lease("fp", "t3", at(70)), at(10))
            .await,
        Ok(None)
    );
    // The holder dies: once the lease is over, the key is taken by the next request, and
    // the late holder can neither fill nor free it.
    assert_eq!(
        store
            .begin_idempotent(&a, &lease("fp", "t4", at(131)), at(71))
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .finish_idempotent(&a, "t3", &answer(201), at(86_400))
            .await,
        Err(StoreError::Conflict)
    );
    store.release_idempotent(&a, "t3").await.unwrap();
    assert!(matches!(
        store
            .begin_idempotent(&a, &lease("fp", "t5", at(140)), at(80))
            .await,
        Ok(Some(Kept::Running { .. }))
    ));
    store
        .finish_idempotent(&a, "t4", &answer(202), at(86_400))
        .await
        .unwrap();
}

async fn exactly_one_of_concurrent_requests_takes_a_key(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = slot("org_a", "raced");
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        let a = a.clone();
        async move {
            let lease = lease("fp", &format!("token-{i}"), at(60));
            store.begin_idempotent(&a, &lease, at(0)).await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let taken = results.iter().filter(|r| matches!(r, Ok(None))).count();
    let held = results
        .iter()
        .filter(|r| matches!(r, Ok(Some(Kept::Running { .. }))))
        .count();
    assert_eq!((taken, held), (1, 19), "{results:?}");
}

/// A sealed body is kept as it was sealed, and read back so.
async fn a_sealed_body_is_kept_sealed(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = slot("org_a", "sealed");
    store
        .begin_idempotent(&a, &lease("fp", "t", at(60)), at(0))
        .await
        .unwrap();
    let sealed = KeptResponse {
        body: KeptBody::Sealed(SealedKey {
            key_id: "arn:aws:kms:eu-west-1:111122223333:key/k".into(),
            data_key: "ZGF0YQ==".into(),
            nonce: "bm9uY2U=".into(),
            ciphertext: "Y2lwaGVy".into(),
        }),
        ..answer(201)
    };
    store
        .finish_idempotent(&a, "t", &sealed, at(86_400))
        .await
        .unwrap();
    assert_eq!(
        store
            .begin_idempotent(&a, &lease("fp", "t2", at(70)), at(10))
            .await,
        Ok(Some(Kept::Done {
            fingerprint: "fp".into(),
            response: sealed
        }))
    );
}

for_each_backend!(
    a_key_is_taken_once_and_its_answer_kept,
    keys_are_per_organization,
    a_released_key_or_a_lapsed_lease_frees_the_key,
    exactly_one_of_concurrent_requests_takes_a_key,
    a_sealed_body_is_kept_sealed,
    answers_with_a_secret_are_kept_sealed,
);

/// The store under test, and the DynamoDB one again where it is one, to read its items raw.
async fn store_of(backend: Backend) -> (Arc<dyn Store>, Option<domains::store::DynamoStore>) {
    match backend {
        Backend::Memory => (Arc::new(MemoryStore::new()), None),
        Backend::Dynamo => {
            let store = testkit::fresh_dynamo_store().await;
            let raw = domains::store::DynamoStore::new(store.client().clone(), store.table());
            (Arc::new(store), Some(raw))
        }
    }
}

/// The answer the store keeps for `slot`, read as a repeat of the request would find it.
async fn kept_answer(store: &dyn Store, slot: &IdempotencySlot) -> KeptResponse {
    let kept = store
        .begin_idempotent(slot, &lease("probe", "probe", at(0)), SystemClock.now())
        .await
        .unwrap();
    match kept {
        Some(Kept::Done { response, .. }) => response,
        other => panic!("no answer kept for {slot:?}: {other:?}"),
    }
}

/// Everything a kept answer holds, as text: where a secret would show.
fn kept_text(kept: &KeptResponse) -> String {
    let body = match &kept.body {
        KeptBody::Plain(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        KeptBody::Sealed(sealed) => format!("{sealed:?}"),
    };
    format!("{:?} {body}", kept.headers)
}

/// Every attribute of a table item, as text (binary ones as the text they would be).
fn item_text(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    item.iter()
        .map(|(name, value)| match value {
            AttributeValue::B(blob) => {
                format!("{name}={}", String::from_utf8_lossy(blob.as_ref()))
            }
            other => format!("{name}={other:?}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn keyed(
    api_key: &str,
    endpoint: Endpoint,
    id: Option<&str>,
    body: &str,
    idempotency_key: &str,
) -> lambda_http::Request {
    let mut request = request(api_key, endpoint, id, body);
    request.headers_mut().insert(
        "idempotency-key",
        HeaderValue::from_str(idempotency_key).unwrap(),
    );
    request
}

/// Create and rotate answer a webhook's secret: with a key, what the store keeps is sealed
/// (in DynamoDB, the item has no plain body and nowhere the secret), the replay answers the
/// same secret, another organization's equal key runs anew, and a sealed answer moved to
/// another organization's record does not open there: a 500 that shows nothing of it.
async fn answers_with_a_secret_are_kept_sealed(backend: Backend) {
    let (store, raw) = store_of(backend).await;
    let a = NewApiKey::generate(org("org_a"), Timestamp::from_unix(0));
    let b = NewApiKey::generate(org("org_b"), Timestamp::from_unix(0));
    store.put_api_key(&a.record).await.unwrap();
    store.put_api_key(&b.record).await.unwrap();
    let deliverer = domains::config::deliverer(None, store.as_ref(), Some(""))
        .await
        .unwrap();
    let app = App::without_dns(store.clone(), Arc::new(SystemClock)).with_deliverer(deliverer);
    let create = r#"{"url":"https://198.41.0.4/hooks"}"#;

    let first = app
        .handle(
            Endpoint::CreateWebhook,
            keyed(&a.key, Endpoint::CreateWebhook, None, create, "make-1"),
        )
        .await;
    assert_eq!(first.status(), 201, "{}", json(&first));
    let created = json(&first);
    let hook = created["id"].as_str().unwrap().to_owned();
    let rotated = app
        .handle(
            Endpoint::RotateWebhookSecret,
            keyed(
                &a.key,
                Endpoint::RotateWebhookSecret,
                Some(&hook),
                "",
                "turn-1",
            ),
        )
        .await;
    assert_eq!(rotated.status(), 200, "{}", json(&rotated));
    let rotated = json(&rotated);

    for (endpoint, id, body, key, answered) in [
        (Endpoint::CreateWebhook, None, create, "make-1", &created),
        (
            Endpoint::RotateWebhookSecret,
            Some(hook.as_str()),
            "",
            "turn-1",
            &rotated,
        ),
    ] {
        let secret = answered["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"), "{answered}");
        // The secret's bytes as base64, which a plain body would hold as they are.
        let bytes = secret.trim_start_matches("whsec_");
        let slot = slot("org_a", key);
        let response = kept_answer(store.as_ref(), &slot).await;
        assert!(!kept_text(&response).contains(bytes), "{response:?}");
        assert!(matches!(response.body, KeptBody::Sealed(_)), "{response:?}");
        if let Some(raw) = &raw {
            let item = raw
                .client()
                .get_item()
                .table_name(raw.table())
                .key(
                    "PK",
                    AttributeValue::S(idempotency_pk(&slot.org, &slot.key_hash)),
                )
                .key("SK", AttributeValue::S(IDEMPOTENCY_SK.into()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .expect("the kept answer's item");
            assert!(!item_text(&item).contains(bytes), "{item:?}");
            assert!(!item.contains_key("body"), "{item:?}");
            assert!(item.contains_key("sealedBody"), "{item:?}");
        }
        // The replay answers the secret as it was first answered.
        let again = app
            .handle(endpoint, keyed(&a.key, endpoint, id, body, key))
            .await;
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(&json(&again), answered);
    }

    // Another organization's equal key is its own: a fresh endpoint, a secret of its own.
    let theirs = app
        .handle(
            Endpoint::CreateWebhook,
            keyed(&b.key, Endpoint::CreateWebhook, None, create, "make-1"),
        )
        .await;
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    let theirs = json(&theirs);
    assert_ne!(theirs["id"], created["id"]);
    assert_ne!(theirs["secret"], created["secret"]);

    // Org A's sealed answer copied onto org B's record for the same request: it does not
    // open under B's organization, and B learns nothing of it.
    let response = kept_answer(store.as_ref(), &slot("org_a", "make-1")).await;
    let stolen_for = keyed(&b.key, Endpoint::CreateWebhook, None, create, "make-2");
    let fingerprint = domains::http::idempotency::fingerprint(Endpoint::CreateWebhook, &stolen_for);
    let target = slot("org_b", "make-2");
    let now = SystemClock.now();
    store
        .begin_idempotent(
            &target,
            &lease(&fingerprint, "copy", now.plus(time::Duration::minutes(1))),
            now,
        )
        .await
        .unwrap();
    store
        .finish_idempotent(
            &target,
            "copy",
            &response,
            now.plus(time::Duration::hours(1)),
        )
        .await
        .unwrap();
    let refused = app.handle(Endpoint::CreateWebhook, stolen_for).await;
    assert_eq!(refused.status(), 500);
    let shown = json(&refused);
    assert_eq!(shown["error"]["code"], "INTERNAL_ERROR", "{shown}");
    let secret = created["secret"].as_str().unwrap();
    assert!(!shown.to_string().contains(&hook), "{shown}");
    assert!(!shown.to_string().contains(secret), "{shown}");

    // An answer without a secret is kept as it was.
    let register = r#"{"domain":"plain.example"}"#;
    let registered = app
        .handle(
            Endpoint::Register,
            keyed(&a.key, Endpoint::Register, None, register, "register-1"),
        )
        .await;
    assert_eq!(registered.status(), 201, "{}", json(&registered));
    let kept = kept_answer(store.as_ref(), &slot("org_a", "register-1")).await;
    assert!(matches!(kept.body, KeptBody::Plain(_)), "{kept:?}");
}

/// KMS refuses to make a data key (throttled, down): a create whose answer would hold a
/// secret is refused before anything is done (a 503, no endpoint made), and the key is
/// free at once for the retry, which then runs.
#[tokio::test]
async fn a_refused_data_key_refuses_the_work_before_it_runs() {
    use domains::aws::{CloudError, DataKey, KeySealer, SealContext};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A sealer whose data keys are refused while `refusing`, else the local one's.
    struct Flaky {
        refusing: AtomicBool,
        inner: domains::aws::LocalSealer,
    }
    #[async_trait::async_trait]
    impl KeySealer for Flaky {
        async fn data_key(&self, context: SealContext<'_>) -> Result<DataKey, CloudError> {
            if self.refusing.load(Ordering::SeqCst) {
                return Err(CloudError::Unavailable("KMS is throttling".into()));
            }
            self.inner.data_key(context).await
        }
        async fn open(
            &self,
            sealed: &SealedKey,
            context: SealContext<'_>,
        ) -> Result<Vec<u8>, CloudError> {
            self.inner.open(sealed, context).await
        }
    }

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = NewApiKey::generate(org("org_a"), Timestamp::from_unix(0));
    store.put_api_key(&a.record).await.unwrap();
    let sealer = Arc::new(Flaky {
        refusing: AtomicBool::new(true),
        inner: domains::aws::LocalSealer::derived_from(&[7; 32]),
    });
    let policy = domains::dns::policy::AddressPolicy::parse("").unwrap();
    let deliverer = domains::outbox::webhooks::Deliverer::new(
        domains::outbox::webhooks::Outbound::new(policy).unwrap(),
        sealer.clone(),
    );
    let app = App::without_dns(store.clone(), Arc::new(SystemClock)).with_deliverer(deliverer);
    let create = r#"{"url":"https://198.41.0.4/hooks"}"#;
    let send = || {
        app.handle(
            Endpoint::CreateWebhook,
            keyed(&a.key, Endpoint::CreateWebhook, None, create, "make-1"),
        )
    };

    let refused = send().await;
    assert_eq!(refused.status(), 503, "{}", json(&refused));
    assert!(
        store.list_webhooks(&org("org_a")).await.unwrap().is_empty(),
        "nothing was made"
    );
    sealer.refusing.store(false, Ordering::SeqCst);
    let made = send().await;
    assert_eq!(made.status(), 201, "the key was freed: {}", json(&made));
    assert_eq!(store.list_webhooks(&org("org_a")).await.unwrap().len(), 1);
}
