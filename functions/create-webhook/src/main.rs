//! Lambda function `create-webhook`: `domains::http::handlers::CreateWebhook` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::CreateWebhook>().await
}
