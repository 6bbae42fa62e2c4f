//! Registration and deletion with SES and Route 53 (moto in server mode): nothing
//! half-done when a step fails, and a retry succeeds.

use std::sync::Arc;

use aws_sdk_route53::types::RrType;
use domains::aws::Cloud;
use domains::aws::SesV2;
use domains::model::{Timestamp, ZoneId};
use domains::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::aws::{
    create_zone, delete_zone, identity_mail_from, identity_tags, identity_tags_in, put_record,
    unique_domain, zone_records,
};
use testkit::{Backend, for_each_backend, sdk_config_for};

use crate::harness::{BASE, TestApp, id_of};

pub use testkit::aws::moto_cloud as cloud;

/// The value Route 53 holds for a record the API returned: TXT quoted, split at 255.
fn as_route53(record: &Value) -> String {
    let value = record["value"].as_str().unwrap();
    if record["type"] == "TXT" {
        value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", std::str::from_utf8(c).unwrap()))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        value.to_owned()
    }
}

/// A hosted zone for `name` that an operator assigned to `org`.
pub async fn assigned_zone(app: &TestApp, name: &str, comment: Option<&str>, org: &str) -> String {
    let zone = create_zone(name, comment).await;
    app.store
        .assign_zone(
            &ZoneId::parse(&zone).unwrap(),
            &testkit::org(org),
            Timestamp::from_unix(0),
        )
        .await
        .expect("assign the zone");
    zone
}

async fn register_as_b(app: &TestApp, name: &str) -> crate::harness::Reply {
    app.as_b(
        Method::POST,
        BASE,
        Some(json!({ "domain": name, "autoConfigureDns": true })),
    )
    .await
}

async fn register(app: &TestApp, name: &str, auto: bool) -> crate::harness::Reply {
    app.as_a(
        Method::POST,
        BASE,
        Some(json!({ "domain": name, "autoConfigureDns": auto })),
    )
    .await
}

async fn auto_configured_register_and_delete(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("auto");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    let before = zone_records(&zone).await;

    let reply = register(&app, &name, true).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["dnsManagedBy"], "route53");
    assert_eq!(reply.body["hostedZoneId"], zone.as_str());
    let id = id_of(&reply.body);

    // The identity, tagged with the organization and the domain.
    let tags = identity_tags(&name).await.expect("an SES identity");
    assert!(tags.contains(&("email-domains:org-id".to_owned(), "org_a".to_owned())));
    assert!(tags.contains(&("email-domains:domain-id".to_owned(), id.clone())));
    // SES sends from the custom MAIL FROM subdomain once it sees its MX.
    assert_eq!(
        identity_mail_from(&name).await,
        Some((format!("send.{name}"), "PENDING".to_owned()))
    );
    let checked = app
        .as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await;
    let ses = &checked.body["error"]["details"]["ses"];
    assert_eq!(ses["mailFromStatus"], "PENDING", "{}", checked.body);

    // Every returned record in the zone, exactly as returned.
    let written = zone_records(&zone).await;
    let records = reply.body["dnsRecords"].as_array().unwrap();
    assert_eq!(written.len(), before.len() + records.len());
    for record in records {
        let expected = (
            record["name"].as_str().unwrap().to_owned(),
            record["type"].as_str().unwrap().to_owned(),
            vec![as_route53(record)],
        );
        assert!(
            written.contains(&expected),
            "{expected:?} not in {written:?}"
        );
    }
    assert_eq!(app.get_a(&id).await.body["dnsManagedBy"], "route53");

    let deleted = app
        .as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(identity_tags(&name).await, None, "the identity is gone");
    assert_eq!(
        zone_records(&zone).await,
        before,
        "exactly the service's records are gone"
    );
}

