//! Proven deployable: every AWS call each function really makes is allowed by that
//! function's role in `template.yaml`, and what no function may do is denied.
//!
//! Each function is built exactly as its Lambda builds it at a cold start
//! (`domains::lambda::app_for`, `sweep_app`, `publisher_from_env`, from the environment),
//! against DynamoDB Local and moto (SES, Route 53, KMS, EventBridge) and a DNS hierarchy
//! on loopback; every endpoint, the sweep and `publish-events` are driven through a whole
//! life of domains and claims. The SDK clients' recording interceptor (the
//! `call-recording` feature) keeps each request as it went on the wire, with the function
//! it was made for; `calls.rs` reads what IAM authorizes from it, and a real IAM policy
//! evaluator judges it against the template's policies (`simulator.rs`).
//!
//! A process of its own: it sets the environment the functions read, and records every
//! AWS call the process makes.

mod calls;
mod simulator;

use std::collections::{BTreeSet, HashMap};

use domains::App;
use domains::auth::NewApiKey;
use domains::aws::recording::{self, RecordedCall};
use domains::http::{Handler, handlers};
use domains::model::{DomainName, OrgId, Region, ZoneId};
use domains::store::{
    DomainStore, DynamoStore, Effect, KeyStore, NameStore, Reservation, ZoneStore, schema,
};
use lambda_http::{Body, RequestExt};
use serde_json::{Value, json};
use testkit::aws::{create_zone, put_record};
use testkit::{DeliveredEvents, DnsHierarchy, dynamodb_local, moto};

use calls::{Account, Authorization, authorizations};

struct World {
    /// Kept serving until the judging is done.
    _dns: DnsHierarchy,
    zone: String,
    calls: Vec<RecordedCall>,
}

