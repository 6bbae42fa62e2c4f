//! Lambda function `open-claim`: `domains::http::Endpoint::OpenClaim` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run(domains::http::Endpoint::OpenClaim).await
}
