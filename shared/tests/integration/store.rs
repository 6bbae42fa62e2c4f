//! One store suite, run against the in-memory store and against DynamoDB Local.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use domains::dns::records_for;
use domains::model::{
    CheckReport, Claim, ClaimStatus, Counter, Domain, DomainId, Finding, RecordKind, RecordStatus,
    Region, ServerFinding, Status, Timestamp, ZoneId,
};
use domains::store::{
    ApiKeyRecord, DEFAULT_MAX_DOMAINS, DefaultChoice, DomainUpdate, Effect, LimitUpdate,
    NameHolder, Quota, Reservation, Store, StoreError,
};
use domains::store::{DomainStore, ListStore};
use testkit::{Backend, for_each_backend, org, pending_domain};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(1_704_873_600 + seconds)
}

async fn insert(
    store: &Arc<dyn Store>,
    org_id: &str,
    name: &str,
    default: DefaultChoice,
) -> Domain {
    store
        .insert_domain(&pending_domain(org_id, name, at(0)), default)
        .await
        .unwrap_or_else(|e| panic!("insert {name}: {e}"))
}

async fn defaults(store: &Arc<dyn Store>, org_id: &str) -> Vec<String> {
    store
        .list_domains(&org(org_id))
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.is_default)
        .map(|d| d.name.to_string())
        .collect()
}

async fn insert_then_get_round_trips(backend: Backend) {
    let store = backend.fresh_store().await;
    let domain = pending_domain("org_a", "example.com", at(0));
    let stored = store
        .insert_domain(&domain, DefaultChoice::IfNone)
        .await
        .unwrap();
    assert!(
        stored.is_default,
        "an organization's first domain is its default"
    );
    let read = store
        .get_domain(&org("org_a"), &domain.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, stored);
    assert_eq!(read.state.status, Status::Pending);
    assert_eq!(read.state.next_check_at, Some(at(0)));
    assert_eq!(read.setup, domain.setup);
}

async fn names_are_unique_across_organizations(backend: Backend) {
    let store = backend.fresh_store().await;
    insert(&store, "org_a", "example.com", DefaultChoice::IfNone).await;
    for org_id in ["org_a", "org_b"] {
        let again = pending_domain(org_id, "example.com", at(1));
        assert_eq!(
            store.insert_domain(&again, DefaultChoice::IfNone).await,
            Err(StoreError::NameTaken("example.com".into()))
        );
        assert_eq!(
            store.get_domain(&org(org_id), &again.id).await.unwrap(),
            None
        );
    }
    assert!(store.list_domains(&org("org_b")).await.unwrap().is_empty());
}

async fn other_organizations_see_nothing(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = insert(&store, "org_a", "example.com", DefaultChoice::IfNone).await;
    let b = org("org_b");
    assert_eq!(store.get_domain(&b, &a.id).await.unwrap(), None);
    assert_eq!(
        store.delete_domain(&b, &a.id, at(90)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.add_to_counter(&b, &a.id, Counter::Inbox, 1).await,
        Err(StoreError::NotFound)
    );
    let mut forged = a.clone();
    forged.org_id = b.clone();
    let update = DomainUpdate {
        setup: None,
        state: None,
        default: Some(true),
        at: at(5),
    };
    assert_eq!(
        store.update_domain(&forged, &update).await,
        Err(StoreError::NotFound)
    );
    assert!(store.list_domains(&b).await.unwrap().is_empty());
    assert!(defaults(&store, "org_b").await.is_empty());
    assert_eq!(
        store.get_domain(&org("org_a"), &a.id).await.unwrap(),
        Some(a)
    );
}

async fn list_is_newest_first_and_per_organization(backend: Backend) {
    let store = backend.fresh_store().await;
    let mut names = Vec::new();
    for i in 0..5 {
        let name = format!("d{i}.example.com");
        insert(&store, "org_a", &name, DefaultChoice::IfNone).await;
        names.push(name);
    }
    insert(&store, "org_b", "other.example.com", DefaultChoice::IfNone).await;
    let listed: Vec<String> = store
        .list_domains(&org("org_a"))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name.to_string())
        .collect();
    names.reverse();
    assert_eq!(listed, names);
    assert_eq!(defaults(&store, "org_a").await, vec!["d0.example.com"]);
    assert_eq!(defaults(&store, "org_b").await, vec!["other.example.com"]);
}

