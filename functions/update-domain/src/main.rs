//! Lambda function `update-domain`: `domains::http::Endpoint::Update` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run(domains::http::Endpoint::Update).await
}
