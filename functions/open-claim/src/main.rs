//! Lambda function `open-claim`: `domains::http::handlers::OpenClaim` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::OpenClaim>().await
}
