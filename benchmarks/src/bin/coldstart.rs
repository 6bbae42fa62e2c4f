//! Cold starts of the release binaries against a local Lambda Runtime API, beside a
//! hello-world `lambda_http` function and a plain-SDK function making `get-domain`'s
//! DynamoDB calls. For each binary: its size, and over several spawns the median time from
//! spawn to its first poll for work and to its response posted, and its peak RSS.
//!
//! Run with `scripts/bench-coldstart` (release builds, then this); figures in the README.
//! DynamoDB Local and moto (from `scripts/install-test-tools`) serve the table and SES,
//! Route 53 and KMS. Each function gets
//! its sample event from `events/`, with the sample key made valid, so it does its real
//! work; the baselines get `get-domain`'s event.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use domains::auth::hash_key;
use domains::model::{OrgId, Timestamp};
use domains::store::KeyStore;
use domains::store::{ApiKeyRecord, DynamoStore, schema};

const RUNS: usize = 7;
const SAMPLE_KEY: &str = "emk_sample_events_key_0000000000000000000000000";

/// What the runtime API saw of one invocation.
#[derive(Default)]
struct Seen {
    first_poll: Option<Instant>,
    response: Option<Instant>,
    /// The status the function answered its request with.
    status: Option<u64>,
    served: bool,
    error: Option<String>,
}

struct Runtime {
    event: String,
    seen: Mutex<Seen>,
}

async fn next(State(runtime): State<Arc<Runtime>>) -> (HeaderMap, String) {
    let first = {
        let mut seen = runtime.seen.lock().unwrap();
        seen.first_poll.get_or_insert_with(Instant::now);
        !std::mem::replace(&mut seen.served, true)
    };
    if !first {
        // One invocation per process: the next poll waits until the process is stopped.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    headers.insert("lambda-runtime-aws-request-id", "bench-1".parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench"
            .parse()
            .unwrap(),
    );
    (headers, runtime.event.clone())
}

async fn response(State(runtime): State<Arc<Runtime>>, body: String) -> StatusCode {
    let mut seen = runtime.seen.lock().unwrap();
    seen.response = Some(Instant::now());
    seen.status = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|answer| answer["statusCode"].as_u64());
    StatusCode::ACCEPTED
}

async fn error(State(runtime): State<Arc<Runtime>>, body: String) -> StatusCode {
    runtime.seen.lock().unwrap().error = Some(body);
    StatusCode::ACCEPTED
}

struct Run {
    first_poll_ms: f64,
    response_ms: f64,
    rss_mib: f64,
}

async fn cold_start(binary: &Path, event: &str, env: &[(&str, String)]) -> Result<Run, String> {
    let runtime = Arc::new(Runtime {
        event: event.to_owned(),
        seen: Mutex::default(),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let spawned = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        {
            let seen = runtime.seen.lock().unwrap();
            if let Some(error) = &seen.error {
                break Err(format!("{}: {error}", binary.display()));
            }
            if let (Some(poll), Some(response)) = (seen.first_poll, seen.response) {
                // A failing store answers fast: only real work counts.
                if seen.status.is_none_or(|s| s >= 500) {
                    break Err(format!("{}: answered {:?}", binary.display(), seen.status));
                }
                break Ok(Run {
                    first_poll_ms: (poll - spawned).as_secs_f64() * 1000.0,
                    response_ms: (response - spawned).as_secs_f64() * 1000.0,
                    rss_mib: 0.0,
                });
            }
        }
        if Instant::now() > deadline {
            break Err(format!("{}: no response in 30 s", binary.display()));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    // Let it return to its next poll, where it waits, before reading its peak.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rss = devservers::peak_rss_mib(&child.id().to_string());
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    outcome.map(|run| Run {
        rss_mib: rss,
        ..run
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let root = devservers::root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release");
    let port = devservers::free_port();
    let _dynamodb = devservers::dynamodb_local(port).expect("DynamoDB Local");
    let endpoint = format!("http://127.0.0.1:{port}");
    // SES, Route 53 and KMS on moto: the functions that provision call them for real.
    let moto_port = devservers::free_port();
    let _moto = devservers::moto(moto_port).expect("moto");
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        // DynamoDB Local keeps a table per access key: the functions' own.
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    schema::create_table(&client, "bench").await.expect("table");
    let store = DynamoStore::new(client, "bench");
    store
        .put_api_key(&ApiKeyRecord {
            id: "key_bench".into(),
            key_hash: hash_key(SAMPLE_KEY),
            org_id: OrgId::parse("org_bench").unwrap(),
            created_at: Timestamp::from_unix(0),
            revoked_at: None,
        })
        .await
        .expect("sample key");
    let env = [
        ("DOMAINS_TABLE", "bench".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.clone()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{moto_port}")),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("DNS_NAMESERVERS", "127.0.0.1:53".to_owned()),
    ];
    let mut binaries: Vec<(String, String)> = domains::http::Endpoint::ALL
        .iter()
        .map(|e| (e.function_name().to_owned(), e.function_name().to_owned()))
        .collect();
    binaries.push(("hello-lambda".into(), "get-domain".into()));
    binaries.push(("plain-sdk-get".into(), "get-domain".into()));
    println!(
        "cold starts, release builds, {RUNS} spawns each (medians; spawn to first poll, spawn to response posted)"
    );
    println!(
        "{:<16} {:>9} {:>11} {:>13} {:>10}",
        "binary", "size MB", "first poll", "response", "peak RSS"
    );
    for (binary, event) in binaries {
        let path = target.join(&binary);
        let event = std::fs::read_to_string(root.join("events").join(format!("{event}.json")))
            .expect("sample event");
        let size = std::fs::metadata(&path)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or_else(|_| {
                panic!(
                    "{} is not built: run scripts/bench-coldstart",
                    path.display()
                )
            });
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            match cold_start(&path, &event, &env).await {
                Ok(run) => runs.push(run),
                Err(error) => panic!("{error}"),
            }
        }
        println!(
            "{binary:<16} {size:>9.1} {:>8.1} ms {:>10.1} ms {:>6.1} MiB",
            median(runs.iter().map(|r| r.first_poll_ms).collect()),
            median(runs.iter().map(|r| r.response_ms).collect()),
            median(runs.iter().map(|r| r.rss_mib).collect()),
        );
    }
}
