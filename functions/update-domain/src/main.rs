//! Lambda function `update-domain`: `domains::http::handlers::Update` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::Update>().await
}
