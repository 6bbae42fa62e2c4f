//! The sweep against both stores and a loopback DNS server, with a clock the test moves.

use std::sync::Arc;
use std::time::Duration;

use domains::App;
use domains::aws::{Cloud, DnsZones, Route53};
use domains::clock::ManualClock;
use domains::model::event::EventType;
use domains::model::schedule::SWEEP_SLACK;
use domains::model::{
    DEGRADED_RECHECK, DEGRADED_WINDOW, DKIM_RETIRE_AFTER, Domain, Health, Status, Timestamp,
    WATCH_INTERVAL, ZoneRecord,
};
use domains::store::{DefaultChoice, DomainUpdate, Store, StoreError};
use domains::workflows::sweep::{SweepOptions, SweepSummary, sweep};
use hickory_proto::rr::RecordType;
use testkit::aws::{create_zone, unique_domain, zone_records};
use testkit::{Backend, DnsHierarchy, for_each_backend, moto, org, pending_domain};

const START: i64 = 1_704_873_600;

pub(super) struct Fixture {
    pub(super) app: App,
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<ManualClock>,
    pub(super) dns: DnsHierarchy,
}

impl Fixture {
    pub(super) async fn new(backend: Backend) -> Self {
        Self::built(backend, None).await
    }

    /// With Route 53 (and nothing else) on the tests' moto server.
    async fn with_route53(backend: Backend) -> Self {
        let zones = Arc::new(Route53::new(&moto().sdk_config()));
        let cloud = Cloud {
            ses: None,
            zones: Some(zones),
            sealer: None,
        };
        Self::built(backend, Some(cloud)).await
    }

    async fn built(backend: Backend, cloud: Option<Cloud>) -> Self {
        let store = backend.fresh_store().await;
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix(START)));
        let dns = DnsHierarchy::start().await;
        let checker = dns.checker(Duration::from_secs(2));
        let mut app = App::new(store.clone(), clock.clone(), checker);
        if let Some(cloud) = cloud {
            app = app.with_cloud(cloud);
        }
        Self {
            app,
            store,
            clock,
            dns,
        }
    }

    /// A pending domain registered `age` before the clock's now.
    pub(super) async fn register(&self, name: &str, age: time::Duration) -> Domain {
        let at = self.clock_now().plus(-age);
        // Its zone exists from the start, empty until its records are published.
        self.dns.zone(name);
        let domain = pending_domain("org_a", name, at);
        self.store
            .insert_domain(&domain, DefaultChoice::IfNone)
            .await
            .unwrap()
    }

    pub(super) fn publish(&self, domain: &Domain) {
        self.dns.publish_required(domain);
    }

    /// Checks of the domain: queries for its ownership TXT at its authoritative server.
    pub(super) fn checks_of(&self, domain: &Domain) -> usize {
        self.dns
            .checks_of(&format!("_amazonses.{}", domain.name), RecordType::TXT)
    }

    pub(super) fn clock_now(&self) -> Timestamp {
        domains::clock::Clock::now(self.clock.as_ref())
    }

    pub(super) async fn read(&self, domain: &Domain) -> Option<Domain> {
        self.store
            .get_domain(&org("org_a"), &domain.id)
            .await
            .unwrap()
    }

    /// Suspends the domain as a PATCH would, now: a write lost to the sweep's (its claim
    /// of the domain, which lands late on a loaded machine) is decided again on a fresh read.
    async fn suspend(&self, domain: &Domain) {
        for _ in 0..domains::store::ATTEMPTS {
            let read = self.read(domain).await.unwrap();
            let update = DomainUpdate {
                setup: None,
                state: Some(read.state.moved_to(Status::Suspended, self.clock_now())),
                default: None,
                at: self.clock_now(),
            };
            match self.store.update_domain(&read, &update).await {
                Err(StoreError::Conflict) => continue,
                done => {
                    done.unwrap();
                    return;
                }
            }
        }
        panic!(
            "the suspension lost to concurrent writes {} times",
            domains::store::ATTEMPTS
        );
    }

    /// The `detail-type`s the store has written for the domain, in order.
    async fn events_of(&self, domain: &Domain) -> Vec<EventType> {
        self.store
            .undelivered_events(&domain.name)
            .await
            .unwrap()
            .iter()
            .map(|e| e.detail_type)
            .collect()
    }

    pub(super) async fn run(&self) -> SweepSummary {
        sweep(&self.app, None, &SweepOptions::default()).await
    }
}