async fn default_choices(backend: Backend) {
    let store = backend.fresh_store().await;
    let first = insert(&store, "org_a", "never.example.com", DefaultChoice::Never).await;
    assert!(
        !first.is_default,
        "an explicit isDefault:false is respected"
    );
    let second = insert(&store, "org_a", "first.example.com", DefaultChoice::IfNone).await;
    assert!(second.is_default);
    let third = insert(&store, "org_a", "later.example.com", DefaultChoice::IfNone).await;
    assert!(!third.is_default);
    let fourth = insert(&store, "org_a", "forced.example.com", DefaultChoice::Always).await;
    assert!(fourth.is_default);
    assert_eq!(defaults(&store, "org_a").await, vec!["forced.example.com"]);
}

async fn updates_are_conditional_on_version(backend: Backend) {
    let store = backend.fresh_store().await;
    let domain = insert(&store, "org_a", "example.com", DefaultChoice::IfNone).await;
    let suspend = DomainUpdate {
        setup: None,
        state: Some(domain.state.moved_to(Status::Suspended, at(10))),
        default: None,
        at: at(10),
    };
    let updated = store.update_domain(&domain, &suspend).await.unwrap();
    assert_eq!(updated.state.status, Status::Suspended);
    assert_eq!(
        updated.state.next_check_at, None,
        "a suspended domain awaits no check"
    );
    assert_eq!(
        (updated.updated_at, updated.version),
        (at(10), domain.version + 1)
    );
    let read = store
        .get_domain(&org("org_a"), &domain.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, updated);

    // A writer holding the old version loses, and changes nothing.
    let stale = DomainUpdate {
        setup: None,
        state: Some(domain.state.moved_to(Status::Suspended, at(20))),
        default: Some(false),
        at: at(20),
    };
    assert_eq!(
        store.update_domain(&domain, &stale).await,
        Err(StoreError::Conflict)
    );
    let read = store
        .get_domain(&org("org_a"), &domain.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, updated);
    assert!(read.is_default);

    // A check's findings are kept with the domain.
    let report = CheckReport {
        checked_at: at(25),
        findings: vec![Finding {
            kind: RecordKind::Mx,
            verified: false,
            status: RecordStatus::Propagating,
            reason: Some("served by ns1 but not yet by ns2".into()),
            found: vec!["5 mx.other.example".into()],
            servers: vec![ServerFinding {
                name: "ns1.a.example".into(),
                address: "192.0.2.1".into(),
                zone: Some("a.example".into()),
                answer: "1 MX record".into(),
                status: Some(RecordStatus::Verified),
            }],
        }],
        ses: None,
    };
    let checked = DomainUpdate {
        setup: None,
        state: Some(read.state.after_check(&report)),
        default: None,
        at: at(25),
    };
    let read = store.update_domain(&read, &checked).await.unwrap();
    assert_eq!(read.state.last_check.as_ref(), Some(&report));
    assert_eq!(read.state.last_checked_at, Some(at(25)));
    assert_eq!(
        store
            .get_domain(&org("org_a"), &domain.id)
            .await
            .unwrap()
            .unwrap(),
        read
    );

    // Back to pending restarts the verification window.
    let resume = DomainUpdate {
        setup: None,
        state: Some(read.state.moved_to(Status::Pending, at(30))),
        default: None,
        at: at(30),
    };
    let resumed = store.update_domain(&read, &resume).await.unwrap();
    assert_eq!(resumed.state.pending_since, Some(at(30)));
    assert_eq!(resumed.state.next_check_at, Some(at(30)));
    assert_eq!(
        store
            .get_domain(&org("org_a"), &domain.id)
            .await
            .unwrap()
            .unwrap(),
        resumed
    );
}

async fn default_switches_and_clears(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = insert(&store, "org_a", "a.example.com", DefaultChoice::IfNone).await;
    let b = insert(&store, "org_a", "b.example.com", DefaultChoice::IfNone).await;
    let make_default = |value| DomainUpdate {
        setup: None,
        state: None,
        default: Some(value),
        at: at(1),
    };
    let b = store.update_domain(&b, &make_default(true)).await.unwrap();
    assert!(b.is_default);
    assert_eq!(defaults(&store, "org_a").await, vec!["b.example.com"]);
    // Clearing a domain that is not the default changes nothing.
    let a = store
        .get_domain(&org("org_a"), &a.id)
        .await
        .unwrap()
        .unwrap();
    store.update_domain(&a, &make_default(false)).await.unwrap();
    assert_eq!(defaults(&store, "org_a").await, vec!["b.example.com"]);
    store.update_domain(&b, &make_default(false)).await.unwrap();
    assert!(defaults(&store, "org_a").await.is_empty());
    // With no default, the next registration becomes it.
    insert(&store, "org_a", "c.example.com", DefaultChoice::IfNone).await;
    assert_eq!(defaults(&store, "org_a").await, vec!["c.example.com"]);
}