async fn other_records_in_the_zone_survive(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let parent = unique_domain("parent");
    let zone = assigned_zone(&app, &parent, None, "org_a").await;
    // A sibling domain registered without auto-configuration shares the zone.
    let name = format!("mail.{parent}");
    let sibling = register(&app, &format!("news.{parent}"), false).await;
    assert_eq!(sibling.status, StatusCode::CREATED);
    assert!(sibling.body.get("dnsManagedBy").is_none());
    let first = register(&app, &name, true).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let other = register(&app, &format!("shop.{parent}"), true).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    let with_both = zone_records(&zone).await;

    app.as_a(
        Method::DELETE,
        &format!("{BASE}/{}", id_of(&first.body)),
        None,
    )
    .await;
    let after = zone_records(&zone).await;
    assert_eq!(after.len(), with_both.len() - 7);
    assert!(
        after.iter().all(|(n, _, _)| !n.ends_with(&name)),
        "{after:?}"
    );
    assert!(
        after
            .iter()
            .filter(|(n, _, _)| n.ends_with(&format!("shop.{parent}")))
            .count()
            == 7
    );
}

async fn no_zone_is_a_clear_error_and_nothing_is_registered(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("nozone");
    let reply = register(&app, &name, true).await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_ZONE_NOT_FOUND");
    reply.assert_message_contains(&name);
    assert_eq!(app.as_a(Method::GET, BASE, None).await.body["total"], 0);
    assert_eq!(identity_tags(&name).await, None);
    // Without auto-configuration the same name registers.
    assert_eq!(
        register(&app, &name, false).await.status,
        StatusCode::CREATED
    );
}

async fn ses_unreachable_leaves_nothing_and_a_retry_succeeds(backend: Backend) {
    let store: Arc<dyn Store> = backend.fresh_store().await;
    let nowhere = sdk_config_for(&format!("http://127.0.0.1:{}", devservers::free_port()));
    let broken = Cloud {
        ses: Some(Arc::new(SesV2::new(nowhere))),
        zones: cloud().zones,
        sealer: None,
    };
    let app = TestApp::spawn_on(store.clone(), broken).await;
    let name = unique_domain("sesdown");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    let before = zone_records(&zone).await;

    let reply = register(&app, &name, true).await;
    reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    assert!(reply.body["error"]["requestId"].is_string());
    assert_eq!(
        app.as_a(Method::GET, BASE, None).await.body["total"],
        0,
        "no row"
    );
    assert_eq!(zone_records(&zone).await, before, "no records");
    assert_eq!(identity_tags(&name).await, None, "no identity");

    // SES is back: the same registration goes through at once.
    let healthy = TestApp::spawn_on(store, cloud()).await;
    let retry = register(&healthy, &name, true).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert!(identity_tags(&name).await.is_some());
}

async fn route53_refusing_a_change_undoes_the_identity(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("refused");
    let zone = assigned_zone(&app, &name, Some("refuse-changes"), "org_a").await;

    let reply = register(&app, &name, true).await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_RECORD_CONFLICT");
    reply.assert_message_contains("refused");
    assert_eq!(
        app.as_a(Method::GET, BASE, None).await.body["total"],
        0,
        "no row"
    );
    assert_eq!(
        identity_tags(&name).await,
        None,
        "the identity made first is undone"
    );
    assert!(zone_records(&zone).await.is_empty(), "no records");

    // With a zone that accepts changes, the retry succeeds.
    delete_zone(&zone).await;
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    let retry = register(&app, &name, true).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(zone_records(&zone).await.len(), 7);
}

async fn existing_records_are_not_overwritten(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("taken");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    // The owner already receives mail elsewhere.
    put_record(&zone, &name, RrType::Mx, "10 mx.elsewhere.example").await;
    let before = zone_records(&zone).await;
    let reply = register(&app, &name, true).await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_RECORD_CONFLICT");
    reply.assert_message_contains(&format!("MX {name}"));
    assert_eq!(
        zone_records(&zone).await,
        before,
        "nothing written, nothing removed"
    );
    assert_eq!(identity_tags(&name).await, None);
}

async fn verify_reports_the_ses_view(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("view");
    let registered = register(&app, &name, false).await;
    assert_eq!(registered.status, StatusCode::CREATED);
    crate::harness::publish(&app.dns, &registered.body["dnsRecords"]);
    let id = id_of(&registered.body);
    let reply = app
        .as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let ses = &reply.body["ses"];
    assert!(ses["verifiedForSending"].is_boolean(), "{}", reply.body);
    assert!(ses["dkimStatus"].is_string());
    assert_eq!(app.get_a(&id).await.body["ses"], *ses);
}

