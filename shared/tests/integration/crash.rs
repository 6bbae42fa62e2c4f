//! A registration killed between any two of its steps (as a Lambda timeout or a crash
//! would) leaves nothing behind that no row explains, once the sweep has run or the same
//! organization retries; against DynamoDB Local and moto's SES and Route 53.

use std::sync::Arc;
use std::time::Duration;

use domains::App;
use domains::auth::NewApiKey;
use domains::aws::{DOMAIN_TAG, ORG_TAG};
use domains::clock::ManualClock;
use domains::error::ApiError;
use domains::faults::{Faults, Step};
use domains::http::Endpoint;
use domains::model::{DomainId, DomainName, Timestamp, ZoneId};
use domains::store::{NameHolder, Store};
use domains::workflows::delete;
use domains::workflows::sweep::{SweepOptions, sweep};
use lambda_http::Body;
use serde_json::{Value, json};
use testkit::aws::{
    create_zone, identity_dkim, identity_tags, moto_cloud, unique_domain, zone_records,
};
use testkit::{Backend, DnsHierarchy, dkim_record, org, publish};

pub(super) struct Fixture {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<ManualClock>,
    pub(super) dns: DnsHierarchy,
    keys: Vec<String>,
}

impl Fixture {
    pub(super) async fn new() -> Self {
        let store = Backend::Dynamo.fresh_store().await;
        let mut keys = Vec::new();
        for id in ["org_a", "org_b"] {
            let key = NewApiKey::generate(org(id), Timestamp::from_unix(0));
            store.put_api_key(&key.record).await.unwrap();
            keys.push(key.key);
        }
        Self {
            store,
            clock: Arc::new(ManualClock::new(Timestamp::from_unix(1_795_687_200))),
            dns: DnsHierarchy::start().await,
            keys,
        }
    }

    /// The app with SES and Route 53 on moto; each request or sweep is a fresh process.
    pub(super) fn app(&self) -> App {
        let checker = self.dns.checker(Duration::from_millis(500));
        App::new(self.store.clone(), self.clock.clone(), checker).with_cloud(moto_cloud())
    }

    pub(super) fn key(&self, org: &str) -> &str {
        &self.keys[if org == "org_a" { 0 } else { 1 }]
    }

    /// A zone for `name`, assigned to org_a.
    pub(super) async fn zone(&self, name: &str) -> String {
        let zone = create_zone(name, None).await;
        self.store
            .assign_zone(
                &ZoneId::parse(&zone).unwrap(),
                &org("org_a"),
                Timestamp::from_unix(0),
            )
            .await
            .unwrap();
        zone
    }
}

pub(super) fn post(key: &str, path: &str, body: Value) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub(super) fn register(key: &str, name: &str, auto: bool) -> lambda_http::Request {
    post(
        key,
        "/api/email/domains",
        json!({ "domain": name, "autoConfigureDns": auto }),
    )
}

pub(super) async fn answer(
    app: &App,
    endpoint: Endpoint,
    request: lambda_http::Request,
) -> (u16, Value) {
    let response = app.handle(endpoint, request).await;
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("unexpected body {other:?}"),
    };
    (response.status().as_u16(), body)
}

/// Runs `request` on an app that dies right after `step`, and waits until it has.
async fn killed_after(
    fixture: &Fixture,
    step: Step,
    endpoint: Endpoint,
    request: lambda_http::Request,
) {
    let faults = Arc::new(Faults::stop_after(step));
    let app = fixture.app().with_faults(faults.clone());
    let work = tokio::spawn(async move { app.handle(endpoint, request).await });
    tokio::time::timeout(Duration::from_secs(30), faults.reached())
        .await
        .unwrap_or_else(|_| panic!("the work never reached {step:?}"));
    work.abort();
    assert!(work.await.unwrap_err().is_cancelled());
}

/// The MX and TXT record sets of the zone.
async fn records_in(zone: &str) -> Vec<(String, String, Vec<String>)> {
    zone_records(zone).await
}