async fn passes_fail_and_expiries(backend: Backend) {
    let f = Fixture::new(backend).await;
    let passing = f.register("pass.example", time::Duration::ZERO).await;
    let failing = f.register("fail.example", time::Duration::ZERO).await;
    let expired = f
        .register("expired.example", time::Duration::hours(73))
        .await;
    let active = f.register("already.example", time::Duration::ZERO).await;
    f.publish(&passing);
    f.suspend(&active).await;

    let summary = f.run().await;
    assert_eq!(
        (
            summary.due,
            summary.checked,
            summary.activated,
            summary.failed,
            summary.errors
        ),
        (3, 3, 1, 1, 0),
        "{summary:?}"
    );
    let passed = f.read(&passing).await.unwrap();
    assert_eq!(passed.state.status, Status::Active);
    assert_eq!(passed.state.verified_at, Some(f.clock_now()));
    // Watched from now on: checked again in a day.
    assert_eq!(
        passed.state.next_check_at,
        Some(f.clock_now().plus(WATCH_INTERVAL))
    );

    let waiting = f.read(&failing).await.unwrap();
    assert_eq!(waiting.state.status, Status::Pending);
    assert_eq!(
        waiting.state.next_check_at,
        Some(f.clock_now().plus(time::Duration::minutes(1) - SWEEP_SLACK))
    );
    assert!(waiting.state.last_check.is_some());

    let gone = f.read(&expired).await.unwrap();
    assert_eq!(gone.state.status, Status::Failed);
    assert!(
        gone.state
            .failure_reason
            .as_deref()
            .unwrap()
            .contains("72 hours")
    );
    assert_eq!(
        f.read(&active).await.unwrap().state.status,
        Status::Suspended
    );
    assert_eq!(f.checks_of(&active), 0, "suspended domains are not swept");
}

/// A retired DKIM record the service wrote into a managed zone leaves it with the sweep's
/// check once it is `DKIM_RETIRE_AFTER` old; one retired more recently stays, listed.
async fn the_sweep_removes_retired_dkim_records_once_old_enough(backend: Backend) {
    let f = Fixture::with_route53(backend).await;
    let zones = Route53::new(&moto().sdk_config());
    let name = unique_domain("sweepretire");
    let zone = create_zone(&name, None).await;
    f.dns.zone(&name);
    let now = f.clock_now();
    let retired = |selector: &str, age: time::Duration| ZoneRecord {
        name: format!("{selector}._domainkey.{name}"),
        record_type: "TXT".into(),
        value: format!("v=DKIM1; k=rsa; p=MIIB{selector}"),
        retired_at: Some(now.plus(-age)),
    };
    let old = retired("dkimold", DKIM_RETIRE_AFTER + time::Duration::minutes(1));
    let young = retired("dkimyoung", DKIM_RETIRE_AFTER - time::Duration::hours(1));
    zones
        .create_records(&zone, &[old.clone(), young.clone()])
        .await
        .expect("the retired records in the zone");
    let mut domain = pending_domain("org_a", &name, now);
    domain.hosted_zone_id = Some(zone.clone());
    domain.setup.zone_records = Some(vec![old.clone(), young.clone()]);
    let domain = f
        .store
        .insert_domain(&domain, DefaultChoice::IfNone)
        .await
        .unwrap();
    let names = |records: Vec<(String, String, Vec<String>)>| {
        records.into_iter().map(|r| r.0).collect::<Vec<_>>()
    };

    let summary = f.run().await;
    assert_eq!((summary.checked, summary.errors), (1, 0), "{summary:?}");
    assert_eq!(
        names(zone_records(&zone).await),
        vec![young.name.clone()],
        "the old record is gone, the young one stays"
    );
    let listed = f.read(&domain).await.unwrap().setup.zone_records;
    assert_eq!(
        listed,
        Some(vec![young.clone()]),
        "the list follows the zone"
    );

    // Once it is old enough too, the next check takes it.
    f.clock.advance(time::Duration::hours(2));
    let summary = f.run().await;
    assert_eq!((summary.checked, summary.errors), (1, 0), "{summary:?}");
    assert_eq!(names(zone_records(&zone).await), Vec::<String>::new());
    assert_eq!(
        f.read(&domain).await.unwrap().setup.zone_records,
        Some(vec![])
    );
}

