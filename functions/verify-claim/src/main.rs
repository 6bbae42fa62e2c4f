//! Lambda function `verify-claim`: `domains::http::handlers::VerifyClaim` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::VerifyClaim>().await
}
