//! The log guarantee through the Lambda runtime itself, not only `App::handle`: an API
//! Gateway event arrives from a Runtime API (a small one on loopback, speaking the same
//! HTTP as Lambda's), every crate logs at TRACE through the production filter, and the
//! event's API key never reaches a log line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use domains::App;
use domains::auth::NewApiKey;
use domains::clock::SystemClock;
use domains::dns::DnsChecker;
use domains::http::Endpoint;
use domains::model::Timestamp;
use domains::store::KeyStore;
use domains::store::MemoryStore;
use lambda_http::service_fn;
use testkit::{CapturedLogs, org};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const KEY: &str = "emk_sample_events_key_0000000000000000000000000";
const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// The Runtime API's two calls a function makes: the next invocation (the event once,
/// then nothing more), and the response, handed to the test.
async fn runtime_api(listener: TcpListener, event: String, responses: mpsc::Sender<String>) {
    let served = Arc::new(Mutex::new(false));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (event, responses, served) = (event.clone(), responses.clone(), served.clone());
        tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            loop {
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push(line);
                }
                let length = head
                    .iter()
                    .find_map(|h| {
                        let (name, value) = h.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.unwrap();
                let reply = if head[0].starts_with("GET /2018-06-01/runtime/invocation/next") {
                    if std::mem::replace(&mut *served.lock().unwrap(), true) {
                        std::future::pending::<()>().await;
                    }
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        + 30_000;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         lambda-runtime-aws-request-id: invocation-1\r\n\
                         lambda-runtime-deadline-ms: {deadline}\r\n\
                         lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:get-domain\r\n\
                         lambda-runtime-trace-id: {TRACE}\r\n\
                         content-length: {}\r\n\r\n{event}",
                        event.len()
                    )
                } else {
                    let _ = responses
                        .send(String::from_utf8_lossy(&body).into_owned())
                        .await;
                    "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_owned()
                };
                if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[test]
fn the_lambda_runtime_path_logs_no_api_key() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    // SAFETY: the only test of this binary, before any thread of it starts.
    unsafe {
        std::env::set_var("AWS_LAMBDA_RUNTIME_API", address.to_string());
        std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "get-domain");
        std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256");
        std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "1");
    }
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    // The functions' own filter (`telemetry::init_json`), at its most verbose.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(domains::telemetry::json_lines(move || writer.clone()))
        .with(domains::telemetry::targets_from("trace"))
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let response =
        runtime.block_on(async {
            listener.set_nonblocking(true).unwrap();
            let listener = TcpListener::from_std(listener).unwrap();
            let event = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/get-domain.json"),
            )
            .unwrap();
            assert!(event.contains(KEY), "the event carries the key");
            let (sender, mut responses) = mpsc::channel(1);
            tokio::spawn(runtime_api(listener, event, sender));

            let store = Arc::new(MemoryStore::new());
            let key = NewApiKey::from_key(KEY.into(), org("org_events"), Timestamp::from_unix(0));
            store.put_api_key(&key.record).await.unwrap();
            let dns = DnsChecker::with_nameservers(&[address], Duration::from_millis(100));
            let app = App::new(store, Arc::new(SystemClock), dns);
            let function = lambda_http::run(service_fn(move |request| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(app.handle(Endpoint::Get, request).await)
                }
            }));
            tokio::select! {
                ended = function => panic!("the runtime stopped: {ended:?}"),
                response = tokio::time::timeout(Duration::from_secs(30), responses.recv()) => {
                    response.expect("the function answers").expect("a response")
                }
            }
        });
    // The event went through the runtime to the handler: an unknown domain of that org.
    assert!(response.contains("DOMAIN_NOT_FOUND"), "{response}");

    let logs = captured.text();
    assert!(
        logs.contains("invocation-1") || logs.contains("Kx2R1i7WIAMEcXh="),
        "the runtime's lines were captured: {logs}"
    );
    assert!(!logs.contains(KEY), "an API key reached a log line");
    // The handler's lines carry the invocation: its request id, trace id, and cold start.
    let request_line = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("the request's line: {logs}"));
    let span = &request_line["span"];
    assert_eq!(span["request_id"], "invocation-1", "{request_line}");
    assert_eq!(span["xray_trace_id"], TRACE, "{request_line}");
    assert_eq!(span["cold_start"], true, "{request_line}");
    assert_eq!(span["function"], "get-domain", "{request_line}");
    println!("{request_line}");
    assert!(!logs.contains("raw JSON event"), "the raw event was logged");
}