async fn overlapping_runs_check_each_domain_once(backend: Backend) {
    let f = Fixture::new(backend).await;
    // Slow answers keep both runs busy at the same time.
    f.dns.set_delay(Duration::from_millis(50));
    let mut domains = Vec::new();
    for i in 0..12 {
        let domain = f
            .register(&format!("d{i}.example"), time::Duration::ZERO)
            .await;
        if i % 2 == 0 {
            f.publish(&domain);
        }
        domains.push(domain);
    }
    let options = SweepOptions {
        concurrency: 4,
        ..SweepOptions::default()
    };
    let (a, b) = tokio::join!(sweep(&f.app, None, &options), sweep(&f.app, None, &options));
    assert_eq!(a.checked + b.checked, 12, "{a:?} {b:?}");
    assert_eq!(a.activated + b.activated, 6);
    assert_eq!(a.errors + b.errors, 0);
    for domain in &domains {
        assert_eq!(f.checks_of(domain), 1, "{} checked twice", domain.name);
    }
    // One `domain.verified` for each domain that passed, not one per run.
    for (i, domain) in domains.iter().enumerate() {
        let expected: &[EventType] = if i % 2 == 0 {
            &[EventType::Created, EventType::Verified]
        } else {
            &[EventType::Created]
        };
        assert_eq!(f.events_of(domain).await, expected, "{}", domain.name);
    }
    // Re-running changes nothing.
    assert_eq!(f.run().await.due, 0);
}

/// An active domain is checked again once a day: a removed DKIM record makes it degraded,
/// the record restored makes it ok, and 72 hours degraded make it failed, each announced
/// once; between its checks it costs the sweep nothing.
async fn active_domains_are_watched(backend: Backend) {
    let f = Fixture::new(backend).await;
    let domain = f.register("watched.example", time::Duration::ZERO).await;
    f.publish(&domain);
    assert_eq!(f.run().await.activated, 1);
    let active = f.read(&domain).await.unwrap();
    assert_eq!(active.state.health(), Some(Health::Ok));
    assert_eq!(
        active.state.next_check_at,
        Some(f.clock_now().plus(WATCH_INTERVAL))
    );

    // Not due for a day: not even read.
    f.clock.advance(time::Duration::hours(23));
    let quiet = f.run().await;
    assert_eq!((quiet.due, quiet.checked), (0, 0), "{quiet:?}");
    assert_eq!(f.checks_of(&domain), 1);

    // The owner removes the DKIM record; the daily check sees it.
    let dkim = format!("{}._domainkey.{}", domain.setup.dkim_selector, domain.name);
    f.dns.remove(&dkim);
    f.clock.advance(time::Duration::hours(1));
    let degraded_at = f.clock_now();
    let run = f.run().await;
    assert_eq!(
        (run.checked, run.degraded, run.activated),
        (1, 1, 0),
        "{run:?}"
    );
    let degraded = f.read(&domain).await.unwrap();
    assert_eq!(degraded.state.status, Status::Active);
    assert_eq!(degraded.state.health(), Some(Health::Degraded));
    assert_eq!(degraded.state.degraded_since, Some(degraded_at));
    // Degraded domains are looked at hourly, so a repair shows soon.
    assert_eq!(
        degraded.state.next_check_at,
        Some(degraded_at.plus(DEGRADED_RECHECK))
    );

    // Restored: ok again at the next hourly check.
    f.publish(&domain);
    f.clock.advance(DEGRADED_RECHECK);
    let run = f.run().await;
    assert_eq!((run.checked, run.recovered), (1, 1), "{run:?}");
    let recovered = f.read(&domain).await.unwrap();
    assert_eq!(
        (recovered.state.health(), recovered.state.degraded_since),
        (Some(Health::Ok), None)
    );

    // Removed for good: degraded at the next daily check, failed 72 hours after.
    f.dns.remove(&dkim);
    f.clock.advance(WATCH_INTERVAL);
    let since = f.clock_now();
    assert_eq!(f.run().await.degraded, 1);
    let mut failed_runs = 0;
    while f.clock_now() < since.plus(DEGRADED_WINDOW) {
        f.clock.advance(DEGRADED_RECHECK);
        let run = f.run().await;
        assert_eq!((run.checked, run.errors), (1, 0), "{run:?}");
        failed_runs += run.failed;
    }
    assert_eq!(failed_runs, 1);
    let failed = f.read(&domain).await.unwrap();
    assert_eq!(failed.state.status, Status::Failed);
    assert_eq!(failed.state.next_check_at, None);
    assert!(
        failed
            .state
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("dkim") && r.contains("72 hours"))
    );
    assert_eq!(
        f.events_of(&domain).await,
        [
            EventType::Created,
            EventType::Verified,
            EventType::Degraded,
            EventType::Recovered,
            EventType::Degraded,
            EventType::Failed,
        ]
    );
    let events = f.store.undelivered_events(&domain.name).await.unwrap();
    let failed_event = &events[5].detail;
    assert_eq!(
        (
            failed_event.status.as_str(),
            failed_event.previous_status.as_deref()
        ),
        ("failed", Some("active"))
    );
    assert_eq!(failed_event.reason, failed.state.failure_reason);
    // Failed domains are not watched.
    f.clock.advance(WATCH_INTERVAL);
    assert_eq!(f.run().await.due, 0);
}

