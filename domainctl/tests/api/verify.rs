use domains::model::Status;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, Reply, TestApp, domain_id, id_of, org_a, publish};
use crate::update::force;

async fn verify(app: &TestApp, id: &str) -> Reply {
    app.as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await
}

/// The record of `record_type` whose host starts with `host`, in a list of `dnsRecords`.
pub fn record<'a>(records: &'a Value, record_type: &str, host: &str) -> &'a Value {
    records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == record_type && r["host"].as_str().unwrap().starts_with(host))
        .unwrap_or_else(|| panic!("{record_type} {host} in {records}"))
}

async fn publishing_the_returned_records_activates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("yourcompany.example").await;
    let id = id_of(&registered);
    publish(&app.dns, &registered["dnsRecords"]);

    let reply = verify(&app, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "active");
    assert_eq!(
        reply.body["verificationStatus"],
        json!({ "ownership": true, "mx": true, "spf": true, "dkim": true, "dmarc": true, "mailFrom": true })
    );
    let verified_at = reply.body["verifiedAt"].as_str().unwrap().to_owned();
    assert_eq!(reply.body["lastCheckedAt"], verified_at);

    let detail = app.get_a(&id).await.body;
    assert_eq!(detail["status"], "active");
    assert_eq!(detail["verifiedAt"], verified_at);
    assert_eq!(
        detail["verificationStatus"],
        reply.body["verificationStatus"]
    );
    for record in detail["dnsRecords"].as_array().unwrap() {
        assert_eq!(record["verified"], true, "{record}");
        assert!(record.get("reason").is_none(), "{record}");
    }
    let list = app
        .as_a(Method::GET, &format!("{BASE}?status=active"), None)
        .await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["domains"][0]["verifiedAt"], verified_at);
}

async fn missing_records_are_422_and_status_unchanged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("yourcompany.example").await;
    let id = id_of(&registered);
    // Only the ownership token, and a competing MX that wins.
    let ownership = record(&registered["dnsRecords"], "TXT", "_amazonses");
    app.dns.add_txt(
        ownership["name"].as_str().unwrap(),
        &[ownership["value"].as_str().unwrap()],
    );
    app.dns.add_mx(
        "yourcompany.example",
        10,
        "inbound-smtp.us-east-1.amazonaws.com",
    );
    app.dns
        .add_mx("yourcompany.example", 1, "mx.elsewhere.example");

    let reply = verify(&app, &id).await;
    reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    let details = &reply.body["error"]["details"];
    assert_eq!(details["status"], "pending");
    assert_eq!(
        details["verificationStatus"],
        json!({ "ownership": true, "mx": false, "spf": false, "dkim": false, "dmarc": false, "mailFrom": false })
    );
    let mx = record(&details["dnsRecords"], "MX", "@");
    assert_eq!(mx["verified"], false);
    assert_eq!(
        mx["value"], "10 inbound-smtp.us-east-1.amazonaws.com",
        "what was expected"
    );
    assert!(
        mx["reason"].as_str().unwrap().contains("better preference"),
        "{mx}"
    );
    let found: Vec<&str> = mx["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(found.contains(&"1 mx.elsewhere.example"), "{found:?}");
    let dkim = record(&details["dnsRecords"], "TXT", "dkim");
    assert!(
        dkim["reason"].as_str().unwrap().contains("NXDOMAIN"),
        "{dkim}"
    );

    // GET shows the same findings; the status did not move.
    let detail = app.get_a(&id).await.body;
    assert_eq!(detail["status"], "pending");
    assert_eq!(detail["verifiedAt"], Value::Null);
    assert_ne!(detail["lastCheckedAt"], Value::Null);
    assert_eq!(detail["verificationStatus"], details["verificationStatus"]);
    assert_eq!(
        record(&detail["dnsRecords"], "MX", "@")["reason"],
        mx["reason"]
    );
}

async fn suspended_domains_are_checked_but_stay_suspended(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("yourcompany.example").await;
    let id = id_of(&registered);
    publish(&app.dns, &registered["dnsRecords"]);
    force(&app, &domain_id(&registered), Status::Suspended, false).await;
    let reply = verify(&app, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "suspended");
    assert_eq!(reply.body["verificationStatus"]["mx"], true);
    assert_eq!(app.get_a(&id).await.body["status"], "suspended");
}

