//! List latency and DynamoDB items read per request, for one organization holding 1, 1,000,
//! 20,000 and 100,000 domains in DynamoDB Local: the first page, a status-filtered page,
//! `offset=5000`, and a walk by cursor. Then the handler's own overhead, warm, in-process,
//! over the in-memory store.
//!
//! Run with `cargo bench -p domains --bench lists` (after `scripts/install-test-tools`,
//! which installs DynamoDB Local); figures in the README. Each request goes through the
//! list handler (`App::handle`, auth included) as a function would serve it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use domains::App;
use domains::auth::NewApiKey;
use domains::clock::{Clock, SystemClock};
use domains::http::Endpoint;
use domains::model::{Domain, Status, Timestamp};
use domains::store::{
    DefaultChoice, DomainPage, DynamoStore, MemoryStore, PageQuery, PageStart, domain_item,
};
use domains::store::{DomainStore, KeyStore, ListStore};
use futures::StreamExt;
use lambda_http::{Body, RequestExt};
use testkit::{org, pending_domain};

const SIZES: [usize; 4] = [1, 1_000, 20_000, 100_000];
const SAMPLES: usize = 40;
const WALK_PAGES: usize = 25;

/// A list request as API Gateway hands it over: the query string parsed into parameters.
fn request(key: &str, query: &str) -> lambda_http::Request {
    let parameters: HashMap<String, String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("/api/email/domains?{query}"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::Empty)
        .unwrap()
        .with_query_string_parameters(parameters)
}

fn body(response: &lambda_http::Response<Body>) -> serde_json::Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        _ => serde_json::Value::Null,
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

/// Domains `from..to` of the organization, every fourth one active, written 25 at a time,
/// 16 batches at once.
async fn load(store: &DynamoStore, from: usize, to: usize, now: Timestamp) {
    let domains: Vec<Domain> = (from..to)
        .map(|i| {
            let mut domain = pending_domain("org_bench", &format!("d{i}.bench.example"), now);
            if i % 4 == 0 {
                domain.state = domain.state.moved_to(Status::Active, now);
            }
            domain
        })
        .collect();
    let batches: Vec<Vec<WriteRequest>> = domains
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|d| {
                    let put = PutRequest::builder()
                        .set_item(Some(domain_item(d)))
                        .build()
                        .unwrap();
                    WriteRequest::builder().put_request(put).build()
                })
                .collect()
        })
        .collect();
    futures::stream::iter(batches)
        .for_each_concurrent(16, |mut batch| async move {
            while !batch.is_empty() {
                let out = store
                    .client()
                    .batch_write_item()
                    .request_items(store.table(), batch)
                    .send()
                    .await
                    .expect("batch write");
                batch = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(store.table()))
                    .unwrap_or_default();
            }
        })
        .await;
}

/// Sets the counters to what was loaded (what `recount` would, without reading it all).
async fn set_counts(store: &DynamoStore, size: usize) {
    let active = size.div_ceil(4) as u64;
    let pending = size as u64 - active;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S("ORG#org_bench".into()))
        .key("SK", AttributeValue::S("ORG".into()))
        .update_expression("SET pendingCount = :p, activeCount = :a, domainCount = :t")
        .set_expression_attribute_values(Some(HashMap::from([
            (":p".into(), AttributeValue::N(pending.to_string())),
            (":a".into(), AttributeValue::N(active.to_string())),
            (":t".into(), AttributeValue::N(size.to_string())),
        ])))
        .send()
        .await
        .expect("set counts");
}

struct Figures {
    p50: f64,
    p99: f64,
    reads: f64,
}

/// `SAMPLES` requests of `query`: latency and items read per request.
async fn measure(app: &App, store: &DynamoStore, key: &str, query: &str) -> Figures {
    let mut samples = Vec::with_capacity(SAMPLES);
    // Warm: connections open, the key cached, the cursor key read.
    for _ in 0..3 {
        app.handle(Endpoint::List, request(key, query)).await;
    }
    let before = store.items_read();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = app.handle(Endpoint::List, request(key, query)).await;
        samples.push(started.elapsed());
        assert_eq!(response.status(), 200, "{query}: {}", body(&response));
        let page = body(&response);
        let domains = page["domains"].as_array().unwrap();
        if query.contains("status=active") {
            assert!(domains.iter().all(|d| d["status"] == "active"), "{query}");
        }
        if query.contains("offset=") {
            assert_eq!(page["offset"], 5000, "{query}");
        }
    }
    let reads = (store.items_read() - before) as f64 / SAMPLES as f64;
    Figures {
        p50: percentile(&mut samples, 0.5),
        p99: percentile(&mut samples, 0.99),
        reads,
    }
}

