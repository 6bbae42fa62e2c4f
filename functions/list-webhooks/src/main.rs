//! Lambda function `list-webhooks`: `domains::http::handlers::ListWebhooks` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::ListWebhooks>().await
}
