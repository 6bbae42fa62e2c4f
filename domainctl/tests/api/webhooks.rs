//! Webhook endpoints over HTTP, with deliveries made by the local server's own in-process
//! path (its publisher's fan-out, and its schedule of retries) to receivers on loopback.
//! Every delivery is verified with the Standard Webhooks reference library
//! (`standardwebhooks`, PyPI, run by `tests/webhooks/verify.py`), never with the service's
//! own signing code.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use domains::aws::{Cloud, EventSink};
use domains::clock::{Clock, SystemClock};
use domains::model::event::LifecycleEvent;
use domains::outbox::publish_forever;
use domains::outbox::webhooks::{FanOut, Outbound, deliver_due_forever};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Backend, for_each_backend};
use tokio::net::TcpListener;

use crate::harness::{BASE, TestApp, id_of};
use crate::limits::assert_limited;
use crate::tls::{Identity, TestCa, TlsListener};

const HOOKS: &str = "/api/email/webhooks";

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    headers: Vec<(String, String)>,
    body: String,
}

impl Captured {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// What a receiver answers: a status, or a redirect to a location.
#[derive(Debug, Clone)]
enum Answer {
    Status(u16),
    Redirect(&'static str),
}

#[derive(Default)]
struct ReceiverState {
    got: Mutex<Vec<Captured>>,
    /// Answers for the next requests, in order; 200 once they run out.
    script: Mutex<VecDeque<Answer>>,
    /// TLS handshakes that did not complete (an HTTPS receiver's only).
    refused_handshakes: Arc<AtomicUsize>,
}

/// An HTTP or HTTPS receiver on a loopback address: it keeps every request and answers as
/// scripted.
pub(crate) struct Receiver {
    pub(crate) url: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    state.got.lock().unwrap().push(Captured {
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body,
    });
    match state.script.lock().unwrap().pop_front() {
        None => StatusCode::OK.into_response(),
        Some(Answer::Status(code)) => StatusCode::from_u16(code).unwrap().into_response(),
        Some(Answer::Redirect(location)) => {
            (StatusCode::FOUND, [("location", location)]).into_response()
        }
    }
}

impl Receiver {
    /// Plain `http` on `ip`.
    pub(crate) async fn start(ip: &str) -> Self {
        let (listener, state, router) = Self::parts(ip).await;
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    /// `https` on `ip`, presenting `identity`.
    pub(crate) async fn start_tls(ip: &str, identity: Identity) -> Self {
        let (listener, state, router) = Self::parts(ip).await;
        let url = format!("https://{}/hooks", listener.local_addr().unwrap());
        let listener = TlsListener::new(listener, identity, state.refused_handshakes.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    async fn parts(ip: &str) -> (TcpListener, Arc<ReceiverState>, axum::Router) {
        let state = Arc::new(ReceiverState::default());
        let listener = TcpListener::bind(SocketAddr::new(ip.parse::<IpAddr>().unwrap(), 0))
            .await
            .expect("bind the receiver");
        let router = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(state.clone());
        (listener, state, router)
    }

    fn refused_handshakes(&self) -> usize {
        self.state.refused_handshakes.load(Ordering::SeqCst)
    }

    fn answer(&self, answers: &[Answer]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(answers.iter().cloned());
    }

    pub(crate) fn got(&self) -> Vec<Captured> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits until `count` requests arrived (at most `within`), and returns them all.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.got();
            if got.len() >= count || tokio::time::Instant::now() > deadline {
                assert!(
                    got.len() >= count,
                    "expected {count} deliveries, got {}: {got:#?}",
                    got.len()
                );
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What the reference library says of each delivery under `secret`: its payload, or why
/// it refused it.
fn verify(secret: &str, deliveries: &[Captured]) -> Vec<Result<Value, String>> {
    let python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/webhooks-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-tools",
        python.display()
    );
    let cases: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            let headers: serde_json::Map<String, Value> = d
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), Value::from(v.clone())))
                .collect();
            json!({ "secret": secret, "headers": headers, "body": d.body })
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/verify.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the verifier");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the verifier failed");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .into_iter()
        .map(|r| {
            if r["ok"] == true {
                Ok(r["payload"].clone())
            } else {
                Err(r["error"].as_str().unwrap_or_default().to_owned())
            }
        })
        .collect()
}

/// Asserts the library accepts every delivery under `secret`; their payloads.
#[track_caller]
pub(crate) fn verified(secret: &str, deliveries: &[Captured]) -> Vec<Value> {
    verify(secret, deliveries)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("delivery {i} does not verify: {e}")))
        .collect()
}

