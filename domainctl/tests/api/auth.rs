use domains::auth::hash_key;
use domains::model::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, TestApp, id_of};

/// Every route of the contract, for a domain id.
fn routes(id: &str) -> Vec<(Method, String, Option<String>)> {
    vec![
        (Method::GET, BASE.to_owned(), None),
        (
            Method::POST,
            BASE.to_owned(),
            Some(json!({ "domain": "new.example" }).to_string()),
        ),
        (Method::GET, format!("{BASE}/{id}"), None),
        (
            Method::PATCH,
            format!("{BASE}/{id}"),
            Some(json!({ "status": "suspended" }).to_string()),
        ),
        (Method::DELETE, format!("{BASE}/{id}"), None),
    ]
}

async fn missing_or_unknown_keys_are_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = id_of(&app.register("example.com").await);
    for (method, path, body) in routes(&id) {
        for key in [
            None,
            Some(""),
            Some("emk_unknown"),
            Some(&*hash_key(&app.key_a)),
        ] {
            let reply = app.send(method.clone(), &path, key, body.clone()).await;
            reply.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        }
        // Not a bearer scheme.
        let reply = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .header("authorization", format!("Basic {}", app.key_a))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.get_a(&id).await.body["status"],
        "pending",
        "nothing changed"
    );
}

async fn revoked_keys_stop_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A key never used is not cached, so its revocation is seen at once.
    app.store
        .revoke_api_key(&hash_key(&app.key_b), Timestamp::from_unix(0))
        .await
        .unwrap();
    app.as_b(Method::GET, BASE, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(
        app.as_a(Method::GET, BASE, None).await.status,
        StatusCode::OK
    );
}

async fn organizations_never_see_each_other(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = id_of(&app.register("example.com").await);
    for (method, path, body) in routes(&id).into_iter().filter(|(_, p, _)| p != BASE) {
        let reply = app.send(method, &path, Some(&app.key_b), body).await;
        reply.assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
    }
    let list = app.as_b(Method::GET, BASE, None).await;
    assert_eq!(
        (
            list.body["total"].as_u64(),
            list.body["domains"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    for status in ["pending", "active", "suspended", "failed"] {
        let list = app
            .as_b(Method::GET, &format!("{BASE}?status={status}"), None)
            .await;
        assert_eq!(list.body["total"], 0);
    }
    // A's domain is untouched by B's attempts.
    let detail = app.get_a(&id).await.body;
    assert_eq!(
        (detail["status"].as_str(), detail["isDefault"].as_bool()),
        (Some("pending"), Some(true))
    );
}

for_each_backend!(
    missing_or_unknown_keys_are_unauthorized,
    revoked_keys_stop_working,
    organizations_never_see_each_other,
);
