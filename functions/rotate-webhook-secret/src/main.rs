//! Lambda function `rotate-webhook-secret`: `domains::http::handlers::RotateWebhookSecret` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::RotateWebhookSecret>().await
}
