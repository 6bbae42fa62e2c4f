//! Lists at scale, against both stores: pages read by offset, by cursor and by status,
//! counters kept exact by every change that moves them, and recounts that find and repair
//! drift.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use domains::model::{Domain, DomainId, Region, Status, StatusCounts, Timestamp};
use domains::store::{
    DefaultChoice, DomainUpdate, Effect, PageQuery, PageStart, Reservation, Store, StoreError,
    backoff,
};
use testkit::{Backend, for_each_backend, org, pending_domain};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(1_704_873_600 + seconds)
}

async fn insert(store: &Arc<dyn Store>, org_id: &str, name: &str) -> Domain {
    store
        .insert_domain(&pending_domain(org_id, name, at(0)), DefaultChoice::IfNone)
        .await
        .unwrap_or_else(|e| panic!("insert {name}: {e}"))
}

/// Moves the domain to `status` the way a handler does: read, decide, write, again on a
/// conflict.
async fn move_to(store: &Arc<dyn Store>, domain: &Domain, status: Status) {
    for attempt in 0..50 {
        let current = store
            .get_domain(&domain.org_id, &domain.id)
            .await
            .unwrap()
            .expect("the domain exists");
        let update = DomainUpdate {
            state: Some(current.state.moved_to(status, at(5))),
            setup: None,
            default: None,
            at: at(5),
        };
        match store.update_domain(&current, &update).await {
            Ok(_) => return,
            Err(StoreError::Conflict) => backoff(attempt).await,
            Err(other) => panic!("move {}: {other}", domain.name),
        }
    }
    panic!("move {}: conflicts without end", domain.name);
}

async fn page(
    store: &Arc<dyn Store>,
    org_id: &str,
    status: Option<Status>,
    start: PageStart,
    limit: usize,
) -> (Vec<String>, bool, StatusCounts) {
    let page = store
        .list_page(
            &org(org_id),
            &PageQuery {
                status,
                start,
                limit,
            },
        )
        .await
        .unwrap();
    let names = page.domains.iter().map(|d| d.name.to_string()).collect();
    (names, page.more, page.counts)
}

async fn pages_by_offset_cursor_and_status(backend: Backend) {
    let store = backend.fresh_store().await;
    let mut domains = Vec::new();
    for i in 0..7 {
        domains.push(insert(&store, "org_a", &format!("d{i}.example")).await);
    }
    insert(&store, "org_b", "other.example").await;
    for i in [1, 4, 5] {
        move_to(&store, &domains[i], Status::Suspended).await;
    }
    let counts = StatusCounts {
        pending: 4,
        suspended: 3,
        ..StatusCounts::default()
    };

    let (names, more, read) = page(&store, "org_a", None, PageStart::Offset(0), 3).await;
    assert_eq!(names, ["d6.example", "d5.example", "d4.example"]);
    assert!(more);
    assert_eq!(read, counts);
    let (names, more, _) = page(&store, "org_a", None, PageStart::Offset(5), 3).await;
    assert_eq!(
        (names, more),
        (vec!["d1.example".into(), "d0.example".into()], false)
    );
    let (names, more, _) = page(&store, "org_a", None, PageStart::Offset(4), 3).await;
    assert_eq!(names.len(), 3);
    assert!(!more, "the page ends exactly at the last domain");
    let after = PageStart::After(domains[4].id.clone());
    let (names, more, _) = page(&store, "org_a", None, after, 2).await;
    assert_eq!(
        (names, more),
        (vec!["d3.example".into(), "d2.example".into()], true)
    );

    let suspended = Some(Status::Suspended);
    let (names, more, _) = page(&store, "org_a", suspended, PageStart::Offset(0), 2).await;
    assert_eq!(
        (names, more),
        (vec!["d5.example".into(), "d4.example".into()], true)
    );
    let after = PageStart::After(domains[4].id.clone());
    let (names, more, _) = page(&store, "org_a", suspended, after, 2).await;
    assert_eq!((names, more), (vec!["d1.example".into()], false));
    let (names, _, _) = page(
        &store,
        "org_a",
        Some(Status::Pending),
        PageStart::Offset(1),
        10,
    )
    .await;
    assert_eq!(names, ["d3.example", "d2.example", "d0.example"]);
    // A cursor at a domain since deleted still places the page.
    store
        .delete_domain(&org("org_a"), &domains[3].id, at(9))
        .await
        .unwrap();
    let after = PageStart::After(domains[3].id.clone());
    let (names, _, read) = page(&store, "org_a", None, after, 10).await;
    assert_eq!(names, ["d2.example", "d1.example", "d0.example"]);
    assert_eq!(read.pending, 3);
    // Another organization's list holds only its own, whatever the start.
    let after = PageStart::After(domains[6].id.clone());
    let (names, _, read) = page(&store, "org_b", None, after, 10).await;
    assert!(names.is_empty(), "{names:?}");
    assert_eq!(read.total(), 1);
    let (names, _, _) = page(&store, "org_c", None, PageStart::Offset(0), 10).await;
    assert!(names.is_empty());
}

