//! `active` means the domain works: verification through the real endpoint against zone
//! servers behind a caching resolver, as a new user meets it.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Backend, Behaviour, for_each_backend};

use crate::harness::{BASE, Reply, TestApp, id_of, publish};
use crate::verify::record;

const APEX: &str = "yourcompany.example";

async fn verify(app: &TestApp, id: &str) -> Reply {
    app.as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await
}

fn details(reply: &Reply) -> &Value {
    &reply.body["error"]["details"]
}

/// `dnsRecords` without the one whose host starts with `host`.
fn without(records: &Value, host: &str) -> Value {
    Value::Array(
        records
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["host"].as_str().unwrap().starts_with(host))
            .cloned()
            .collect(),
    )
}

async fn verifying_early_then_publishing_activates_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.dns.zone(APEX);
    let registered = app.register(APEX).await;
    let id = id_of(&registered);
    // Too early: the resolver in front now caches "no such record" for 15 minutes.
    let early = verify(&app, &id).await;
    early.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    let ownership = record(&details(&early)["dnsRecords"], "TXT", "_amazonses");
    assert_eq!(ownership["status"], "missing", "{ownership}");

    publish(&app.dns, &registered["dnsRecords"]);
    let reply = verify(&app, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "active");
    assert_eq!(
        reply.body["capabilities"],
        json!({ "sending": true, "receiving": true })
    );
    for record in reply.body["dnsRecords"].as_array().unwrap() {
        assert_eq!(record["status"], "verified", "{record}");
        let servers: Vec<&str> = record["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            servers,
            [format!("ns1.{APEX}"), format!("ns2.{APEX}")],
            "{record}"
        );
    }
    // GET shows the same shape as verify.
    let detail = app.get_a(&id).await.body;
    assert_eq!(detail["dnsRecords"], reply.body["dnsRecords"]);
    assert_eq!(detail["capabilities"], reply.body["capabilities"]);
}

/// A domain whose zone did not exist yet at the first check: the resolver caches that the
/// name does not exist at all (the TLD's negative answer). The check is then referred
/// down from the root to the zone's servers.
async fn a_zone_created_after_the_first_check_is_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    let id = id_of(&registered);
    verify(&app, &id)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    publish(&app.dns, &registered["dnsRecords"]);
    let reply = verify(&app, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let servers = record(&reply.body["dnsRecords"], "MX", "@")["servers"].to_string();
    assert!(
        servers.contains("delegates yourcompany.example to other servers"),
        "{servers}"
    );
}

async fn a_corrected_token_counts_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    let id = id_of(&registered);
    let records = &registered["dnsRecords"];
    publish(&app.dns, &without(records, "_amazonses"));
    let owner = record(records, "TXT", "_amazonses")["name"]
        .as_str()
        .unwrap();
    app.dns.add_txt(owner, &["a-token-pasted-wrong"]);
    let wrong = verify(&app, &id).await;
    wrong.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    let finding = record(&details(&wrong)["dnsRecords"], "TXT", "_amazonses");
    assert_eq!(finding["status"], "wrong_value", "{finding}");
    assert_eq!(finding["found"], json!(["a-token-pasted-wrong"]));

    app.dns.remove(owner);
    let token = record(records, "TXT", "_amazonses")["value"]
        .as_str()
        .unwrap();
    app.dns.add_txt(owner, &[token]);
    let fixed = verify(&app, &id).await;
    assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
    assert_eq!(fixed.body["status"], "active");
}

async fn a_dead_name_server_does_not_block_activation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    publish(&app.dns, &registered["dnsRecords"]);
    app.dns.ns[1].set_behaviour(Behaviour::Silent);
    let started = Instant::now();
    let reply = verify(&app, &id_of(&registered)).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "active");
    let servers = &record(&reply.body["dnsRecords"], "TXT", "_amazonses")["servers"];
    let dead = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == format!("ns2.{APEX}"))
        .unwrap();
    assert_eq!(dead["status"], "temporary_failure", "{dead}");
}

