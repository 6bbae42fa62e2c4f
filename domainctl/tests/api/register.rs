use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Backend, for_each_backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{BASE, TestApp, id_of, org_a};

async fn registers_with_records_to_publish(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": "  YourCompany.COM. ", "region": "eu-west-1" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let body = &reply.body;
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("dom_"));
    assert_eq!(
        reply.headers["location"].to_str().unwrap(),
        format!("{BASE}/{id}")
    );
    assert_eq!(body["domain"], "yourcompany.com");
    assert_eq!(body["status"], "pending");
    assert_eq!(
        body["isDefault"], true,
        "an organization's first domain is its default"
    );
    assert_eq!(body["region"], "eu-west-1");
    assert_eq!(body["createdAt"], body["updatedAt"]);
    assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));

    let records = body["dnsRecords"].as_array().unwrap();
    let find = |record_type: &str, host_prefix: &str| -> &Value {
        records
            .iter()
            .find(|r| {
                r["type"] == record_type && r["host"].as_str().unwrap().starts_with(host_prefix)
            })
            .unwrap_or_else(|| panic!("{record_type} {host_prefix} in {records:?}"))
    };
    let mx = find("MX", "@");
    assert_eq!(mx["name"], "yourcompany.com");
    assert_eq!(mx["value"], "10 inbound-smtp.eu-west-1.amazonaws.com");
    assert_eq!(
        (mx["priority"].as_u64(), mx["required"].as_bool()),
        (Some(10), Some(true))
    );
    let ownership = find("TXT", "_amazonses");
    assert_eq!(ownership["name"], "_amazonses.yourcompany.com");
    assert_eq!(ownership["required"], true);
    assert!(ownership["value"].as_str().unwrap().len() >= 32);
    let spf = records
        .iter()
        .find(|r| r["value"] == "v=spf1 include:amazonses.com ~all")
        .unwrap();
    assert_eq!(
        (spf["host"].as_str(), spf["required"].as_bool()),
        (Some("@"), Some(false))
    );
    let dkim = records
        .iter()
        .find(|r| r["host"].as_str().unwrap().ends_with("._domainkey"))
        .unwrap();
    assert!(
        dkim["name"]
            .as_str()
            .unwrap()
            .ends_with("._domainkey.yourcompany.com")
    );
    assert!(
        dkim["value"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=rsa; p=MIIBIjAN")
    );
    assert_eq!(
        dkim["required"], true,
        "SES verifies a BYODKIM identity through it"
    );
    let dmarc = find("TXT", "_dmarc");
    for (record, purpose) in [
        (mx, "receiving"),
        (ownership, "ownership"),
        (spf, "sending"),
        (dkim, "sending"),
        (dmarc, "policy"),
    ] {
        assert_eq!(record["purpose"], purpose, "{record}");
        assert_eq!(record["status"], "not_checked", "{record}");
    }
    assert_eq!(
        dmarc["value"],
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@yourcompany.com"
    );
    assert_eq!(records.len(), 7);
    // The custom MAIL FROM subdomain, `send.` by default: SES's feedback host as its MX and
    // its own SPF record, neither required.
    let mail_from: Vec<&Value> = records
        .iter()
        .filter(|r| r["purpose"] == "mail_from")
        .collect();
    assert_eq!(mail_from.len(), 2);
    for record in &mail_from {
        assert_eq!(record["name"], "send.yourcompany.com");
        assert_eq!(record["host"], "send");
        assert_eq!(record["required"], false);
    }
    assert_eq!(mail_from[0]["type"], "MX");
    assert_eq!(
        mail_from[0]["value"],
        "10 feedback-smtp.eu-west-1.amazonses.com"
    );
    assert_eq!(mail_from[1]["type"], "TXT");
    assert_eq!(mail_from[1]["value"], "v=spf1 include:amazonses.com ~all");
    assert!(
        !body.to_string().contains("PRIVATE"),
        "no private key leaves the service"
    );

    // Each domain gets its own token and key.
    let other = app.register("other.example").await;
    assert_eq!(other["isDefault"], false);
    assert_eq!(other["region"], "us-east-1", "region defaults to us-east-1");
    let value_of = |body: &Value, host: &str| {
        body["dnsRecords"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["host"].as_str().unwrap().starts_with(host))
            .map(|r| r["value"].clone())
            .unwrap()
    };
    for host in ["_amazonses", "dkim"] {
        assert_ne!(value_of(&other, host), value_of(body, host), "{host}");
    }
}

