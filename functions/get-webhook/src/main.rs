//! Lambda function `get-webhook`: `domains::http::handlers::GetWebhook` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::GetWebhook>().await
}
