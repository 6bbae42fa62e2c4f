//! Lambda function `list-domains`: `domains::http::handlers::List` behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domains::lambda::run::<domains::http::handlers::List>().await
}
