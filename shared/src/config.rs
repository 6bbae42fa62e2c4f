//! Configuration from the environment, read once per cold start.

use aws_config::BehaviorVersion;

use crate::store::DynamoStore;

/// Name of the DynamoDB table. Required in Lambda; in the local server its presence
/// switches from the in-memory store to DynamoDB.
pub const TABLE_VAR: &str = "DOMAINS_TABLE";

pub fn table_from_env() -> Option<String> {
    std::env::var(TABLE_VAR)
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// The shared AWS configuration: region, credentials and endpoint overrides
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, …) from the standard chain.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub async fn dynamo_store(table: String) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws().await), table)
}