async fn a_record_on_some_servers_is_propagating(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    let records = &registered["dnsRecords"];
    publish(&app.dns, &without(records, "dkim"));
    let dkim = record(records, "TXT", "dkim");
    app.dns.ns[0].add_long_txt(
        dkim["name"].as_str().unwrap(),
        dkim["value"].as_str().unwrap(),
    );
    let reply = verify(&app, &id_of(&registered)).await;
    reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    let finding = record(&details(&reply)["dnsRecords"], "TXT", "dkim");
    assert_eq!(finding["status"], "propagating", "{finding}");
    let reason = finding["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("ns1.{APEX}")), "{reason}");
    assert!(reason.contains(&format!("ns2.{APEX}")), "{reason}");
    assert_eq!(details(&reply)["status"], "pending");
    assert_eq!(details(&reply)["capabilities"]["sending"], false);
}

async fn active_waits_for_dkim(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    let id = id_of(&registered);
    publish(&app.dns, &without(&registered["dnsRecords"], "dkim"));
    let reply = verify(&app, &id).await;
    reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    let details = details(&reply);
    assert_eq!(details["status"], "pending");
    assert_eq!(details["verificationStatus"]["dkim"], false);
    assert_eq!(details["verificationStatus"]["ownership"], true);
    assert_eq!(
        details["capabilities"],
        json!({ "sending": false, "receiving": true })
    );
    let dkim = record(&details["dnsRecords"], "TXT", "dkim");
    assert_eq!(
        (dkim["required"].as_bool(), dkim["status"].as_str()),
        (Some(true), Some("missing"))
    );
    assert_eq!(app.get_a(&id).await.body["status"], "pending");
}

async fn dkim_through_a_cname_into_another_zone_activates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    let records = &registered["dnsRecords"];
    publish(&app.dns, &without(records, "dkim"));
    // The key lives at a DNS host of its own, as with a provider's CNAME set-up.
    app.dns.zone_elsewhere("keyhost.net");
    let dkim = record(records, "TXT", "dkim");
    app.dns
        .add_cname(dkim["name"].as_str().unwrap(), "yourcompany.keyhost.net");
    app.dns
        .add_long_txt("yourcompany.keyhost.net", dkim["value"].as_str().unwrap());
    let reply = verify(&app, &id_of(&registered)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "active");
    let servers = record(&reply.body["dnsRecords"], "TXT", "dkim")["servers"].to_string();
    assert!(
        servers.contains("CNAME to yourcompany.keyhost.net"),
        "{servers}"
    );
    assert!(servers.contains("ns.keyhost.net"), "{servers}");
}

async fn no_server_answering_is_422_never_5xx(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    let id = id_of(&registered);
    publish(&app.dns, &registered["dnsRecords"]);
    app.dns.set_behaviour(Behaviour::Silent);
    let reply = verify(&app, &id).await;
    reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VERIFICATION_FAILED");
    for finding in details(&reply)["dnsRecords"].as_array().unwrap() {
        assert_eq!(finding["status"], "temporary_failure", "{finding}");
        let reason = finding["reason"].as_str().unwrap();
        assert!(reason.contains("try again later"), "{reason}");
    }
    assert_eq!(app.get_a(&id).await.body["status"], "pending");
}

/// TXT records a tenant controls are hostile input: bytes that are not UTF-8, multi-byte
/// characters where tags are read, NULs. The check judges them, and the server goes on
/// serving everyone.
async fn hostile_records_are_judged_and_the_server_keeps_serving(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register(APEX).await;
    let id = id_of(&registered);
    publish(&app.dns, &registered["dnsRecords"]);
    let hostile: [&[u8]; 4] = [
        b"abcde\xff",
        "v=spf1\u{e9} include:amazonses.com".as_bytes(),
        b"v=DMARC1; p=\xc3",
        &[0u8; 200],
    ];
    for name in [APEX.to_owned(), format!("_dmarc.{APEX}")] {
        app.dns.add_txt_bytes(&name, &hostile);
    }
    let reply = verify(&app, &id).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "active", "required records are fine");
    // The hostile strings form one record that is no SPF record: the real one still counts,
    // and the hostile one is shown, bounded.
    let spf = record(&reply.body["dnsRecords"], "TXT", "@");
    assert_eq!(spf["status"], "verified", "{spf}");
    let found = spf["found"].as_array().unwrap();
    assert_eq!(found.len(), 2, "{spf}");
    assert!(
        found.iter().all(|v| v.as_str().unwrap().len() <= 512),
        "{spf}"
    );
    // Everyone else is still served.
    let other = app
        .as_b(
            Method::POST,
            BASE,
            Some(json!({ "domain": "other.example" })),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    assert_eq!(app.get_a(&id).await.status, StatusCode::OK);
}

for_each_backend!(
    verifying_early_then_publishing_activates_at_once,
    a_zone_created_after_the_first_check_is_found,
    a_corrected_token_counts_at_once,
    a_dead_name_server_does_not_block_activation,
    a_record_on_some_servers_is_propagating,
    active_waits_for_dkim,
    dkim_through_a_cname_into_another_zone_activates,
    no_server_answering_is_422_never_5xx,
    hostile_records_are_judged_and_the_server_keeps_serving,
);
