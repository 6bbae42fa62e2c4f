use domains::model::{DomainId, Status};
use domains::store::DomainUpdate;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, TestApp, domain_id, id_of, keys_of, org_a};

/// Puts a domain straight into `status` through the store, as verification or the
/// sweep would.
pub async fn force(app: &TestApp, id: &DomainId, status: Status, verified: bool) {
    let current = app.store.get_domain(&org_a(), id).await.unwrap().unwrap();
    let mut state = current.state.moved_to(status, current.updated_at);
    state.verified_at = verified.then_some(current.created_at);
    let update = DomainUpdate {
        setup: None,
        state: Some(state),
        default: None,
        at: current.updated_at,
    };
    app.store.update_domain(&current, &update).await.unwrap();
}

async fn patch(app: &TestApp, id: &str, body: Value) -> crate::harness::Reply {
    app.as_a(Method::PATCH, &format!("{BASE}/{id}"), Some(body))
        .await
}

async fn allowed_transitions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("example.com").await;
    let (id, typed) = (id_of(&registered), domain_id(&registered));

    // pending -> suspended -> (never verified) back to pending.
    let reply = patch(&app, &id, json!({ "status": "suspended" })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let keys = keys_of(&reply.body);
    assert_eq!(keys, ["domain", "id", "isDefault", "status", "updatedAt"]);
    assert_eq!(reply.body["status"], "suspended");
    let reply = patch(&app, &id, json!({ "status": "active" })).await;
    assert_eq!(
        reply.body["status"], "pending",
        "resuming an unverified domain re-verifies it"
    );

    // active -> suspended -> active (verified before).
    force(&app, &typed, Status::Active, true).await;
    assert_eq!(
        patch(&app, &id, json!({ "status": "suspended" }))
            .await
            .body["status"],
        "suspended"
    );
    assert_eq!(
        patch(&app, &id, json!({ "status": "active" })).await.body["status"],
        "active"
    );
    let detail = app.get_a(&id).await.body;
    assert_eq!(detail["status"], "active");
    assert_eq!(detail["verifiedAt"], registered["createdAt"]);

    // failed -> pending restarts verification.
    force(&app, &typed, Status::Failed, false).await;
    assert_eq!(
        patch(&app, &id, json!({ "status": "pending" })).await.body["status"],
        "pending"
    );
}

async fn forbidden_transitions_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("example.com").await;
    let (id, typed) = (id_of(&registered), domain_id(&registered));
    let cases = [
        (Status::Pending, false, "active"),
        (Status::Pending, false, "failed"),
        (Status::Pending, false, "pending"),
        (Status::Active, true, "pending"),
        (Status::Active, true, "failed"),
        (Status::Active, true, "active"),
        (Status::Suspended, true, "pending"),
        (Status::Suspended, true, "failed"),
        (Status::Suspended, true, "suspended"),
        (Status::Failed, false, "active"),
        (Status::Failed, false, "suspended"),
        (Status::Failed, false, "failed"),
    ];
    for (from, verified, to) in cases {
        force(&app, &typed, from, verified).await;
        let before = app.get_a(&id).await.body;
        let reply = patch(&app, &id, json!({ "status": to, "isDefault": false })).await;
        reply.assert_error(StatusCode::CONFLICT, "INVALID_STATUS_TRANSITION");
        assert_eq!(
            app.get_a(&id).await.body,
            before,
            "{from} -> {to} changed something"
        );
    }
}

async fn default_switches_through_patch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.register("a.example").await;
    let b = app.register("b.example").await;
    let reply = patch(&app, &id_of(&b), json!({ "isDefault": true })).await;
    assert_eq!(
        (reply.status, reply.body["isDefault"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(app.get_a(&id_of(&a)).await.body["isDefault"], false);
    // Clearing a domain that is not the default is a no-op; clearing the default leaves none.
    assert_eq!(
        patch(&app, &id_of(&a), json!({ "isDefault": false }))
            .await
            .body["isDefault"],
        false
    );
    assert_eq!(app.get_a(&id_of(&b)).await.body["isDefault"], true);
    assert_eq!(
        patch(&app, &id_of(&b), json!({ "isDefault": false }))
            .await
            .body["isDefault"],
        false
    );
    let list = app.as_a(Method::GET, BASE, None).await;
    assert!(
        list.body["domains"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["isDefault"] == false)
    );
    // Both fields in one request apply together.
    let reply = patch(
        &app,
        &id_of(&a),
        json!({ "isDefault": true, "status": "suspended" }),
    )
    .await;
    assert_eq!(
        (
            reply.body["isDefault"].as_bool(),
            reply.body["status"].as_str()
        ),
        (Some(true), Some("suspended"))
    );
    assert_ne!(reply.body["updatedAt"], Value::Null);
}

async fn malformed_patches_are_validation_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = id_of(&app.register("example.com").await);
    let before = app.get_a(&id).await.body;
    for raw in [
        "",
        "{}",
        "[]",
        r#"{"status": "archived"}"#,
        r#"{"status": "Suspended"}"#,
        r#"{"status": 1}"#,
        r#"{"isDefault": "true"}"#,
        r#"{"status": null}"#,
        r#"{"isDefault": null}"#,
        r#"{"isDefault": true, "status": null}"#,
        r#"{"isDefault": true, "domain": "other.example"}"#,
        r#"{"status": "suspended""#,
    ] {
        let reply = app
            .send(
                Method::PATCH,
                &format!("{BASE}/{id}"),
                Some(&app.key_a),
                Some(raw.to_owned()),
            )
            .await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    assert_eq!(app.get_a(&id).await.body, before);
    let reply = patch(
        &app,
        "dom_01HQ3K5N8X9Y2Z3A4B5C6D7E8F",
        json!({ "status": "suspended" }),
    )
    .await;
    reply.assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
}

for_each_backend!(
    allowed_transitions,
    forbidden_transitions_change_nothing,
    default_switches_through_patch,
    malformed_patches_are_validation_errors,
);