async fn explicit_default_choice_is_respected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": "a.example", "isDefault": false })),
        )
        .await;
    assert_eq!(first.body["isDefault"], false);
    let second = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": "b.example", "isDefault": true })),
        )
        .await;
    assert_eq!(second.body["isDefault"], true);
    let third = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": "c.example", "isDefault": true })),
        )
        .await;
    assert_eq!(third.body["isDefault"], true);
    let list = app.as_a(Method::GET, BASE, None).await;
    let defaults: Vec<&Value> = list.body["domains"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["isDefault"] == true)
        .map(|d| &d["domain"])
        .collect();
    assert_eq!(defaults, vec!["c.example"]);
}

async fn internationalised_names_are_stored_as_punycode(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app.register("bücher.example").await;
    assert_eq!(body["domain"], "xn--bcher-kva.example");
    let again = app
        .as_b(
            Method::POST,
            BASE,
            Some(json!({ "domain": "xn--bcher-kva.example" })),
        )
        .await;
    again.assert_error(StatusCode::CONFLICT, "DOMAIN_EXISTS");
}

async fn a_name_is_registered_once_by_anyone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("example.com").await;
    for (spelling, as_b) in [
        ("Example.COM.", false),
        ("example.com", true),
        (" EXAMPLE.com ", true),
    ] {
        let body = Some(json!({ "domain": spelling }));
        let reply = if as_b {
            app.as_b(Method::POST, BASE, body).await
        } else {
            app.as_a(Method::POST, BASE, body).await
        };
        reply.assert_error(StatusCode::CONFLICT, "DOMAIN_EXISTS");
    }
    let list = app.as_b(Method::GET, BASE, None).await;
    assert_eq!(list.body["total"], 0, "nothing half-written for the loser");
}

async fn invalid_names_are_domain_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a63 = "a".repeat(63);
    let too_long = format!("{a63}.{a63}.{a63}.{}.com", "b".repeat(58));
    assert_eq!(too_long.len(), 254);
    let cases = [
        "192.168.1.1".to_owned(),
        "::1".to_owned(),
        "[2001:db8::1]".to_owned(),
        "com".to_owned(),
        "co.uk".to_owned(),
        "localhost".to_owned(),
        format!("{}.com", "a".repeat(64)),
        too_long,
        "my_domain.com".to_owned(),
        "-example.com".to_owned(),
        "example-.com".to_owned(),
        "exa mple.com".to_owned(),
        "example..com".to_owned(),
        "".to_owned(),
        "   ".to_owned(),
        "https://example.com".to_owned(),
        "<script>.com".to_owned(),
        "example.com\u{0}".to_owned(),
    ];
    for name in &cases {
        let reply = app
            .as_a(Method::POST, BASE, Some(json!({ "domain": name })))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name:?}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error"]["code"], "DOMAIN_INVALID",
            "{name:?}: {}",
            reply.body
        );
    }
    let list = app.as_a(Method::GET, BASE, None).await;
    assert_eq!(list.body["total"], 0);
}

