//! The verify and sweep paths under property tests: zones on the loopback hierarchy serve
//! arbitrary TXT bytes beside a domain's records, and every check ends in a verdict for
//! each record, stored, bounded, and with the process alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use domains::App;
use domains::clock::SystemClock;
use domains::model::{RecordKind, RecordStatus, Status, Timestamp};
use domains::store::{DefaultChoice, MemoryStore, Store};
use domains::workflows::sweep::{SweepOptions, sweep};
use domains::workflows::verify::verify;
use proptest::prelude::*;
use testkit::{DnsHierarchy, pending_domain};

struct World {
    runtime: tokio::runtime::Runtime,
    dns: DnsHierarchy,
    app: App,
    store: Arc<dyn Store>,
}

/// One hierarchy and one app for all cases (each case gets a zone of its own), on a
/// runtime whose workers keep serving DNS between cases.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dns = runtime.block_on(DnsHierarchy::start());
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let checker = dns.checker(Duration::from_secs(1));
        let app = App::new(store.clone(), Arc::new(SystemClock), checker);
        World {
            runtime,
            dns,
            app,
            store,
        }
    })
}

fn txt_record() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let string = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..255),
        Just(b"v=spf1 include:amazonses.com ~all".to_vec()),
        Just(b"v=DMARC1; p=\xff".to_vec()),
        Just("v=spf\u{e9}".as_bytes().to_vec()),
        Just(b"v=DKIM1; k=rsa; p=".to_vec()),
    ];
    proptest::collection::vec(string, 1..3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn verify_and_sweep_judge_any_published_bytes(
        apex in proptest::collection::vec(txt_record(), 0..4),
        dmarc in proptest::collection::vec(txt_record(), 0..3),
        selector in proptest::collection::vec(txt_record(), 0..3),
        publish_required in any::<bool>(),
    ) {
        static CASES: AtomicUsize = AtomicUsize::new(0);
        let world = world();
        let name = format!("case{}.example", CASES.fetch_add(1, Ordering::Relaxed));
        world.dns.zone(&name);
        let domain = pending_domain("org_a", &name, Timestamp::from_unix(0));
        if publish_required {
            world.dns.publish_required(&domain);
        }
        let owners = [
            (name.clone(), apex),
            (format!("_dmarc.{name}"), dmarc),
            (format!("{}._domainkey.{name}", domain.setup.dkim_selector), selector),
        ];
        for (owner, records) in &owners {
            for strings in records {
                let parts: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
                world.dns.add_txt_bytes(owner, &parts);
            }
        }
        let (verified, swept) = world.runtime.block_on(async {
            let stored = world.store.insert_domain(&domain, DefaultChoice::Never).await.unwrap();
            let verified = verify(&world.app, stored).await.expect("verify stores its findings");
            let swept = sweep(&world.app, None, &SweepOptions::default()).await;
            (verified, swept)
        });
        let (after, report) = verified;
        prop_assert_eq!(report.findings.len(), 7);
        for finding in &report.findings {
            prop_assert!(finding.status != RecordStatus::NotChecked);
            prop_assert!(finding.status != RecordStatus::TemporaryFailure, "{:?}", finding);
            prop_assert!(finding.found.len() <= 10 && finding.found.iter().all(|v| v.len() <= 512));
            prop_assert_eq!(finding.servers.len(), 2);
        }
        prop_assert_eq!(after.state.last_check.as_ref(), Some(&report));
        // Required records alone decide; whatever else stands at the selector may defeat DKIM.
        let dkim_ok = report.passed(RecordKind::Dkim);
        let expected = if publish_required && dkim_ok { Status::Active } else { Status::Pending };
        prop_assert_eq!(after.state.status, expected);
        prop_assert_eq!(swept.errors, 0, "{:?}", swept);
    }
}
