//! Lambda function `delete-domain`: `domains::http::handlers::Delete` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::Delete>().await
}