async fn malformed_requests_are_validation_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let raw_cases = [
        "",
        "{",
        "not json",
        "[]",
        "null",
        "\"example.com\"",
        "{}",
        r#"{"domain": 42}"#,
        r#"{"domain": null}"#,
        r#"{"domain": ["example.com"]}"#,
        r#"{"domain": "example.com", "isDefault": "yes"}"#,
        r#"{"domain": "example.com", "region": 1}"#,
        r#"{"domain": "example.com", "region": null}"#,
        r#"{"domain": "example.com", "isDefault": null}"#,
        r#"{"domain": "example.com", "autoConfigureDns": null}"#,
        r#"{"domain": "example.com", "mailFrom": null}"#,
        r#"{"domain": "example.com", "mailFrom": 5}"#,
        r#"{"domain": "example.com", "mailFrom": ""}"#,
        r#"{"domain": "example.com", "mailFrom": "a.b"}"#,
        r#"{"domain": "example.com", "mailFrom": "-send"}"#,
        r#"{"domain": "example.com", "mailFrom": "_send"}"#,
        r#"{"domain": "example.com", "mailFrom": "aaaaaaaaaaaaaaaaaaaaaaaa"}"#,
        r#"{"domain": "example.com", "region": "eu-central-2"}"#,
        r#"{"domain": "example.com", "region": "US-EAST-1"}"#,
        r#"{"domain": "example.com", "unexpected": true}"#,
        r#"{"domain": "example.com", "IsDefault": true}"#,
        r#"{"domain": "example.com"} trailing"#,
    ];
    for raw in raw_cases {
        let reply = app
            .send(Method::POST, BASE, Some(&app.key_a), Some(raw.to_owned()))
            .await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let list = app.as_a(Method::GET, BASE, None).await;
    assert_eq!(list.body["total"], 0);
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let padding = "x".repeat(70 * 1024);
    let raw = format!(r#"{{"domain": "example.com", "pad": "{padding}"}}"#);
    let reply = app
        .send(Method::POST, BASE, Some(&app.key_a), Some(raw))
        .await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // Far larger than the limit: refused after the first bytes, without waiting for the
    // rest (which this client never sends).
    let head = format!(
        "POST {BASE} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        app.key_a,
        1024 * 1024 * 1024
    );
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'x'; 128 * 1024]).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(
        read.is_ok(),
        "the server answered without the rest of the body"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"PAYLOAD_TOO_LARGE""#), "{answer}");
    // Just under the limit is read (and then judged on its content).
    let fits = format!(
        r#"{{"domain": "example.com"}}{}"#,
        " ".repeat(64 * 1024 - 30)
    );
    let reply = app
        .send(Method::POST, BASE, Some(&app.key_a), Some(fits))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

async fn an_organization_at_its_limit_registers_nothing_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.store.set_quota(&org_a(), 2).await.unwrap();
    let first = app.register("one.example").await;
    app.register("two.example").await;
    let reply = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": "three.example" })),
        )
        .await;
    reply.assert_error(StatusCode::FORBIDDEN, "QUOTA_EXCEEDED");
    reply.assert_message_contains("2 domains");
    assert_eq!(app.as_a(Method::GET, BASE, None).await.body["total"], 2);
    // Another organization's limit is its own.
    let other = app
        .as_b(
            Method::POST,
            BASE,
            Some(json!({ "domain": "three.example" })),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    // A delete gives the slot back.
    let deleted = app
        .as_a(Method::DELETE, &format!("{BASE}/{}", id_of(&first)), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    app.register("four.example").await;
}

/// Without Route 53 there is no zone to write into: the answer a client already handles
/// for "no zone assigned", and nothing registered.
async fn auto_configure_without_route53_is_no_zone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app
        .as_a(
            Method::POST,
            BASE,
            Some(json!({ "domain": "example.com", "autoConfigureDns": true })),
        )
        .await;
    reply.assert_error(StatusCode::CONFLICT, "DNS_ZONE_NOT_FOUND");
    reply.assert_message_contains("publish the records");
    assert_eq!(app.as_a(Method::GET, BASE, None).await.body["total"], 0);
    // The same name registers at once without it.
    app.register("example.com").await;
}

for_each_backend!(
    auto_configure_without_route53_is_no_zone,
    an_organization_at_its_limit_registers_nothing_more,
    registers_with_records_to_publish,
    explicit_default_choice_is_respected,
    internationalised_names_are_stored_as_punycode,
    a_name_is_registered_once_by_anyone,
    invalid_names_are_domain_invalid,
    malformed_requests_are_validation_errors,
    oversized_bodies_are_refused,
);
