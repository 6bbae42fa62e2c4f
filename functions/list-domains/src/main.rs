//! Lambda function `list-domains`: `domains::http::Endpoint::List` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run(domains::http::Endpoint::List).await
}
