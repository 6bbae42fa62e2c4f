//! DynamoDB Local (AWS's own implementation, run on Java) on a free loopback port.
//!
//! Installed by `scripts/install-test-tools` into `.tools/dynamodb-local`
//! (or wherever `DYNAMODB_LOCAL_DIR` points).

use std::sync::OnceLock;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use devservers::Server;
use domains::store::{DynamoStore, schema};

use crate::started;

pub struct DynamoLocal {
    pub endpoint: String,
    _server: Server,
}

/// The DynamoDB Local of this test process, started on first use.
pub fn dynamodb_local() -> &'static DynamoLocal {
    static SERVER: OnceLock<DynamoLocal> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (endpoint, server) = started(devservers::dynamodb_local);
        DynamoLocal {
            endpoint,
            _server: server,
        }
    })
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
