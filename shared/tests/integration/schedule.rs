//! The pending schedule through the real sweep, with a clock the test moves one sweep (one
//! minute) at a time, as deployed: looks every 1, then 2, then 5 minutes; full checks on
//! their own ladder and one-query probes between them; a probe that finds a record checks
//! fully in the same run; an auto-configured domain is active as soon as its Route 53
//! change is in sync; `nextCheckAt` follows the looks.

use domains::http::Endpoint;
use domains::model::schedule::SWEEP_SLACK;
use domains::model::{Domain, Status};
use domains::workflows::sweep::SweepSummary;
use serde_json::Value;
use testkit::aws::{unique_domain, zone_records};
use testkit::{Backend, for_each_backend};
use time::Duration;

use super::sweep::Fixture;

/// What one run did with the test's one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Nothing,
    Probe,
    Full,
}

fn seen(run: &SweepSummary) -> Seen {
    assert_eq!(run.errors, 0, "{run:?}");
    match (run.due, run.checked, run.probed) {
        (0, 0, 0) => Seen::Nothing,
        (1, 0, 1) => {
            // One question to one server (two if the first datagram went unanswered).
            assert!((1..=2).contains(&run.queries), "a probe: {run:?}");
            Seen::Probe
        }
        (1, 1, 0) => {
            assert!(run.queries > 2, "a full check: {run:?}");
            Seen::Full
        }
        _ => panic!("one domain, one look at most: {run:?}"),
    }
}

/// The sweep a minute after the last one.
async fn next_minute(f: &Fixture) -> SweepSummary {
    f.clock.advance(Duration::minutes(1));
    f.run().await
}

/// The wait from now to the domain's next look, in seconds.
async fn wait_of(f: &Fixture, domain: &Domain) -> Option<i64> {
    let next = f.read(domain).await.unwrap().state.next_check_at?;
    Some((next.datetime() - f.clock_now().datetime()).whole_seconds())
}

/// The ages (minutes) at which full checks fall due, written out independently of the
/// library: the old ladder, then every six hours.
fn full_check_ages() -> Vec<i64> {
    let mut ages = vec![0, 1, 6, 21, 81];
    ages.extend((1..12).map(|k| 81 + 360 * k));
    ages
}

/// Runs one sweep a minute from minute `from` to `to` (ages in minutes; the first look due
/// at `first_look`) and checks each
/// against the schedule: a look every `step(age)` minutes, a full check at the first look
/// at or after each ladder age, a probe at every other look, and `nextCheckAt` one step
/// (less the slack) after each look.
async fn minutes(
    f: &Fixture,
    domain: &Domain,
    (from, first_look, to): (i64, i64, i64),
    last_full: &mut i64,
) {
    let step = |age: i64| match age {
        a if a < 60 => 1,
        a if a < 24 * 60 => 2,
        _ => 5,
    };
    let mut next_look = first_look;
    for age in from..=to {
        let run = next_minute(f).await;
        let seen = seen(&run);
        if age < next_look {
            assert_eq!(seen, Seen::Nothing, "minute {age}: not due");
            continue;
        }
        let full_due = full_check_ages()
            .into_iter()
            .any(|at| at > *last_full && at <= age);
        if full_due {
            assert_eq!(seen, Seen::Full, "minute {age}: a full check is due");
            *last_full = age;
        } else {
            assert_eq!(seen, Seen::Probe, "minute {age}: a probe");
        }
        let wait = step(age) * 60 - SWEEP_SLACK.whole_seconds();
        assert_eq!(wait_of(f, domain).await, Some(wait), "minute {age}");
        next_look = age + step(age);
    }
}

/// Moves the clock from age `now` to the sweep at age `at` (minutes), a full check since a
/// ladder age passed meanwhile, then one sweep a minute until `to`, the next look due at
/// `first_look`.
async fn jump(
    f: &Fixture,
    domain: &Domain,
    (now, at, first_look, to): (i64, i64, i64, i64),
    last_full: &mut i64,
) {
    f.clock.advance(Duration::minutes(at - 1 - now));
    let run = next_minute(f).await;
    assert_eq!(seen(&run), Seen::Full, "minute {at}: a ladder age passed");
    *last_full = at;
    minutes(f, domain, (at + 1, first_look, to), last_full).await;
}