async fn delete_frees_the_name_and_the_default(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = insert(&store, "org_a", "example.com", DefaultChoice::IfNone).await;
    let deleted = store
        .delete_domain(&org("org_a"), &a.id, at(90))
        .await
        .unwrap();
    assert_eq!(deleted.id, a.id);
    assert_eq!(store.get_domain(&org("org_a"), &a.id).await.unwrap(), None);
    assert_eq!(
        store.delete_domain(&org("org_a"), &a.id, at(90)).await,
        Err(StoreError::NotFound)
    );
    assert!(defaults(&store, "org_a").await.is_empty());
    // The name can be registered again, by anyone.
    let again = insert(&store, "org_b", "example.com", DefaultChoice::IfNone).await;
    assert!(again.is_default);
}

async fn delete_refuses_domains_with_inboxes(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = insert(&store, "org_a", "example.com", DefaultChoice::IfNone).await;
    let o = org("org_a");
    assert_eq!(
        store.add_to_counter(&o, &a.id, Counter::Inbox, 2).await,
        Ok(2)
    );
    assert_eq!(
        store.delete_domain(&o, &a.id, at(90)).await,
        Err(StoreError::InUse(2))
    );
    assert!(store.get_domain(&o, &a.id).await.unwrap().is_some());
    assert_eq!(
        store.add_to_counter(&o, &a.id, Counter::Inbox, -2).await,
        Ok(0)
    );
    store.delete_domain(&o, &a.id, at(90)).await.unwrap();
}

async fn counters_are_atomic_and_never_negative(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = insert(&store, "org_a", "example.com", DefaultChoice::IfNone).await;
    let o = org("org_a");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, o, id) = (store.clone(), o.clone(), a.id.clone());
        tasks.push(tokio::spawn(async move {
            store
                .add_to_counter(&o, &id, Counter::Sent, 5)
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.add_to_counter(&o, &a.id, Counter::Received, 7).await,
        Ok(7)
    );
    assert_eq!(
        store.add_to_counter(&o, &a.id, Counter::Received, -8).await,
        Err(StoreError::Conflict)
    );
    let read = store.get_domain(&o, &a.id).await.unwrap().unwrap();
    assert_eq!(
        (
            read.counters.sent_count,
            read.counters.received_count,
            read.counters.inbox_count
        ),
        (100, 7, 0)
    );
    // Counters are not state changes: a writer holding the version still wins.
    let update = DomainUpdate {
        setup: None,
        state: None,
        default: Some(true),
        at: at(1),
    };
    assert!(store.update_domain(&a, &update).await.is_ok());
    let missing = pending_domain("org_a", "missing.example.com", at(0));
    assert_eq!(
        store
            .add_to_counter(&o, &missing.id, Counter::Sent, 1)
            .await,
        Err(StoreError::NotFound)
    );
}

async fn api_keys_store_only_hashes_and_revoke(backend: Backend) {
    let store = backend.fresh_store().await;
    let record = ApiKeyRecord {
        id: "key_01JDX3M5Q8Z9YV2K7W4T6R0N1B".into(),
        key_hash: "ab".repeat(32),
        org_id: org("org_a"),
        created_at: at(0),
        revoked_at: None,
    };
    store.put_api_key(&record).await.unwrap();
    assert_eq!(store.put_api_key(&record).await, Err(StoreError::Conflict));
    assert_eq!(
        store.get_api_key(&record.key_hash).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(store.get_api_key(&"cd".repeat(32)).await.unwrap(), None);
    // Operators find keys by id and organization, never by the key.
    assert_eq!(
        store.api_key_hash(&record.id).await.unwrap(),
        Some(record.key_hash.clone())
    );
    assert_eq!(store.api_key_hash("key_unknown").await.unwrap(), None);
    let listed = store.api_keys_of(&org("org_a")).await.unwrap();
    assert_eq!(
        listed,
        vec![ApiKeyRecord {
            key_hash: String::new(),
            ..record.clone()
        }]
    );
    assert_eq!(store.api_keys_of(&org("org_b")).await.unwrap(), vec![]);
    // A key item in the organization's partition is no domain.
    assert!(store.list_domains(&org("org_a")).await.unwrap().is_empty());
    store.revoke_api_key(&record.key_hash, at(5)).await.unwrap();
    // Revoking twice keeps the first time.
    store.revoke_api_key(&record.key_hash, at(9)).await.unwrap();
    let revoked = store.get_api_key(&record.key_hash).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(5)));
    let listed = store.api_keys_of(&org("org_a")).await.unwrap();
    assert_eq!(listed[0].revoked_at, Some(at(5)));
    assert_eq!(
        store.revoke_api_key(&"cd".repeat(32), at(5)).await,
        Err(StoreError::NotFound)
    );
}

