use domains::model::{Status, Timestamp};
use domains::store::DomainUpdate;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::{Backend, for_each_backend};

use crate::harness::{BASE, TestApp, domain_id, keys_of, org_a};

fn names(body: &Value) -> Vec<String> {
    body["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap().to_owned())
        .collect()
}

/// Registers d0..d{n-1}.example for org_a, oldest first.
async fn with_domains(app: &TestApp, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(app.register(&format!("d{i}.example")).await);
    }
    out
}

async fn lists_newest_first_in_the_seed_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    with_domains(&app, 3).await;
    let reply = app.as_a(Method::GET, BASE, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        names(&reply.body),
        ["d2.example", "d1.example", "d0.example"]
    );
    assert_eq!(
        (
            reply.body["total"].as_u64(),
            reply.body["limit"].as_u64(),
            reply.body["offset"].as_u64()
        ),
        (Some(3), Some(20), Some(0))
    );
    let item = &reply.body["domains"][2];
    let keys = keys_of(item);
    assert_eq!(
        keys,
        [
            "createdAt",
            "domain",
            "health",
            "id",
            "inboxCount",
            "isDefault",
            "nextCheckAt",
            "sentCount",
            "status",
            "updatedAt",
            "verifiedAt"
        ]
    );
    assert!(
        item["nextCheckAt"].is_string(),
        "a pending domain says when it is looked at next: {item}"
    );
    assert_eq!(item["isDefault"], true);
    assert_eq!(item["inboxCount"], 0);
}

async fn pagination_edges(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    with_domains(&app, 5).await;
    let page = |query: &'static str| {
        let app = &app;
        async move {
            app.as_a(Method::GET, &format!("{BASE}?{query}"), None)
                .await
        }
    };
    let one = page("limit=1").await;
    assert_eq!(names(&one.body), ["d4.example"]);
    assert_eq!(one.body["total"], 5);
    let second = page("limit=2&offset=2").await;
    assert_eq!(names(&second.body), ["d2.example", "d1.example"]);
    let last = page("limit=2&offset=4").await;
    assert_eq!(names(&last.body), ["d0.example"]);
    let past = page("offset=5").await;
    assert_eq!(past.status, StatusCode::OK);
    assert!(names(&past.body).is_empty());
    assert_eq!(
        (past.body["total"].as_u64(), past.body["offset"].as_u64()),
        (Some(5), Some(5))
    );
    let far = page("offset=1000000").await;
    assert!(names(&far.body).is_empty());
    // The largest offset answered is the largest integer a JSON client reads exactly.
    let farthest = page("offset=9007199254740991").await;
    assert_eq!(farthest.status, StatusCode::OK, "{}", farthest.body);
    assert_eq!(
        farthest.body["offset"].as_u64(),
        Some(9_007_199_254_740_991)
    );
    let max = page("limit=100").await;
    assert_eq!(
        (names(&max.body).len(), max.body["limit"].as_u64()),
        (5, Some(100))
    );

    for bad in [
        "limit=101",
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "offset=-1",
        "offset=x",
        "offset=9007199254740992",
        "offset=65940803051399462912",
        "status=deleted",
        "status=ACTIVE",
        "status=",
        "unknown=1",
        "limit=1&limit=2",
    ] {
        let reply = app.as_a(Method::GET, &format!("{BASE}?{bad}"), None).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"]["code"], "VALIDATION_ERROR", "{bad}");
    }
}

async fn status_filter_counts_the_filtered_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let domains = with_domains(&app, 4).await;
    for registered in &domains[1..3] {
        let current = app
            .store
            .get_domain(&org_a(), &domain_id(registered))
            .await
            .unwrap()
            .unwrap();
        let now = current.created_at;
        let update = DomainUpdate {
            setup: None,
            state: Some(current.state.moved_to(Status::Suspended, now)),
            default: None,
            at: now,
        };
        app.store.update_domain(&current, &update).await.unwrap();
    }
    let suspended = app
        .as_a(Method::GET, &format!("{BASE}?status=suspended"), None)
        .await;
    assert_eq!(names(&suspended.body), ["d2.example", "d1.example"]);
    assert_eq!(suspended.body["total"], 2);
    let pending = app
        .as_a(
            Method::GET,
            &format!("{BASE}?status=pending&limit=1&offset=1"),
            None,
        )
        .await;
    assert_eq!(names(&pending.body), ["d0.example"]);
    assert_eq!(pending.body["total"], 2);
    let active = app
        .as_a(Method::GET, &format!("{BASE}?status=active"), None)
        .await;
    assert_eq!(
        (names(&active.body).len(), active.body["total"].as_u64()),
        (0, Some(0))
    );
}

