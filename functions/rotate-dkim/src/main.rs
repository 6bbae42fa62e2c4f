//! Lambda function `rotate-dkim`: `domains::http::Endpoint::RotateDkim` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run(domains::http::Endpoint::RotateDkim).await
}