fn reservation_of(domain: &Domain, until: Timestamp) -> Reservation {
    Reservation {
        name: domain.name.clone(),
        org: domain.org_id.clone(),
        domain_id: domain.id.clone(),
        until,
        leftovers: vec![Effect::Identity {
            region: Region::DEFAULT,
            domain_id: DomainId::parse("dom_01HZZZZZZZZZZZZZZZZZZZZZZZ").unwrap(),
        }],
        effects: vec![
            Effect::Identity {
                region: domain.region,
                domain_id: domain.id.clone(),
            },
            Effect::Records {
                zone: ZoneId::parse("Z0123").unwrap(),
                records: records_for(domain)
                    .iter()
                    .map(|record| record.zone_record())
                    .collect(),
                confirmed: false,
            },
        ],
    }
}

async fn reservations_hold_a_name_until_released_or_undone(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = pending_domain("org_a", "example.com", at(0));
    let b = pending_domain("org_b", "example.com", at(0));
    let taken = Err(StoreError::NameTaken("example.com".into()));
    assert_eq!(store.name_holder(&a.name).await, Ok(None));
    let reserved = reservation_of(&a, at(60));
    store.reserve_name(&reserved).await.unwrap();
    // It reads back with everything it is about to create.
    assert_eq!(
        store.name_holder(&a.name).await.unwrap(),
        Some(NameHolder::Reservation(reserved.clone()))
    );
    // Held: neither another reservation nor a registration gets it, even once it ran
    // out: what it created must be undone first.
    assert_eq!(store.reserve_name(&reservation_of(&b, at(90))).await, taken);
    assert_eq!(
        store.insert_domain(&b, DefaultChoice::IfNone).await,
        taken.clone().map(|()| b.clone())
    );
    // Only the expired one is listed for the sweep.
    assert_eq!(store.expired_reservations(at(30), 10).await, Ok(vec![]));
    assert_eq!(
        store.expired_reservations(at(61), 10).await,
        Ok(vec![a.name.clone()])
    );
    // One party takes it over; another, holding the same read, loses.
    store.retime_reservation(&reserved, at(200)).await.unwrap();
    assert_eq!(
        store.retime_reservation(&reserved, at(300)).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.expired_reservations(at(61), 10).await, Ok(vec![]));
    // Released by someone else's registration: nothing happens. By the taker: free.
    let other = Reservation {
        domain_id: b.id.clone(),
        ..reserved.clone()
    };
    store.release_name(&other).await.unwrap();
    assert!(store.name_holder(&a.name).await.unwrap().is_some());
    let taken = Reservation {
        until: at(200),
        ..reserved.clone()
    };
    store.release_name(&taken).await.unwrap();
    assert_eq!(store.name_holder(&a.name).await, Ok(None));
    // A reservation finished by its own registration becomes the domain's name.
    store
        .reserve_name(&reservation_of(&b, at(90)))
        .await
        .unwrap();
    store
        .insert_domain(&b, DefaultChoice::IfNone)
        .await
        .unwrap();
    assert_eq!(
        store.name_holder(&b.name).await.unwrap(),
        Some(NameHolder::Domain {
            org: org("org_b"),
            id: b.id.clone()
        })
    );
    assert_eq!(store.expired_reservations(at(10_000), 10).await, Ok(vec![]));
    // Releasing never frees the name of a registered domain.
    store
        .release_name(&reservation_of(&b, at(90)))
        .await
        .unwrap();
    assert!(matches!(
        store.name_holder(&b.name).await,
        Ok(Some(NameHolder::Domain { .. }))
    ));
}

