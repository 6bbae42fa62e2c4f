//! Lambda function `publish-events`: delivers lifecycle events from the table's stream to
//! EventBridge.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run_publisher().await
}
