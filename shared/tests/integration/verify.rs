//! The verification flow's writes are conditional: a change made while DNS was being
//! checked is never undone.

use std::sync::Arc;
use std::time::Duration;

use domains::App;
use domains::clock::SystemClock;
use domains::model::{Status, Timestamp};
use domains::store::{DefaultChoice, DomainUpdate};
use domains::workflows::verify::verify;
use testkit::{Backend, DnsHierarchy, for_each_backend, pending_domain};

async fn a_suspension_during_the_check_is_kept(backend: Backend) {
    let store = backend.fresh_store().await;
    let dns = DnsHierarchy::start().await;
    let checker = dns.checker(Duration::from_millis(500));
    let app = App::new(store.clone(), Arc::new(SystemClock), checker);

    let now = Timestamp::from_unix(1_704_873_600);
    let domain = pending_domain("org_a", "yourcompany.example", now);
    let domain = store
        .insert_domain(&domain, DefaultChoice::IfNone)
        .await
        .unwrap();
    dns.publish_required(&domain);

    // The check starts from this snapshot; meanwhile the owner suspends the domain.
    let snapshot = domain.clone();
    let suspend = DomainUpdate {
        setup: None,
        state: Some(domain.state.moved_to(Status::Suspended, now)),
        default: None,
        at: now,
    };
    store.update_domain(&domain, &suspend).await.unwrap();

    let (stored, report) = verify(&app, snapshot).await.unwrap();
    assert!(report.required_passed());
    assert_eq!(
        stored.state.status,
        Status::Suspended,
        "the suspension stands"
    );
    assert_eq!(stored.state.verified_at, None);
    assert_eq!(
        stored.state.last_check.as_ref(),
        Some(&report),
        "the findings are kept"
    );
    let read = store
        .get_domain(&domain.org_id, &domain.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, stored);

    // A domain deleted during the check stays deleted.
    store
        .delete_domain(&domain.org_id, &domain.id, now)
        .await
        .unwrap();
    assert!(verify(&app, read).await.is_err());
    assert_eq!(
        store.get_domain(&domain.org_id, &domain.id).await.unwrap(),
        None
    );
}

for_each_backend!(a_suspension_during_the_check_is_kept);
