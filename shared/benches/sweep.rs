//! Sweep throughput with authoritative checks: 10,000 due domains in one zone served by two
//! name servers that answer every query after 20 ms, found through Unbound (the loopback
//! hierarchy of the tests), at concurrency 16, 64 and 256.
//!
//! Run with `cargo bench -p domains --bench sweep` as root (the name servers listen on
//! port 53 of loopback addresses); figures in the README. A domain is five records, each
//! asked of both servers at once, so one domain takes about one round trip (20 ms) and a
//! concurrency of N allows at most N / 20 ms domains per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domains::App;
use domains::clock::{Clock, SystemClock};
use domains::model::Status;
use domains::store::{DefaultChoice, MemoryStore, Store};
use domains::workflows::sweep::{SweepOptions, sweep};
use testkit::{DnsHierarchy, pending_domain};

const DOMAINS: usize = 10_000;
const DNS_LATENCY: Duration = Duration::from_millis(20);
const ZONE: &str = "bench.example";

/// The DNS servers run on a runtime of their own, as remote servers would, so their work
/// does not queue behind the sweep's tasks. Two threads: one thread of the test servers
/// tops out near 25,000 answers a second, which 64 checks of ten questions each exceed.
fn start_dns_thread() -> &'static DnsHierarchy {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
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

#[tokio::main]
async fn main() {
    let dns = start_dns_thread();
    dns.zone(ZONE);
    dns.set_delay(DNS_LATENCY);
    println!(
        "sweep of {DOMAINS} due domains (half pass, half fail), authoritative checks: one zone \
         on two name servers answering after {} ms, Unbound in front",
        DNS_LATENCY.as_millis()
    );
    println!(
        "| concurrency | domains/s | bound (concurrency / 20 ms) | of bound | activated (of 5000) | queries/domain | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for concurrency in [16, 64, 256] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let now = SystemClock.now();
        // One organization holds them all: above the default quota of 1,000.
        store
            .set_quota(&testkit::org("org_bench"), DOMAINS as u64)
            .await
            .unwrap();
        // A name per run, so earlier runs' records do not leak into this one.
        let names = (0..DOMAINS).map(|i| format!("d{i}.c{concurrency}.{ZONE}"));
        seed_pending(dns, store.as_ref(), "org_bench", names, now).await;
        let (summary, elapsed, asked) = timed_sweep(dns, store, concurrency).await;
        assert_eq!(summary.checked, DOMAINS, "{summary:?}");
        // Where two cores are saturated (256, and 64 on a busy machine) some answers come
        // too late and those domains wait for their next check; at 16, every published
        // domain activates.
        if concurrency <= 16 {
            assert_eq!(summary.activated, DOMAINS / 2, "{summary:?}");
        }
        let rate = DOMAINS as f64 / elapsed;
        let bound = concurrency as f64 / DNS_LATENCY.as_secs_f64();
        println!(
            "| {concurrency} | {rate:.0} | {bound:.0} | {:.0}% | {} | {:.1} | {:.0} MiB |",
            100.0 * rate / bound,
            summary.activated,
            asked as f64 / DOMAINS as f64,
            devservers::peak_rss_mib("self")
        );
    }
    mixed_run(dns).await;
}

/// Registers a pending domain of `org` for each name, every other one with its records
/// published.
async fn seed_pending(
    dns: &DnsHierarchy,
    store: &dyn Store,
    org: &str,
    names: impl Iterator<Item = String>,
    now: domains::model::Timestamp,
) {
    for (i, name) in names.enumerate() {
        let domain = pending_domain(org, &name, now);
        if i % 2 == 0 {
            dns.publish_required(&domain);
        }
        store
            .insert_domain(&domain, DefaultChoice::Never)
            .await
            .unwrap();
    }
}

/// One sweep over `store`: its summary, its duration in seconds, and the questions the
/// zone's name servers were asked meanwhile.
async fn timed_sweep(
    dns: &DnsHierarchy,
    store: Arc<dyn Store>,
    concurrency: usize,
) -> (domains::workflows::sweep::SweepSummary, f64, usize) {
    let checker = dns.checker(Duration::from_secs(2));
    let app = App::new(store, Arc::new(SystemClock), checker);
    let options = SweepOptions {
        concurrency,
        ..SweepOptions::default()
    };
    let asked_before = dns.queries_for_zone_servers();
    let started = Instant::now();
    let summary = sweep(&app, None, &options).await;
    let elapsed = started.elapsed().as_secs_f64();
    (
        summary,
        elapsed,
        dns.queries_for_zone_servers() - asked_before,
    )
}

/// Pending domains due, and a daily watch over many active ones of which 1/24 are due:
/// the index hands the sweep only those due, so the active domains that are not cost no
/// read and no question.
async fn mixed_run(dns: &DnsHierarchy) {
    const PENDING: usize = 10_000;
    const ACTIVE: usize = 100_000;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let now = SystemClock.now();
    let org = testkit::org("org_mixed");
    store
        .set_quota(&org, (PENDING + ACTIVE) as u64)
        .await
        .unwrap();
    let names = (0..PENDING).map(|i| format!("p{i}.mixed.{ZONE}"));
    seed_pending(dns, store.as_ref(), "org_mixed", names, now).await;
    let mut active_due = 0;
    for i in 0..ACTIVE {
        let mut domain = pending_domain("org_mixed", &format!("a{i}.mixed.{ZONE}"), now);
        domain.state.status = Status::Active;
        domain.state.verified_at = Some(now);
        domain.state.pending_since = None;
        // Checked around the clock: each hour of the day has 1/24 of them due.
        let due = i % 24 == 0;
        domain.state.next_check_at = Some(if due {
            active_due += 1;
            dns.publish_required(&domain);
            now
        } else {
            now.plus(time::Duration::minutes(1 + (i % 24) as i64 * 60))
        });
        store
            .insert_domain(&domain, DefaultChoice::Never)
            .await
            .unwrap();
    }
    let (summary, elapsed, asked) = timed_sweep(dns, store, 64).await;
    let due = PENDING + active_due;
    // Every due domain read and checked once; nothing else read.
    assert_eq!((summary.due, summary.checked), (due, due), "{summary:?}");
    assert_eq!(summary.errors, 0, "{summary:?}");
    println!();
    println!(
        "mixed run: {PENDING} pending domains due, {ACTIVE} active of which {active_due} \
         due (1/24), concurrency 64"
    );
    println!(
        "| domains read (= due) | checked | activated | degraded | domains/s | queries/domain | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {:.0} | {:.1} | {:.0} MiB |",
        summary.due,
        summary.checked,
        summary.activated,
        summary.degraded,
        due as f64 / elapsed,
        asked as f64 / due as f64,
        devservers::peak_rss_mib("self")
    );
}
