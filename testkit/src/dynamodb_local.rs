//! DynamoDB Local (AWS's own implementation, run on Java) on a free loopback port.
//!
//! Installed by `scripts/install-test-tools` into `.tools/dynamodb-local`
//! (or wherever `DYNAMODB_LOCAL_DIR` points).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use domains::store::{DynamoStore, schema};

use crate::free_port;
use crate::process::{Server, start_server};

const STARTUP: Duration = Duration::from_secs(60);

pub struct DynamoLocal {
    pub endpoint: String,
    _server: Server,
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
    let args = [
        format!(
            "-Djava.library.path={}",
            dir.join("DynamoDBLocal_lib").display()
        ),
        "-jar".into(),
        jar.display().to_string(),
        "-inMemory".into(),
        "-port".into(),
        port.to_string(),
    ];
    let server = start_server("DynamoDB Local", "java".as_ref(), args, port, STARTUP);
    DynamoLocal {
        endpoint: format!("http://127.0.0.1:{port}"),
        _server: server,
    }
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