#[derive(Debug, Clone, Copy)]
enum Recovery {
    /// The sweep runs after the reservation ran out.
    Sweep,
    /// The same organization registers the name again.
    Retry,
    /// Another organization registers the name.
    Other,
}

async fn crash_then(step: Step, recovery: Recovery) {
    let fixture = Fixture::new().await;
    let name = unique_domain("crash");
    let zone = fixture.zone(&name).await;
    let domain_name = DomainName::parse(&name).unwrap();

    killed_after(
        &fixture,
        step,
        Endpoint::Register,
        register(fixture.key("org_a"), &name, true),
    )
    .await;
    // The name is held, with what the registration was about to create.
    let Some(NameHolder::Reservation(held)) =
        fixture.store.name_holder(&domain_name).await.unwrap()
    else {
        panic!("{step:?}: the name is not reserved");
    };
    assert_eq!(
        held.effects.len(),
        2,
        "{step:?}: identity and records: {held:?}"
    );
    let reached_ses = !matches!(step, Step::Reserved);
    assert_eq!(
        identity_tags(&name).await.is_some(),
        reached_ses,
        "{step:?}"
    );

    // Until it runs out, nobody else gets the name, and the same organization is told a
    // registration is under way.
    let app = fixture.app();
    let (status, body) = answer(
        &app,
        Endpoint::Register,
        register(fixture.key("org_a"), &name, true),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("DOMAIN_EXISTS")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in progress"),
        "{body}"
    );
    fixture.clock.advance(time::Duration::seconds(61));

    match recovery {
        Recovery::Sweep => {
            let summary = sweep(&app, None, &SweepOptions::default()).await;
            assert_eq!(
                (summary.reclaimed, summary.errors),
                (1, 0),
                "{step:?}: {summary:?}"
            );
            assert_eq!(identity_tags(&name).await, None, "{step:?}: identity left");
            assert_eq!(records_in(&zone).await, vec![], "{step:?}: records left");
            assert_eq!(fixture.store.name_holder(&domain_name).await.unwrap(), None);
            // A second run finds nothing more to do.
            let again = sweep(&app, None, &SweepOptions::default()).await;
            assert_eq!(again.reclaimed, 0);
        }
        Recovery::Retry | Recovery::Other => {
            let (key, auto, owner) = match recovery {
                Recovery::Retry => (fixture.key("org_a"), true, "org_a"),
                _ => (fixture.key("org_b"), false, "org_b"),
            };
            let (status, body) = answer(&app, Endpoint::Register, register(key, &name, auto)).await;
            assert_eq!(status, 201, "{step:?} {recovery:?}: {body}");
            let id = body["id"].as_str().unwrap();
            // The one identity is the new domain's, and the zone holds exactly its records
            // (none of the dead registration's).
            let tags = identity_tags(&name).await.unwrap();
            assert!(tags.contains(&(DOMAIN_TAG.into(), id.into())), "{tags:?}");
            assert!(tags.contains(&(ORG_TAG.into(), owner.into())), "{tags:?}");
            let records = records_in(&zone).await;
            if auto {
                let token = body["dnsRecords"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["purpose"] == "ownership")
                    .unwrap()["value"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                assert_eq!(records.len(), 7, "{records:?}");
                let ownership = records
                    .iter()
                    .find(|r| r.0.starts_with("_amazonses."))
                    .unwrap();
                assert_eq!(ownership.2, vec![format!("\"{token}\"")]);
            } else {
                assert_eq!(records, vec![], "{step:?} {recovery:?}");
            }
            assert!(matches!(
                fixture.store.name_holder(&domain_name).await.unwrap(),
                Some(NameHolder::Domain { .. })
            ));
        }
    }
}

/// One test per step and recovery: `run(Step::step, Recoveries::recovery)`.
macro_rules! crash_points {
    ($run:ident, $recoveries:ident; $($test:ident: $step:ident, $recovery:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                $run(Step::$step, $recoveries::$recovery).await;
            }
        )*
    };
}

