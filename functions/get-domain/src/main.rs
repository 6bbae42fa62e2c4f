//! Lambda function `get-domain`: `domains::http::handlers::Get` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::Get>().await
}