async fn each_step_of_the_pending_schedule(backend: Backend) {
    let f = Fixture::new(backend).await;
    let domain = f.register("steps.example", Duration::ZERO).await;
    // At registration: a full check, the first look.
    assert_eq!(seen(&f.run().await), Seen::Full);
    let mut last_full = 0;
    // The first hour and a half: every minute, then every two.
    minutes(&f, &domain, (1, 1, 90), &mut last_full).await;
    // Around the end of the first day: every two minutes, then every five.
    let first_day = (90, 23 * 60 + 50, 23 * 60 + 52, 24 * 60 + 20);
    jump(&f, &domain, first_day, &mut last_full).await;
    // The window's last minutes: every five, and failed at 72 hours.
    let last_hour = (24 * 60 + 20, 71 * 60 + 50, 71 * 60 + 55, 71 * 60 + 59);
    jump(&f, &domain, last_hour, &mut last_full).await;
    let run = next_minute(&f).await;
    assert_eq!((seen(&run), run.failed), (Seen::Full, 1), "{run:?}");
    let failed = f.read(&domain).await.unwrap();
    assert_eq!(failed.state.status, Status::Failed);
    assert_eq!(failed.state.next_check_at, None);
    assert_eq!(seen(&next_minute(&f).await), Seen::Nothing);
}

async fn a_probe_that_finds_the_record_checks_fully_in_the_same_run(backend: Backend) {
    let f = Fixture::new(backend).await;
    let domain = f.register("probed.example", Duration::ZERO).await;
    assert_eq!(seen(&f.run().await), Seen::Full);
    assert_eq!(seen(&next_minute(&f).await), Seen::Full, "ladder: 1 min");
    assert_eq!(seen(&next_minute(&f).await), Seen::Probe);
    // Everything but the ownership record: the probe asks the first required record the
    // last check found missing (MX), finds it, and the full check that follows finds the
    // ownership record missing.
    f.publish(&domain);
    f.dns.remove(&format!("_amazonses.{}", domain.name));
    let run = next_minute(&f).await;
    assert_eq!(
        (run.checked, run.probed, run.activated, run.errors),
        (1, 0, 0, 0),
        "{run:?}"
    );
    assert_eq!(f.read(&domain).await.unwrap().state.status, Status::Pending);
    // Found missing by that check, the ownership record is what probes ask now.
    assert_eq!(seen(&next_minute(&f).await), Seen::Probe);
    f.dns.add_txt(
        &format!("_amazonses.{}", domain.name),
        &[domain.setup.ownership_token.as_str()],
    );
    let run = next_minute(&f).await;
    assert_eq!(
        (run.checked, run.probed, run.activated),
        (1, 0, 1),
        "the probe found it and the full check activated it, in one run: {run:?}"
    );
    let active = f.read(&domain).await.unwrap();
    assert_eq!(active.state.status, Status::Active);
    assert_eq!(active.state.verified_at, Some(f.clock_now()));
}

async fn a_domain_published_between_looks_turns_active_at_the_next_one(backend: Backend) {
    let f = Fixture::new(backend).await;
    // Two hours old: looked at every two minutes.
    let domain = f.register("between.example", Duration::hours(2)).await;
    assert_eq!(seen(&f.run().await), Seen::Full, "never checked yet");
    assert_eq!(seen(&next_minute(&f).await), Seen::Nothing);
    f.publish(&domain);
    let published = f.clock_now();
    let run = f.run().await;
    assert_eq!(seen(&run), Seen::Nothing, "the next look is not due yet");
    let run = next_minute(&f).await;
    assert_eq!((run.checked, run.activated), (1, 1), "{run:?}");
    let active = f.read(&domain).await.unwrap();
    assert_eq!(active.state.verified_at, Some(f.clock_now()));
    assert!(f.clock_now().datetime() - published.datetime() <= Duration::minutes(2));
}

/// A name that points elsewhere at every look (a CNAME to a name without the record, as a
/// wildcard gives) is not news to a probe: probes stay probes, and full checks keep to
/// the ladder.
async fn a_cname_at_every_look_does_not_buy_a_full_check_each_time(backend: Backend) {
    let f = Fixture::new(backend).await;
    let domain = f.register("pointing.example", Duration::ZERO).await;
    assert_eq!(seen(&f.run().await), Seen::Full);
    f.publish(&domain);
    let owner = format!("_amazonses.{}", domain.name);
    f.dns.remove(&owner);
    f.dns
        .add_cname(&owner, &format!("elsewhere.{}", domain.name));
    // The ladder's check at 1 minute finds everything but the ownership record, which
    // points elsewhere.
    assert_eq!(seen(&next_minute(&f).await), Seen::Full, "ladder: 1 min");
    let mut looks = Vec::new();
    for _ in 2..=10 {
        looks.push(seen(&next_minute(&f).await));
    }
    let full = looks.iter().filter(|look| **look == Seen::Full).count();
    assert_eq!(full, 1, "only the ladder's check at 6 minutes: {looks:?}");
    assert_eq!(looks[4], Seen::Full, "{looks:?}");
    assert_eq!(f.read(&domain).await.unwrap().state.status, Status::Pending);
}

