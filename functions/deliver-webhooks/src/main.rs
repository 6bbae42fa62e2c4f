//! Lambda function `deliver-webhooks`: delivers lifecycle events from its queue to the
//! organizations' webhook endpoints, and the retries due at each tick of its schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run_webhook_deliverer().await
}
