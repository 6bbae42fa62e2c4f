//! Lambda function `delete-webhook`: `domains::http::handlers::DeleteWebhook` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::DeleteWebhook>().await
}
