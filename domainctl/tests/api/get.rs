use domains::model::Counter;
use reqwest::{Method, StatusCode};
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, TestApp, domain_id, id_of, org_a};

async fn get_returns_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("example.com").await;
    let id = domain_id(&registered);
    app.store
        .add_to_counter(&org_a(), &id, Counter::Inbox, 5)
        .await
        .unwrap();
    app.store
        .add_to_counter(&org_a(), &id, Counter::Sent, 1250)
        .await
        .unwrap();
    app.store
        .add_to_counter(&org_a(), &id, Counter::Received, 3420)
        .await
        .unwrap();

    let reply = app.get_a(&id_of(&registered)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    for field in [
        "id",
        "domain",
        "status",
        "isDefault",
        "region",
        "createdAt",
        "updatedAt",
    ] {
        assert_eq!(body[field], registered[field], "{field}");
    }
    assert_eq!(body["verifiedAt"], serde_json::Value::Null);
    assert_eq!(body["lastCheckedAt"], serde_json::Value::Null);
    assert_eq!(
        body["stats"],
        serde_json::json!({ "inboxCount": 5, "sentCount": 1250, "receivedCount": 3420 })
    );
    assert_eq!(
        body["verificationStatus"],
        serde_json::json!({ "ownership": false, "mx": false, "spf": false, "dkim": false, "dmarc": false, "mailFrom": false })
    );
    let records = body["dnsRecords"].as_array().unwrap();
    assert_eq!(records.len(), 7);
    for (record, published) in records
        .iter()
        .zip(registered["dnsRecords"].as_array().unwrap())
    {
        assert_eq!(
            record["verified"], false,
            "nothing is verified before a check"
        );
        for field in ["type", "name", "host", "value", "required"] {
            assert_eq!(record[field], published[field]);
        }
    }
}

async fn unknown_and_malformed_ids_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("example.com").await;
    for id in [
        "dom_01HQ3K5N8X9Y2Z3A4B5C6D7E8F",
        "dom_nope",
        "nope",
        "dom_01hq3k5n8x9y2z3a4b5c6d7e8f",
        "%20",
        "dom_01HQ3K5N8X9Y2Z3A4B5C6D7E8F%00",
    ] {
        let reply = app.as_a(Method::GET, &format!("{BASE}/{id}"), None).await;
        reply.assert_error(StatusCode::NOT_FOUND, "DOMAIN_NOT_FOUND");
    }
}

for_each_backend!(
    get_returns_everything,
    unknown_and_malformed_ids_are_not_found
);
