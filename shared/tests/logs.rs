//! Log lines, captured at TRACE from every crate: each request's lines carry its request
//! id and function name, and no API key, ownership token or DKIM private key ever appears.

use std::sync::Arc;
use std::time::Duration;

use domains::App;
use domains::auth::NewApiKey;
use domains::aws::Cloud;
use domains::aws::SesV2;
use domains::clock::SystemClock;
use domains::dns::DnsChecker;
use domains::http::Endpoint;
use domains::model::Timestamp;
use domains::store::KeyStore;
use lambda_http::{Body, RequestExt};
use testkit::{CapturedLogs, TestDns, org};

fn request(
    method: &str,
    path: &str,
    key: &str,
    id: Option<&str>,
    body: &str,
) -> lambda_http::Request {
    let mut request = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example{path}"))
        .header("authorization", format!("Bearer {key}"))
        .body(if body.is_empty() {
            Body::Empty
        } else {
            Body::Text(body.to_owned())
        })
        .unwrap();
    if let Some(id) = id {
        request = request.with_path_parameters(std::collections::HashMap::from([(
            "id".to_owned(),
            id.to_owned(),
        )]));
    }
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_carry_the_request_and_never_a_secret() {
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    // The production filter, opened up to TRACE for every crate.
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(domains::telemetry::filter_from("trace"))
        .with_writer(move || writer.clone())
        .init();

    // DynamoDB, so the AWS SDK's own TRACE output (requests, items) is captured too.
    let store = Arc::new(testkit::fresh_dynamo_store().await);
    let key = NewApiKey::generate(org("org_logs"), Timestamp::from_unix(0));
    store.put_api_key(&key.record).await.unwrap();
    let dns = TestDns::start().await;
    let checker =
        DnsChecker::with_nameservers(&[dns.addr()], Duration::from_millis(300)).recursive();
    // SES on (moto), so registration sends a DKIM private key through the SDK.
    let ses = SesV2::new(testkit::moto().sdk_config());
    let cloud = Cloud {
        ses: Some(Arc::new(ses)),
        zones: None,
        sealer: None,
    };
    let app = App::new(store.clone(), Arc::new(SystemClock), checker).with_cloud(cloud);

    let registered = app
        .handle(
            Endpoint::Register,
            request(
                "POST",
                "/api/email/domains",
                &key.key,
                None,
                r#"{"domain":"logs.example"}"#,
            ),
        )
        .await;
    assert_eq!(registered.status().as_u16(), 201);
    let Body::Text(text) = registered.body() else {
        panic!("JSON body")
    };
    let body: serde_json::Value = serde_json::from_str(text).unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    let token = body["dnsRecords"][1]["value"].as_str().unwrap().to_owned();
    dns.add_mx("logs.example", 10, "inbound-smtp.us-east-1.amazonaws.com");
    dns.add_txt("_amazonses.logs.example", &[&token]);

    let path = format!("/api/email/domains/{id}");
    for (endpoint, method, path, body) in [
        (Endpoint::Verify, "POST", format!("{path}/verify"), ""),
        (Endpoint::Get, "GET", path.clone(), ""),
        (
            Endpoint::Update,
            "PATCH",
            path.clone(),
            r#"{"status":"archived"}"#,
        ),
        (Endpoint::List, "GET", "/api/email/domains".to_owned(), ""),
    ] {
        let response = app
            .handle(endpoint, request(method, &path, &key.key, Some(&id), body))
            .await;
        assert!(response.status().as_u16() < 500);
    }
    let wrong_key = format!("{}x", key.key);
    let refused = app
        .handle(
            Endpoint::List,
            request("GET", "/api/email/domains", &wrong_key, None, ""),
        )
        .await;
    assert_eq!(refused.status().as_u16(), 401);

    let logs = captured.text();
    assert!(
        logs.lines()
            .any(|l| l.contains(r#""level":"DEBUG""#) && l.contains("aws_smithy")),
        "the SDK's own lines are captured"
    );
    // The private key itself is never seen by the test; no PKCS#8 RSA key (base64 "MIIE…")
    // and no field that would carry one may appear.
    for marker in [
        "MIIEv",
        "MIIEu",
        "DomainSigningPrivateKey",
        "domain_signing_private_key",
    ] {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(marker)).collect();
        assert!(
            leaks.is_empty(),
            "a DKIM private key reached the logs: {leaks:#?}"
        );
    }
    assert!(
        logs.lines().any(|l| l.contains("CreateEmailIdentity")),
        "the SES call was logged at all"
    );
    for (what, secret) in [
        ("API key", &key.key),
        ("wrong key", &wrong_key),
        ("token", &token),
    ] {
        let leaks: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(secret.as_str()))
            .collect();
        assert!(leaks.is_empty(), "the {what} reached the logs: {leaks:#?}");
    }
    let request_lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(request_lines.len(), 6);
    for line in &request_lines {
        assert!(
            line["span"]["request_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{line}"
        );
        assert!(
            line["span"]["function"]
                .as_str()
                .is_some_and(|s| s.ends_with("-domain") || s.ends_with("-domains")),
            "{line}"
        );
    }
}
