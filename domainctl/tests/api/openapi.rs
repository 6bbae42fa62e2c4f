//! Real responses of the local server conform to `docs/openapi.yaml`.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::Backend;

use crate::harness::{BASE, Reply, TestApp, id_of, publish};

pub(crate) struct Spec {
    document: Value,
}

impl Spec {
    pub(crate) fn load() -> Self {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("docs/openapi.yaml");
        let document: Value = serde_saphyr::from_str(&text).expect("the spec is valid YAML");
        assert_eq!(document["openapi"], "3.1.0");
        Self { document }
    }

    /// JSON pointer escaping (RFC 6901).
    fn escape(segment: &str) -> String {
        segment.replace('~', "~0").replace('/', "~1")
    }

    /// Asserts `reply` is a response the spec documents for this operation, and that its
    /// body matches the documented schema.
    #[track_caller]
    pub(crate) fn check(&self, method: &Method, template: &str, reply: &Reply) {
        let errors = self.errors(method, template, reply.status, &reply.body);
        assert!(
            errors.is_empty(),
            "{method} {template} {} does not match the spec: {errors:#?}\n{}",
            reply.status,
            reply.body
        );
    }

    #[track_caller]
    fn errors(
        &self,
        method: &Method,
        template: &str,
        status: StatusCode,
        body: &Value,
    ) -> Vec<String> {
        let operation = format!(
            "/paths/{}/{}",
            Self::escape(template),
            method.as_str().to_lowercase()
        );
        let status = status.as_u16().to_string();
        let mut response = format!("{operation}/responses/{status}");
        let node = self
            .document
            .pointer(&response)
            .unwrap_or_else(|| panic!("{method} {template} documents no {status}"));
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            response = reference.trim_start_matches('#').to_owned();
        }
        // A `$ref` is a URI: the braces of a path template are percent-encoded.
        let schema = format!("#{response}/content/application~1json/schema")
            .replace('{', "%7B")
            .replace('}', "%7D");
        let mut root = self.document.clone();
        root["$ref"] = json!(schema);
        let validator = jsonschema::draft202012::new(&root).expect("the spec's schemas compile");
        validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn responses_match_the_openapi_document() {
    let spec = Spec::load();
    // The check has teeth: a body off the contract is caught.
    let off_contract = json!({ "domains": [{ "id": "x" }], "total": -1, "limit": 20 });
    assert!(
        spec.errors(&Method::GET, BASE, StatusCode::OK, &off_contract)
            .len()
            >= 3
    );
    let app = TestApp::spawn(Backend::Memory).await;
    let item = "/api/email/domains/{id}";
    let verify = "/api/email/domains/{id}/verify";
    let body = |v: Value| Some(v);

    let registered = app
        .as_a(
            Method::POST,
            BASE,
            body(json!({ "domain": "spec.example" })),
        )
        .await;
    spec.check(&Method::POST, BASE, &registered);
    let id = id_of(&registered.body);
    let one = format!("{BASE}/{id}");

    let cases: Vec<(Method, &str, String, Option<Value>)> = vec![
        (
            Method::POST,
            BASE,
            BASE.into(),
            body(json!({ "domain": "spec.example" })),
        ),
        (
            Method::POST,
            BASE,
            BASE.into(),
            body(json!({ "domain": "co.uk" })),
        ),
        (
            Method::POST,
            BASE,
            BASE.into(),
            body(json!({ "domain": "x.example", "extra": 1 })),
        ),
        (Method::GET, BASE, BASE.into(), None),
        (Method::GET, BASE, format!("{BASE}?limit=101"), None),
        (Method::GET, item, one.clone(), None),
        (
            Method::GET,
            item,
            format!("{BASE}/dom_01HQ3K5N8X9Y2Z3A4B5C6D7E8F"),
            None,
        ),
        (Method::POST, verify, format!("{one}/verify"), None),
        (
            Method::PATCH,
            item,
            one.clone(),
            body(json!({ "status": "failed" })),
        ),
        (
            Method::PATCH,
            item,
            one.clone(),
            body(json!({ "isDefault": "yes" })),
        ),
    ];
    for (method, template, path, request) in cases {
        let reply = app.as_a(method.clone(), &path, request).await;
        spec.check(&method, template, &reply);
    }

    publish(&app.dns, &registered.body["dnsRecords"]);
    let verified = app.as_a(Method::POST, &format!("{one}/verify"), None).await;
    assert_eq!(verified.status, StatusCode::OK);
    spec.check(&Method::POST, verify, &verified);
    spec.check(&Method::GET, item, &app.get_a(&id).await);
    // A DKIM rotation: started, refused while pending, completed, its old record retired.
    let rotate = "/api/email/domains/{id}/dkim/rotate";
    let rotated = app
        .as_a(Method::POST, &format!("{one}/dkim/rotate"), None)
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    spec.check(&Method::POST, rotate, &rotated);
    let again = app
        .as_a(Method::POST, &format!("{one}/dkim/rotate"), None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    spec.check(&Method::POST, rotate, &again);
    publish(&app.dns, &rotated.body["dnsRecords"]);
    let switched = app.as_a(Method::POST, &format!("{one}/verify"), None).await;
    assert_eq!(switched.body["dkimRotation"]["status"], "complete");
    spec.check(&Method::POST, verify, &switched);
    let retired = app.get_a(&id).await;
    assert!(retired.body.to_string().contains("safeToRemove"));
    spec.check(&Method::GET, item, &retired);
    let patched = app
        .as_a(Method::PATCH, &one, body(json!({ "status": "suspended" })))
        .await;
    spec.check(&Method::PATCH, item, &patched);

    // Claims: opened, refused, unproven, won.
    let claims = "/api/email/domains/claims";
    let claim_verify = "/api/email/domains/claims/{id}/verify";
    let squatted = app
        .as_b(
            Method::POST,
            BASE,
            body(json!({ "domain": "squat.example" })),
        )
        .await;
    assert_eq!(squatted.status, StatusCode::CREATED);
    let opened = app
        .as_a(
            Method::POST,
            claims,
            body(json!({ "domain": "squat.example" })),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    spec.check(&Method::POST, claims, &opened);
    for request in [
        json!({ "domain": "free.example" }),
        json!({ "domain": "com" }),
        json!({ "domain": "x.example", "region": 1 }),
    ] {
        let refused = app.as_a(Method::POST, claims, body(request)).await;
        spec.check(&Method::POST, claims, &refused);
    }
    let claim_path = format!("{claims}/{}/verify", id_of(&opened.body));
    let unproven = app.as_a(Method::POST, &claim_path, None).await;
    assert_eq!(unproven.status, StatusCode::UNPROCESSABLE_ENTITY);
    spec.check(&Method::POST, claim_verify, &unproven);
    let unknown = app
        .as_a(Method::POST, &format!("{claims}/clm_x/verify"), None)
        .await;
    spec.check(&Method::POST, claim_verify, &unknown);
    app.dns.zone("squat.example");
    let challenge = &opened.body["dnsRecords"][0];
    app.dns.add_txt(
        challenge["name"].as_str().unwrap(),
        &[challenge["value"].as_str().unwrap()],
    );
    let won = app.as_a(Method::POST, &claim_path, None).await;
    assert_eq!(won.status, StatusCode::CREATED, "{}", won.body);
    spec.check(&Method::POST, claim_verify, &won);
    let used = app.as_a(Method::POST, &claim_path, None).await;
    spec.check(&Method::POST, claim_verify, &used);

    let unauthorized = app.send(Method::GET, BASE, None, None).await;
    spec.check(&Method::GET, BASE, &unauthorized);
    let too_large = app
        .send(
            Method::POST,
            BASE,
            Some(&app.key_a),
            Some("x".repeat(65 * 1024)),
        )
        .await;
    spec.check(&Method::POST, BASE, &too_large);

    // An organization at its limit.
    app.store
        .set_quota(&crate::harness::org_a(), 0)
        .await
        .unwrap();
    let over = app
        .as_a(
            Method::POST,
            BASE,
            body(json!({ "domain": "over.example" })),
        )
        .await;
    over.assert_error(StatusCode::FORBIDDEN, "QUOTA_EXCEEDED");
    spec.check(&Method::POST, BASE, &over);
    app.store
        .set_quota(
            &crate::harness::org_a(),
            domains::store::DEFAULT_MAX_DOMAINS,
        )
        .await
        .unwrap();

    // With SES and Route 53: the managed-DNS fields, SES's view, the Route 53 errors.
    let managed =
        TestApp::spawn_on(Backend::Memory.fresh_store().await, crate::cloud::cloud()).await;
    let name = testkit::aws::unique_domain("spec");
    let zone = crate::cloud::assigned_zone(&managed, &name, None, "org_a").await;
    let auto = managed
        .as_a(
            Method::POST,
            BASE,
            body(json!({ "domain": name, "autoConfigureDns": true })),
        )
        .await;
    assert_eq!(auto.status, StatusCode::CREATED, "{}", auto.body);
    spec.check(&Method::POST, BASE, &auto);
    publish(&managed.dns, &auto.body["dnsRecords"]);
    let managed_one = format!("{BASE}/{}", id_of(&auto.body));
    spec.check(
        &Method::POST,
        verify,
        &managed
            .as_a(Method::POST, &format!("{managed_one}/verify"), None)
            .await,
    );
    spec.check(
        &Method::GET,
        item,
        &managed.as_a(Method::GET, &managed_one, None).await,
    );
    // Its zone unassigned: the zone named, not managed.
    managed
        .store
        .unassign_zone(&domains::model::ZoneId::parse(&zone).unwrap())
        .await
        .unwrap();
    let unmanaged = managed.as_a(Method::GET, &managed_one, None).await;
    assert_eq!(
        unmanaged.body.get("dnsManagedBy"),
        None,
        "{}",
        unmanaged.body
    );
    assert_eq!(unmanaged.body["hostedZoneId"], zone.as_str());
    spec.check(&Method::GET, item, &unmanaged);
    let no_zone = managed
        .as_a(
            Method::POST,
            BASE,
            body(json!({ "domain": testkit::aws::unique_domain("nozone"), "autoConfigureDns": true })),
        )
        .await;
    assert_eq!(no_zone.status, StatusCode::CONFLICT);
    spec.check(&Method::POST, BASE, &no_zone);

    let deleted = app.as_a(Method::DELETE, &one, None).await;
    spec.check(&Method::DELETE, item, &deleted);
    spec.check(
        &Method::DELETE,
        item,
        &app.as_a(Method::DELETE, &one, None).await,
    );
}

/// The document's regions are the service's: one list, `RECEIVING_REGIONS`.
#[test]
fn the_documented_regions_are_the_receiving_regions() {
    let spec = Spec::load();
    let documented: Vec<&str> = spec.document["components"]["schemas"]["Region"]["enum"]
        .as_array()
        .expect("Region is an enum")
        .iter()
        .map(|v| v.as_str().expect("a region name"))
        .collect();
    assert_eq!(documented, domains::model::RECEIVING_REGIONS);
}