fn request(
    key: &str,
    method: &str,
    path: &str,
    id: Option<&str>,
    query: &[(&str, &str)],
    body: &str,
) -> lambda_http::Request {
    let mut request = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("/api/email/domains{path}"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    if let Some(id) = id {
        request = request.with_path_parameters(HashMap::from([("id".to_owned(), id.to_owned())]));
    }
    if !query.is_empty() {
        let query: HashMap<String, String> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        request = request.with_query_string_parameters(query);
    }
    request
}

fn json_of(response: &lambda_http::Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Sends one request to `H`'s function, recording what it asks of AWS as that function's.
async fn call<H: Handler>(
    app: &App,
    key: &str,
    id: Option<&str>,
    query: &[(&str, &str)],
    body: &str,
    expect: u16,
) -> Value {
    call_keyed::<H>(app, key, id, query, body, None, expect).await
}

/// [`call`], with an `Idempotency-Key` where one is given.
async fn call_keyed<H: Handler>(
    app: &App,
    key: &str,
    id: Option<&str>,
    query: &[(&str, &str)],
    body: &str,
    idempotency_key: Option<&str>,
    expect: u16,
) -> Value {
    let (method, route) = H::ENDPOINT.route();
    let path = route.replace("{id}", id.unwrap_or(""));
    let mut request = request(key, method, &path, id, query, body);
    if let Some(idempotency_key) = idempotency_key {
        request.headers_mut().insert(
            "idempotency-key",
            lambda_http::http::HeaderValue::from_str(idempotency_key).unwrap(),
        );
    }
    recording::record_as(Some(H::ENDPOINT.function_name()));
    let response = app.handle_as::<H>(request).await;
    recording::record_as(None);
    let body = json_of(&response);
    assert_eq!(
        response.status().as_u16(),
        expect,
        "{} {path}: {body}",
        H::ENDPOINT.function_name()
    );
    body
}

/// Drives every function through the life of domains and claims, recording each call.
async fn drive() -> World {
    // The machine the functions run on: DynamoDB Local for the table, moto for the rest.
    let dynamo = dynamodb_local();
    let client = dynamo.client();
    let table = format!("iam-{}", ulid::Ulid::new().to_string().to_lowercase());
    schema::create_table(&client, &table).await.unwrap();
    let setup = DynamoStore::new(client, table.clone());
    let dns = DnsHierarchy::start().await;
    let delivered = DeliveredEvents::new().await;
    let apex = testkit::aws::unique_domain("iam");
    let zone = create_zone(&apex, None).await;
    dns.zone(&apex);
    // SAFETY of set_var: this test is the process's only one, and sets the environment
    // before any thread of its own reads it.
    unsafe {
        std::env::set_var("DOMAINS_TABLE", &table);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_ENDPOINT_URL", &moto().endpoint);
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", &dynamo.endpoint);
        std::env::set_var("DKIM_KMS_KEY_ID", &moto().kms_key);
        std::env::set_var("DNS_NAMESERVERS", dns.resolver().to_string());
        // The hierarchy's name servers are on loopback, which checks never ask unless allowed.
        std::env::set_var("DNS_ALLOW_NETWORKS", "127.0.0.0/8");
        std::env::set_var("EVENT_BUS_NAME", &delivered.bus);
        // The webhook receiver is on loopback too.
        std::env::set_var("WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8");
    }

    let now = domains::clock::Clock::now(&domains::clock::SystemClock);
    let (org_a, org_b) = (
        OrgId::parse("org_a").unwrap(),
        OrgId::parse("org_b").unwrap(),
    );
    let key_a = NewApiKey::generate(org_a.clone(), now);
    let key_b = NewApiKey::generate(org_b.clone(), now);
    setup.put_api_key(&key_a.record).await.unwrap();
    setup.put_api_key(&key_b.record).await.unwrap();
    setup
        .assign_zone(&ZoneId::parse(&zone).unwrap(), &org_a, now)
        .await
        .unwrap();
    let (a, b) = (key_a.key.as_str(), key_b.key.as_str());

    // Each function's cold start, from the environment.
    let app = async |f: &str| -> App {
        match f {
            "list-domains" => domains::lambda::app_for::<handlers::List>().await,
            "register-domain" => domains::lambda::app_for::<handlers::Register>().await,
            "get-domain" => domains::lambda::app_for::<handlers::Get>().await,
            "get-zonefile" => domains::lambda::app_for::<handlers::ZoneFile>().await,
            "update-domain" => domains::lambda::app_for::<handlers::Update>().await,
            "verify-domain" => domains::lambda::app_for::<handlers::Verify>().await,
            "rotate-dkim" => domains::lambda::app_for::<handlers::RotateDkim>().await,
            "delete-domain" => domains::lambda::app_for::<handlers::Delete>().await,
            "open-claim" => domains::lambda::app_for::<handlers::OpenClaim>().await,
            "verify-claim" => domains::lambda::app_for::<handlers::VerifyClaim>().await,
            "list-webhooks" => domains::lambda::app_for::<handlers::ListWebhooks>().await,
            "create-webhook" => domains::lambda::app_for::<handlers::CreateWebhook>().await,
            "get-webhook" => domains::lambda::app_for::<handlers::GetWebhook>().await,
            "update-webhook" => domains::lambda::app_for::<handlers::UpdateWebhook>().await,
            "delete-webhook" => domains::lambda::app_for::<handlers::DeleteWebhook>().await,
            "rotate-webhook-secret" => {
                domains::lambda::app_for::<handlers::RotateWebhookSecret>().await
            }
            "test-webhook" => domains::lambda::app_for::<handlers::TestWebhook>().await,
            "list-webhook-deliveries" => {
                domains::lambda::app_for::<handlers::ListWebhookDeliveries>().await
            }
            "sweep-domains" => domains::lambda::sweep_app().await,
            other => panic!("no function {other}"),
        }
        .unwrap_or_else(|e| panic!("{f} does not start: {e}"))
    };
    let register = app("register-domain").await;
    let list = app("list-domains").await;
    let get = app("get-domain").await;
    let zonefile = app("get-zonefile").await;
    let update = app("update-domain").await;
    let verify = app("verify-domain").await;
    let rotate = app("rotate-dkim").await;
    let delete = app("delete-domain").await;
    let open_claim = app("open-claim").await;
    let verify_claim = app("verify-claim").await;
    let sweep = app("sweep-domains").await;

    // Registration: into the assigned zone, by hand, refused (and undone), another org's.
    let auto = format!("auto.{apex}");
    let body = json!({"domain": auto, "autoConfigureDns": true}).to_string();
    let auto = call::<handlers::Register>(&register, a, None, &[], &body, 201).await;
    let auto_id = auto["id"].as_str().unwrap().to_owned();
    let body = json!({"domain": format!("plain.{apex}"), "region": "eu-west-1"}).to_string();
    let once = Some("iam-register");
    let plain = call_keyed::<handlers::Register>(&register, a, None, &[], &body, once, 201).await;
    // Retried with its Idempotency-Key: the kept answer.
    call_keyed::<handlers::Register>(&register, a, None, &[], &body, once, 201).await;
    let plain_id = plain["id"].as_str().unwrap().to_owned();
    let refused = format!("refused.{apex}");
    put_record(
        &zone,
        &format!("_dmarc.{refused}"),
        aws_sdk_route53::types::RrType::Txt,
        "\"v=DMARC1; p=none\"",
    )
    .await;
    let body = json!({"domain": refused, "autoConfigureDns": true}).to_string();
    call::<handlers::Register>(&register, a, None, &[], &body, 409).await;
    let held = format!("held.{apex}");
    let body = json!({"domain": held}).to_string();
    call::<handlers::Register>(&register, b, None, &[], &body, 201).await;

    // Reading: lists by offset, status and cursor; one domain; its zone file.
    call::<handlers::List>(&list, a, None, &[], "", 200).await;
    call::<handlers::List>(&list, a, None, &[("status", "pending")], "", 200).await;
    let page = call::<handlers::List>(&list, a, None, &[("limit", "1")], "", 200).await;
    let cursor = page["nextCursor"].as_str().expect("a next page").to_owned();
    call::<handlers::List>(
        &list,
        a,
        None,
        &[("limit", "1"), ("cursor", &cursor)],
        "",
        200,
    )
    .await;
    let id = Some(plain_id.as_str());
    call::<handlers::Get>(&get, a, id, &[], "", 200).await;
    call::<handlers::ZoneFile>(&zonefile, a, id, &[], "", 200).await;

    // Changes on request: the default, a suspension, back to pending.
    call::<handlers::Update>(&update, a, id, &[], r#"{"isDefault":true}"#, 200).await;
    call::<handlers::Update>(&update, a, id, &[], r#"{"status":"suspended"}"#, 200).await;
    call::<handlers::Update>(&update, a, id, &[], r#"{"status":"active"}"#, 200).await;

    // Verification: too early, then published.
    call::<handlers::Verify>(&verify, a, id, &[], "", 422).await;
    testkit::publish(&dns, &plain["dnsRecords"]);
    let verified = call::<handlers::Verify>(&verify, a, id, &[], "", 200).await;
    assert_eq!(verified["status"], "active");

    // A DKIM rotation in the managed zone, completed by a verify once published.
    let auto_ref = Some(auto_id.as_str());
    testkit::publish(&dns, &auto["dnsRecords"]);
    call::<handlers::Verify>(&verify, a, auto_ref, &[], "", 200).await;
    let rotated =
        call_keyed::<handlers::RotateDkim>(&rotate, a, auto_ref, &[], "", Some("iam-rotate"), 202)
            .await;
    testkit::publish(&dns, &rotated["dnsRecords"]);
    let completed = call::<handlers::Verify>(&verify, a, auto_ref, &[], "", 200).await;
    assert_eq!(
        completed["dkimRotation"]["status"], "complete",
        "{completed}"
    );

    // A claim of the name org_b holds unverified.
    let body = json!({"domain": held}).to_string();
    let claim_key = Some("iam-claim");
    let claim =
        call_keyed::<handlers::OpenClaim>(&open_claim, a, None, &[], &body, claim_key, 201).await;
    testkit::publish(&dns, &claim["dnsRecords"]);
    let claim_id = claim["id"].as_str().unwrap();
    let claimed = Some(claim_id);
    call_keyed::<handlers::VerifyClaim>(&verify_claim, a, claimed, &[], "", Some("iam-take"), 201)
        .await;

    // The sweep: a domain whose check is due, and a registration that died.
    let due = testkit::pending_domain(
        "org_a",
        &format!("due.{apex}"),
        now.plus(time::Duration::minutes(-10)),
    );
    setup
        .insert_domain(&due, domains::store::DefaultChoice::Never)
        .await
        .unwrap();
    dns.publish_required(&due);
    let dead_id = domains::model::DomainId::generate();
    let dead = Reservation {
        name: DomainName::parse(&format!("dead.{apex}")).unwrap(),
        org: org_a.clone(),
        domain_id: dead_id.clone(),
        until: now.plus(time::Duration::seconds(-1)),
        leftovers: Vec::new(),
        effects: vec![Effect::Identity {
            region: Region::DEFAULT,
            domain_id: dead_id,
        }],
    };
    setup.reserve_name(&dead).await.unwrap();
    recording::record_as(Some("sweep-domains"));
    let summary =
        domains::workflows::sweep::sweep(&sweep, None, &domains::config::sweep_options_from_env())
            .await;
    recording::record_as(None);
    assert_eq!(
        (summary.activated, summary.reclaimed, summary.errors),
        (1, 1, 0),
        "{summary:?}"
    );

    // Deletion, with its identity and the records written into the zone.
    call::<handlers::Delete>(&delete, a, auto_ref, &[], "", 200).await;

    // publish-events: the outbox as the table's stream hands it over.
    let (store, sink) = domains::lambda::publisher_from_env().await.unwrap();
    let batch = outbox_batch(&setup).await;
    assert!(
        batch.records.len() >= 10,
        "{} outbox items",
        batch.records.len()
    );
    recording::record_as(Some("publish-events"));
    let response = domains::outbox::publish_batch(
        &store,
        &sink,
        &batch,
        domains::clock::Clock::now(&domains::clock::SystemClock),
    )
    .await;
    recording::record_as(None);
    assert!(response.batch_item_failures.is_empty());

    // Webhooks: an endpoint on loopback that fails its test and the first delivery, then
    // takes everything; its life through every webhook function.
    let receiver = testkit::StatusReceiver::start(&[500, 500, 200]).await;
    let create_hook = app("create-webhook").await;
    let body = json!({ "url": receiver.url }).to_string();
    let once = Some("iam-hook");
    let hook =
        call_keyed::<handlers::CreateWebhook>(&create_hook, a, None, &[], &body, once, 201).await;
    call_keyed::<handlers::CreateWebhook>(&create_hook, a, None, &[], &body, once, 201).await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let hooked = Some(hook_id.as_str());
    // Tested, and the test's kept answer replayed (nothing sent again).
    let test_hook = app("test-webhook").await;
    for _ in 0..2 {
        let tested = call_keyed::<handlers::TestWebhook>(
            &test_hook,
            a,
            hooked,
            &[],
            "",
            Some("iam-test"),
            200,
        )
        .await;
        assert_eq!(tested["outcome"], "failed", "{tested}");
    }
    call::<handlers::ListWebhooks>(&app("list-webhooks").await, a, None, &[], "", 200).await;
    call::<handlers::GetWebhook>(&app("get-webhook").await, a, hooked, &[], "", 200).await;
    let update_hook = app("update-webhook").await;
    let body = r#"{"description":"every event","url":"URL"}"#.replace("URL", &receiver.url);
    call::<handlers::UpdateWebhook>(&update_hook, a, hooked, &[], &body, 200).await;
    // Rotated, and the rotation's kept answer (sealed: it holds the secret) replayed.
    let rotate_hook = app("rotate-webhook-secret").await;
    for _ in 0..2 {
        call_keyed::<handlers::RotateWebhookSecret>(
            &rotate_hook,
            a,
            hooked,
            &[],
            "",
            Some("iam-rotate-hook"),
            200,
        )
        .await;
    }

    // deliver-webhooks: the bus's events as its queue hands them over (one fails, and is
    // retried in the same invocation), then a schedule's tick.
    let events = delivered
        .received(batch.records.len(), std::time::Duration::from_secs(20))
        .await;
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, event)| json!({ "messageId": n.to_string(), "body": event.to_string() }))
        .collect();
    let (store, deliverer) = domains::lambda::webhook_deliverer_from_env().await.unwrap();
    let clock = domains::clock::SystemClock;
    let batch = serde_json::from_value(json!({ "Records": records })).unwrap();
    let tick =
        serde_json::from_value(json!({ "id": "tick", "detail-type": "Scheduled Event" })).unwrap();
    recording::record_as(Some("deliver-webhooks"));
    let answer =
        domains::outbox::webhooks::handle_invocation(&deliverer, &store, &clock, batch, None)
            .await
            .unwrap();
    recording::record_as(None);
    // A retry an earlier run left, due now: the tick's to make.
    let mut left = domains::model::webhook::WebhookEvent::from_bus(&events[0].to_string())
        .expect("a lifecycle event");
    left.id = "evt_left_by_an_earlier_run".to_owned();
    left.org_id = org_a.clone();
    let left = domains::model::webhook::PendingDelivery {
        webhook_id: domains::model::WebhookId::parse(&hook_id).unwrap(),
        event: left,
        attempt: 3,
        due_at: domains::clock::Clock::now(&clock),
    };
    domains::store::WebhookStore::schedule_delivery(&setup, &left)
        .await
        .unwrap();
    recording::record_as(Some("deliver-webhooks"));
    let ticked =
        domains::outbox::webhooks::handle_invocation(&deliverer, &store, &clock, tick, None)
            .await
            .unwrap();
    recording::record_as(None);
    assert_eq!(ticked["attempts"], 1, "{ticked}");
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let wanted = events
        .iter()
        .filter(|e| e["detail"]["orgId"] == "org_a")
        .count();
    assert!(wanted >= 5, "{wanted} of org_a's events");
    assert_eq!(
        receiver.hits(),
        1 + wanted + 2,
        "the test, each event once, the failed one's retry, the tick's"
    );
    let deliveries = call::<handlers::ListWebhookDeliveries>(
        &app("list-webhook-deliveries").await,
        a,
        hooked,
        &[],
        "",
        200,
    )
    .await;
    assert_eq!(
        deliveries["deliveries"].as_array().map(Vec::len),
        Some(wanted + 3),
        "{deliveries}"
    );
    call::<handlers::DeleteWebhook>(&app("delete-webhook").await, a, hooked, &[], "", 200).await;

    World {
        _dns: dns,
        zone,
        calls: recording::take(),
    }
}

/// Every outbox item of the table, as `publish-events` receives them from the stream.
async fn outbox_batch(store: &DynamoStore) -> aws_lambda_events::event::dynamodb::Event {
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let records: Vec<Value> = items
        .items()
        .iter()
        .filter(|item| {
            item.get("PK")
                .and_then(|pk| pk.as_s().ok())
                .is_some_and(|pk| pk.starts_with(schema::EVENTS_PK_PREFIX))
        })
        .enumerate()
        .map(|(n, item)| {
            let image: serde_json::Map<String, Value> = item
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), json!({"S": value.as_s().ok()?}))))
                .collect();
            json!({
                "eventID": n.to_string(),
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"PK": image["PK"], "SK": image["SK"]},
                    "NewImage": image,
                    "SequenceNumber": format!("{:020}", n),
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_IMAGE"
                }
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a stream event")
}

fn account(partition: &'static str) -> Account {
    Account {
        partition,
        id: "123456789012",
        region: "us-east-1",
        table: "domains-table",
        local_table: std::env::var("DOMAINS_TABLE").unwrap(),
        key: "dkim-sealing-key",
        local_key: moto().kms_key.clone(),
    }
}

/// The decisions that are not `expected`, one line each.
fn against(policies: &Value, requests: &[Authorization], expected: &str) -> Vec<String> {
    simulator::decide(policies, requests)
        .into_iter()
        .zip(requests)
        .filter(|(decision, _)| decision["decision"] != expected)
        .map(|(decision, request)| {
            format!(
                "{}: {} on {} with {} -> {}{}",
                request.function,
                request.action,
                request.resource,
                Value::Object(request.context.clone()),
                decision["decision"],
                decision
                    .get("errors")
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_function_may_make_exactly_the_calls_it_makes() {
    let world = drive().await;
    let functions: BTreeSet<&str> = world.calls.iter().map(|c| c.function.as_str()).collect();

    for partition in ["aws", "aws-cn"] {
        let account = account(partition);
        // Each distinct request once.
        let requests: Vec<Authorization> = world
            .calls
            .iter()
            .flat_map(|call| authorizations(call, &account))
            .map(|r| (serde_json::to_string(&r).unwrap(), r))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect();
        if partition == "aws" {
            print_calls(&requests);
        }
        let default = simulator::policies(&account, json!({ "EventBusName": delivered_bus() }));
        let template_functions: BTreeSet<&str> = default
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "kmsKeyPolicy")
            .collect();
        assert_eq!(
            functions, template_functions,
            "every function of the template is driven"
        );
        let refused = against(&default, &requests, "Allowed");
        assert!(
            refused.is_empty(),
            "calls the template's roles do not allow ({partition}):\n{}",
            refused.join("\n")
        );

        // Bounded to the listed zones, the same calls pass, and no other zone is touched.
        let listed = simulator::policies(
            &account,
            json!({ "EventBusName": delivered_bus(), "ManagedZoneIds": world.zone }),
        );
        let refused = against(&listed, &requests, "Allowed");
        assert!(
            refused.is_empty(),
            "with ManagedZoneIds set:\n{}",
            refused.join("\n")
        );
        let elsewhere: Vec<Authorization> = requests
            .iter()
            .filter(|r| r.resource.contains(":hostedzone/"))
            .map(|r| Authorization {
                resource: r.resource.replace(&world.zone, "ZOTHERZONE00000"),
                ..r.clone()
            })
            .collect();
        assert!(!elsewhere.is_empty(), "the zone was written into");
        let allowed = against(&listed, &elsewhere, "ImplicitlyDenied");
        assert!(
            allowed.is_empty(),
            "zones outside ManagedZoneIds:\n{}",
            allowed.join("\n")
        );

        // What no function may do.
        let forbidden = forbidden(&account, &template_functions);
        let allowed = against(&default, &forbidden, "ImplicitlyDenied");
        assert!(
            allowed.is_empty(),
            "calls that must be denied are allowed ({partition}):\n{}",
            allowed.join("\n")
        );
    }
}

fn delivered_bus() -> String {
    std::env::var("EVENT_BUS_NAME").unwrap()
}

/// Requests no function's role may allow.
fn forbidden(account: &Account, functions: &BTreeSet<&str>) -> Vec<Authorization> {
    let mut requests = Vec::new();
    for &f in functions {
        // Only the creating functions keep Idempotency-Key records.
        let idempotent = matches!(
            f,
            "register-domain"
                | "rotate-dkim"
                | "open-claim"
                | "verify-claim"
                | "create-webhook"
                | "rotate-webhook-secret"
                | "test-webhook"
        );
        let others: &[&str] = if idempotent { &[] } else { &["IDEM#x"] };
        for prefix in ["KEY#x", "KEYID#x", "ZONE#x", "CONFIG#other"]
            .iter()
            .chain(others)
        {
            for action in ["PutItem", "UpdateItem", "DeleteItem"] {
                requests.push(Authorization::table(
                    f,
                    account,
                    &format!("dynamodb:{action}"),
                    vec![(*prefix).to_owned()],
                ));
            }
        }
        // The webhook functions read nothing of domains, claims or organizations.
        if f.contains("webhook") {
            for prefix in ["ORG#x", "NAME#x", "CONFIG#cursor-key"] {
                requests.push(Authorization::table(
                    f,
                    account,
                    "dynamodb:GetItem",
                    vec![prefix.to_owned()],
                ));
            }
        }
        requests.push(Authorization::new(
            f,
            account,
            "dynamodb:Scan",
            format!(
                "arn:{}:dynamodb:{}:{}:table/{}",
                account.partition, account.region, account.id, account.table
            ),
        ));
        for action in ["kms:Decrypt", "kms:GenerateDataKey"] {
            // No encryption context, half of it, or more than the sealing context.
            // Webhook functions never DKIM's context; the others never a webhook's; only
            // the functions whose answers hold a secret that of a kept answer.
            let other_kind: &[&str] = if f.contains("webhook") {
                &["domainId", "selector"]
            } else {
                &["webhookId"]
            };
            let kept_answer: &[&str] = if matches!(f, "create-webhook" | "rotate-webhook-secret") {
                &["orgId", "idempotencyKey", "webhookId"]
            } else {
                &["orgId", "idempotencyKey"]
            };
            for keys in [
                &[][..],
                &["domainId"],
                &["selector"],
                &["domainId", "selector", "other"],
                &["webhookId", "other"],
                &["webhookId", "domainId"],
                &["orgId"],
                &["idempotencyKey"],
                other_kind,
                kept_answer,
            ] {
                requests.push(Authorization::key(f, account, action, keys));
            }
        }
    }
    requests
}

/// What each function was seen to do, one line per action with the key prefixes it
/// touched (`--nocapture` shows it).
fn print_calls(requests: &[Authorization]) {
    let mut seen: std::collections::BTreeMap<(&str, &str), BTreeSet<String>> = Default::default();
    for request in requests {
        let prefixes = request
            .context
            .get("dynamodb:LeadingKeys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(|k| k.split_inclusive('#').next().unwrap_or(k).to_owned() + "*")
                    .collect::<Vec<_>>()
            })
            .unwrap_or_else(|| vec![request.resource.rsplit(':').next().unwrap_or("").to_owned()]);
        seen.entry((&request.function, &request.action))
            .or_default()
            .extend(prefixes);
    }
    for ((function, action), on) in seen {
        let on: Vec<String> = on.into_iter().collect();
        println!("{function:16} {action:45} {}", on.join(" "));
    }
}

/// The permissions table of `docs/operations.md`, as the template grants them.
fn permissions_table(policies: &Value) -> String {
    let mut rows = vec!["| function | allowed |".to_owned(), "|---|---|".to_owned()];
    for (function, statements) in policies.as_object().unwrap() {
        if function == "kmsKeyPolicy" {
            continue;
        }
        let grants: Vec<String> = statements
            .as_array()
            .unwrap()
            .iter()
            .map(describe_statement)
            .collect();
        rows.push(format!("| {function} | {} |", grants.join("<br>")));
    }
    rows.join("\n")
}

fn list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(list).collect(),
        Value::String(text) => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// One statement in a line: its actions, what they act on, and under which conditions.
fn describe_statement(statement: &Value) -> String {
    let actions = list(&statement["Action"]).join(", ");
    let on: BTreeSet<String> = list(&statement["Resource"])
        .iter()
        .map(|resource| {
            let tail = resource.rsplit(':').next().unwrap_or(resource);
            match tail {
                "*" => "any resource".to_owned(),
                _ if tail.starts_with("table/") && tail.contains("/index/") => {
                    format!("index {}", tail.rsplit('/').next().unwrap())
                }
                _ if tail.starts_with("table/") => "the table".to_owned(),
                _ if tail.starts_with("key/") => "the sealing key".to_owned(),
                _ if tail.starts_with("identity/") => "SES identities".to_owned(),
                _ if tail.starts_with("hostedzone/") => "hosted zones".to_owned(),
                _ if tail.starts_with("change/") => "Route 53 changes".to_owned(),
                _ if tail.starts_with("event-bus/") => "the event bus".to_owned(),
                _ => "the dead-letter queue".to_owned(),
            }
        })
        .collect();
    let mut conditions = Vec::new();
    if let Some(blocks) = statement["Condition"].as_object() {
        for (operator, keys) in blocks {
            for (key, values) in keys.as_object().unwrap() {
                conditions.push(format!("{operator} {key} {}", list(values).join(" ")));
            }
        }
    }
    let on = on.into_iter().collect::<Vec<_>>().join(", ");
    match conditions.is_empty() {
        true => format!("`{actions}` on {on}"),
        false => format!("`{actions}` on {on} if {}", conditions.join("; ")),
    }
}

#[test]
fn the_permissions_table_is_the_templates() {
    let account = Account {
        partition: "aws",
        id: "123456789012",
        region: "us-east-1",
        table: "domains-table",
        local_table: String::new(),
        key: "dkim-sealing-key",
        local_key: String::new(),
    };
    let expected = permissions_table(&simulator::policies(&account, json!({})));
    let path = devservers::root().join("docs/operations.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = (
        "<!-- permissions table: generated -->\n",
        "<!-- end of the table -->",
    );
    let start = doc.find(begin).expect("the table's opening marker") + begin.len();
    let stop = doc[start..].find(end).expect("the table's closing marker") + start;
    assert!(
        doc[start..stop].trim_end() == expected,
        "docs/operations.md's permissions table is not the template's; it should read:\n{expected}"
    );
}