/// Organization A's zone is in the account; organization B registers a name below it with
/// `autoConfigureDns`. Nothing may be written there: records B did not publish prove
/// nothing about B, and would make B's domain active in A's zone.
async fn another_organizations_zone_is_never_written(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let parent = unique_domain("tenant-a");
    let zone = assigned_zone(&app, &parent, None, "org_a").await;
    let before = zone_records(&zone).await;

    let child = format!("x.{parent}");
    let reply = register_as_b(&app, &child).await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_ZONE_NOT_FOUND");
    // Word for word what a name with no zone at all gets: nothing to probe with.
    let nowhere = unique_domain("nozone");
    let unknown = register_as_b(&app, &nowhere).await;
    assert_eq!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&child, "NAME"),
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&nowhere, "NAME")
    );
    assert_eq!(zone_records(&zone).await, before, "nothing written");
    assert_eq!(identity_tags(&child).await, None, "no identity");
    assert_eq!(app.as_b(Method::GET, BASE, None).await.body["total"], 0);

    // The apex too, and a zone assigned to nobody.
    let apex = register_as_b(&app, &parent).await;
    apex.assert_error(StatusCode::CONFLICT, "DNS_ZONE_NOT_FOUND");
    let orphan = unique_domain("unassigned");
    let orphan_zone = create_zone(&orphan, None).await;
    let orphan_before = zone_records(&orphan_zone).await;
    let reply = register(&app, &orphan, true).await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_ZONE_NOT_FOUND");
    assert_eq!(zone_records(&orphan_zone).await, orphan_before);
    assert_eq!(zone_records(&zone).await, before);

    // B's own zone below A's is B's to use, and the nearest zone wins: A cannot have
    // records written into A's parent zone for a name B's zone serves.
    let own = assigned_zone(&app, &child, None, "org_b").await;
    let mine = register_as_b(&app, &child).await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    assert_eq!(mine.body["hostedZoneId"], own.as_str());
    let deeper = format!("mail.{child}");
    let reply = register(&app, &deeper, true).await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_ZONE_NOT_FOUND");
    assert_eq!(
        zone_records(&zone).await,
        before,
        "A's zone still untouched"
    );
}