/// A registration writes its effects and its domain only while its reservation is its own:
/// once someone took the reservation over to undo it, the late writer is refused and
/// changes nothing.
async fn a_reservation_taken_over_refuses_its_late_writer(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = pending_domain("org_a", "example.com", at(0));
    let reserved = reservation_of(&a, at(60));
    store.reserve_name(&reserved).await.unwrap();
    let held = |holder: Option<NameHolder>| match holder {
        Some(NameHolder::Reservation(held)) => held,
        other => panic!("a reservation: {other:?}"),
    };

    // While its own: the confirmed effects replace the listed ones.
    let mut confirmed = reserved.effects.clone();
    if let Some(Effect::Records {
        confirmed: sent, ..
    }) = confirmed.last_mut()
    {
        *sent = true;
    }
    assert_ne!(confirmed, reserved.effects);
    store.record_effects(&reserved, &confirmed).await.unwrap();
    let read = held(store.name_holder(&a.name).await.unwrap());
    assert_eq!(read.effects, confirmed);
    assert_eq!((read.until, &read.leftovers), (at(60), &reserved.leftovers));

    // Taken over: neither its effects nor its domain are written any more.
    store.retime_reservation(&reserved, at(200)).await.unwrap();
    assert_eq!(
        store.record_effects(&reserved, &[]).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .insert_reserved(&a, DefaultChoice::IfNone, &reserved)
            .await,
        Err(StoreError::Conflict)
    );
    let read = held(store.name_holder(&a.name).await.unwrap());
    assert_eq!((read.until, &read.effects), (at(200), &confirmed));
    assert_eq!(store.get_domain(&a.org_id, &a.id).await, Ok(None));
    assert_eq!(store.quota(&org("org_a")).await.unwrap().used, 0);
    assert!(defaults(&store, "org_a").await.is_empty());

    // Another registration's reservation is no license either.
    let b = pending_domain("org_b", "example.org", at(0));
    store
        .reserve_name(&reservation_of(&b, at(60)))
        .await
        .unwrap();
    let stranger = Reservation {
        domain_id: a.id.clone(),
        ..reservation_of(&b, at(60))
    };
    assert_eq!(
        store.record_effects(&stranger, &[]).await,
        Err(StoreError::Conflict)
    );

    // Its own, untouched: the domain is stored and holds the name.
    let reservation = reservation_of(&b, at(60));
    let stored = store
        .insert_reserved(&b, DefaultChoice::IfNone, &reservation)
        .await
        .unwrap();
    assert_eq!(stored.id, b.id);
    assert_eq!(
        store.name_holder(&b.name).await.unwrap(),
        Some(NameHolder::Domain {
            org: org("org_b"),
            id: b.id.clone()
        })
    );
    // A retry of the insert that landed is answered as it was; effects are no longer
    // recorded against a registered name.
    assert!(
        store
            .insert_reserved(&b, DefaultChoice::IfNone, &reservation)
            .await
            .is_ok()
    );
    assert_eq!(
        store.record_effects(&reservation, &[]).await,
        Err(StoreError::Conflict)
    );
}

/// A registration that failed after its reservation was taken over does not free the name
/// while the party that took it over is undoing it: only the reservation as it now is (the
/// taker's deadline) is released.
async fn a_taken_over_reservation_is_released_only_by_its_taker(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = pending_domain("org_a", "example.com", at(0));
    let reserved = reservation_of(&a, at(60));
    store.reserve_name(&reserved).await.unwrap();
    store.retime_reservation(&reserved, at(200)).await.unwrap();
    let taken = Reservation {
        until: at(200),
        ..reserved.clone()
    };

    // The late, failed registration gives up what it read: the name stays held.
    store.release_name(&reserved).await.unwrap();
    assert_eq!(
        store.name_holder(&a.name).await.unwrap(),
        Some(NameHolder::Reservation(taken.clone()))
    );
    let b = pending_domain("org_b", "example.com", at(0));
    assert_eq!(
        store.reserve_name(&reservation_of(&b, at(300))).await,
        Err(StoreError::NameTaken("example.com".into()))
    );

    // The taker, done undoing, frees it.
    store.release_name(&taken).await.unwrap();
    assert_eq!(store.name_holder(&a.name).await, Ok(None));
    store
        .reserve_name(&reservation_of(&b, at(300)))
        .await
        .unwrap();
}