crash_points! {
    crash_then, Recovery;
    after_reserving_then_sweep: Reserved, Sweep;
    after_reserving_then_retry: Reserved, Retry;
    after_the_identity_then_sweep: IdentityCreated, Sweep;
    after_the_identity_then_retry: IdentityCreated, Retry;
    after_the_identity_then_another_organization: IdentityCreated, Other;
    after_the_records_then_sweep: RecordsWritten, Sweep;
    after_the_records_then_retry: RecordsWritten, Retry;
    after_the_records_then_another_organization: RecordsWritten, Other;
}

fn verify_claim(key: &str, id: &str) -> lambda_http::Request {
    with_id(key, &format!("/api/email/domains/claims/{id}/verify"), id)
}

/// A claim killed after the holder's domain was removed (and after the claimant's identity
/// was made): the sweep removes what either left, and the claim, still open, succeeds.
async fn claim_crash_then_sweep_and_retry(step: Step) {
    let fixture = Fixture::new().await;
    let name = unique_domain("claimcrash");
    let domain_name = DomainName::parse(&name).unwrap();
    let app = fixture.app();
    let (status, body) = answer(
        &app,
        Endpoint::Register,
        register(fixture.key("org_a"), &name, false),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let holder_id = body["id"].as_str().unwrap().to_owned();
    let (status, claim) = answer(
        &app,
        Endpoint::OpenClaim,
        post(
            fixture.key("org_b"),
            "/api/email/domains/claims",
            json!({ "domain": name }),
        ),
    )
    .await;
    assert_eq!(status, 201, "{claim}");
    let claim_id = claim["id"].as_str().unwrap().to_owned();
    fixture.dns.zone(&name);
    fixture.dns.add_txt(
        &format!("_amazonses-claim.{name}"),
        &[claim["dnsRecords"][0]["value"].as_str().unwrap()],
    );

    killed_after(
        &fixture,
        step,
        Endpoint::VerifyClaim,
        verify_claim(fixture.key("org_b"), &claim_id),
    )
    .await;
    // The holder's domain is gone and its identity with it; the name is reserved.
    let holder = domains::model::DomainId::parse(&holder_id).unwrap();
    assert_eq!(
        fixture.store.get_domain(&org("org_a"), &holder).await,
        Ok(None)
    );
    let tags = identity_tags(&name).await;
    match step {
        Step::LeftoversRemoved => assert_eq!(tags, None),
        _ => assert!(tags.unwrap().contains(&(ORG_TAG.into(), "org_b".into()))),
    }
    fixture.clock.advance(time::Duration::seconds(61));
    let summary = sweep(&app, None, &SweepOptions::default()).await;
    assert_eq!(summary.reclaimed, 1, "{step:?}: {summary:?}");
    assert_eq!(identity_tags(&name).await, None, "{step:?}");
    assert_eq!(fixture.store.name_holder(&domain_name).await, Ok(None));

    // The claim was never completed: verified again, it registers the name for org_b.
    let (status, won) = answer(
        &app,
        Endpoint::VerifyClaim,
        verify_claim(fixture.key("org_b"), &claim_id),
    )
    .await;
    assert_eq!(status, 201, "{step:?}: {won}");
    let tags = identity_tags(&name).await.unwrap();
    assert!(tags.contains(&(DOMAIN_TAG.into(), won["id"].as_str().unwrap().into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_killed_after_removing_the_holder() {
    claim_crash_then_sweep_and_retry(Step::LeftoversRemoved).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_killed_after_the_claimants_identity() {
    claim_crash_then_sweep_and_retry(Step::IdentityCreated).await;
}

pub(super) fn on_domain(key: &str, id: &str, action: &str) -> lambda_http::Request {
    with_id(key, &format!("/api/email/domains/{id}/{action}"), id)
}

/// A bodiless POST to `path`, with `id` as its path parameter, as API Gateway passes it.
fn with_id(key: &str, path: &str, id: &str) -> lambda_http::Request {
    use lambda_http::RequestExt;
    post(key, path, json!(null)).with_path_parameters(std::collections::HashMap::from([(
        "id".to_owned(),
        id.to_owned(),
    )]))
}

#[derive(Debug, Clone, Copy)]
enum RotationRecovery {
    Verify,
    Sweep,
}

/// A DKIM rotation killed after `step`: at that moment SES signs with a key whose record
/// is published, and a later check (verify, or the sweep) completes the rotation.
async fn rotation_crash_then(step: Step, recovery: RotationRecovery) {
    let fixture = Fixture::new().await;
    let name = unique_domain("rotcrash");
    let zone = fixture.zone(&name).await;
    let key = fixture.key("org_a");
    let app = fixture.app();
    let (status, body) = answer(&app, Endpoint::Register, register(key, &name, true)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    publish(&fixture.dns, &body["dnsRecords"]);
    let (status, body) = answer(&app, Endpoint::Verify, on_domain(key, &id, "verify")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    let (old, _) = identity_dkim(&name).await.expect("a BYODKIM identity");
    let published = [old.clone()];

    let new = match step {
        Step::RotationSealed | Step::RotationStored => {
            killed_after(
                &fixture,
                step,
                Endpoint::RotateDkim,
                on_domain(key, &id, "dkim/rotate"),
            )
            .await;
            assert_eq!(identity_dkim(&name).await.unwrap().0, old, "{step:?}");
            let stored = fixture
                .store
                .get_domain(&org("org_a"), &domain_id(&id))
                .await
                .unwrap()
                .unwrap();
            if step == Step::RotationSealed {
                // Nothing was stored: the domain is as it was, and a new rotation starts.
                assert_eq!(stored.setup.dkim_next, None);
                let (status, body) = answer(
                    &app,
                    Endpoint::RotateDkim,
                    on_domain(key, &id, "dkim/rotate"),
                )
                .await;
                assert_eq!(status, 202, "{body}");
            } else {
                // Stored, but its record never reached the managed zone.
                let next = stored.setup.dkim_next.expect("the next key is stored");
                let in_zone = |records: Vec<(String, String, Vec<String>)>| {
                    records.iter().any(|r| r.0.starts_with(&next.selector))
                };
                assert!(!in_zone(records_in(&zone).await), "{step:?}");
                // A check finds it missing and writes it where the service manages the
                // zone; SES keeps the old key meanwhile.
                let (status, body) =
                    answer(&app, Endpoint::Verify, on_domain(key, &id, "verify")).await;
                assert_eq!(status, 200, "{body}");
                assert!(in_zone(records_in(&zone).await), "{step:?}: not repaired");
                assert_eq!(identity_dkim(&name).await.unwrap().0, old);
            }
            let body = answer(&app, Endpoint::Get, on_domain(key, &id, "")).await.1;
            body["dkimRotation"]["selector"]
                .as_str()
                .unwrap()
                .to_owned()
        }
        Step::DkimSwitched => {
            let (status, body) = answer(
                &app,
                Endpoint::RotateDkim,
                on_domain(key, &id, "dkim/rotate"),
            )
            .await;
            assert_eq!(status, 202, "{body}");
            let new = body["dkimRotation"]["selector"]
                .as_str()
                .unwrap()
                .to_owned();
            publish(&fixture.dns, &json!([dkim_record(&body, &new)]));
            killed_after(
                &fixture,
                step,
                Endpoint::Verify,
                on_domain(key, &id, "verify"),
            )
            .await;
            // SES already signs with the new key (its record is published); the table
            // still says the rotation is pending.
            assert_eq!(identity_dkim(&name).await.unwrap().0, new);
            let body = answer(&app, Endpoint::Get, on_domain(key, &id, "")).await.1;
            assert_eq!(body["dkimRotation"]["status"], "pending", "{body}");
            new
        }
        other => unreachable!("{other:?} is not a rotation step"),
    };
    assert_ne!(new, old);
    let signing = identity_dkim(&name).await.unwrap().0;
    assert!(
        published.contains(&signing) || (signing == new && matches!(step, Step::DkimSwitched)),
        "{step:?}: SES signs with {signing}, whose record is not published"
    );

    // The next check completes it; the new record is published first where it was not.
    if step != Step::DkimSwitched {
        let body = answer(&app, Endpoint::Get, on_domain(key, &id, "")).await.1;
        publish(&fixture.dns, &json!([dkim_record(&body, &new)]));
    }
    fixture.clock.advance(time::Duration::minutes(1));
    match recovery {
        RotationRecovery::Verify => {
            let (status, body) =
                answer(&app, Endpoint::Verify, on_domain(key, &id, "verify")).await;
            assert_eq!(status, 200, "{body}");
        }
        RotationRecovery::Sweep => {
            let summary = sweep(&app, None, &SweepOptions::default()).await;
            assert_eq!((summary.checked, summary.errors), (1, 0), "{summary:?}");
        }
    }
    let body = answer(&app, Endpoint::Get, on_domain(key, &id, "")).await.1;
    assert_eq!(
        body["dkimRotation"]["status"], "complete",
        "{step:?}: {body}"
    );
    assert_eq!(body["dkimRotation"]["selector"], new.as_str());
    assert_eq!(body["status"], "active");
    assert_eq!(identity_dkim(&name).await.unwrap().0, new);
    assert_eq!(dkim_record(&body, &old)["safeToRemove"], true, "{body}");
    // The new record is in the managed zone (written by the rotation, or by the check
    // that found it missing), the sealed key gone from the table.
    assert!(
        records_in(&zone)
            .await
            .iter()
            .any(|r| r.0.starts_with(&format!("{new}._domainkey")))
    );
    let stored = fixture
        .store
        .get_domain(&org("org_a"), &domain_id(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.setup.dkim_next, None);
    assert_eq!(
        stored.state.next_check_at,
        stored
            .state
            .last_checked_at
            .map(|at| at.plus(domains::model::WATCH_INTERVAL)),
        "done: off the rotation's ladder, back on the daily watch"
    );
}

fn domain_id(id: &str) -> domains::model::DomainId {
    domains::model::DomainId::parse(id).unwrap()
}

crash_points! {
    rotation_crash_then, RotationRecovery;
    rotation_after_sealing_then_verify: RotationSealed, Verify;
    rotation_after_storing_then_verify: RotationStored, Verify;
    rotation_after_storing_then_sweep: RotationStored, Sweep;
    rotation_after_the_switch_then_verify: DkimSwitched, Verify;
    rotation_after_the_switch_then_sweep: DkimSwitched, Sweep;
}

/// Runs the pausing app's work in the background and waits until it paused at its step.
async fn paused_at<T: Send + 'static>(
    faults: &Faults,
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let handle = tokio::spawn(work);
    tokio::time::timeout(Duration::from_secs(30), faults.reached())
        .await
        .expect("the work never paused");
    handle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_delete_leaves_a_newer_registration_alone() {
    let fixture = Fixture::new().await;
    let name = unique_domain("late");
    let zone = fixture.zone(&name).await;
    let app = fixture.app();
    let key = fixture.key("org_a");
    let (status, body) = answer(&app, Endpoint::Register, register(key, &name, true)).await;
    assert_eq!(status, 201, "{body}");
    let old = DomainId::parse(body["id"].as_str().unwrap()).unwrap();

    // Two deletes of it (a client retry): the first is slow, after marking the row.
    let faults = Arc::new(Faults::pause_after(Step::DeleteMarked));
    let slow = fixture.app().with_faults(faults.clone());
    let late = paused_at(&faults, {
        let old = old.clone();
        async move { delete::remove(&slow, &org("org_a"), &old).await }
    })
    .await;
    delete::remove(&app, &org("org_a"), &old).await.unwrap();
    // The name is free again, and the organization registers it again.
    let (status, body) = answer(&app, Endpoint::Register, register(key, &name, true)).await;
    assert_eq!(status, 201, "{body}");
    let newer = body["id"].as_str().unwrap().to_owned();
    let records = records_in(&zone).await;
    assert!(!records.is_empty());

    faults.resume();
    let outcome = late.await.unwrap();
    assert!(
        matches!(outcome, Err(ApiError::DomainNotFound)),
        "{outcome:?}"
    );
    assert_eq!(records_in(&zone).await, records, "the newer records stay");
    let tags = identity_tags(&name)
        .await
        .expect("the newer identity stays");
    assert!(tags.contains(&(DOMAIN_TAG.to_owned(), newer)), "{tags:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_that_outlived_its_reservation_writes_nothing_over_the_next() {
    let fixture = Fixture::new().await;
    let name = unique_domain("outlived");
    let zone = fixture.zone(&name).await;
    let key = fixture.key("org_a");
    let faults = Arc::new(Faults::pause_after(Step::IdentityCreated));
    let slow = fixture.app().with_faults(faults.clone());
    let request = register(key, &name, true);
    let late = paused_at(&faults, async move {
        answer(&slow, Endpoint::Register, request).await
    })
    .await;

    // Its reservation runs out; the sweep takes it over and undoes it; the name is
    // registered again.
    fixture.clock.advance(time::Duration::seconds(61));
    let app = fixture.app();
    let summary = sweep(&app, None, &SweepOptions::default()).await;
    assert_eq!(summary.reclaimed, 1, "{summary:?}");
    let (status, body) = answer(&app, Endpoint::Register, register(key, &name, true)).await;
    assert_eq!(status, 201, "{body}");
    let newer = body["id"].as_str().unwrap().to_owned();
    let records = records_in(&zone).await;

    faults.resume();
    let (status, body) = late.await.unwrap();
    assert!(status >= 400, "{status} {body}");
    assert_eq!(records_in(&zone).await, records, "the newer records stay");
    let tags = identity_tags(&name)
        .await
        .expect("the newer identity stays");
    assert!(
        tags.contains(&(DOMAIN_TAG.to_owned(), newer.clone())),
        "{tags:?}"
    );
    match fixture
        .store
        .name_holder(&DomainName::parse(&name).unwrap())
        .await
        .unwrap()
    {
        Some(NameHolder::Domain { id, .. }) => assert_eq!(id.as_str(), newer),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_failing_after_its_takeover_leaves_the_name_to_its_taker() {
    let fixture = Fixture::new().await;
    let name = unique_domain("takenover");
    fixture.zone(&name).await;
    let key = fixture.key("org_a");
    let faults = Arc::new(Faults::pause_after(Step::IdentityCreated));
    let slow = fixture.app().with_faults(faults.clone());
    let request = register(key, &name, true);
    let late = paused_at(&faults, async move {
        answer(&slow, Endpoint::Register, request).await
    })
    .await;

    // Its reservation runs out and someone takes it over to undo it (still at work).
    let domain = DomainName::parse(&name).unwrap();
    let Some(NameHolder::Reservation(held)) = fixture.store.name_holder(&domain).await.unwrap()
    else {
        panic!("a reservation");
    };
    let until = held.until.plus(time::Duration::seconds(60));
    fixture.clock.advance(time::Duration::seconds(61));
    fixture
        .store
        .retime_reservation(&held, until)
        .await
        .unwrap();

    // The late registration fails and undoes its own work, but the name stays with the
    // taker, who frees it once done.
    faults.resume();
    let (status, body) = late.await.unwrap();
    assert!(status >= 400, "{status} {body}");
    match fixture.store.name_holder(&domain).await.unwrap() {
        Some(NameHolder::Reservation(taken)) => {
            assert_eq!((taken.domain_id, taken.until), (held.domain_id, until))
        }
        other => panic!("still the taker's: {other:?}"),
    }
}
