//! Lambda function `verify-domain`: `domains::http::handlers::Verify` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::Verify>().await
}
