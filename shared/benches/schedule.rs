//! Published → active, simulated: pending domains whose owners publish their records at
//! random times, swept by the real sweep code on its real schedule, with the injected
//! clock moved one sweep at a time (a minute on the probing schedule, five on the backoff
//! ladder before it) and every DNS answer real (the loopback hierarchy of the tests).
//!
//! Run with `cargo bench -p domains --bench schedule` as root (the name servers listen on
//! port 53 of loopback addresses); figures and method in docs/benchmarks.md. Sizes from
//! `SCHEDULE_BENCH_EXPONENTIAL` and `SCHEDULE_BENCH_UNIFORM` (10,000 and 1,000 domains: a
//! domain's schedule does not depend on the others', so the smaller sample only widens the
//! percentiles' error, and keeps the run to minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use domains::App;
use domains::clock::{Clock, ManualClock};
use domains::model::{Status, Timestamp};
use domains::store::{DefaultChoice, MemoryStore, Store};
use domains::workflows::sweep::{PendingSchedule, SweepOptions, sweep};
use testkit::{DnsHierarchy, pending_domain};

const ZONE: &str = "sim.example";
const START: i64 = 1_795_687_200;
/// The verification window: a domain not published by then is failed, as deployed.
const WINDOW: i64 = 72 * 3600;
/// The cost model of one look in Lambda (see docs/benchmarks.md): a probe is one round
/// trip to a name server and two DynamoDB calls; a full check about two round trips (its
/// records are asked at once) and three calls; a run has a fixed part (the index query,
/// the summary line).
const PROBE_SECONDS: f64 = 0.050;
const FULL_SECONDS: f64 = 0.150;
const RUN_SECONDS: f64 = 0.3;
const CONCURRENCY: f64 = 64.0;

#[derive(Clone, Copy)]
enum Publish {
    /// Exponential, mean 30 minutes after registering.
    Soon,
    /// Uniform over the first 24 hours.
    FirstDay,
}

impl Publish {
    fn label(self) -> &'static str {
        match self {
            Publish::Soon => "exponential, mean 30 min",
            Publish::FirstDay => "uniform over 24 h",
        }
    }

    /// Seconds after registering, from a uniform `u` in [0, 1).
    fn at(self, u: f64) -> i64 {
        match self {
            Publish::Soon => (-1800.0 * (1.0 - u).ln()) as i64,
            Publish::FirstDay => (u * 86_400.0) as i64,
        }
    }
}

/// SplitMix64: the same publish times on every run, without a dependency.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Outcome {
    latencies: Vec<i64>,
    failed: usize,
    queries: usize,
    probes: usize,
    full: usize,
    runs: usize,
    /// Σ over runs of the domains pending at that run × the time to the next run.
    pending_hours: f64,
    simulated_hours: f64,
    wall: Duration,
}

/// The DNS servers run on a runtime of their own, as remote servers would.
fn start_dns() -> &'static DnsHierarchy {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("DNS runtime");
        runtime.block_on(async move {
            let dns: &'static DnsHierarchy = Box::leak(Box::new(DnsHierarchy::start().await));
            sender.send(dns).expect("bench waits for the servers");
            std::future::pending::<()>().await
        });
    });
    receiver.recv().expect("DNS servers started")
}

