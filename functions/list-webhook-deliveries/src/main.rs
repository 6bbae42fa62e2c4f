//! Lambda function `list-webhook-deliveries`: `domains::http::handlers::ListWebhookDeliveries` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::ListWebhookDeliveries>().await
}
