//! `POST /:id/dkim/rotate`: a new DKIM key published beside the current one, SES switched
//! to it only once its record verifies, the old record then safe to remove; against moto's
//! SES v2, Route 53 and KMS and the loopback DNS hierarchy, on both stores.

use std::sync::Arc;

use aws_sdk_route53::types::RrType;
use domains::aws::Cloud;
use domains::aws::{KeySealer, Kms, SealContext};
use domains::dns::DkimKeyPair;
use domains::model::DomainId;
use domains::model::ZoneId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::aws::{delete_record, identity_dkim, unique_domain, zone_records};
use testkit::{Backend, dkim_record, for_each_backend, moto};

use crate::cloud::{assigned_zone, cloud};
use crate::harness::{BASE, TestApp, domain_id, id_of, org_a, publish};
use crate::zonefile::zone_file;

async fn rotate(app: &TestApp, id: &str) -> crate::harness::Reply {
    app.as_a(Method::POST, &format!("{BASE}/{id}/dkim/rotate"), None)
        .await
}

async fn verify(app: &TestApp, id: &str) -> crate::harness::Reply {
    app.as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await
}

/// Verifies as a client told `429` would: waits `Retry-After`, then asks again (a domain
/// is verified at most 5 times at once, then once every 12 s).
async fn verify_patiently(app: &TestApp, id: &str) -> crate::harness::Reply {
    let reply = verify(app, id).await;
    if reply.status != StatusCode::TOO_MANY_REQUESTS {
        return reply;
    }
    let wait: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait <= 12, "Retry-After {wait}");
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    verify(app, id).await
}

