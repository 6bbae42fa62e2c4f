//! Lambda function `register-domain`: `domains::http::handlers::Register` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::Register>().await
}
