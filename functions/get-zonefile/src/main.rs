//! Lambda function `get-zonefile`: `domains::http::handlers::ZoneFile` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::ZoneFile>().await
}
