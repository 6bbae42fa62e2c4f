//! Lambda function `delete-domain`: `domains::http::Endpoint::Delete` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run(domains::http::Endpoint::Delete).await
}