async fn failed_domains_activate_when_records_pass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("yourcompany.example").await;
    let id = id_of(&registered);
    force(&app, &domain_id(&registered), Status::Failed, false).await;
    verify(&app, &id)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    assert_eq!(app.get_a(&id).await.body["status"], "failed");
    publish(&app.dns, &registered["dnsRecords"]);
    assert_eq!(verify(&app, &id).await.body["status"], "active");
}

async fn an_active_domain_losing_its_records_stays_active(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("yourcompany.example").await;
    let id = id_of(&registered);
    publish(&app.dns, &registered["dnsRecords"]);
    assert_eq!(verify(&app, &id).await.body["status"], "active");
    app.dns.remove("yourcompany.example");
    let reply = verify(&app, &id).await;
    reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    assert_eq!(reply.body["error"]["details"]["status"], "active");
    let detail = app.get_a(&id).await.body;
    assert_eq!(detail["status"], "active");
    assert_eq!(detail["verificationStatus"]["mx"], false);
    let stored = app
        .store
        .get_domain(&org_a(), &domain_id(&registered))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.state.verified_at.is_some());
}

async fn dns_trouble_is_never_a_server_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("yourcompany.example").await;
    publish(&app.dns, &registered["dnsRecords"]);
    for behaviour in [testkit::Behaviour::ServFail, testkit::Behaviour::Silent] {
        app.dns.set_behaviour(behaviour);
        let reply = verify(&app, &id_of(&registered)).await;
        reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
        let mx = record(&reply.body["error"]["details"]["dnsRecords"], "MX", "@");
        assert!(
            mx["reason"].as_str().unwrap().contains("try again later"),
            "{mx}"
        );
    }
    assert_eq!(
        app.get_a(&id_of(&registered)).await.body["status"],
        "pending"
    );
}

async fn unknown_domains_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    verify(&app, "dom_01HQ3K5N8X9Y2Z3A4B5C6D7E8F")
        .await
        .assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
    verify(&app, "nope")
        .await
        .assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
}

/// The MAIL FROM subdomain's records are checked like the others but are not required:
/// a domain without them is active and says `mailFrom: false`; a MAIL FROM MX that SES's
/// feedback host does not win is a `conflict` there.
async fn mail_from_is_checked_but_not_required(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": "mailfrom.example", "mailFrom": "Bounce" })),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let records = &registered.body["dnsRecords"];
    let mail_from_mx = record(records, "MX", "bounce");
    assert_eq!(mail_from_mx["name"], "bounce.mailfrom.example");
    let others: Vec<Value> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["purpose"] != "mail_from")
        .cloned()
        .collect();
    publish(&app.dns, &Value::Array(others));
    let id = id_of(&registered.body);
    let reply = verify(&app, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "active");
    assert_eq!(reply.body["verificationStatus"]["mailFrom"], false);
    let mx = record(&reply.body["dnsRecords"], "MX", "bounce");
    assert_eq!(mx["status"], "missing", "{mx}");

    // Published, but another host wins the subdomain's mail: a conflict, not verified.
    app.dns.add_mx(
        "bounce.mailfrom.example",
        10,
        "feedback-smtp.us-east-1.amazonses.com",
    );
    app.dns
        .add_mx("bounce.mailfrom.example", 5, "mx.elsewhere.example");
    app.dns.add_txt(
        "bounce.mailfrom.example",
        &["v=spf1 include:amazonses.com ~all"],
    );
    let reply = verify(&app, &id).await;
    let mx = record(&reply.body["dnsRecords"], "MX", "bounce");
    assert_eq!(mx["status"], "conflict", "{mx}");
    let spf = record(&reply.body["dnsRecords"], "TXT", "bounce");
    assert_eq!(spf["status"], "verified", "{spf}");
    assert_eq!(reply.body["verificationStatus"]["mailFrom"], false);
}

for_each_backend!(
    mail_from_is_checked_but_not_required,
    publishing_the_returned_records_activates,
    missing_records_are_422_and_status_unchanged,
    suspended_domains_are_checked_but_stay_suspended,
    failed_domains_activate_when_records_pass,
    an_active_domain_losing_its_records_stays_active,
    dns_trouble_is_never_a_server_error,
    unknown_domains_are_not_found,
);
