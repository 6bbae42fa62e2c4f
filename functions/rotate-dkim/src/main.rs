//! Lambda function `rotate-dkim`: `domains::http::handlers::RotateDkim` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::RotateDkim>().await
}