/// Lifecycle events go nowhere else: the webhooks are what is under test.
struct Discard;

#[async_trait::async_trait]
impl EventSink for Discard {
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>> {
        vec![Ok(()); events.len()]
    }
}

/// The local server over a fresh store, delivering webhooks in process as `serve` does,
/// endpoints allowed in `allow` only.
pub(crate) async fn server(backend: Backend, allow: &str) -> TestApp {
    server_trusting(backend, allow, Vec::new()).await
}

/// [`server`], its deliveries also trusting the certificates `roots` issued.
async fn server_trusting(
    backend: Backend,
    allow: &str,
    roots: Vec<reqwest::Certificate>,
) -> TestApp {
    let (store, feed) = crate::harness::store_with_feed(backend).await;
    let deliverer = domains::config::deliverer(None, store.as_ref(), Some(allow))
        .await
        .unwrap();
    let policy = deliverer.outbound().policy().clone();
    let deliverer = deliverer.with_outbound(Outbound::with_roots(policy, roots).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sink = FanOut {
        inner: Arc::new(Discard),
        deliverer: deliverer.clone(),
        store: store.clone(),
        clock: clock.clone(),
    };
    let publisher = store.clone();
    tokio::spawn(
        async move { publish_forever(publisher.as_ref(), &SystemClock, feed, &sink).await },
    );
    tokio::spawn(deliver_due_forever(deliverer.clone(), store.clone(), clock));
    TestApp::spawn_with(store, Cloud::default(), move |app| {
        app.with_deliverer(deliverer)
    })
    .await
}

async fn create(app: &TestApp, body: Value) -> Value {
    let reply = app.as_a(Method::POST, HOOKS, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn secret_of(body: &Value) -> String {
    body["secret"].as_str().expect("a secret").to_owned()
}

async fn deliveries_are_signed_filtered_retried_and_logged(backend: Backend) {
    let app = server(backend, "127.0.0.0/8").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let created = create(
        &app,
        json!({
            "url": receiver.url,
            "events": ["domain.created", "domain.deleted"],
            "description": "ops"
        }),
    )
    .await;
    let hook = id_of(&created);
    assert!(hook.starts_with("whk_"), "{created}");
    assert_eq!(created["status"], "enabled");
    assert_eq!(
        created["events"],
        json!(["domain.created", "domain.deleted"])
    );
    let secret = secret_of(&created);
    assert!(secret.starts_with("whsec_"));
    // The secret is shown at creation only.
    let got = app.get_a_path(&format!("{HOOKS}/{hook}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.get("secret").is_none(), "{}", got.body);

    // A test event, answered with the attempt.
    let tested = app
        .as_a(Method::POST, &format!("{HOOKS}/{hook}/test"), None)
        .await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.body);
    assert_eq!(tested.body["outcome"], "delivered", "{}", tested.body);
    assert_eq!(tested.body["responseStatus"], 200);
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    let payloads = verified(&secret, &got);
    assert_eq!(payloads[0]["type"], "webhook.test");

    // A registration: wanted. A suspension: filtered out.
    let domain = app.register("hooked.example").await;
    let domain_id = id_of(&domain);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let payload = &verified(&secret, &got[1..])[0];
    assert_eq!(payload["type"], "domain.created");
    assert_eq!(payload["data"]["domainId"], domain_id.as_str());
    assert_eq!(payload["data"]["domain"], "hooked.example");
    assert_eq!(
        got[1].header("webhook-id"),
        payload["data"]["eventId"].as_str().unwrap()
    );
    let reply = app
        .as_a(
            Method::PATCH,
            &format!("{BASE}/{domain_id}"),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    // The delete's first attempt answers 500: retried 5 s later with the same id.
    receiver.answer(&[Answer::Status(500)]);
    let reply = app
        .as_a(Method::DELETE, &format!("{BASE}/{domain_id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let got = receiver.wait_for(4, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 4, "the suspension was not sent: {got:#?}");
    let payloads = verified(&secret, &got[2..]);
    assert!(payloads.iter().all(|p| p["type"] == "domain.deleted"));
    assert_eq!(got[2].header("webhook-id"), got[3].header("webhook-id"));
    assert_ne!(got[2].header("webhook-timestamp"), "");

    // The log: newest first, the failure with its status and when it was retried.
    let log = app
        .as_a(Method::GET, &format!("{HOOKS}/{hook}/deliveries"), None)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let entries = log.body["deliveries"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{}", log.body);
    assert_eq!(entries[0]["outcome"], "delivered");
    assert_eq!(entries[0]["attempt"], 2);
    assert_eq!(entries[1]["outcome"], "failed");
    assert_eq!(entries[1]["responseStatus"], 500);
    assert_eq!(entries[1]["attempt"], 1);
    assert!(entries[1]["nextAttemptAt"].is_string(), "{}", log.body);
    assert_eq!(entries[1]["eventId"], entries[0]["eventId"]);
    assert_eq!(entries[3]["type"], "webhook.test");

    // A rotation: both secrets sign for now, each verifies.
    let rotated = app
        .as_a(Method::POST, &format!("{HOOKS}/{hook}/secret/rotate"), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = secret_of(&rotated.body);
    assert_ne!(new_secret, secret);
    app.as_a(Method::POST, &format!("{HOOKS}/{hook}/test"), None)
        .await;
    let got = receiver.wait_for(5, Duration::from_secs(5)).await;
    assert_eq!(got[4].header("webhook-signature").split(' ').count(), 2);
    verified(&new_secret, &got[4..]);
    verified(&secret, &got[4..]);
    // A secret never issued does not verify.
    let stranger = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(verify(stranger, &got[4..])[0].is_err());

    // Disabled: nothing is sent. Enabled again: events flow.
    let reply = app
        .as_a(
            Method::PATCH,
            &format!("{HOOKS}/{hook}"),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(reply.body["status"], "disabled", "{}", reply.body);
    app.register("quiet.example").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.got().len(), 5, "a disabled endpoint gets nothing");
    let reply = app
        .as_a(
            Method::PATCH,
            &format!("{HOOKS}/{hook}"),
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(reply.body["status"], "enabled");
    app.register("loud.example").await;
    let got = receiver.wait_for(6, Duration::from_secs(10)).await;
    let payload = &verified(&new_secret, &got[5..])[0];
    assert_eq!(payload["data"]["domain"], "loud.example");

    // Listed, then deleted.
    let list = app.as_a(Method::GET, HOOKS, None).await;
    assert_eq!(list.body["total"], 1, "{}", list.body);
    let deleted = app
        .as_a(Method::DELETE, &format!("{HOOKS}/{hook}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = app.get_a_path(&format!("{HOOKS}/{hook}")).await;
    gone.assert_error(StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND");
}

async fn at_most_ten_endpoints_and_pages(backend: Backend) {
    let app = server(backend, "127.0.0.0/8").await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let body = create(&app, json!({"url": format!("https://203.0.114.{n}/hooks")})).await;
        ids.push(id_of(&body));
    }
    let refused = app
        .as_a(
            Method::POST,
            HOOKS,
            Some(json!({"url": "https://203.0.114.99/hooks"})),
        )
        .await;
    refused.assert_error(StatusCode::FORBIDDEN, "WEBHOOK_LIMIT_REACHED");
    let first = app
        .as_a(Method::GET, &format!("{HOOKS}?limit=4"), None)
        .await;
    assert_eq!(first.body["webhooks"].as_array().unwrap().len(), 4);
    let mut seen: Vec<String> = Vec::new();
    let mut page = first;
    loop {
        seen.extend(page.body["webhooks"].as_array().unwrap().iter().map(id_of));
        let Some(cursor) = page.body["nextCursor"].as_str() else {
            break;
        };
        page = app
            .as_a(
                Method::GET,
                &format!("{HOOKS}?limit=4&cursor={cursor}"),
                None,
            )
            .await;
    }
    assert_eq!(seen, ids, "every endpoint once, oldest first");
    // One freed, one more fits.
    app.as_a(Method::DELETE, &format!("{HOOKS}/{}", ids[0]), None)
        .await;
    create(&app, json!({"url": "https://203.0.114.99/hooks"})).await;
}

/// An `https` endpoint whose certificate (for its IP address) a CA the service trusts
/// issued: a lifecycle event and a test event arrive over TLS, signed.
async fn deliveries_reach_an_https_endpoint(backend: Backend) {
    let ca = TestCa::new("webhook tests CA");
    let app = server_trusting(backend, "127.0.0.0/8", vec![ca.root()]).await;
    let receiver = Receiver::start_tls("127.0.0.1", ca.issue(&["127.0.0.1", "localhost"])).await;
    assert!(
        receiver.url.starts_with("https://127.0.0.1:"),
        "{}",
        receiver.url
    );
    let created = create(
        &app,
        json!({ "url": receiver.url, "events": ["domain.created"] }),
    )
    .await;
    let (hook, secret) = (id_of(&created), secret_of(&created));

    let domain = app.register("tls.example").await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let payload = &verified(&secret, &got)[0];
    assert_eq!(payload["type"], "domain.created");
    assert_eq!(payload["data"]["domainId"], id_of(&domain).as_str());

    let tested = app
        .as_a(Method::POST, &format!("{HOOKS}/{hook}/test"), None)
        .await;
    assert_eq!(tested.body["outcome"], "delivered", "{}", tested.body);
    assert_eq!(tested.body["responseStatus"], 200);
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(verified(&secret, &got[1..])[0]["type"], "webhook.test");
    assert_eq!(receiver.refused_handshakes(), 0);
}

/// An endpoint whose certificate the service cannot trust gets nothing: a CA it does not
/// know, or a certificate for another name. The attempt is `unreachable`, says the TLS
/// handshake failed on the certificate, and is retried.
async fn an_untrusted_certificate_gets_nothing_and_is_retried(backend: Backend) {
    let trusted = TestCa::new("webhook tests CA");
    let stranger = TestCa::new("nobody's CA");
    let app = server_trusting(backend, "127.0.0.0/8", vec![trusted.root()]).await;
    let receiver =
        Receiver::start_tls("127.0.0.1", stranger.issue(&["127.0.0.1", "localhost"])).await;
    let created = create(
        &app,
        json!({ "url": receiver.url, "events": ["domain.created"] }),
    )
    .await;
    let hook = id_of(&created);

    app.register("untrusted.example").await;
    let log = deliveries_within(&app, &hook, Duration::from_secs(10)).await;
    // The oldest entry is the first attempt (the retry 5 s later may be there too).
    let first = log.last().unwrap();
    assert_eq!(first["attempt"], 1, "{log:#?}");
    assert_eq!(first["outcome"], "unreachable", "{log:#?}");
    assert!(first["responseStatus"].is_null(), "{log:#?}");
    let error = first["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("TLS handshake failed") && error.contains("certificate"),
        "{error:?}"
    );
    assert!(first["nextAttemptAt"].is_string(), "{log:#?}");
    let event_id = first["eventId"].as_str().unwrap();
    let waiting = app
        .store
        .due_deliveries(SystemClock.now().plus(time::Duration::days(1)), 100)
        .await
        .unwrap();
    assert!(
        waiting
            .iter()
            .any(|d| d.webhook_id.as_str() == hook && d.event.id == event_id),
        "the failed delivery waits for its retry: {waiting:#?}"
    );
    assert!(receiver.got().is_empty(), "{:#?}", receiver.got());
    assert!(receiver.refused_handshakes() >= 1, "the client did connect");

    // A certificate from the trusted CA, but for another name.
    let misnamed = Receiver::start_tls("127.0.0.1", trusted.issue(&["hooks.example"])).await;
    let moved = app
        .as_a(
            Method::PATCH,
            &format!("{HOOKS}/{hook}"),
            Some(json!({ "url": misnamed.url })),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let tested = app
        .as_a(Method::POST, &format!("{HOOKS}/{hook}/test"), None)
        .await;
    assert_eq!(tested.body["outcome"], "unreachable", "{}", tested.body);
    let error = tested.body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("TLS handshake failed") && error.contains("not valid for name"),
        "{error:?}"
    );
    assert!(misnamed.got().is_empty(), "{:#?}", misnamed.got());
}

/// The endpoint's deliveries log once it has an entry (newest first).
async fn deliveries_within(app: &TestApp, hook: &str, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let log = app
            .as_a(Method::GET, &format!("{HOOKS}/{hook}/deliveries"), None)
            .await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        let entries = log.body["deliveries"].as_array().unwrap().clone();
        if !entries.is_empty() {
            return entries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt logged within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Tests are limited per endpoint (a burst of 5, then one every 12 s) and per organization
/// (30 a minute); a refused test sends nothing, and another organization has its own.
async fn tests_are_rate_limited(backend: Backend) {
    let app = server(backend, "127.0.0.0/8").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let mut hooks = Vec::new();
    for _ in 0..10 {
        hooks.push(id_of(&create(&app, json!({ "url": receiver.url })).await));
    }
    let test = |hook: &str| {
        let path = format!("{HOOKS}/{hook}/test");
        let app = &app;
        async move { app.as_a(Method::POST, &path, None).await }
    };
    for _ in 0..5 {
        let reply = test(&hooks[0]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let refused = test(&hooks[0]).await;
    assert_limited(&refused, 12);
    refused.assert_message_contains("this webhook endpoint");
    let spec = crate::openapi::Spec::load();
    spec.check(&Method::POST, "/api/email/webhooks/{id}/test", &refused);
    assert_eq!(receiver.got().len(), 5, "the refused test sent nothing");

    // The organization's other endpoints have bursts of their own, until its 30 a minute
    // are spent (one more every 2 s: the run may earn one or two on the way).
    let mut admitted = 5;
    let mut over = None;
    'endpoints: for hook in &hooks[1..] {
        for _ in 0..5 {
            let reply = test(hook).await;
            if reply.status != StatusCode::OK {
                over = Some(reply);
                break 'endpoints;
            }
            admitted += 1;
        }
    }
    let over = over.expect("the organization's limit was never reached");
    assert_limited(&over, 2);
    over.assert_message_contains("by this organization");
    assert!((30..=35).contains(&admitted), "{admitted} tests admitted");
    assert_eq!(receiver.got().len(), admitted);

    // Another organization is not held back.
    let theirs = app
        .as_b(Method::POST, HOOKS, Some(json!({ "url": receiver.url })))
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let tested = app
        .as_b(
            Method::POST,
            &format!("{HOOKS}/{}/test", id_of(&theirs.body)),
            None,
        )
        .await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.body);
}

for_each_backend!(
    deliveries_are_signed_filtered_retried_and_logged,
    at_most_ten_endpoints_and_pages,
    deliveries_reach_an_https_endpoint,
    an_untrusted_certificate_gets_nothing_and_is_retried,
    tests_are_rate_limited,
);

/// Asserts `body` names none of the addresses `localhost` resolves to, nor their range.
#[track_caller]
fn assert_hides_addresses(body: &Value) {
    let text = body.to_string();
    for hidden in ["127.0.0.1", "::1", "127.0.0.0", "loopback"] {
        assert!(!text.contains(hidden), "{hidden} shown: {text}");
    }
}

/// Addresses a tenant must not point the service at, refused when given; a redirect to a
/// private address is answered as it is, never followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_addresses_are_refused() {
    // Only 127.0.0.2 is allowed: the rest of loopback stays refused.
    let app = server(Backend::Memory, "127.0.0.2/32").await;
    let long = format!("https://example.com/{}", "a".repeat(2100));
    for (url, part) in [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.1.2.3/hooks", "private-use"),
        ("https://192.168.0.10/hooks", "private-use"),
        ("https://[::ffff:10.0.0.1]/hooks", "private-use"),
        (
            "https://localhost/hooks",
            "resolves to an address that is not public",
        ),
        ("http://localhost:8080/hooks", "plain http"),
        ("http://203.0.114.10/hooks", "plain http"),
        ("https://127.0.0.1/hooks", "loopback"),
        ("ftp://example.com/hooks", "scheme"),
        ("https://user:secret@example.com/hooks", "user name"),
        ("not a url", "absolute URL"),
        (long.as_str(), "2048"),
    ] {
        let reply = app
            .as_a(Method::POST, HOOKS, Some(json!({ "url": url })))
            .await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        reply.assert_message_contains(part);
        // Of a host name, the caller learns no address and no range (of an address they
        // wrote, they may).
        if url.contains("localhost") {
            assert_hides_addresses(&reply.body);
        }
    }
    for (body, part) in [
        (
            json!({"url": "https://203.0.114.1/", "events": ["domain.exploded"]}),
            "unknown event type",
        ),
        (
            json!({"url": "https://203.0.114.1/", "events": []}),
            "at least one",
        ),
        (
            json!({"url": "https://203.0.114.1/", "description": "x".repeat(300)}),
            "description",
        ),
        (
            json!({"url": "https://203.0.114.1/", "secret": "whsec_mine"}),
            "unknown field",
        ),
        (json!({"events": ["domain.created"]}), "url"),
        (json!({"url": null}), "invalid"),
    ] {
        let reply = app.as_a(Method::POST, HOOKS, Some(body)).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        reply.assert_message_contains(part);
    }

    // An allowed receiver that redirects to a private address: the 302 is the answer.
    let receiver = Receiver::start("127.0.0.2").await;
    receiver.answer(&[Answer::Redirect("http://10.0.0.1/steal")]);
    let created = create(&app, json!({ "url": receiver.url })).await;
    let hook = id_of(&created);
    let tested = app
        .as_a(Method::POST, &format!("{HOOKS}/{hook}/test"), None)
        .await;
    assert_eq!(tested.body["outcome"], "failed", "{}", tested.body);
    assert_eq!(tested.body["responseStatus"], 302);
    assert_eq!(receiver.got().len(), 1);
    verified(&secret_of(&created), &receiver.got());

    // Its name now resolves to a refused address (as if its DNS changed since): a test is
    // refused, and neither the answer nor the deliveries log says where the name points.
    let mut moved = app
        .store
        .get_webhook(
            &testkit::org("org_a"),
            &domains::model::WebhookId::parse(&hook).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    moved.url = "https://localhost/hooks".into();
    moved.version += 1;
    app.store.replace_webhook(&moved).await.unwrap();
    let tested = app
        .as_a(Method::POST, &format!("{HOOKS}/{hook}/test"), None)
        .await;
    assert_eq!(tested.body["outcome"], "refused", "{}", tested.body);
    assert!(
        tested.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not public")),
        "{}",
        tested.body
    );
    assert_hides_addresses(&tested.body);
    let log = app
        .as_a(Method::GET, &format!("{HOOKS}/{hook}/deliveries"), None)
        .await;
    assert_eq!(
        log.body["deliveries"][0]["outcome"], "refused",
        "{}",
        log.body
    );
    assert_hides_addresses(&log.body);

    // Moved (by PATCH) to a refused address: refused the same way.
    let moved = app
        .as_a(
            Method::PATCH,
            &format!("{HOOKS}/{hook}"),
            Some(json!({"url": "https://169.254.169.254/"})),
        )
        .await;
    moved.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

/// Another organization's endpoint is as unknown as a made-up one, for every operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_organizations_endpoint_is_not_found() {
    let app = server(Backend::Memory, "127.0.0.0/8").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let created = create(&app, json!({ "url": receiver.url })).await;
    let hook = id_of(&created);
    for (method, path, body) in [
        (Method::GET, format!("{HOOKS}/{hook}"), None),
        (
            Method::PATCH,
            format!("{HOOKS}/{hook}"),
            Some(json!({"status": "disabled"})),
        ),
        (Method::DELETE, format!("{HOOKS}/{hook}"), None),
        (Method::POST, format!("{HOOKS}/{hook}/secret/rotate"), None),
        (Method::POST, format!("{HOOKS}/{hook}/test"), None),
        (Method::GET, format!("{HOOKS}/{hook}/deliveries"), None),
    ] {
        let reply = app.as_b(method.clone(), &path, body).await;
        reply.assert_error(StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND");
    }
    let listed = app.as_b(Method::GET, HOOKS, None).await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
    assert!(receiver.got().is_empty(), "org B's test sent nothing");
    let still = app.get_a_path(&format!("{HOOKS}/{hook}")).await;
    assert_eq!(still.body["status"], "enabled", "{}", still.body);
}

/// `Idempotency-Key` on a create: the retry gets the first answer, the secret included,
/// and makes no second endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_create_is_replayed() {
    let app = server(Backend::Memory, "127.0.0.0/8").await;
    let send = || async {
        app.client
            .post(format!("{}{HOOKS}", app.address))
            .bearer_auth(&app.key_a)
            .header("idempotency-key", "create-hook-1")
            .json(&json!({"url": "https://203.0.114.7/hooks"}))
            .send()
            .await
            .unwrap()
    };
    let first = send().await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send().await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    let listed = app.as_a(Method::GET, HOOKS, None).await;
    assert_eq!(listed.body["total"], 1);
}

/// Every webhook operation's answers, successes and errors, are what `docs/openapi.yaml`
/// documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_answers_match_the_openapi_document() {
    let spec = crate::openapi::Spec::load();
    let app = server(Backend::Memory, "127.0.0.0/8").await;
    let receiver = Receiver::start("127.0.0.1").await;
    let item = "/api/email/webhooks/{id}";
    let created = app
        .as_a(
            Method::POST,
            HOOKS,
            Some(json!({ "url": receiver.url, "description": "spec" })),
        )
        .await;
    spec.check(&Method::POST, HOOKS, &created);
    let hook = id_of(&created.body);
    let one = format!("{HOOKS}/{hook}");
    let unknown = format!("{HOOKS}/whk_01HQ3K5N8X9Y2Z3A4B5C6D7E8F");
    let cases: Vec<(Method, &str, String, Option<Value>)> = vec![
        (
            Method::POST,
            HOOKS,
            HOOKS.into(),
            Some(json!({ "url": "ftp://x.example/" })),
        ),
        (Method::GET, HOOKS, HOOKS.into(), None),
        (Method::GET, HOOKS, format!("{HOOKS}?limit=0"), None),
        (Method::GET, item, one.clone(), None),
        (Method::GET, item, unknown.clone(), None),
        (
            Method::PATCH,
            item,
            one.clone(),
            Some(json!({ "events": ["domain.verified"] })),
        ),
        (Method::PATCH, item, one.clone(), Some(json!({}))),
        (
            Method::PATCH,
            item,
            unknown.clone(),
            Some(json!({ "status": "enabled" })),
        ),
        (
            Method::POST,
            "/api/email/webhooks/{id}/test",
            format!("{one}/test"),
            None,
        ),
        (
            Method::POST,
            "/api/email/webhooks/{id}/test",
            format!("{unknown}/test"),
            None,
        ),
        (
            Method::POST,
            "/api/email/webhooks/{id}/secret/rotate",
            format!("{one}/secret/rotate"),
            None,
        ),
        (
            Method::GET,
            "/api/email/webhooks/{id}/deliveries",
            format!("{one}/deliveries"),
            None,
        ),
        (
            Method::GET,
            "/api/email/webhooks/{id}/deliveries",
            format!("{one}/deliveries?limit=500"),
            None,
        ),
        (Method::DELETE, item, one.clone(), None),
        (Method::DELETE, item, one.clone(), None),
    ];
    for (method, template, path, body) in cases {
        let reply = app.as_a(method.clone(), &path, body).await;
        spec.check(&method, template, &reply);
    }
    for n in 0..10 {
        app.as_a(
            Method::POST,
            HOOKS,
            Some(json!({ "url": format!("https://203.0.114.{n}/") })),
        )
        .await;
    }
    let over = app
        .as_a(
            Method::POST,
            HOOKS,
            Some(json!({ "url": "https://203.0.114.50/" })),
        )
        .await;
    spec.check(&Method::POST, HOOKS, &over);
    let page = app
        .as_a(Method::GET, &format!("{HOOKS}?limit=3"), None)
        .await;
    spec.check(&Method::GET, HOOKS, &page);
    assert!(page.body["nextCursor"].is_string());
}
