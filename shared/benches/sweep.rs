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
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use testkit::{DnsHierarchy, Scripted, TestDns, pending_domain};

const DOMAINS: usize = 10_000;
const DNS_LATENCY: Duration = Duration::from_millis(20);
const ZONE: &str = "bench.example";

/// The DNS servers run on a runtime of their own, as remote servers would, so their work
/// does not queue behind the sweep's tasks. Two threads: one thread of the test servers
/// tops out near 25,000 answers a second, which 64 checks of ten questions each exceed.
fn start_dns_thread() -> (&'static DnsHierarchy, &'static [TestDns]) {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("DNS runtime");
        runtime.block_on(async move {
            let dns: &'static DnsHierarchy = Box::leak(Box::new(DnsHierarchy::start().await));
            let mut hostile = Vec::new();
            for host in HOSTILE_HOSTS {
                hostile.push(dns.server(host).await);
            }
            let hostile: &'static [TestDns] = Box::leak(hostile.into_boxed_slice());
            sender
                .send((dns, hostile))
                .expect("bench waits for the servers");
            std::future::pending::<()>().await
        });
    });
    receiver.recv().expect("DNS servers started")
}

/// The hostile organization's name servers (127.a.b.100 and up).
const HOSTILE_HOSTS: std::ops::Range<u8> = 100..108;
const HOSTILE_ZONE: &str = "fanout.example";

#[tokio::main]
async fn main() {
    let (dns, hostile) = start_dns_thread();
    dns.zone(ZONE);
    dns.set_delay(DNS_LATENCY);
    // `cargo bench --bench sweep -- hostile`: the hostile run alone.
    if std::env::args().any(|a| a == "hostile") {
        hostile_run(dns, hostile).await;
        return;
    }
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
    hostile_run(dns, hostile).await;
}

/// Good domains of one organization beside hostile ones of another, whose eight name
/// servers answer every question with a CNAME to a name never seen before (the fan-out of
/// a verify that once sent 30,000 queries): the good domains' rate with and without them,
/// and what the hostile ones cost in queries. Sizes from `HOSTILE_BENCH_GOOD` and
/// `HOSTILE_BENCH_HOSTILE` (10,000 and 1,000 by default).
async fn hostile_run(dns: &DnsHierarchy, hostile: &[TestDns]) {
    let size = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let good = size("HOSTILE_BENCH_GOOD", 10_000);
    let bad = size("HOSTILE_BENCH_HOSTILE", 1_000);
    let hosts: Vec<(String, std::net::Ipv4Addr)> = HOSTILE_HOSTS
        .map(|host| (format!("ns{host}.{HOSTILE_ZONE}"), dns.ip(host)))
        .collect();
    let hosts: Vec<(&str, std::net::Ipv4Addr)> =
        hosts.iter().map(|(h, ip)| (h.as_str(), *ip)).collect();
    dns.zone_on(HOSTILE_ZONE, &hosts, &hostile.iter().collect::<Vec<_>>());
    static FRESH: AtomicUsize = AtomicUsize::new(0);
    for server in hostile {
        server.set_script(Arc::new(|qname, qtype, _| {
            matches!(qtype, RecordType::TXT | RecordType::MX).then(|| {
                let n = FRESH.fetch_add(1, Ordering::Relaxed);
                let target = Name::from_ascii(format!("f{n}.{HOSTILE_ZONE}.")).unwrap();
                Scripted {
                    answers: vec![Record::from_rdata(
                        qname.clone(),
                        300,
                        RData::CNAME(CNAME(target)),
                    )],
                    authoritative: true,
                    ..Scripted::default()
                }
            })
        }));
    }
    let hostile_queries = || -> usize { hostile.iter().map(TestDns::queries).sum() };
    println!();
    println!(
        "hostile run: {good} good domains of one organization (half published), then the \
         same beside {bad} hostile domains of another (8 name servers answering fresh CNAMEs), \
         concurrency 64"
    );
    println!(
        "| run | good domains/s | hostile domains | queries to hostile servers | per hostile domain | elapsed |"
    );
    println!("|---|---|---|---|---|---|");
    for with_hostile in [false, true] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let now = SystemClock.now();
        for org in ["org_good", "org_hostile"] {
            store
                .set_quota(&testkit::org(org), (good + bad) as u64)
                .await
                .unwrap();
        }
        let tag = if with_hostile { "with" } else { "alone" };
        let names = (0..good).map(|i| format!("g{i}.{tag}.{ZONE}"));
        seed_pending(dns, store.as_ref(), "org_good", names, now).await;
        if with_hostile {
            for i in 0..bad {
                // Subdomains of the hostile zone: every record lands on its servers.
                let domain = pending_domain("org_hostile", &format!("h{i}.{HOSTILE_ZONE}"), now);
                store
                    .insert_domain(&domain, DefaultChoice::Never)
                    .await
                    .unwrap();
            }
        }
        let before = hostile_queries();
        let (summary, elapsed, _) = timed_sweep(dns, store.clone(), 64).await;
        let spent = hostile_queries() - before;
        // The good domains' rate: good domains over the whole run (the hostile ones are
        // checked in the same run, and cost the good ones whatever slots they hold).
        let rate = good as f64 / elapsed;
        let hostile_count = if with_hostile { bad } else { 0 };
        assert_eq!(summary.checked, good + hostile_count, "{summary:?}");
        println!(
            "| {} | {rate:.0} | {hostile_count} | {spent} | {:.0} | {elapsed:.1} s |",
            if with_hostile {
                "with hostile"
            } else {
                "good alone"
            },
            if hostile_count == 0 {
                0.0
            } else {
                spent as f64 / hostile_count as f64
            },
        );
    }
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