/// A registration in one of the regions added since 2023 lands its identity in that
/// region, with that region's inbound SMTP host as the MX.
async fn registers_in_every_kind_of_receiving_region(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    for region in ["eu-north-1", "ap-southeast-2", "sa-east-1", "il-central-1"] {
        let name = unique_domain("region");
        let reply = app
            .as_a(
                Method::POST,
                BASE,
                Some(json!({ "domain": name, "region": region })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{region}: {}",
            reply.body
        );
        assert_eq!(reply.body["region"], region);
        let mx = reply.body["dnsRecords"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "MX")
            .expect("an MX record")
            .clone();
        assert_eq!(
            mx["value"],
            format!("10 inbound-smtp.{region}.amazonaws.com")
        );
        let tags = identity_tags_in(region, &name).await;
        assert!(
            tags.is_some_and(
                |t| t.contains(&("email-domains:domain-id".into(), id_of(&reply.body)))
            ),
            "the identity is in {region}"
        );
        assert_eq!(identity_tags(&name).await, None, "and not in us-east-1");
        let deleted = app
            .as_a(
                Method::DELETE,
                &format!("{BASE}/{}", id_of(&reply.body)),
                None,
            )
            .await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        assert_eq!(
            identity_tags_in(region, &name).await,
            None,
            "removed in {region}"
        );
    }
}

/// What the customer published by hand before registering: MX, SPF and DMARC exactly as
/// the service would write them, and a web server's address.
async fn published_by_hand(zone: &str, name: &str) {
    put_record(
        zone,
        name,
        RrType::Mx,
        "10 inbound-smtp.us-east-1.amazonaws.com",
    )
    .await;
    put_record(
        zone,
        name,
        RrType::Txt,
        "\"v=spf1 include:amazonses.com ~all\"",
    )
    .await;
    let dmarc = format!("\"v=DMARC1; p=quarantine; rua=mailto:dmarc@{name}\"");
    put_record(zone, &format!("_dmarc.{name}"), RrType::Txt, &dmarc).await;
    put_record(zone, &format!("www.{name}"), RrType::A, "192.0.2.10").await;
}

async fn records_the_zone_held_are_never_removed(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;

    // Refused (another value where the MAIL FROM SPF goes): nothing written, nothing removed.
    let name = unique_domain("byhand");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    published_by_hand(&zone, &name).await;
    put_record(
        &zone,
        &format!("send.{name}"),
        RrType::Txt,
        "\"v=spf1 -all\"",
    )
    .await;
    let before = zone_records(&zone).await;
    let reply = register(&app, &name, true).await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_RECORD_CONFLICT");
    assert_eq!(
        zone_records(&zone).await,
        before,
        "the customer's records stay"
    );
    assert_eq!(identity_tags(&name).await, None);

    // Accepted: identical record sets count as published, are not written, and stay
    // through the delete.
    let name = unique_domain("byhand");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    published_by_hand(&zone, &name).await;
    let before = zone_records(&zone).await;
    let reply = register(&app, &name, true).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = id_of(&reply.body);
    let records = reply.body["dnsRecords"].as_array().unwrap();
    for record in records {
        let held_before = ["MX", "TXT"].contains(&record["type"].as_str().unwrap())
            && (record["name"] == name.as_str() || record["host"] == "_dmarc");
        assert_eq!(record["writtenByService"], json!(!held_before), "{record}");
    }
    let written = zone_records(&zone).await;
    assert_eq!(
        written.len(),
        before.len() + records.len() - 3,
        "{written:?}"
    );
    let deleted = app
        .as_a(Method::DELETE, &format!("{BASE}/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        zone_records(&zone).await,
        before,
        "the customer's records stay"
    );
    assert_eq!(identity_tags(&name).await, None);
}

/// `dnsManagedBy` says whether the service writes into the domain's zone now: `route53`
/// while the zone is assigned to the organization, absent once an operator unassigned it
/// or gave it to another organization (`hostedZoneId` still names the zone), and back once
/// it is the organization's again; on `GET` and on verify alike.
async fn dns_managed_by_follows_the_zones_assignment(backend: Backend) {
    let app = TestApp::spawn_on(backend.fresh_store().await, cloud()).await;
    let name = unique_domain("managed");
    let zone = assigned_zone(&app, &name, None, "org_a").await;
    let zone_id = ZoneId::parse(&zone).unwrap();
    let reply = register(&app, &name, true).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = id_of(&reply.body);
    let views = || async {
        let got = app.get_a(&id).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        let checked = app
            .as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
            .await;
        // Nothing published at the loopback DNS: a 422 carrying the domain's view.
        let details = checked.body["error"]["details"].clone();
        assert_eq!(details["id"], id.as_str(), "{}", checked.body);
        [got.body, details].map(|body| {
            assert_eq!(body["hostedZoneId"], zone.as_str(), "{body}");
            body["dnsManagedBy"].clone()
        })
    };
    assert_eq!(views().await, [json!("route53"), json!("route53")]);

    app.store.unassign_zone(&zone_id).await.unwrap();
    assert_eq!(views().await, [Value::Null, Value::Null]);

    app.store
        .assign_zone(&zone_id, &testkit::org("org_b"), Timestamp::from_unix(0))
        .await
        .unwrap();
    assert_eq!(views().await, [Value::Null, Value::Null], "another's zone");

    app.store.unassign_zone(&zone_id).await.unwrap();
    app.store
        .assign_zone(&zone_id, &testkit::org("org_a"), Timestamp::from_unix(0))
        .await
        .unwrap();
    assert_eq!(views().await, [json!("route53"), json!("route53")]);
}

for_each_backend!(
    records_the_zone_held_are_never_removed,
    registers_in_every_kind_of_receiving_region,
    auto_configured_register_and_delete,
    other_records_in_the_zone_survive,
    no_zone_is_a_clear_error_and_nothing_is_registered,
    ses_unreachable_leaves_nothing_and_a_retry_succeeds,
    route53_refusing_a_change_undoes_the_identity,
    existing_records_are_not_overwritten,
    verify_reports_the_ses_view,
    another_organizations_zone_is_never_written,
    dns_managed_by_follows_the_zones_assignment,
);