fn reservation_for(claimant: &Domain) -> Reservation {
    Reservation {
        name: claimant.name.clone(),
        org: claimant.org_id.clone(),
        domain_id: claimant.id.clone(),
        until: at(600),
        leftovers: vec![],
        effects: vec![Effect::Identity {
            region: Region::DEFAULT,
            domain_id: claimant.id.clone(),
        }],
    }
}

async fn assert_counts_exact(store: &Arc<dyn Store>, org_id: &str) -> StatusCounts {
    let recount = store.recount(&org(org_id), false).await.unwrap();
    assert!(!recount.drifted(), "{org_id}: {recount:?}");
    let (_, _, listed) = page(store, org_id, None, PageStart::Offset(0), 1).await;
    assert_eq!(listed, recount.counted, "{org_id}");
    assert_eq!(
        store.quota(&org(org_id)).await.unwrap().used,
        recount.counted.total()
    );
    recount.counted
}

async fn counts_stay_exact_under_concurrent_changes(backend: Backend) {
    let store = backend.fresh_store().await;
    let registered: Vec<Domain> = futures::future::join_all((0..24).map(|i| {
        let store = store.clone();
        async move { insert(&store, "org_a", &format!("c{i}.example")).await }
    }))
    .await;
    assert_eq!(assert_counts_exact(&store, "org_a").await.pending, 24);

    // All at once: deletes, status changes (some twice over the same domains, so writers
    // lose races and retry), new registrations, and a claim that takes one domain away.
    let mut work: Vec<futures::future::BoxFuture<'static, ()>> = Vec::new();
    for domain in registered[0..5].iter().cloned() {
        let store = store.clone();
        work.push(Box::pin(async move {
            store
                .delete_domain(&domain.org_id, &domain.id, at(7))
                .await
                .unwrap();
        }));
    }
    for (i, domain) in registered[5..17].iter().enumerate() {
        let (first, domain) = (store.clone(), domain.clone());
        if i % 2 == 0 {
            let (second, domain) = (store.clone(), domain.clone());
            work.push(Box::pin(async move {
                move_to(&second, &domain, Status::Suspended).await;
            }));
        }
        work.push(Box::pin(async move {
            move_to(&first, &domain, Status::Suspended).await;
            if i % 3 == 0 {
                move_to(&first, &domain, Status::Active).await;
            }
        }));
    }
    for i in 0..6 {
        let store = store.clone();
        work.push(Box::pin(async move {
            insert(&store, "org_a", &format!("n{i}.example")).await;
        }));
    }
    let held = registered[20].clone();
    {
        let store = store.clone();
        work.push(Box::pin(async move {
            let claimant = pending_domain("org_b", held.name.as_str(), at(8));
            loop {
                let current = store
                    .get_domain(&held.org_id, &held.id)
                    .await
                    .unwrap()
                    .unwrap();
                match store
                    .transfer_name(&current, &reservation_for(&claimant), at(8))
                    .await
                {
                    Ok(()) => break,
                    Err(StoreError::Conflict) => backoff(0).await,
                    Err(other) => panic!("transfer: {other}"),
                }
            }
            store
                .insert_domain(&claimant, DefaultChoice::IfNone)
                .await
                .unwrap();
        }));
    }
    futures::future::join_all(work).await;

    let counts = assert_counts_exact(&store, "org_a").await;
    assert_eq!(counts.total(), 24 - 5 - 1 + 6);
    assert_eq!(counts.suspended + counts.active, 12);
    let b = assert_counts_exact(&store, "org_b").await;
    assert_eq!(
        b,
        StatusCounts {
            pending: 1,
            ..StatusCounts::default()
        }
    );
    // And the lists by status hold what the counters say.
    for status in Status::ALL {
        let (names, more, _) = page(&store, "org_a", Some(status), PageStart::Offset(0), 100).await;
        assert!(!more);
        assert_eq!(names.len() as u64, counts.get(status), "{status}");
    }
}