fn selector(body: &Value, field: &str) -> String {
    body["dkimRotation"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no dkimRotation.{field}: {body}"))
        .to_owned()
}

/// `name`, registered for org_a, published and verified: active. Its id.
async fn active_domain(app: &TestApp, name: &str, auto: bool) -> String {
    let reply = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": name, "autoConfigureDns": auto })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    publish(&app.dns, &reply.body["dnsRecords"]);
    let id = id_of(&reply.body);
    let verified = verify(app, &id).await;
    assert_eq!(verified.body["status"], "active", "{}", verified.body);
    id
}

async fn a_full_rotation_and_its_refusals(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("rotate");
    let id = active_domain(&app, &name, false).await;
    let (old, _) = identity_dkim(&name)
        .await
        .expect("an identity with our key");

    let rotated = rotate(&app, &id).await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let body = &rotated.body;
    assert_eq!(body["dkimRotation"]["status"], "pending", "{body}");
    assert_eq!(selector(body, "previousSelector"), old);
    let new = selector(body, "selector");
    assert_ne!(new, old);
    // The new record beside the current one, not yet checked and not required.
    let next = dkim_record(body, &new);
    assert_eq!(
        (next["status"].as_str(), next["required"].as_bool()),
        (Some("not_checked"), Some(false)),
        "{next}"
    );
    assert!(
        next["value"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=rsa; p=MIIBIjAN")
    );
    assert_eq!(dkim_record(body, &old)["status"], "verified");
    assert_eq!(
        identity_dkim(&name).await.unwrap().0,
        old,
        "SES keeps the old key"
    );

    // One at a time, and only the owner.
    rotate(&app, &id)
        .await
        .assert_error(StatusCode::CONFLICT, "DKIM_ROTATION_PENDING");
    app.as_b(Method::POST, &format!("{BASE}/{id}/dkim/rotate"), None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
    rotate(&app, "dom_01JDX3M5Q8Z9YV2K7W4T6R0N1B")
        .await
        .assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");

    // The private key waits sealed under KMS, bound to this domain and selector.
    let stored = app
        .store
        .get_domain(&org_a(), &domain_id(body))
        .await
        .unwrap()
        .unwrap();
    let waiting = stored.setup.dkim_next.as_ref().unwrap();
    let sealed = waiting.sealed.as_ref().expect("a sealed key");
    assert!(sealed.key_id.contains(&moto().kms_key), "{sealed:?}");
    let kms = Kms::new(&moto().sdk_config(), moto().kms_key.clone());
    let context = SealContext::Dkim {
        domain_id: &stored.id,
        selector: &new,
    };
    let der = kms
        .open(sealed, context)
        .await
        .expect("opens in its context");
    let key = DkimKeyPair::from_pkcs8(new.clone(), &der).expect("a PKCS#8 RSA key");
    assert_eq!(key.public_key_base64(), waiting.public_key);
    let elsewhere = DomainId::generate();
    for context in [
        SealContext::Dkim {
            domain_id: &elsewhere,
            selector: &new,
        },
        SealContext::Dkim {
            domain_id: &stored.id,
            selector: &old,
        },
    ] {
        assert!(kms.open(sealed, context).await.is_err(), "{context:?}");
    }

    // The zone file carries the new record, for import.
    let (_, _, text) = zone_file(&app, &format!("{BASE}/{id}/zonefile"), &app.key_a).await;
    assert!(
        text.contains(&format!("{new}._domainkey.{name}.")),
        "{text}"
    );

    // Not published yet: the domain stays active, SES on the old key.
    let early = verify(&app, &id).await;
    assert_eq!(early.status, StatusCode::OK, "{}", early.body);
    assert_eq!(dkim_record(&early.body, &new)["status"], "missing");
    assert_eq!(early.body["dkimRotation"]["status"], "pending");
    assert_eq!(identity_dkim(&name).await.unwrap().0, old);

    // Published: SES switches, then the table.
    publish(&app.dns, &json!([next]));
    let done = verify(&app, &id).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let body = &done.body;
    assert_eq!(body["dkimRotation"]["status"], "complete", "{body}");
    assert_eq!(selector(body, "selector"), new);
    assert_eq!(selector(body, "previousSelector"), old);
    assert_eq!(body["ses"]["dkimSelector"], new.as_str(), "{body}");
    assert_eq!(identity_dkim(&name).await.unwrap().0, new);
    let current = dkim_record(body, &new);
    assert_eq!(
        (current["status"].as_str(), current["required"].as_bool()),
        (Some("verified"), Some(true))
    );
    let retired = dkim_record(body, &old);
    assert_eq!(retired["safeToRemove"], true, "{retired}");
    assert!(retired["reason"].as_str().unwrap().contains("remove"));
    assert_eq!(body["verificationStatus"]["dkim"], true);
    assert_eq!(
        app.get_a(&id).await.body["dkimRotation"],
        body["dkimRotation"]
    );
    let stored = app
        .store
        .get_domain(&org_a(), &stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.setup.dkim_next, None, "the sealed key is deleted");
    assert_eq!(stored.setup.dkim_selector, new);
    let (_, _, text) = zone_file(&app, &format!("{BASE}/{id}/zonefile"), &app.key_a).await;
    assert!(
        !text.contains(&format!("{old}._domainkey")),
        "retired: not for import: {text}"
    );

    // A later rotation takes a selector neither key used.
    let again = rotate(&app, &id).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    let third = selector(&again.body, "selector");
    assert!(third != old && third != new, "{third}");
}

async fn concurrent_rotations_start_one(backend: Backend) {
    let app = Arc::new(TestApp::spawn_on(backend.fresh_store().await, cloud()).await);
    let id = active_domain(&app, &unique_domain("rotrace"), false).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move { rotate(&app, &id).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    let started = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .count();
    assert_eq!(
        started,
        1,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != StatusCode::ACCEPTED) {
        reply.assert_error(StatusCode::CONFLICT, "DKIM_ROTATION_PENDING");
    }
}

async fn managed_zones_get_the_new_record_and_lose_the_retired_one(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("rotzone");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    let before = zone_records(&zone).await;
    let id = active_domain(&app, &name, true).await;
    let has = |records: &[(String, String, Vec<String>)], selector: &str| {
        records
            .iter()
            .any(|r| r.0 == format!("{selector}._domainkey.{name}"))
    };

    let first = rotate(&app, &id).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let (old, new) = (
        selector(&first.body, "previousSelector"),
        selector(&first.body, "selector"),
    );
    let records = zone_records(&zone).await;
    assert!(has(&records, &old) && has(&records, &new), "{records:?}");
    publish(&app.dns, &json!([dkim_record(&first.body, &new)]));
    assert_eq!(
        verify(&app, &id).await.body["dkimRotation"]["status"],
        "complete"
    );
    // Retired, but left in place: mail signed with it may still be in transit.
    assert!(has(&zone_records(&zone).await, &old));

    let second = rotate(&app, &id).await;
    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.body);
    let newest = selector(&second.body, "selector");
    let records = zone_records(&zone).await;
    // Retired minutes ago, younger than DKIM_RETIRE_AFTER (48 h): it stays through the
    // next rotation, so mail signed just before the switch still verifies.
    assert!(
        has(&records, &old),
        "a young retired record stays through the next rotation: {records:?}"
    );
    assert!(has(&records, &new) && has(&records, &newest), "{records:?}");

    let deleted = app
        .as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        zone_records(&zone).await,
        before,
        "every record the service wrote is gone"
    );
}

/// A zone an operator unassigned takes no more records from the organization: a rotation
/// still starts and completes with the record published by hand, and the check does not
/// write back a missing rotation record it would write while the zone was assigned.
async fn an_unassigned_zone_takes_no_rotation_records(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("rotunassign");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    let zone_id = ZoneId::parse(&zone).unwrap();
    let id = active_domain(&app, &name, true).await;
    let named = |selector: &str| format!("{selector}._domainkey.{name}");

    // Assigned: the rotation writes its record, and the check writes it back once gone.
    let first = rotate(&app, &id).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let next = named(&selector(&first.body, "selector"));
    let written = zone_records(&zone).await;
    let record = written
        .iter()
        .find(|r| r.0 == next)
        .unwrap_or_else(|| panic!("{next} in {written:?}"))
        .clone();
    delete_record(&zone, &next, RrType::Txt, &record.2.join("")).await;
    let repaired = verify_patiently(&app, &id).await;
    assert_eq!(repaired.body["dkimRotation"]["status"], "pending");
    assert_eq!(
        zone_records(&zone).await,
        written,
        "the missing record is written back while the zone is assigned"
    );

    // Unassigned: gone again, and the check leaves the zone as it is.
    delete_record(&zone, &next, RrType::Txt, &record.2.join("")).await;
    app.store.unassign_zone(&zone_id).await.expect("unassign");
    let left = zone_records(&zone).await;
    assert!(!left.iter().any(|r| r.0 == next), "{left:?}");
    let checked = verify_patiently(&app, &id).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert_eq!(
        dkim_record(&checked.body, &selector(&first.body, "selector"))["status"],
        "missing"
    );
    assert_eq!(zone_records(&zone).await, left, "no record written back");

    // Published by hand, the rotation completes; SES switches, the zone is untouched.
    let new = selector(&first.body, "selector");
    publish(&app.dns, &json!([dkim_record(&first.body, &new)]));
    let done = verify_patiently(&app, &id).await;
    assert_eq!(
        done.body["dkimRotation"]["status"], "complete",
        "{}",
        done.body
    );
    assert_eq!(identity_dkim(&name).await.unwrap().0, new);
    assert_eq!(zone_records(&zone).await, left);

    // A rotation after the unassignment writes nothing into the zone and still works.
    let second = rotate(&app, &id).await;
    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.body);
    let newest = selector(&second.body, "selector");
    assert_eq!(
        zone_records(&zone).await,
        left,
        "nothing written into an unassigned zone"
    );
    let missing = verify_patiently(&app, &id).await;
    assert_eq!(dkim_record(&missing.body, &newest)["status"], "missing");
    assert_eq!(zone_records(&zone).await, left, "nor by the check");
    publish(&app.dns, &json!([dkim_record(&second.body, &newest)]));
    let done = verify_patiently(&app, &id).await;
    assert_eq!(
        done.body["dkimRotation"]["status"], "complete",
        "{}",
        done.body
    );
    assert_eq!(identity_dkim(&name).await.unwrap().0, newest);
    assert_eq!(zone_records(&zone).await, left);
}

/// Without SES nothing signs, so no private key is kept at all; the rotation completes once
/// the record verifies.
async fn without_ses_no_key_is_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = active_domain(&app, &unique_domain("rotlocal"), false).await;
    let rotated = rotate(&app, &id).await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let new = selector(&rotated.body, "selector");
    let stored = app
        .store
        .get_domain(&org_a(), &domain_id(&rotated.body))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.setup.dkim_next.as_ref().unwrap().sealed, None);
    publish(&app.dns, &json!([dkim_record(&rotated.body, &new)]));
    let done = verify(&app, &id).await;
    assert_eq!(
        done.body["dkimRotation"]["status"], "complete",
        "{}",
        done.body
    );
}

/// SES on but no KMS key: the new private key would have nowhere safe to wait.
async fn ses_without_kms_is_unavailable(backend: Backend) {
    let app = TestApp::spawn_on(
        backend.fresh_store().await,
        Cloud {
            sealer: None,
            ..cloud()
        },
    )
    .await;
    let id = active_domain(&app, &unique_domain("rotnokms"), false).await;
    let reply = rotate(&app, &id).await;
    reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    assert!(app.get_a(&id).await.body.get("dkimRotation").is_none());
}

for_each_backend!(
    a_full_rotation_and_its_refusals,
    concurrent_rotations_start_one,
    managed_zones_get_the_new_record_and_lose_the_retired_one,
    an_unassigned_zone_takes_no_rotation_records,
    without_ses_no_key_is_kept,
    ses_without_kms_is_unavailable,
);
