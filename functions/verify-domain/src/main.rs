//! Lambda function `verify-domain`: `domains::http::Endpoint::Verify` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run(domains::http::Endpoint::Verify).await
}