async fn simulate(
    dns: &DnsHierarchy,
    schedule: PendingSchedule,
    publish: Publish,
    count: usize,
    tag: &str,
) -> Outcome {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix(START)));
    let app = App::new(
        store.clone(),
        clock.clone(),
        dns.checker(Duration::from_secs(2)),
    );
    let org = testkit::org("org_sim");
    store.set_quota(&org, count as u64).await.unwrap();
    let mut random = Random(42);
    let mut domains = Vec::with_capacity(count);
    for i in 0..count {
        let domain = pending_domain("org_sim", &format!("d{i}.{tag}.{ZONE}"), clock.now());
        store
            .insert_domain(&domain, DefaultChoice::Never)
            .await
            .unwrap();
        domains.push((publish.at(random.unit()), domain));
    }
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by_key(|i| domains[*i].0);
    let every = match schedule {
        PendingSchedule::Probing => 60,
        PendingSchedule::Backoff => 300,
    };
    let options = SweepOptions {
        pending: schedule,
        ..SweepOptions::default()
    };
    let mut outcome = Outcome {
        latencies: Vec::new(),
        failed: 0,
        queries: 0,
        probes: 0,
        full: 0,
        runs: 0,
        pending_hours: 0.0,
        simulated_hours: 0.0,
        wall: Duration::ZERO,
    };
    let (mut published, mut settled) = (0, 0);
    let mut elapsed = 0;
    while settled < count && elapsed <= WINDOW + every {
        while published < count && domains[order[published]].0 <= elapsed {
            dns.publish_required(&domains[order[published]].1);
            published += 1;
        }
        let started = Instant::now();
        let run = sweep(&app, None, &options).await;
        outcome.wall += started.elapsed();
        assert_eq!(run.errors, 0, "{run:?}");
        settled += run.activated + run.failed;
        outcome.queries += run.queries;
        outcome.probes += run.probed;
        outcome.full += run.checked;
        outcome.runs += 1;
        outcome.pending_hours += (count - settled) as f64 * every as f64 / 3600.0;
        clock.advance(time::Duration::seconds(every));
        elapsed += every;
    }
    outcome.simulated_hours = elapsed as f64 / 3600.0;
    for (at, domain) in &domains {
        let stored = store.get_domain(&org, &domain.id).await.unwrap().unwrap();
        match (stored.state.status, stored.state.verified_at) {
            (Status::Active, Some(verified)) => {
                let published = START + at;
                outcome
                    .latencies
                    .push(verified.datetime().unix_timestamp() - published);
            }
            _ => outcome.failed += 1,
        }
    }
    outcome.latencies.sort_unstable();
    outcome
}

fn percentile(sorted: &[i64], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    let seconds = sorted[at];
    if seconds < 120 {
        format!("{seconds} s")
    } else if seconds < 7200 {
        format!("{:.1} min", seconds as f64 / 60.0)
    } else {
        format!("{:.1} h", seconds as f64 / 3600.0)
    }
}

/// Lambda-seconds per hour with `pending` domains pending, from the looks per pending
/// domain-hour the simulation measured and the cost model above.
fn lambda_seconds(outcome: &Outcome, every: i64, pending: f64) -> f64 {
    let probes = outcome.probes as f64 / outcome.pending_hours;
    let full = outcome.full as f64 / outcome.pending_hours;
    let runs = 3600.0 / every as f64;
    runs * RUN_SECONDS + pending * (probes * PROBE_SECONDS + full * FULL_SECONDS) / CONCURRENCY
}

#[tokio::main]
async fn main() {
    let dns = start_dns();
    dns.zone(ZONE);
    let size = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let scenarios = [
        (Publish::Soon, size("SCHEDULE_BENCH_EXPONENTIAL", 10_000)),
        (Publish::FirstDay, size("SCHEDULE_BENCH_UNIFORM", 1_000)),
    ];
    println!(
        "| schedule | publish | domains | p50 | p90 | p99 | max | not active | queries / pending domain / h | queries / domain | probes, full checks / pending domain / h | Lambda-s / h at 10k, 100k pending | wall time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (schedule, every, label) in [
        (
            PendingSchedule::Backoff,
            300,
            "before: backoff, sweep every 5 min",
        ),
        (
            PendingSchedule::Probing,
            60,
            "after: probing, sweep every minute",
        ),
    ] {
        for (n, (publish, count)) in scenarios.iter().enumerate() {
            let tag = format!("{}{n}", if every == 60 { "p" } else { "b" });
            let outcome = simulate(dns, schedule, *publish, *count, &tag).await;
            let l = &outcome.latencies;
            println!(
                "| {label} | {} | {count} | {} | {} | {} | {} | {} | {:.1} | {:.0} | {:.1}, {:.2} | {:.0}, {:.0} | {:.0} s for {:.1} simulated h |",
                publish.label(),
                percentile(l, 0.5),
                percentile(l, 0.9),
                percentile(l, 0.99),
                percentile(l, 1.0),
                outcome.failed,
                outcome.queries as f64 / outcome.pending_hours,
                outcome.queries as f64 / *count as f64,
                outcome.probes as f64 / outcome.pending_hours,
                outcome.full as f64 / outcome.pending_hours,
                lambda_seconds(&outcome, every, 10_000.0),
                lambda_seconds(&outcome, every, 100_000.0),
                outcome.wall.as_secs_f64(),
                outcome.simulated_hours,
            );
        }
    }
}
