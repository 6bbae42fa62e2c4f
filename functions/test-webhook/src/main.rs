//! Lambda function `test-webhook`: `domains::http::handlers::TestWebhook` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::TestWebhook>().await
}