async fn a_claimed_name_changes_hands_in_one_step(backend: Backend) {
    let store = backend.fresh_store().await;
    let holder = insert(&store, "org_a", "squatted.com", DefaultChoice::IfNone).await;
    let claim = Claim::new(org("org_b"), holder.name.clone(), Region::DEFAULT, at(0));
    store.put_claim(&claim).await.unwrap();
    assert_eq!(
        store.get_claim(&org("org_b"), &claim.id).await,
        Ok(Some(claim.clone()))
    );
    // Claims are the claimant's: another organization finds nothing.
    assert_eq!(store.get_claim(&org("org_a"), &claim.id).await, Ok(None));

    let claimant = pending_domain("org_b", "squatted.com", at(1));
    let reservation = reservation_of(&claimant, at(61));
    // The holder changed since it was read (a check was stored): refused, nothing moves.
    let mut stale = holder.clone();
    stale.version += 1;
    assert_eq!(
        store.transfer_name(&stale, &reservation, at(90)).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.quota(&org("org_a")).await.unwrap().used, 1);

    store
        .transfer_name(&holder, &reservation, at(90))
        .await
        .unwrap();
    assert_eq!(store.get_domain(&org("org_a"), &holder.id).await, Ok(None));
    assert_eq!(store.quota(&org("org_a")).await.unwrap().used, 0);
    assert_eq!(defaults(&store, "org_a").await, Vec::<String>::new());
    assert_eq!(
        store.name_holder(&holder.name).await.unwrap(),
        Some(NameHolder::Reservation(reservation.clone()))
    );
    // Twice is a conflict, not a second transfer.
    assert_eq!(
        store.transfer_name(&holder, &reservation, at(90)).await,
        Err(StoreError::Conflict)
    );
    store
        .insert_domain(&claimant, DefaultChoice::IfNone)
        .await
        .unwrap();
    store
        .complete_claim(&claim, &claimant.id, at(2))
        .await
        .unwrap();
    assert_eq!(
        store.complete_claim(&claim, &claimant.id, at(3)).await,
        Err(StoreError::Conflict)
    );
    let completed = store
        .get_claim(&org("org_b"), &claim.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(completed.domain_id, Some(claimant.id.clone()));
    assert_eq!(completed.completed_at, Some(at(2)));
    assert_eq!(completed.status(at(2)), ClaimStatus::Completed);
}

async fn a_domain_being_deleted_takes_no_inbox(backend: Backend) {
    let store = backend.fresh_store().await;
    let a = insert(&store, "org_a", "example.com", DefaultChoice::IfNone).await;
    let o = org("org_a");
    store
        .add_to_counter(&o, &a.id, Counter::Inbox, 1)
        .await
        .unwrap();
    assert_eq!(
        store.begin_delete(&o, &a.id, at(5)).await,
        Err(StoreError::InUse(1))
    );
    store
        .add_to_counter(&o, &a.id, Counter::Inbox, -1)
        .await
        .unwrap();
    let marked = store.begin_delete(&o, &a.id, at(6)).await.unwrap();
    assert_eq!(marked.deleting_since, Some(at(6)));
    assert_eq!(
        store.add_to_counter(&o, &a.id, Counter::Inbox, 1).await,
        Err(StoreError::NotFound)
    );
    // Sending and receiving still count until the row goes.
    assert_eq!(
        store.add_to_counter(&o, &a.id, Counter::Sent, 1).await,
        Ok(1)
    );
    store.delete_domain(&o, &a.id, at(90)).await.unwrap();
    assert_eq!(
        store.begin_delete(&o, &a.id, at(7)).await,
        Err(StoreError::NotFound)
    );
}

async fn zones_belong_to_one_organization_at_a_time(backend: Backend) {
    let store = backend.fresh_store().await;
    let zone = ZoneId::parse("Z0AAA").unwrap();
    let other = ZoneId::parse("Z0BBB").unwrap();
    let (a, b) = (org("org_a"), org("org_b"));
    assert_eq!(store.zone_owner(&zone).await, Ok(None));
    store.assign_zone(&zone, &a, at(1)).await.unwrap();
    // Again for the same organization: a no-op.
    store.assign_zone(&zone, &a, at(2)).await.unwrap();
    assert_eq!(
        store.assign_zone(&zone, &b, at(3)).await,
        Err(StoreError::Conflict),
        "another organization's zone is never taken over"
    );
    assert_eq!(store.zone_owner(&zone).await, Ok(Some(a.clone())));
    store.assign_zone(&other, &a, at(4)).await.unwrap();
    assert_eq!(
        store.zones_of(&a).await,
        Ok(vec![zone.clone(), other.clone()])
    );
    assert_eq!(store.zones_of(&b).await, Ok(vec![]));
    // A zone item in the organization's partition is no domain.
    insert(&store, "org_a", "a.example", DefaultChoice::IfNone).await;
    assert_eq!(store.list_domains(&a).await.unwrap().len(), 1);

    assert_eq!(store.unassign_zone(&zone).await, Ok(a.clone()));
    assert_eq!(store.unassign_zone(&zone).await, Err(StoreError::NotFound));
    assert_eq!(store.zone_owner(&zone).await, Ok(None));
    assert_eq!(store.zones_of(&a).await, Ok(vec![other]));
    store.assign_zone(&zone, &b, at(6)).await.unwrap();
    assert_eq!(store.zones_of(&b).await, Ok(vec![zone]));
}

/// A name registered before the public-suffix list covered it stays readable (and
/// deletable) in DynamoDB, where names are parsed back from the table.
#[tokio::test]
async fn stored_names_are_not_judged_by_todays_public_suffix_list() {
    let store = testkit::fresh_dynamo_store().await;
    let domain = store
        .insert_domain(
            &pending_domain("org_a", "old.example", at(0)),
            DefaultChoice::IfNone,
        )
        .await
        .unwrap();
    // As if `co.uk`'s rules had arrived after the registration of this name.
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("ORG#{}", domain.org_id)))
        .key("SK", AttributeValue::S(format!("DOMAIN#{}", domain.id)))
        .update_expression("SET #d = :d")
        .expression_attribute_names("#d", "domain")
        .expression_attribute_values(":d", AttributeValue::S("co.uk".into()))
        .send()
        .await
        .unwrap();
    let read = store
        .get_domain(&org("org_a"), &domain.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.name.as_str(), "co.uk");
    assert_eq!(store.list_domains(&org("org_a")).await.unwrap().len(), 1);
}