/// `WALK_PAGES` pages of 20 by cursor from the first page; figures per page.
async fn walk(app: &App, store: &DynamoStore, key: &str) -> Figures {
    let mut samples = Vec::new();
    app.handle(Endpoint::List, request(key, "limit=20")).await;
    let before = store.items_read();
    let mut query = "limit=20".to_owned();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..WALK_PAGES {
        let started = Instant::now();
        let response = app.handle(Endpoint::List, request(key, &query)).await;
        samples.push(started.elapsed());
        let page = body(&response);
        for domain in page["domains"].as_array().unwrap() {
            assert!(
                seen.insert(domain["id"].to_string()),
                "a walk returns each domain once"
            );
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("limit=20&cursor={cursor}"),
            None => break,
        }
    }
    let reads = (store.items_read() - before) as f64 / samples.len() as f64;
    Figures {
        p50: percentile(&mut samples, 0.5),
        p99: percentile(&mut samples, 0.99),
        reads,
    }
}

async fn dynamodb_figures() {
    let store = testkit::fresh_dynamo_store().await;
    let app = App::without_dns(Arc::new(store.clone()), Arc::new(SystemClock));
    let key = NewApiKey::generate(org("org_bench"), Timestamp::from_unix(0));
    store.put_api_key(&key.record).await.unwrap();
    let now = SystemClock.now();
    println!(
        "\nDynamoDB Local, one organization, through the list handler ({SAMPLES} requests each; p50 / p99 ms, items read per request)"
    );
    println!(
        "{:>8} | {:^26} | {:^26} | {:^26} | {:^26}",
        "domains",
        "first page (20)",
        "status=active (20)",
        "offset=5000 (20)",
        "cursor walk (20/page)"
    );
    let mut loaded = 0;
    for size in SIZES {
        let started = Instant::now();
        load(&store, loaded, size, now).await;
        set_counts(&store, size).await;
        loaded = size;
        eprintln!(
            "loaded {size} domains in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let key = key.key.as_str();
        let cells = [
            measure(&app, &store, key, "limit=20").await,
            measure(&app, &store, key, "limit=20&status=active").await,
            measure(&app, &store, key, "limit=20&offset=5000").await,
            walk(&app, &store, key).await,
        ];
        let cell = |f: &Figures| format!("{:6.2} / {:6.2} ms, {:6.0}", f.p50, f.p99, f.reads);
        println!(
            "{size:>8} | {} | {} | {} | {}",
            cell(&cells[0]),
            cell(&cells[1]),
            cell(&cells[2]),
            cell(&cells[3])
        );
    }
}

/// The handler's own cost per request, warm: a whole list request over the in-memory
/// store, beside the store calls it makes (the key lookup and the page) made directly.
async fn overhead_figures() {
    let store = Arc::new(MemoryStore::new());
    let key = NewApiKey::generate(org("org_bench"), Timestamp::from_unix(0));
    store.put_api_key(&key.record).await.unwrap();
    let now = SystemClock.now();
    for i in 0..1_000 {
        let domain = pending_domain("org_bench", &format!("w{i}.bench.example"), now);
        store
            .insert_domain(&domain, DefaultChoice::Never)
            .await
            .unwrap();
    }
    let app = App::without_dns(store.clone(), Arc::new(SystemClock));
    const WARM: usize = 20_000;
    let mut handler = Vec::with_capacity(WARM);
    let mut direct = Vec::with_capacity(WARM);
    let query = PageQuery {
        status: None,
        start: PageStart::Offset(0),
        limit: 20,
    };
    let hash = domains::auth::hash_key(&key.key);
    for _ in 0..WARM {
        let started = Instant::now();
        let response = app
            .handle(Endpoint::List, request(&key.key, "limit=20"))
            .await;
        handler.push(started.elapsed());
        assert_eq!(response.status(), 200);
        let started = Instant::now();
        let _ = store.get_api_key(&hash).await.unwrap();
        let page: DomainPage = store.list_page(&org("org_bench"), &query).await.unwrap();
        direct.push(started.elapsed());
        assert_eq!(page.domains.len(), 20);
    }
    let (h50, h99) = (
        percentile(&mut handler, 0.5),
        percentile(&mut handler, 0.99),
    );
    let (s50, s99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
    println!("\nwarm in-process, in-memory store, {WARM} list requests of 20 (ms):");
    println!("  whole request  p50 {h50:.4}  p99 {h99:.4}");
    println!("  store calls    p50 {s50:.4}  p99 {s99:.4}");
    println!(
        "  handler's own  p50 {:.4}  p99 {:.4}",
        h50 - s50,
        h99 - s99
    );
}

#[tokio::main]
async fn main() {
    overhead_figures().await;
    dynamodb_figures().await;
}
