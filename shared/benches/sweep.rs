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
use domains::store::{DefaultChoice, MemoryStore, Store};
use domains::sweep::{SweepOptions, sweep};
use testkit::{DnsHierarchy, pending_domain};

const DOMAINS: usize = 10_000;
const DNS_LATENCY: Duration = Duration::from_millis(20);
const ZONE: &str = "bench.example";

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

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
        for i in 0..DOMAINS {
            // A name per run, so earlier runs' records do not leak into this one.
            let name = format!("d{i}.c{concurrency}.{ZONE}");
            let domain = pending_domain("org_bench", &name, now);
            if i % 2 == 0 {
                dns.publish_required(&domain);
            }
            store
                .insert_domain(&domain, DefaultChoice::Never)
                .await
                .unwrap();
        }
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
        let asked = dns.queries_for_zone_servers() - asked_before;
        assert_eq!(summary.checked, DOMAINS, "{summary:?}");
        // Beyond what two cores carry (256), some answers come too late and those
        // domains wait for their next check; below it, every published domain activates.
        if concurrency <= 64 {
            assert_eq!(summary.activated, DOMAINS / 2, "{summary:?}");
        }
        let rate = DOMAINS as f64 / elapsed;
        let bound = concurrency as f64 / DNS_LATENCY.as_secs_f64();
        println!(
            "| {concurrency} | {rate:.0} | {bound:.0} | {:.0}% | {} | {:.1} | {:.0} MiB |",
            100.0 * rate / bound,
            summary.activated,
            asked as f64 / DOMAINS as f64,
            peak_rss_mib()
        );
    }
}