for_each_backend!(
    a_cname_at_every_look_does_not_buy_a_full_check_each_time,
    each_step_of_the_pending_schedule,
    a_probe_that_finds_the_record_checks_fully_in_the_same_run,
    a_domain_published_between_looks_turns_active_at_the_next_one,
);

/// Serves what moto's zone holds on the loopback hierarchy's servers, as Route 53's own
/// servers do once a change is `INSYNC`.
fn serve_zone(f: &super::crash::Fixture, name: &str, records: &[(String, String, Vec<String>)]) {
    f.dns.zone(name);
    for (owner, record_type, values) in records {
        for value in values {
            match record_type.as_str() {
                "MX" => {
                    let (preference, host) = value.split_once(' ').unwrap();
                    f.dns.add_mx(
                        owner,
                        preference.parse().unwrap(),
                        host.trim_end_matches('.'),
                    );
                }
                "TXT" => {
                    // Quoted character-strings, as Route 53 holds a TXT value.
                    let strings: Vec<&str> = value.split('"').skip(1).step_by(2).collect();
                    f.dns.add_txt(owner, &strings);
                }
                other => panic!("unexpected record type {other}"),
            }
        }
    }
}

async fn get(app: &domains::App, key: &str, id: &str) -> Value {
    let (status, body) =
        super::crash::answer(app, Endpoint::Get, super::crash::on_domain(key, id, "")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The Route 53 change the domain waits for, as stored.
async fn zone_change(f: &super::crash::Fixture, id: &str) -> Option<String> {
    let id = domains::model::DomainId::parse(id).unwrap();
    let stored = f.store.get_domain(&testkit::org("org_a"), &id).await;
    stored.unwrap().unwrap().state.zone_change
}

/// Registered with `autoConfigureDns` into a managed zone (moto's Route 53): the change is
/// remembered, and the first sweep after it is `INSYNC` activates the domain, in the same
/// second. `nextCheckAt` on GET and the list says when the service looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_auto_configured_domain_turns_active_once_its_change_is_in_sync() {
    use super::crash::{Fixture, answer, register};
    let f = Fixture::new().await;
    let app = f.app();
    let key = f.key("org_a").to_owned();
    let name = unique_domain("insync");
    let zone = f.zone(&name).await;
    let (status, body) = answer(&app, Endpoint::Register, register(&key, &name, true)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let registered = domains::clock::Clock::now(f.clock.as_ref());
    assert!(
        zone_change(&f, &id).await.is_some(),
        "the change is followed"
    );
    let shown = get(&app, &key, &id).await;
    assert_eq!(shown["nextCheckAt"], registered.to_string(), "due at once");

    serve_zone(&f, &name, &zone_records(&zone).await);
    let run = domains::workflows::sweep::sweep(&app, None, &Default::default()).await;
    assert_eq!(
        (run.checked, run.activated, run.awaiting_change, run.errors),
        (1, 1, 0, 0),
        "{run:?}"
    );
    let active = get(&app, &key, &id).await;
    assert_eq!(active["status"], "active");
    assert_eq!(active["verifiedAt"], registered.to_string());
    assert_eq!(zone_change(&f, &id).await, None, "followed to the end");

    // A domain whose owner publishes: `nextCheckAt` moves with each look, on GET and in
    // the list alike.
    let other = unique_domain("manual");
    f.dns.zone(&other);
    let (status, body) = answer(&app, Endpoint::Register, register(&key, &other, false)).await;
    assert_eq!(status, 201, "{body}");
    let other_id = body["id"].as_str().unwrap().to_owned();
    let mut shown = Vec::new();
    for _ in 0..3 {
        domains::workflows::sweep::sweep(&app, None, &Default::default()).await;
        let now = domains::clock::Clock::now(f.clock.as_ref());
        let next = get(&app, &key, &other_id).await["nextCheckAt"].clone();
        assert_eq!(
            next,
            now.plus(Duration::minutes(1) - SWEEP_SLACK).to_string(),
            "a minute on (less the slack) in the first hour"
        );
        let (_, list) = answer(
            &app,
            Endpoint::List,
            super::crash::post(&key, "/api/email/domains", Value::Null),
        )
        .await;
        let listed = list["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == other_id.as_str())
            .unwrap()["nextCheckAt"]
            .clone();
        assert_eq!(listed, next);
        shown.push(next);
        f.clock.advance(Duration::minutes(1));
    }
    shown.dedup();
    assert_eq!(shown.len(), 3, "it moves: {shown:?}");
}