async fn quotas_hold_at_the_edge_under_concurrency(backend: Backend) {
    let store = backend.fresh_store().await;
    let (a, b) = (org("org_a"), org("org_b"));
    assert_eq!(
        store.quota(&a).await.unwrap(),
        Quota {
            used: 0,
            max: DEFAULT_MAX_DOMAINS
        }
    );
    store.set_quota(&a, 5).await.unwrap();
    // 20 registrations at once, of 20 names: exactly the limit lands.
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        async move {
            store
                .insert_domain(
                    &pending_domain("org_a", &format!("q{i}.example"), at(i)),
                    DefaultChoice::IfNone,
                )
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let landed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(landed, 5, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| *e == StoreError::QuotaExceeded(5)),
        "{results:?}"
    );
    let listed = store.list_domains(&a).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed.iter().filter(|d| d.is_default).count(), 1);
    assert_eq!(store.quota(&a).await.unwrap(), Quota { used: 5, max: 5 });
    // Another organization is not touched by it.
    insert(&store, "org_b", "b.example", DefaultChoice::IfNone).await;
    assert_eq!(store.quota(&b).await.unwrap().used, 1);

    // A delete gives the slot back; a default or not, the count follows.
    store
        .delete_domain(&a, &listed[0].id, at(90))
        .await
        .unwrap();
    assert_eq!(store.quota(&a).await.unwrap().used, 4);
    insert(&store, "org_a", "again.example", DefaultChoice::IfNone).await;
    assert_eq!(
        store
            .insert_domain(
                &pending_domain("org_a", "over.example", at(30)),
                DefaultChoice::Never
            )
            .await,
        Err(StoreError::QuotaExceeded(5))
    );
    // A raised limit lets the next one in.
    store.set_quota(&a, 6).await.unwrap();
    insert(&store, "org_a", "over.example", DefaultChoice::Never).await;
    assert_eq!(store.quota(&a).await.unwrap(), Quota { used: 6, max: 6 });
}

