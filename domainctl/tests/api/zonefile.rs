//! `GET /:id/zonefile`: the records as a zone-file fragment that a real zone parser reads,
//! and that, once served, verifies the domain.

use std::str::FromStr;

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, TestApp, id_of};

/// The fragment, as a client downloads it.
pub async fn zone_file(app: &TestApp, path: &str, key: &str) -> (StatusCode, String, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, response.text().await.unwrap())
}

/// What hickory's zone parser reads from the fragment: (owner, type, data) with TXT data as
/// its character-strings joined, MX as `preference exchange`.
fn parsed(text: &str, origin: &str) -> Vec<(String, RecordType, String, Vec<String>)> {
    let (_, sets) = Parser::new(text, None, Some(Name::from_str(origin).unwrap()))
        .parse()
        .unwrap_or_else(|e| panic!("the zone file does not parse: {e}\n{text}"));
    let mut records = Vec::new();
    for set in sets.values() {
        for record in set.records_without_rrsigs() {
            assert_eq!(record.ttl, 300);
            let owner = record.name.to_ascii().trim_end_matches('.').to_owned();
            let (data, strings) = match &record.data {
                RData::TXT(txt) => {
                    let strings: Vec<String> = txt
                        .txt_data
                        .iter()
                        .map(|s| String::from_utf8(s.to_vec()).unwrap())
                        .collect();
                    (strings.concat(), strings)
                }
                RData::MX(mx) => (
                    format!(
                        "{} {}",
                        mx.preference,
                        mx.exchange.to_ascii().trim_end_matches('.')
                    ),
                    Vec::new(),
                ),
                other => panic!("unexpected record {other:?}"),
            };
            records.push((owner, record.record_type(), data, strings));
        }
    }
    records.sort();
    records
}

async fn the_zone_file_is_what_dns_records_says_and_verifies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("zonefile.example").await;
    let id = id_of(&registered);
    let path = format!("{BASE}/{id}/zonefile");
    assert_eq!(registered["zoneFile"], path.as_str());

    let (status, kind, text) = zone_file(&app, &path, &app.key_a).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(kind, "text/dns; charset=utf-8");
    let records = parsed(&text, "zonefile.example.");

    // Exactly the records of `dnsRecords`, value for value.
    let mut expected: Vec<(String, RecordType, String)> = registered["dnsRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let kind = RecordType::from_str(r["type"].as_str().unwrap()).unwrap();
            (
                r["name"].as_str().unwrap().to_owned(),
                kind,
                r["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    let got: Vec<(String, RecordType, String)> = records
        .iter()
        .map(|(owner, kind, data, _)| (owner.clone(), *kind, data.clone()))
        .collect();
    assert_eq!(got, expected);
    // The 2048-bit key does not fit one character-string: split at 255 octets.
    let dkim = records
        .iter()
        .find(|(owner, ..)| owner.contains("._domainkey."))
        .unwrap();
    assert!(
        dkim.3.len() >= 2 && dkim.3.iter().all(|s| s.len() <= 255),
        "{dkim:?}"
    );

    // Served as parsed, the records verify the domain.
    for (owner, kind, data, strings) in &records {
        match kind {
            RecordType::MX => {
                let (preference, host) = data.split_once(' ').unwrap();
                app.dns.add_mx(owner, preference.parse().unwrap(), host);
            }
            _ => {
                let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
                app.dns.add_txt(owner, &strings);
            }
        }
    }
    let verified = app
        .as_a(Method::POST, &format!("{BASE}/{id}/verify"), None)
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["status"], "active");
}

async fn another_organization_gets_no_zone_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = id_of(&app.register("private.example").await);
    let path = format!("{BASE}/{id}/zonefile");
    let (status, kind, text) = zone_file(&app, &path, &app.key_b).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert_eq!(kind, "application/json");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "DOMAIN_NOT_FOUND");
    assert!(!text.contains("private.example"), "{text}");
    for missing in ["dom_01HQ3K5N8X9Y2Z3A4B5C6D7E8F", "nope"] {
        let (status, ..) = zone_file(&app, &format!("{BASE}/{missing}/zonefile"), &app.key_a).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, ..) = zone_file(&app, &path, "emk_not_a_key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

for_each_backend!(
    the_zone_file_is_what_dns_records_says_and_verifies,
    another_organization_gets_no_zone_file,
);