/// `nextCursor` walks the whole list, with or without the default `offset=0` beside it;
/// cursors are refused (400 VALIDATION_ERROR) when they were altered, made for another
/// organization or filter, combined with a non-zero offset, or are older than a day.
async fn cursors_walk_and_are_refused_elsewhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    with_domains(&app, 5).await;
    let mut walked = Vec::new();
    let mut url = format!("{BASE}?limit=2");
    let last_cursor = loop {
        let reply = app.as_a(Method::GET, &url, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["total"], 5);
        assert_eq!(reply.body["counts"]["pending"], 5);
        walked.extend(names(&reply.body));
        match reply.body["nextCursor"].as_str() {
            Some(cursor) => url = format!("{BASE}?limit=2&cursor={cursor}"),
            None => break url,
        }
    };
    assert_eq!(
        walked,
        [
            "d4.example",
            "d3.example",
            "d2.example",
            "d1.example",
            "d0.example"
        ]
    );
    let cursor = last_cursor.split("cursor=").nth(1).unwrap().to_owned();
    // The last page has no cursor; an offset page gives one to go on from.
    let offset = app
        .as_a(Method::GET, &format!("{BASE}?limit=1&offset=1"), None)
        .await;
    let from_offset = offset.body["nextCursor"].as_str().unwrap();
    let next = app
        .as_a(
            Method::GET,
            &format!("{BASE}?limit=1&cursor={from_offset}"),
            None,
        )
        .await;
    assert_eq!(names(&next.body), ["d2.example"]);
    // What a generated client sends: the cursor beside the documented defaults.
    let with_defaults = app
        .as_a(
            Method::GET,
            &format!("{BASE}?limit=1&offset=0&cursor={from_offset}"),
            None,
        )
        .await;
    assert_eq!(
        with_defaults.status,
        StatusCode::OK,
        "{}",
        with_defaults.body
    );
    assert_eq!(names(&with_defaults.body), ["d2.example"]);
    assert_eq!(with_defaults.body["offset"], 0);

    let mut altered = cursor.clone().into_bytes();
    altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let refused = [
        (format!("{BASE}?cursor={altered}"), "a"),
        (format!("{BASE}?cursor={cursor}&status=pending"), "a"),
        (format!("{BASE}?cursor={cursor}&offset=1"), "a"),
        (format!("{BASE}?cursor="), "a"),
        (format!("{BASE}?cursor=not-a-cursor"), "a"),
        (format!("{BASE}?cursor={}", "A".repeat(5000)), "a"),
        (format!("{BASE}?cursor={cursor}"), "b"),
    ];
    for (url, who) in refused {
        let reply = match who {
            "a" => app.as_a(Method::GET, &url, None).await,
            _ => app.as_b(Method::GET, &url, None).await,
        };
        reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // Org B's own lists are untouched by org A's cursor: it has none of A's domains.
    let b = app.as_b(Method::GET, BASE, None).await;
    assert_eq!(
        (b.body["total"].as_u64(), names(&b.body).len()),
        (Some(0), 0)
    );

    // A cursor made with this store's key, for this list, but 25 hours ago.
    let key = app.store.cursor_key().await.unwrap();
    let scope = domains::http::cursor::ListScope {
        org: &org_a(),
        status: None,
    };
    let now = domains::clock::Clock::now(&domains::clock::SystemClock);
    let day_old = Timestamp::from_unix(now.datetime().unix_timestamp() - 25 * 3600);
    let any_id = domain_id(&app.register("late.example").await);
    let stale = domains::http::cursor::seal(&key, scope, &any_id, day_old);
    let reply = app
        .as_a(Method::GET, &format!("{BASE}?cursor={stale}"), None)
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    reply.assert_message_contains("expired");
    let fresh = domains::http::cursor::seal(&key, scope, &any_id, now);
    let reply = app
        .as_a(Method::GET, &format!("{BASE}?cursor={fresh}"), None)
        .await;
    assert_eq!(names(&reply.body).len(), 5, "{}", reply.body);
}

for_each_backend!(
    cursors_walk_and_are_refused_elsewhere,
    lists_newest_first_in_the_seed_shape,
    pagination_edges,
    status_filter_counts_the_filtered_set,
);