async fn rate_limit_states_change_only_as_read(backend: Backend) {
    let store = backend.fresh_store().await;
    let (domain, org_key) = ("RATE#org_a#example.com".to_owned(), "RATE#org_a".to_owned());
    let keys = [domain.clone(), org_key.clone()];
    assert_eq!(store.limit_states(&keys).await.unwrap(), vec![None, None]);
    let first = [
        LimitUpdate {
            key: domain.clone(),
            old: None,
            new: 1_000,
        },
        LimitUpdate {
            key: org_key.clone(),
            old: None,
            new: 2_000,
        },
    ];
    store.set_limit_states(&first).await.unwrap();
    assert_eq!(
        store.limit_states(&keys).await.unwrap(),
        vec![Some(1_000), Some(2_000)]
    );
    // The same writes again: the states are no longer those read, and nothing is written.
    assert_eq!(
        store.set_limit_states(&first).await,
        Err(StoreError::Conflict)
    );
    // One stale state fails the other's write too: both limits or neither.
    let mixed = [
        LimitUpdate {
            key: domain.clone(),
            old: Some(1_000),
            new: 3_000,
        },
        LimitUpdate {
            key: org_key.clone(),
            old: Some(999),
            new: 4_000,
        },
    ];
    assert_eq!(
        store.set_limit_states(&mixed).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.limit_states(&keys).await.unwrap(),
        vec![Some(1_000), Some(2_000)]
    );
    let next = [
        LimitUpdate {
            key: domain.clone(),
            old: Some(1_000),
            new: 3_000,
        },
        LimitUpdate {
            key: org_key.clone(),
            old: Some(2_000),
            new: 4_000,
        },
    ];
    store.set_limit_states(&next).await.unwrap();
    assert_eq!(
        store.limit_states(&keys).await.unwrap(),
        vec![Some(3_000), Some(4_000)]
    );
    // Of concurrent writers from the same state, exactly one wins.
    let race = |new| {
        let store = store.clone();
        let key = domain.clone();
        async move {
            store
                .set_limit_states(&[LimitUpdate {
                    key,
                    old: Some(3_000),
                    new,
                }])
                .await
        }
    };
    let results = futures::future::join_all((0..8).map(|i| race(5_000 + i))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
}

/// How far behind the sweep is: the most overdue domain's due time, among due ones only.
async fn the_oldest_due_domain_is_found(backend: Backend) {
    let store = backend.fresh_store().await;
    assert_eq!(store.oldest_due(at(1_000)).await.unwrap(), None);
    for (name, due) in [
        ("late.example", 100),
        ("later.example", 300),
        ("first.example", -50),
    ] {
        store
            .insert_domain(
                &pending_domain("org_a", name, at(due)),
                DefaultChoice::IfNone,
            )
            .await
            .unwrap();
    }
    store
        .insert_domain(
            &pending_domain("org_b", "other.example", at(-20)),
            DefaultChoice::IfNone,
        )
        .await
        .unwrap();
    assert_eq!(store.oldest_due(at(-100)).await.unwrap(), None);
    assert_eq!(store.oldest_due(at(-50)).await.unwrap(), Some(at(-50)));
    assert_eq!(store.oldest_due(at(1_000)).await.unwrap(), Some(at(-50)));
    assert_eq!(store.due_domains(at(1_000), 10).await.unwrap().len(), 4);
}

for_each_backend!(
    the_oldest_due_domain_is_found,
    rate_limit_states_change_only_as_read,
    quotas_hold_at_the_edge_under_concurrency,
    zones_belong_to_one_organization_at_a_time,
    insert_then_get_round_trips,
    names_are_unique_across_organizations,
    other_organizations_see_nothing,
    list_is_newest_first_and_per_organization,
    default_choices,
    updates_are_conditional_on_version,
    default_switches_and_clears,
    delete_frees_the_name_and_the_default,
    delete_refuses_domains_with_inboxes,
    counters_are_atomic_and_never_negative,
    api_keys_store_only_hashes_and_revoke,
    reservations_hold_a_name_until_released_or_undone,
    a_reservation_taken_over_refuses_its_late_writer,
    a_taken_over_reservation_is_released_only_by_its_taker,
    a_claimed_name_changes_hands_in_one_step,
    a_domain_being_deleted_takes_no_inbox,
);
