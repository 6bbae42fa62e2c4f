use domains::model::Counter;
use reqwest::{Method, StatusCode};
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, TestApp, domain_id, id_of, org_a};

async fn delete_removes_and_frees_the_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("example.com").await;
    let id = id_of(&registered);
    let reply = app
        .as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    assert_eq!(reply.body["message"], "Domain removed successfully");
    assert!(reply.body["deletedAt"].as_str().unwrap().ends_with('Z'));
    app.get_a(&id)
        .await
        .assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
    app.as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
    assert_eq!(app.as_a(Method::GET, BASE, None).await.body["total"], 0);
    // The name is free again, and the next domain is the default again.
    let again = app.register("example.com").await;
    assert_eq!(again["isDefault"], true);
}

async fn delete_refuses_a_domain_with_inboxes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("example.com").await;
    let (id, typed) = (id_of(&registered), domain_id(&registered));
    app.store
        .add_to_counter(&org_a(), &typed, Counter::Inbox, 1)
        .await
        .unwrap();
    let reply = app
        .as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await;
    reply.assert_error(StatusCode::CONFLICT, "DOMAIN_IN_USE");
    assert_eq!(app.get_a(&id).await.status, StatusCode::OK);
    app.store
        .add_to_counter(&org_a(), &typed, Counter::Inbox, -1)
        .await
        .unwrap();
    let reply = app
        .as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

for_each_backend!(
    delete_removes_and_frees_the_name,
    delete_refuses_a_domain_with_inboxes
);