/// A walk by cursor, while domains come, go and change status between its pages, returns
/// every domain that existed throughout exactly once, and never one twice.
async fn a_cursor_walk_sees_every_stable_domain_once(backend: Backend) {
    let store = backend.fresh_store().await;
    let mut stable = BTreeSet::new();
    let mut volatile = Vec::new();
    for i in 0..30 {
        let domain = insert(&store, "org_a", &format!("w{i}.example")).await;
        if i % 3 == 0 {
            volatile.push(domain);
        } else {
            stable.insert(domain.name.to_string());
        }
    }
    for filter in [None, Some(Status::Pending)] {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut start = PageStart::Offset(0);
        let mut round = 0;
        loop {
            let query = PageQuery {
                status: filter,
                start: start.clone(),
                limit: 4,
            };
            let page = store.list_page(&org("org_a"), &query).await.unwrap();
            for domain in &page.domains {
                *seen.entry(domain.name.to_string()).or_default() += 1;
            }
            // Between pages: one volatile domain deleted, one suspended, one new.
            round += 1;
            if let Some(gone) = volatile.pop() {
                store
                    .delete_domain(&gone.org_id, &gone.id, at(round))
                    .await
                    .unwrap();
            }
            if let Some(moved) = volatile.last() {
                move_to(&store, moved, Status::Suspended).await;
            }
            let name = format!("new{round}-{}.example", walk_tag(filter));
            insert(&store, "org_a", &name).await;
            match (page.more, page.domains.last()) {
                (true, Some(last)) => start = PageStart::After(last.id.clone()),
                _ => break,
            }
        }
        for name in &stable {
            assert_eq!(
                seen.get(name),
                Some(&1),
                "{name} in walk {filter:?}: {seen:?}"
            );
        }
        assert!(seen.values().all(|n| *n == 1), "{seen:?}");
        let tag = format!("-{}.example", walk_tag(filter));
        assert!(
            !seen.keys().any(|name| name.ends_with(&tag)),
            "domains newer than the walk's start come before it: {seen:?}"
        );
    }
}

fn walk_tag(filter: Option<Status>) -> &'static str {
    filter.map_or("all", |s| s.as_str())
}

for_each_backend!(
    pages_by_offset_cursor_and_status,
    counts_stay_exact_under_concurrent_changes,
    a_cursor_walk_sees_every_stable_domain_once,
);

/// Counters drift in real systems (a restore, a hand edit, a bug); a recount finds it and
/// repairs it, and puts domains written before the list index back into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recount_finds_and_repairs_drift() {
    let dynamo = testkit::fresh_dynamo_store().await;
    let store: Arc<dyn Store> = Arc::new(dynamo.clone());
    let a = org("org_a");
    let mut domains = Vec::new();
    for i in 0..5 {
        domains.push(insert(&store, "org_a", &format!("r{i}.example")).await);
    }
    move_to(&store, &domains[2], Status::Suspended).await;
    let key = |sk: String| {
        HashMap::from([
            ("PK".to_owned(), AttributeValue::S(format!("ORG#{a}"))),
            ("SK".to_owned(), AttributeValue::S(sk)),
        ])
    };
    dynamo
        .client()
        .update_item()
        .table_name(dynamo.table())
        .set_key(Some(key("ORG".into())))
        .update_expression("SET activeCount = :wrong, pendingCount = :negative")
        .expression_attribute_values(":wrong", AttributeValue::N("7".into()))
        .expression_attribute_values(":negative", AttributeValue::N("-2".into()))
        .send()
        .await
        .unwrap();
    // As if written before the status index existed.
    dynamo
        .client()
        .update_item()
        .table_name(dynamo.table())
        .set_key(Some(key(format!("DOMAIN#{}", domains[2].id))))
        .update_expression("REMOVE GSI2PK")
        .send()
        .await
        .unwrap();
    let suspended = |store: Arc<dyn Store>| async move {
        page(
            &store,
            "org_a",
            Some(Status::Suspended),
            PageStart::Offset(0),
            10,
        )
        .await
        .0
    };
    assert!(suspended(store.clone()).await.is_empty());

    let found = store.recount(&a, false).await.unwrap();
    assert!(
        found.drifted() && found.negative && !found.repaired,
        "{found:?}"
    );
    assert_eq!((found.stored.active, found.unindexed), (7, 1));
    let expected = StatusCounts {
        pending: 4,
        suspended: 1,
        ..StatusCounts::default()
    };
    assert_eq!(found.counted, expected);
    // Verifying wrote nothing.
    assert!(store.recount(&a, false).await.unwrap().drifted());

    let repaired = store.recount(&a, true).await.unwrap();
    assert!(repaired.repaired, "{repaired:?}");
    assert_counts_exact(&store, "org_a").await;
    assert_eq!(suspended(store.clone()).await, ["r2.example"]);
    // Counting goes on from the repaired values.
    move_to(&store, &domains[0], Status::Suspended).await;
    assert_eq!(assert_counts_exact(&store, "org_a").await.suspended, 2);
    assert_eq!(store.organizations().await.unwrap(), vec![a]);
}

/// Every domain id sorts between the least and the greatest the in-memory store ranges
/// over.
#[test]
fn domain_ids_sort_between_the_bounds() {
    let least = DomainId::parse("dom_00000000000000000000000000").unwrap();
    let greatest = DomainId::parse("dom_7ZZZZZZZZZZZZZZZZZZZZZZZZZ").unwrap();
    let id = DomainId::generate();
    assert!(least < id && id < greatest);
}
