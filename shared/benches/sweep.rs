//! Sweep throughput: 10,000 due domains, a loopback DNS server that answers every query
//! after 20 ms, concurrency 16, 64 and 256.
//!
//! Run with `cargo bench -p domains --bench sweep` (figures in the README). Each domain
//! is five concurrent lookups, so one domain takes about one DNS round trip (20 ms) and a
//! concurrency of N allows at most N / 20 ms domains per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domains::App;
use domains::clock::{Clock, SystemClock};
use domains::dns::DnsChecker;
use domains::store::{DefaultChoice, MemoryStore, Store};
use domains::sweep::{SweepOptions, sweep};
use testkit::{TestDns, pending_domain};

const DOMAINS: usize = 10_000;
const DNS_LATENCY: Duration = Duration::from_millis(20);

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The DNS server runs on a thread of its own, as a remote server would, so its work does
/// not queue behind the sweep's tasks.
fn start_dns_thread() -> TestDns {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("DNS runtime");
        runtime.block_on(async move {
            sender
                .send(TestDns::start().await)
                .expect("bench waits for the server");
            std::future::pending::<()>().await
        });
    });
    receiver.recv().expect("DNS server started")
}

#[tokio::main]
async fn main() {
    let dns = start_dns_thread();
    dns.set_delay(DNS_LATENCY);
    println!(
        "sweep of {DOMAINS} due domains (half pass, half fail), DNS answers after {} ms",
        DNS_LATENCY.as_millis()
    );
    println!("| concurrency | domains/s | bound (concurrency / 20 ms) | of bound | peak RSS |");
    println!("|---|---|---|---|---|");
    for concurrency in [16, 64, 256] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let now = SystemClock.now();
        for i in 0..DOMAINS {
            // A name per run, so earlier runs' records do not leak into this one.
            let name = format!("d{i}.c{concurrency}.bench.example");
            let domain = pending_domain("org_bench", &name, now);
            if i % 2 == 0 {
                dns.add_mx(&name, 10, "inbound-smtp.us-east-1.amazonaws.com");
                dns.add_txt(
                    &format!("_amazonses.{name}"),
                    &[&domain.setup.ownership_token],
                );
            }
            store
                .insert_domain(&domain, DefaultChoice::Never)
                .await
                .unwrap();
        }
        let checker = DnsChecker::with_nameservers(&[dns.addr()], Duration::from_secs(2));
        let app = App::new(store, Arc::new(SystemClock), checker);
        let options = SweepOptions {
            concurrency,
            ..SweepOptions::default()
        };
        let started = Instant::now();
        let summary = sweep(&app, None, &options).await;
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(summary.checked, DOMAINS, "{summary:?}");
        assert_eq!(summary.activated, DOMAINS / 2, "{summary:?}");
        let rate = DOMAINS as f64 / elapsed;
        let bound = concurrency as f64 / DNS_LATENCY.as_secs_f64();
        println!(
            "| {concurrency} | {rate:.0} | {bound:.0} | {:.0}% | {:.0} MiB |",
            100.0 * rate / bound,
            peak_rss_mib()
        );
    }
}
