//! Lambda function `update-webhook`: `domains::http::handlers::UpdateWebhook` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::UpdateWebhook>().await
}
