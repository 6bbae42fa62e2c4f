//! Claims: a squatter's unverified domain does not keep a name from its owner, and a
//! claim can take nothing else.

use domains::model::{Claim, DomainName, Region, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::aws::{identity_tags, unique_domain};
use testkit::{Backend, for_each_backend, org};

use crate::cloud::cloud;
use crate::harness::{BASE, Reply, TestApp, id_of, publish};

async fn open_claim(app: &TestApp, name: &str) -> Reply {
    app.as_b(
        Method::POST,
        &format!("{BASE}/claims"),
        Some(json!({ "domain": name })),
    )
    .await
}

async fn verify_claim(app: &TestApp, id: &str) -> Reply {
    app.as_b(Method::POST, &format!("{BASE}/claims/{id}/verify"), None)
        .await
}

/// Publishes the claim's challenge where the name's authoritative servers serve it.
fn publish_challenge(app: &TestApp, name: &str, claim: &Value) {
    app.dns.zone(name);
    let record = &claim["dnsRecords"][0];
    assert_eq!(record["type"], "TXT");
    assert_eq!(record["name"], format!("_amazonses-claim.{name}"));
    app.dns.add_txt(
        record["name"].as_str().unwrap(),
        &[record["value"].as_str().unwrap()],
    );
}

async fn a_squatted_name_goes_to_whoever_proves_it(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("squatted");
    // org_a registers the name and never publishes anything.
    let squatter = app.register(&name).await;
    let squatter_id = id_of(&squatter);
    assert!(
        identity_tags(&name)
            .await
            .unwrap()
            .contains(&(domains::aws::ORG_TAG.into(), "org_a".into()))
    );

    let opened = open_claim(&app, &name).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let claim_id = id_of(&opened.body);
    assert!(claim_id.starts_with("clm_"), "{claim_id}");
    assert_eq!(opened.body["status"], "pending");
    assert_eq!(opened.body["domain"], name.as_str());
    assert_eq!(opened.body["dnsRecords"][0]["purpose"], "ownership");
    assert_eq!(opened.body["dnsRecords"][0]["status"], "not_checked");
    let expires = Timestamp::parse(opened.body["expiresAt"].as_str().unwrap()).unwrap();
    let created = Timestamp::parse(opened.body["createdAt"].as_str().unwrap()).unwrap();
    assert_eq!((expires.datetime() - created.datetime()).whole_hours(), 72);

    // Not yet published: refused with the finding, nothing changes hands.
    let early = verify_claim(&app, &claim_id).await;
    early.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    let finding = &early.body["error"]["details"]["dnsRecords"][0];
    assert_eq!(finding["verified"], false, "{finding}");
    assert!(finding["servers"].as_array().is_some(), "{finding}");
    assert_eq!(app.get_a(&squatter_id).await.status, StatusCode::OK);

    // The squatter's own records prove nothing about the claim: only the challenge does.
    publish(&app.dns, &squatter["dnsRecords"]);
    assert_eq!(
        verify_claim(&app, &claim_id).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    publish_challenge(&app, &name, &opened.body);
    let won = verify_claim(&app, &claim_id).await;
    assert_eq!(won.status, StatusCode::CREATED, "{}", won.body);
    assert_eq!(won.body["domain"], name.as_str());
    assert_eq!(won.body["status"], "pending");
    let new_id = id_of(&won.body);
    assert_ne!(new_id, squatter_id);
    // The squatter's domain, quota slot and identity are gone; the identity is org_b's.
    app.get_a(&squatter_id)
        .await
        .assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
    assert_eq!(app.store.quota(&org("org_a")).await.unwrap().used, 0);
    let tags = identity_tags(&name).await.unwrap();
    assert!(
        tags.contains(&(domains::aws::ORG_TAG.into(), "org_b".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&(domains::aws::DOMAIN_TAG.into(), new_id.clone())),
        "{tags:?}"
    );
    let mine = app
        .as_b(Method::GET, &format!("{BASE}/{new_id}"), None)
        .await;
    assert_eq!(mine.status, StatusCode::OK);

    // A claim is used once.
    let again = verify_claim(&app, &claim_id).await;
    again.assert_error(StatusCode::CONFLICT, "CLAIM_NOT_ALLOWED");
    again.assert_message_contains(&new_id);
}

async fn claims_take_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A free name: register it instead.
    let free = open_claim(&app, "free.example").await;
    free.assert_error(StatusCode::CONFLICT, "CLAIM_NOT_ALLOWED");
    free.assert_message_contains("register");

    // The caller's own name.
    let own = app
        .as_b(Method::POST, BASE, Some(json!({ "domain": "own.example" })))
        .await;
    assert_eq!(own.status, StatusCode::CREATED);
    open_claim(&app, "own.example")
        .await
        .assert_error(StatusCode::CONFLICT, "CLAIM_NOT_ALLOWED");

    // A name held by a verified domain, even once it is suspended.
    let verified = app.register("verified.example").await;
    publish(&app.dns, &verified["dnsRecords"]);
    let id = id_of(&verified);
    let check = app
        .as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await;
    assert_eq!(check.body["status"], "active", "{}", check.body);
    open_claim(&app, "verified.example")
        .await
        .assert_error(StatusCode::CONFLICT, "CLAIM_NOT_ALLOWED");
    let suspended = app
        .as_a(
            Method::PATCH,
            &format!("{BASE}/{id}"),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(suspended.body["status"], "suspended");
    open_claim(&app, "verified.example")
        .await
        .assert_error(StatusCode::CONFLICT, "CLAIM_NOT_ALLOWED");

    // Bad input is the usual errors.
    for (body, code) in [
        (json!({ "domain": "com" }), "DOMAIN_INVALID"),
        (
            json!({ "domain": "x.example", "region": "mars-1" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "domain": "x.example", "extra": 1 }),
            "VALIDATION_ERROR",
        ),
        (json!({}), "VALIDATION_ERROR"),
    ] {
        app.as_b(Method::POST, &format!("{BASE}/claims"), Some(body))
            .await
            .assert_error(StatusCode::BAD_REQUEST, code);
    }
    // Unknown, malformed and other organizations' claims are all simply not found.
    app.register("held.example").await;
    let opened = open_claim(&app, "held.example").await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let claim_id = id_of(&opened.body);
    for (key, id) in [
        (&app.key_b, "clm_01JDX3M5Q8Z9YV2K7W4T6R0N1C"),
        (&app.key_b, "nonsense"),
        (&app.key_a, claim_id.as_str()),
    ] {
        app.send(
            Method::POST,
            &format!("{BASE}/claims/{id}/verify"),
            Some(key),
            None,
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "CLAIM_NOT_FOUND");
    }
    // Without a key: 401, as everywhere.
    app.send(
        Method::POST,
        &format!("{BASE}/claims"),
        None,
        Some("{}".into()),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // A claim that ran out is refused, even with its challenge published.
    let mut expired = Claim::new(
        org("org_b"),
        DomainName::parse("held.example").unwrap(),
        Region::DEFAULT,
        Timestamp::from_unix(1_704_873_600),
    );
    expired.token = "published".into();
    app.store.put_claim(&expired).await.unwrap();
    app.dns.zone("held.example");
    app.dns
        .add_txt("_amazonses-claim.held.example", &["published"]);
    let late = verify_claim(&app, expired.id.as_str()).await;
    late.assert_error(StatusCode::CONFLICT, "CLAIM_NOT_ALLOWED");
    late.assert_message_contains("expired");
}

async fn a_holder_that_verifies_first_keeps_its_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let holder = app.register("race.example").await;
    let opened = open_claim(&app, "race.example").await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    publish_challenge(&app, "race.example", &opened.body);
    // The holder publishes and verifies before the claim is verified.
    publish(&app.dns, &holder["dnsRecords"]);
    let id = id_of(&holder);
    let check = app
        .as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await;
    assert_eq!(check.body["status"], "active");
    let lost = verify_claim(&app, &id_of(&opened.body)).await;
    lost.assert_error(StatusCode::CONFLICT, "CLAIM_NOT_ALLOWED");
    lost.assert_message_contains("verified");
    assert_eq!(app.get_a(&id).await.body["status"], "active");
}

for_each_backend!(
    a_squatted_name_goes_to_whoever_proves_it,
    claims_take_nothing_else,
    a_holder_that_verifies_first_keeps_its_name,
);
