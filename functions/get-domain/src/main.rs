//! Lambda function `get-domain`: `domains::http::Endpoint::Get` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run(domains::http::Endpoint::Get).await
}
