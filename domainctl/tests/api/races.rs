//! Concurrent requests: the store's transactions and conditions, not luck, decide.

use std::sync::Arc;

use domains::model::Counter;
use domains::store::StoreError;
use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, TestApp, domain_id, id_of, org_a};

async fn one_name_twenty_registrations(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            // Both organizations, and several spellings of the one name.
            let spelling = ["race.example", "RACE.example.", " race.EXAMPLE"][i % 3];
            let body = Some(json!({ "domain": spelling }));
            if i % 2 == 0 {
                app.as_a(Method::POST, BASE, body).await
            } else {
                app.as_b(Method::POST, BASE, body).await
            }
        }));
    }
    let mut created = 0;
    let mut exists = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(reply.body["error"]["code"], "DOMAIN_EXISTS");
                exists += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((created, exists), (1, 19));
    let total_a = app.as_a(Method::GET, BASE, None).await.body["total"]
        .as_u64()
        .unwrap();
    let total_b = app.as_b(Method::GET, BASE, None).await.body["total"]
        .as_u64()
        .unwrap();
    assert_eq!(total_a + total_b, 1, "exactly one domain exists");
}

async fn concurrent_default_switches_leave_one_default(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(id_of(&app.register(&format!("d{i}.example")).await));
    }
    for _round in 0..3 {
        let mut tasks = Vec::new();
        for id in ids.clone() {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                app.as_a(
                    Method::PATCH,
                    &format!("{BASE}/{id}"),
                    Some(json!({ "isDefault": true })),
                )
                .await
            }));
        }
        for task in tasks {
            let reply = task.await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
        let list = app.as_a(Method::GET, BASE, None).await;
        let defaults = list.body["domains"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["isDefault"] == true)
            .count();
        assert_eq!(defaults, 1);
    }
}

async fn delete_racing_an_inbox_never_orphans_it(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let (mut deleted, mut kept) = (0, 0);
    for i in 0..12 {
        let registered = app.register(&format!("d{i}.example")).await;
        let (id, typed) = (id_of(&registered), domain_id(&registered));
        let deleting = {
            let app = app.clone();
            let id = id.clone();
            tokio::spawn(async move {
                app.as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
                    .await
            })
        };
        let adding = {
            let store = app.store.clone();
            tokio::spawn(async move {
                store
                    .add_to_counter(&org_a(), &typed, Counter::Inbox, 1)
                    .await
            })
        };
        let (delete, add) = (deleting.await.unwrap(), adding.await.unwrap());
        let now = app.get_a(&id).await;
        match (delete.status, add) {
            (StatusCode::OK, Err(StoreError::NotFound)) => {
                now.assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
                deleted += 1;
            }
            (StatusCode::CONFLICT, Ok(1)) => {
                assert_eq!(delete.body["error"]["code"], "DOMAIN_IN_USE");
                assert_eq!(now.body["stats"]["inboxCount"], 1);
                kept += 1;
            }
            (status, add) => panic!(
                "inconsistent outcome: delete {status} {}, add {add:?}",
                delete.body
            ),
        }
    }
    assert_eq!(deleted + kept, 12);
}

for_each_backend!(
    one_name_twenty_registrations,
    concurrent_default_switches_leave_one_default,
    delete_racing_an_inbox_never_orphans_it,
);
