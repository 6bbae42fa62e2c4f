//! DynamoDB Local (AWS's own implementation, run on Java) on a free loopback port.
//!
//! Installed by `scripts/install-test-tools` into `.tools/dynamodb-local`
//! (or wherever `DYNAMODB_LOCAL_DIR` points).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use domains::store::{DynamoStore, schema};

const STARTUP: Duration = Duration::from_secs(60);

pub struct DynamoLocal {
    pub endpoint: String,
    /// Held open for the life of the test process: the wrapper shell kills Java when it
    /// reads end-of-file here, so no server outlives the tests, even on a panic.
    _lifeline: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

fn install_dir() -> PathBuf {
    std::env::var_os("DYNAMODB_LOCAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/dynamodb-local")
        })
}

/// The DynamoDB Local of this test process, started on first use.
pub fn dynamodb_local() -> &'static DynamoLocal {
    static SERVER: OnceLock<DynamoLocal> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn start() -> DynamoLocal {
    let dir = install_dir();
    let jar = dir.join("DynamoDBLocal.jar");
    assert!(
        jar.is_file(),
        "DynamoDB Local is not installed at {}.\n\
         Run `scripts/test` (it installs everything the tests need), or \
         `scripts/install-test-tools` once and then `cargo test`.",
        dir.display()
    );
    let java_ok = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        java_ok,
        "DynamoDB Local needs Java 17+ on PATH: `apt-get install openjdk-17-jre-headless`, \
         or run `scripts/test`, which installs it."
    );

    let port = free_port();
    // The wrapper forwards nothing: it waits for its stdin to close (this process
    // exiting), then stops Java.
    let script = r#"java -Djava.library.path="$1/DynamoDBLocal_lib" -jar "$1/DynamoDBLocal.jar" -inMemory -port "$2" >/dev/null 2>&1 &
java_pid=$!
cat >/dev/null
kill "$java_pid" 2>/dev/null"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(&dir)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sh for DynamoDB Local");
    let lifeline = child.stdin.take().expect("piped stdin");

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STARTUP;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("DynamoDB Local exited during start-up ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "DynamoDB Local did not listen on {addr} within {STARTUP:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    DynamoLocal {
        endpoint: format!("http://{addr}"),
        _lifeline: Mutex::new(lifeline),
        _child: Mutex::new(child),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

impl DynamoLocal {
    /// A client bound to this server. Made per test: SDK clients hold connection pools
    /// that belong to the runtime that made them, and each test has its own runtime.
    pub fn client(&self) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "testkit"))
            .build();
        Client::from_conf(config)
    }
}

/// A store over a brand-new table: fresh state for every test.
pub async fn fresh_dynamo_store() -> DynamoStore {
    let server = dynamodb_local();
    let client = server.client();
    let table = format!("domains-{}", ulid::Ulid::new().to_string().to_lowercase());
    schema::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create table in DynamoDB Local: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )
        });
    DynamoStore::new(client, table)
}
