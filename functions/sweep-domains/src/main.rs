//! Lambda function `sweep-domains`: re-verifies pending domains on an EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run_sweep().await
}