/// A suspended domain is not watched, and an unreachable server is not a degraded domain.
async fn suspended_and_unreachable_domains_stay_as_they_are(backend: Backend) {
    let f = Fixture::new(backend).await;
    let unreachable = f.register("dark.example", time::Duration::ZERO).await;
    let suspended = f.register("resting.example", time::Duration::ZERO).await;
    f.publish(&unreachable);
    f.publish(&suspended);
    assert_eq!(f.run().await.activated, 2);
    f.suspend(&suspended).await;

    f.dns.set_behaviour(testkit::Behaviour::Silent);
    f.clock.advance(WATCH_INTERVAL);
    let run = f.run().await;
    assert_eq!((run.due, run.checked, run.degraded), (1, 1, 0), "{run:?}");
    let after = f.read(&unreachable).await.unwrap();
    assert_eq!(after.state.health(), Some(Health::Ok));
    assert_eq!(f.checks_of(&suspended), 1);
    assert_eq!(
        f.events_of(&suspended).await,
        [
            EventType::Created,
            EventType::Verified,
            EventType::Suspended
        ]
    );
}

async fn changes_during_a_run_are_kept(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.dns.set_delay(Duration::from_millis(400));
    let suspended = f.register("suspend.example", time::Duration::ZERO).await;
    let deleted = f.register("delete.example", time::Duration::ZERO).await;
    f.publish(&suspended);
    f.publish(&deleted);
    let run = {
        let app = f.app.clone();
        tokio::spawn(async move { sweep(&app, None, &SweepOptions::default()).await })
    };
    // Once the run claimed both (their next check pushed past it), while their checks
    // wait on DNS: on a loaded machine a fixed pause may end before the claims.
    for domain in [&suspended, &deleted] {
        let claimed = async {
            while f
                .read(domain)
                .await
                .and_then(|d| d.state.next_check_at)
                .is_none_or(|at| at <= f.clock_now())
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), claimed)
            .await
            .expect("the run claims the domain");
    }
    f.suspend(&suspended).await;
    f.store
        .delete_domain(&org("org_a"), &deleted.id, f.clock_now())
        .await
        .unwrap();
    let summary = run.await.unwrap();
    assert_eq!((summary.activated, summary.errors), (0, 0), "{summary:?}");
    let after = f.read(&suspended).await.unwrap();
    assert_eq!(
        after.state.status,
        Status::Suspended,
        "the suspension stands"
    );
    assert!(after.state.last_check.is_some(), "the findings are kept");
    assert_eq!(f.read(&deleted).await, None, "the delete stands");
}

async fn a_deadline_defers_work_to_the_next_run(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.dns.set_delay(Duration::from_millis(150));
    let mut domains = Vec::new();
    for i in 0..10 {
        domains.push(
            f.register(&format!("d{i}.example"), time::Duration::ZERO)
                .await,
        );
    }
    let options = SweepOptions {
        concurrency: 2,
        margin: Duration::ZERO,
        ..SweepOptions::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(250);
    let first = sweep(&f.app, Some(deadline), &options).await;
    assert!(first.checked >= 2 && first.deferred >= 2, "{first:?}");
    assert_eq!(first.checked + first.deferred, 10, "{first:?}");
    let second = sweep(&f.app, None, &options).await;
    assert_eq!(
        second.checked, first.deferred,
        "the next run finishes the work"
    );
    for domain in &domains {
        assert_eq!(f.checks_of(domain), 1, "{} checked twice", domain.name);
    }
}

for_each_backend!(
    passes_fail_and_expiries,
    overlapping_runs_check_each_domain_once,
    changes_during_a_run_are_kept,
    a_deadline_defers_work_to_the_next_run,
    active_domains_are_watched,
    suspended_and_unreachable_domains_stay_as_they_are,
    the_sweep_removes_retired_dkim_records_once_old_enough,
);
