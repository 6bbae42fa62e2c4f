//! The idempotency records of the store suite, on both stores: a key is taken once, its
//! answer kept and read back, held by a lease that runs out, per organization, and exactly
//! one of many concurrent requests takes it.

use domains::model::Timestamp;
use domains::store::{IdempotencySlot, Kept, KeptResponse, Lease, StoreError};
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
        body: br#"{"id":"dom_x"}"#.to_vec(),
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

for_each_backend!(
    a_key_is_taken_once_and_its_answer_kept,
    keys_are_per_organization,
    a_released_key_or_a_lapsed_lease_frees_the_key,
    exactly_one_of_concurrent_requests_takes_a_key,
);
